"""optimlab optimizers in PyTorch Lightning and the Hugging Face Trainer, as the examples use them:
each trains, checkpoints, resumes from the checkpoint in a fresh process state (another model
initialisation, a new optimizer and scheduler), and must end with the parameters of the
uninterrupted run, bit for bit; the optimizer state the framework restored must be the one saved.

Skipped only when the framework is not installed (the ``integrations`` extra; CI installs it).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread (on 2 shared cores, torch's default threads made the HF run 15x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"optimlab_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pickling and Lightning's hparams need an importable module
    spec.loader.exec_module(module)
    return module


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _assert_same_state(restored: dict, saved: dict) -> None:
    """Two optimizer state_dicts hold the same groups (counters included) and per-parameter state."""
    assert restored["state"].keys() == saved["state"].keys() and saved["state"]
    for key, st in saved["state"].items():
        assert restored["state"][key].keys() == st.keys()
        for name, value in st.items():
            got = restored["state"][key][name]
            if isinstance(value, torch.Tensor):
                assert torch.equal(torch.as_tensor(got), value), (key, name)
            else:
                assert got == value, (key, name)
    assert len(restored["param_groups"]) == len(saved["param_groups"])
    for got, want in zip(restored["param_groups"], saved["param_groups"]):
        for name, value in want.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(torch.as_tensor(got[name]), value), name
            else:
                assert got[name] == value, name


def test_lightning_resume_from_ckpt_path_equals_uninterrupted(tmp_path):
    pytest.importorskip("lightning")
    import lightning as L

    ex = _example("lightning_example")

    class Capture(L.Callback):  # the optimizer state as Lightning restored it, before any step
        def on_train_start(self, trainer, module):
            self.state = copy.deepcopy(trainer.optimizers[0].state_dict())
            self.sched = copy.deepcopy(trainer.lr_scheduler_configs[0].scheduler.state_dict())
            self.params = _params(module)

    whole = ex.Regressor()
    ex.trainer(4, tmp_path / "whole").fit(whole, ex.loader())
    expected = _params(whole)

    first = ex.Regressor()
    trainer = ex.trainer(2, tmp_path / "first")
    trainer.fit(first, ex.loader())
    ckpt = tmp_path / "epoch2.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, weights_only=False)
    assert int(saved["optimizer_states"][0]["param_groups"][0]["lookahead_step"]) == 2 * ex.BATCHES_PER_EPOCH

    capture = Capture()
    resumed = ex.Regressor(seed=1)
    assert not all(torch.equal(a, b) for a, b in zip(_params(resumed), first.parameters()))
    second = ex.trainer(4, tmp_path / "second", callbacks=[capture])
    second.fit(resumed, ex.loader(), ckpt_path=str(ckpt))

    _assert_same_state(capture.state, saved["optimizer_states"][0])
    assert capture.sched == saved["lr_schedulers"][0]
    opt = second.optimizers[0]
    assert type(opt).__name__ == "Lookahead" and type(opt.optimizer).__name__ == "RAdam"
    assert second.global_step == 4 * ex.BATCHES_PER_EPOCH
    assert int(opt.param_groups[0]["lookahead_step"]) == 4 * ex.BATCHES_PER_EPOCH  # 16 restored + 16
    got = _params(resumed)
    assert not all(torch.equal(a, b) for a, b in zip(capture.params, got))  # it trained after the resume
    for a, b in zip(got, expected):
        assert a.dtype == torch.float64 and torch.equal(a, b)


def test_hf_trainer_resume_from_checkpoint_equals_uninterrupted(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from transformers import TrainerCallback

    ex = _example("hf_trainer_example")

    class Capture(TrainerCallback):  # the optimizer state as the Trainer restored it, before any step
        def on_train_begin(self, args, state, control, optimizer=None, model=None, **kwargs):
            self.state = copy.deepcopy(optimizer.state_dict())
            self.params = _params(model)

    whole = ex.trainer(tmp_path, max_steps=16, save_steps=8)
    whole.train()
    expected = _params(whole.model)
    checkpoint = tmp_path / "checkpoint-8"
    saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)  # the Trainer loads it so too
    assert int(saved["param_groups"][0]["noise_step"]) == 8

    capture = Capture()
    resumed = ex.trainer(tmp_path / "resumed", max_steps=16, save_steps=100, seed=1)
    resumed.add_callback(capture)
    result = resumed.train(resume_from_checkpoint=str(checkpoint))

    _assert_same_state(capture.state, saved)
    assert any(k == "exp_avg" for st in capture.state["state"].values() for k in st)
    assert result.global_step == 16 and int(resumed.optimizer.param_groups[0]["noise_step"]) == 16  # 8 restored + 8
    got = _params(resumed.model)
    assert not all(torch.equal(a, b) for a, b in zip(capture.params, got))
    for a, b in zip(got, expected):
        assert torch.equal(a, b)
