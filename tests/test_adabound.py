"""AdaBound / AMSBound against a NumPy oracle written from the paper's equations in the form of the
authors' reference code (Luolc/AdaBound), including how final_lr follows a scheduled lr."""

import math

import numpy as np
import pytest
import torch

import optimlab


def oracle(theta0, grads, lrs, *, final_lr=0.1, gamma=1e-3, betas=(0.9, 0.999), eps=1e-8, wd=0.0,
           amsbound=False, decoupled_ref=False):
    """theta_t = theta - clip(s_t/(sqrt(v)+eps), lo_t, hi_t) * m_t, s_t = lr sqrt(1-b2^t)/(1-b1^t),
    lo/hi = final_lr*lr/base_lr * (1 -/+ 1/(gamma t (+1))), base_lr = lrs[0].
    ``decoupled_ref``: the reference AdaBoundW's decay theta -= wd * theta (no lr)."""
    b1, b2 = betas
    theta = np.array(theta0, dtype=np.float64)
    m = np.zeros_like(theta); v = np.zeros_like(theta); vmax = np.zeros_like(theta)
    out = []
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        g = np.array(g, dtype=np.float64)
        if wd and not decoupled_ref:
            g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        den = np.sqrt(vmax if amsbound else v) + eps
        s = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        fl = final_lr * lr / lrs[0]
        lo, hi = fl * (1 - 1 / (gamma * t + 1)), fl * (1 + 1 / (gamma * t))
        step = np.clip(s / den, lo, hi) * m
        if wd and decoupled_ref:
            theta = theta - step - wd * theta
        else:
            theta = theta - step
        out.append(theta.copy())
    return out


def _grads(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    # mostly small gradients with occasional large ones: both bounds become active
    return [rng.normal(size=shape) * (10.0 if t % 7 == 0 else 0.1) for t in range(n)]


def _run(opt, p, grads, lrs=None):
    out = []
    for t, g in enumerate(grads):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs[t]
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kw", [
    {},
    {"amsbound": True},
    {"final_lr": 0.05, "gamma": 0.01, "betas": (0.8, 0.99)},
    {"weight_decay": 0.01},
    {"amsbound": True, "weight_decay": 0.01, "eps": 1e-3},
])
def test_matches_oracle_at_constant_lr(kw, foreach):
    theta0 = np.linspace(-1, 1, 6)
    grads = _grads(60, 6)
    lr = 0.01
    p = torch.nn.Parameter(torch.tensor(theta0))
    ours = _run(optimlab.AdaBound([p], lr=lr, foreach=foreach, **kw), p, grads)
    ref = oracle(theta0, grads, [lr] * len(grads), final_lr=kw.get("final_lr", 0.1), gamma=kw.get("gamma", 1e-3),
                 betas=kw.get("betas", (0.9, 0.999)), eps=kw.get("eps", 1e-8), wd=kw.get("weight_decay", 0.0),
                 amsbound=kw.get("amsbound", False))
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_both_bounds_are_active_in_the_oracle_run():
    """The oracle data really exercises the clipping (otherwise the test above checks only Adam)."""
    grads = _grads(60, 6)
    p = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    unbounded = _run(optimlab.AdaBound([p], lr=0.01, gamma=0.0), p, grads)
    p2 = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    bounded = _run(optimlab.AdaBound([p2], lr=0.01), p2, grads)
    assert not np.allclose(unbounded[-1], bounded[-1])


def test_decoupled_decay_equals_reference_adaboundw_with_rescaled_decay():
    theta0 = np.linspace(-1, 1, 6)
    grads = _grads(40, 6, seed=3)
    lr, wd_ref = 0.01, 1e-3
    p = torch.nn.Parameter(torch.tensor(theta0))
    ours = _run(optimlab.AdaBound([p], lr=lr, weight_decay=wd_ref / lr, decoupled_weight_decay=True), p, grads)
    ref = oracle(theta0, grads, [lr] * len(grads), wd=wd_ref, decoupled_ref=True)
    np.testing.assert_allclose(ours[-1], ref[-1], rtol=1e-10, atol=1e-13)


