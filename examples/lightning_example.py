"""An optimlab optimizer in PyTorch Lightning: ``configure_optimizers`` returns Lookahead(RAdam) and a
warm-up + cosine schedule stepped every batch.  Trains a tiny regressor on generated data, saves a
checkpoint, and resumes from it with ``ckpt_path=``.

    pip install -e ".[integrations]"
    python examples/lightning_example.py

Nothing is downloaded.  Lightning saves and restores the optimizer through its ``state_dict``
(torch's flat format, the wrapper's counters and slow weights included) and the scheduler through
its own, so a resumed run continues exactly where the first one stopped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import optimlab
from optimlab.schedules import CosineAnnealing, Warmup

BATCHES_PER_EPOCH = 8


def make_data(seed: int = 0, n: int = 8 * BATCHES_PER_EPOCH) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    y = torch.sin(x @ torch.randn(6, 1, generator=g, dtype=torch.float64))
    return TensorDataset(x, y)


class Regressor(L.LightningModule):
    def __init__(self, lr: float = 0.01, total_steps: int = 4 * BATCHES_PER_EPOCH, seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(seed)
        # float64 from the start: Lightning restores ckpt_path's weights before precision="64-true"
        # converts the module, so a float32 module would round the restored weights to float32
        self.net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        # any optimlab optimizer is a torch.optim.Optimizer; wrappers share the inner param_groups,
        # so the scheduler below drives RAdam's lr through Lookahead
        opt = optimlab.Lookahead(optimlab.RAdam(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4),
                                 k=5, alpha=0.5)
        schedule = Warmup(CosineAnnealing(base_lr=self.hparams.lr, T_max=self.hparams.total_steps),
                          warmup_steps=BATCHES_PER_EPOCH)
        sched = optimlab.ScheduledLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def trainer(max_epochs: int, root: str | Path, callbacks=()) -> L.Trainer:
    return L.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, precision="64-true",
                     default_root_dir=str(root), logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, callbacks=list(callbacks))


def loader() -> DataLoader:
    return DataLoader(make_data(), batch_size=8, shuffle=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        model = Regressor()
        first = trainer(2, root)
        first.fit(model, loader())
        ckpt = Path(root) / "after-2-epochs.ckpt"
        first.save_checkpoint(ckpt)
        print(f"saved {ckpt.name} at step {first.global_step}, loss {first.callback_metrics['train_loss']:.4f}")

        resumed = Regressor(seed=1)  # another initialisation: everything comes from the checkpoint
        second = trainer(4, root)
        second.fit(resumed, loader(), ckpt_path=str(ckpt))
        opt = second.optimizers[0]
        print(f"resumed to step {second.global_step}, loss {second.callback_metrics['train_loss']:.4f}, "
              f"Lookahead step {int(opt.param_groups[0]['lookahead_step'])}, lr {opt.param_groups[0]['lr']:.2e}")


if __name__ == "__main__":
    main()
