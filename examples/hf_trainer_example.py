"""An optimlab optimizer in the Hugging Face ``Trainer``: ``optimizers=(optimizer, scheduler)`` with
GradientNoise(AdamW) and transformers' linear warm-up schedule, on a 2-layer GPT-2 built from a
config (random weights, nothing downloaded) and a generated token dataset.  Trains, saves
checkpoints, and resumes from one with ``resume_from_checkpoint``.

    pip install -e ".[integrations]"
    python examples/hf_trainer_example.py

The Trainer saves the optimizer's ``state_dict`` (torch's flat format; GradientNoise keeps its
seed and step counter in the param groups, and its noise is a pure function of them, so the
resumed run draws the same noise) and the scheduler's, and reloads them on resume.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, get_linear_schedule_with_warmup

import optimlab

VOCAB, LENGTH = 48, 16


class Tokens(torch.utils.data.Dataset):
    """Generated sequences with structure to learn (each token depends on the previous one)."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        steps = torch.randint(1, 4, (n, LENGTH - 1), generator=g)
        self.ids = torch.cat([start, start + steps.cumsum(1)], 1) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=32, n_layer=2, n_head=2,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


def optimizers(model, max_steps: int):
    opt = optimlab.GradientNoise(optimlab.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01),
                                 eta=1e-4, seed=0)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=max_steps // 4, num_training_steps=max_steps)
    return opt, sched


def arguments(out: str | Path, max_steps: int, save_steps: int) -> TrainingArguments:
    return TrainingArguments(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=8,
                             save_strategy="steps", save_steps=save_steps, logging_steps=save_steps,
                             report_to=[], use_cpu=True, seed=0, dataloader_num_workers=0,
                             disable_tqdm=True)


def trainer(out: str | Path, max_steps: int = 16, save_steps: int = 8, seed: int = 0) -> Trainer:
    model = tiny_gpt2(seed)
    return Trainer(model=model, args=arguments(out, max_steps, save_steps), train_dataset=Tokens(),
                   optimizers=optimizers(model, max_steps))


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        first = trainer(out)
        result = first.train()
        print(f"trained {result.global_step} steps, loss {result.training_loss:.4f}; "
              f"checkpoints: {sorted(p.name for p in Path(out).glob('checkpoint-*'))}")

        resumed = trainer(out, seed=1)  # another initialisation: everything comes from the checkpoint
        result = resumed.train(resume_from_checkpoint=str(Path(out) / "checkpoint-8"))
        group = resumed.optimizer.param_groups[0]
        print(f"resumed from checkpoint-8 to step {result.global_step}; GradientNoise step "
              f"{int(group['noise_step'])}, lr {group['lr']:.2e}")


if __name__ == "__main__":
    main()
