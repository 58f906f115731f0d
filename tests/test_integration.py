"""The pieces together, as a user's training loop combines them: wrappers under schedulers,
checkpoints that move between torch.optim and optimlab, nested wrappers from the registry."""

import io

import pytest
import torch

import optimlab
from optimlab.schedules import CosineAnnealing, Warmup


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


def _batches(n=40, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 5, generator=g, dtype=torch.float64), torch.randn(16, 1, generator=g, dtype=torch.float64))
            for _ in range(n)]


def _loop(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _lookahead_with_schedule(model):
    opt = optimlab.Lookahead(optimlab.Adam(model.parameters(), lr=0.01), k=5, alpha=0.5)
    sched = optimlab.ScheduledLR(opt, Warmup(CosineAnnealing(base_lr=0.01, T_max=30), warmup_steps=10))
    return opt, sched


def test_scheduler_through_lookahead_reaches_the_inner_optimizer_and_resumes_identically():
    batches = _batches()
    model = _model()
    opt, sched = _lookahead_with_schedule(model)
    lrs = []
    for x, y in batches[:17]:  # stop in the middle of a k-cycle and of the warm-up's successor
        _loop(model, opt, sched, [(x, y)])
        lrs.append(opt.optimizer.param_groups[0]["lr"])
    assert opt.param_groups is opt.optimizer.param_groups
    assert len(set(lrs)) > 10  # the schedule moved the inner optimizer's rate
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    _loop(model, opt, sched, batches[17:])
    expected = _flat(model)

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    model2 = _model(seed=5)
    model2.load_state_dict(ckpt["model"])
    opt2, sched2 = _lookahead_with_schedule(model2)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    _loop(model2, opt2, sched2, batches[17:])
    assert torch.equal(_flat(model2), expected)


@pytest.mark.parametrize("name,torch_cls,kwargs", [
    ("Adam", torch.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    ("AdamW", torch.optim.AdamW, {"lr": 0.01}),
    ("SGD", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", torch.optim.Adagrad, {"lr": 0.05}),
    ("NAdam", torch.optim.NAdam, {"lr": 0.01}),
    ("RAdam", torch.optim.RAdam, {"lr": 0.01}),
])
def test_checkpoints_move_between_torch_optim_and_optimlab(name, torch_cls, kwargs):
    """A torch.optim checkpoint resumes in optimlab (and back) on the same trajectory."""
    batches = _batches(30)
    ref_model = _model()
    ref = torch_cls(ref_model.parameters(), **kwargs)
    _loop(ref_model, ref, None, batches)

    for first, second in ((torch_cls, getattr(optimlab, name)), (getattr(optimlab, name), torch_cls)):
        model = _model()
        opt = first(model.parameters(), **kwargs)
        _loop(model, opt, None, batches[:12])
        state = opt.state_dict()
        opt2 = second(model.parameters(), **kwargs)
        opt2.load_state_dict(state)
        _loop(model, opt2, None, batches[12:])
        torch.testing.assert_close(_flat(model), _flat(ref_model), rtol=0, atol=1e-12)


def test_nested_wrappers_from_the_registry_train_under_a_torch_scheduler():
    model = _model()
    opt = optimlab.create_optimizer("noisy_lookahead_sgdm", model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=40)
    data = [(x, torch.tanh(x.sum(1, keepdim=True))) for x, _ in _batches(40)]  # learnable
    x, y = data[0]
    first = torch.nn.functional.mse_loss(model(x), y).item()
    _loop(model, opt, sched, data)
    assert torch.nn.functional.mse_loss(model(x), y).item() < first
    assert isinstance(opt, optimlab.GradientNoise) and isinstance(opt.optimizer, optimlab.Lookahead)
    assert opt.param_groups is opt.optimizer.param_groups is opt.optimizer.optimizer.param_groups