def test_final_lr_follows_a_scheduled_lr_like_the_reference():
    """StepLR halves lr every 10 steps; the bounds use final_lr * lr / base_lr."""
    theta0 = np.linspace(-1, 1, 4)
    grads = _grads(40, 4, seed=5)
    p = torch.nn.Parameter(torch.tensor(theta0))
    opt = optimlab.AdaBound([p], lr=0.02, gamma=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    lrs, ours = [], []
    for g in grads:
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.tensor(g)
        opt.step()
        sched.step()
        ours.append(p.detach().numpy().copy())
    assert opt.param_groups[0]["base_lr"] == 0.02
    ref = oracle(theta0, grads, lrs, gamma=0.05)
    np.testing.assert_allclose(ours[-1], ref[-1], rtol=1e-12, atol=1e-14)
    # and it differs from bounds whose final_lr ignores the schedule
    assert not np.allclose(ours[-1], _oracle_fixed_final(theta0, grads, lrs)[-1])


def _oracle_fixed_final(theta0, grads, lrs):
    # final_lr not scaled: base_lr equal to the current lr at every step
    out, theta = [], np.array(theta0)
    b1, b2, m, v = 0.9, 0.999, np.zeros(len(theta0)), np.zeros(len(theta0))
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g
        s = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        theta = theta - np.clip(s / (np.sqrt(v) + 1e-8), 0.1 * (1 - 1 / (0.05 * t + 1)), 0.1 * (1 + 1 / (0.05 * t))) * m
        out.append(theta)
    return out


def test_lecture_bounds_are_final_lr_01_and_gamma_one_minus_beta2():
    """The lecture's clip(x, 0.1 - 0.1/((1-b2)t+1), 0.1 + 0.1/((1-b2)t)) is final_lr=0.1, gamma=1-b2."""
    b2 = 0.99
    for t in (1, 10, 1000):
        lo, hi = optimlab.optim.adabound.rate_bounds(0.1, 1 - b2, t)
        assert math.isclose(lo, 0.1 - 0.1 / ((1 - b2) * t + 1))
        assert math.isclose(hi, 0.1 + 0.1 / ((1 - b2) * t))


def test_amsbound_is_adabound_with_amsbound_true():
    grads = _grads(30, 5, seed=7)
    a = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    ra = _run(optimlab.AMSBound([a], lr=0.01), a, grads)
    rb = _run(optimlab.AdaBound([b], lr=0.01, amsbound=True), b, grads)
    assert np.array_equal(ra[-1], rb[-1])
    assert optimlab.create_optimizer("amsbound", [torch.nn.Parameter(torch.zeros(1))]).defaults["amsbound"]


def test_base_lr_is_saved_and_restored():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = optimlab.AdaBound([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.01  # as a scheduler would
    sd = opt.state_dict()
    opt2 = optimlab.AdaBound([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["base_lr"] == 0.1 and opt2.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("kw", [
    {}, {"amsbound": True}, {"weight_decay": 0.05}, {"weight_decay": 0.05, "decoupled_weight_decay": True},
    {"maximize": True, "weight_decay": 0.05}, {"amsbound": True, "maximize": True}, {"gamma": 0.0},
    {"gamma": 0.5, "final_lr": 0.02},
])
def test_fused_default_path_matches_the_reference_path(kw, monkeypatch):
    """On CPU the default step runs torch's fused Adam kernel into a zeroed buffer and clips
    from there; it must equal the per-tensor reference (float64, with some zero gradients)."""
    calls = []
    kernel = torch._fused_adam_
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: (calls.append(1), kernel(*a, **k))[1])
    out = []
    for fused in (False, None):
        g = torch.Generator().manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(6, 3, generator=g, dtype=torch.float64)),
              torch.nn.Parameter(torch.randn(5, generator=g, dtype=torch.float64))]
        opt = optimlab.AdaBound(ps, lr=0.01, fused=fused, **kw)
        for t in range(25):
            for p in ps:
                grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
                grad.view(-1)[:2] = 0.0 if t < 3 else grad.view(-1)[:2]  # m = 0 there at first
                p.grad = grad
            opt.step()
        out.append(ps)
    assert calls, "the default CPU path did not use the fused kernel"
    for a, b in zip(*out):
        torch.testing.assert_close(b.detach(), a.detach(), rtol=0, atol=1e-12)
