"""SWATS against a NumPy oracle of Keskar & Socher's Algorithm 1 (both phases, the switch step and
the estimated SGD rate), checkpoints across the switch, forcing, logging."""

import copy
import io
import logging
import math

import numpy as np
import pytest
import torch

import optimlab

A = [np.linspace(1.0, 3.0, 5), np.linspace(0.5, 2.0, 3)]
# noisy for 20 steps, then almost clean: the criterion (switch_eps=1e-3) fires after a few steps,
# at different steps for the two tensors
_NOISE = np.random.default_rng(0).normal(size=(200, 8)) * np.where(np.arange(200) < 20, 0.3, 0.001)[:, None]


def grad(i, theta, k):
    """Gradient of tensor i at step k: a diagonal quadratic plus a fixed noise sequence."""
    lo = 0 if i == 0 else 5
    return A[i] * theta + _NOISE[k - 1, lo:lo + theta.size]


def oracle(thetas, steps, *, lr=0.05, betas=(0.9, 0.999), eps=1e-8, switch_eps=1e-9, granularity="model",
           switch_at=None):
    """Algorithm 1, per tensor; returns trajectories, switch steps and SGD rates per tensor."""
    b1, b2 = betas
    n = len(thetas)
    th = [np.array(t, dtype=np.float64) for t in thetas]
    m = [np.zeros_like(t) for t in th]; a = [np.zeros_like(t) for t in th]; v = [np.zeros_like(t) for t in th]
    lam = [0.0] * n; phase = ["adam"] * n; rate = [None] * n; switched_at = [None] * n
    traj = []
    for k in range(1, steps + 1):
        crit, est = [False] * n, [0.0] * n
        for i in range(n):
            g = grad(i, th[i], k)
            if phase[i] == "sgd":
                v[i] = b1 * v[i] + g
                th[i] = th[i] - (1 - b1) * rate[i] * v[i]
                continue
            m[i] = b1 * m[i] + (1 - b1) * g
            a[i] = b2 * a[i] + (1 - b2) * g * g
            p = -lr * math.sqrt(1 - b2**k) / (1 - b1**k) * m[i] / (np.sqrt(a[i]) + eps)
            th[i] = th[i] + p
            if p @ g != 0:
                gamma = (p @ p) / (-(p @ g))
                lam[i] = b2 * lam[i] + (1 - b2) * gamma
                est[i] = lam[i] / (1 - b2**k)
                crit[i] = k > 1 and abs(est[i] - gamma) < switch_eps and est[i] > 0
            else:
                est[i] = lam[i] / (1 - b2**k)
            if switch_at is not None and k >= switch_at:
                crit[i] = True
        adam = [i for i in range(n) if phase[i] == "adam"]
        if granularity == "model":
            chosen = adam if any(crit[i] for i in adam) else []
        else:
            chosen = [i for i in adam if crit[i]]
        positive = sorted(est[i] for i in chosen if est[i] > 0)
        for i in chosen:
            phase[i], switched_at[i] = "sgd", k
            rate[i] = est[i] if est[i] > 0 else positive[len(positive) // 2]
        traj.append([t.copy() for t in th])
    return traj, switched_at, rate


def _params(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=5), rng.normal(size=3)]


def _run(opt, ps, k0, k1, traj=None):
    out = []
    for k in range(k0, k1 + 1):
        for i, p in enumerate(ps):
            p.grad = torch.tensor(grad(i, p.detach().numpy(), k))
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


CONFIGS = [
    pytest.param({"switch_eps": 1e-3, "switch_granularity": "model"}, id="criterion-model"),
    pytest.param({"switch_eps": 1e-3, "switch_granularity": "tensor"}, id="criterion-tensor"),
    pytest.param({"switch_eps": 0.0, "switch_at": 25}, id="forced-25"),
    pytest.param({}, id="paper-eps-adam-only"),
]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kw", CONFIGS)
def test_matches_oracle_through_the_switch(kw, foreach):
    steps = 60
    theta0 = _params()
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
    opt = optimlab.SWATS(ps, lr=0.05, foreach=foreach, **kw)
    ours = _run(opt, ps, 1, steps)
    ref, switched_at, rates = oracle(theta0, steps, switch_eps=kw.get("switch_eps", 1e-9),
                                     granularity=kw.get("switch_granularity", "model"), switch_at=kw.get("switch_at"))
    for a, b in zip(ours, ref):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)
    for p, k, r in zip(ps, switched_at, rates):
        st = opt.state[p]
        if k is None:
            assert st["phase"] == 0 and st["switch_step"] == 0 and not st["momentum_buffer"].any()
        else:
            assert st["phase"] == 1 and st["switch_step"] == k
            assert math.isclose(float(st["sgd_lr"]), r, rel_tol=1e-10)
    if kw:  # the configurations above do switch (criterion at a step > 1, or forced)
        assert all(k is not None for k in switched_at) or kw.get("switch_granularity") == "tensor"
        assert min(k for k in switched_at if k is not None) > 1
    else:
        assert switched_at == [None, None] and opt.phase == "adam" and opt.switch_step is None


def test_tensor_granularity_switches_tensors_at_different_steps():
    _, switched_at, _ = oracle(_params(), 60, switch_eps=1e-3, granularity="tensor")
    _, model_at, _ = oracle(_params(), 60, switch_eps=1e-3, granularity="model")
    assert switched_at[0] != switched_at[1]
    assert model_at[0] == model_at[1] == min(k for k in switched_at if k is not None)


@pytest.mark.parametrize("save_at", [10, 40], ids=["before-switch", "after-switch"])
def test_checkpoint_resumes_in_the_right_phase(save_at):
    kw = {"lr": 0.05, "switch_eps": 0.0, "switch_at": 25}
    theta0 = _params()
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
    opt = optimlab.SWATS(ps, **kw)
    _run(opt, ps, 1, save_at)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "params": [p.detach().clone() for p in ps]}, buf)
    expected = _run(opt, ps, save_at + 1, 60)[-1]

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    ps2 = [torch.nn.Parameter(t.clone()) for t in ckpt["params"]]
    opt2 = optimlab.SWATS(ps2, **kw)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.phase == ("sgd" if save_at > 25 else "adam")
    got = _run(opt2, ps2, save_at + 1, 60)[-1]
    for x, y in zip(got, expected):
        assert np.array_equal(x, y)
    assert opt2.phase == "sgd" and opt2.switch_step == 25


def test_switch_is_logged_once_and_readable(caplog):
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in _params()]
    opt = optimlab.SWATS(ps, lr=0.05, switch_at=5)
    with caplog.at_level(logging.INFO, logger="optimlab.optim.swats"):
        _run(opt, ps, 1, 12)
    msgs = [r.getMessage() for r in caplog.records if "switched" in r.getMessage()]
    assert len(msgs) == 1 and "step 5" in msgs[0]
    assert opt.phase == "sgd" and opt.switch_step == 5
    assert all(r is not None and r > 0 for r in opt.sgd_lrs())
    assert opt.state[ps[0]]["momentum_buffer"].any()


def test_state_keys_are_the_same_in_both_phases():
    """torch.distributed.checkpoint loads into a fresh optimizer's (Adam-phase) state: the keys and
    shapes must not change at the switch; the moments stay as they were at the switch."""
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in _params()]
    opt = optimlab.SWATS(ps, lr=0.05, switch_at=3)
    _run(opt, ps, 1, 1)
    before = {i: {k: v.shape for k, v in opt.state[p].items()} for i, p in enumerate(ps)}
    _run(opt, ps, 2, 3)
    moments = [opt.state[p]["exp_avg"].clone() for p in ps]
    _run(opt, ps, 4, 6)
    assert opt.phase == "sgd"
    assert {i: {k: v.shape for k, v in opt.state[p].items()} for i, p in enumerate(ps)} == before
    assert all(torch.equal(opt.state[p]["exp_avg"], m) for p, m in zip(ps, moments))


@pytest.mark.parametrize("save_at", [2, 8], ids=["adam-phase", "sgd-phase"])
def test_checkpoint_without_the_other_phase_buffers_loads(save_at):
    """optimlab 0.1 created the momentum buffer at the switch and freed the moments there."""
    kw = {"lr": 0.05, "switch_at": 4}
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in _params()]
    opt = optimlab.SWATS(ps, **kw)
    _run(opt, ps, 1, save_at)
    sd = copy.deepcopy(opt.state_dict())
    params = [p.detach().clone() for p in ps]
    expected = _run(opt, ps, save_at + 1, 12)[-1]
    drop = ("exp_avg", "exp_avg_sq") if save_at > 4 else ("momentum_buffer",)
    sd["state"] = {i: {k: v for k, v in st.items() if k not in drop} for i, st in sd["state"].items()}
    ps2 = [torch.nn.Parameter(t) for t in params]
    opt2 = optimlab.SWATS(ps2, **kw)
    opt2.load_state_dict(sd)
    got = _run(opt2, ps2, save_at + 1, 12)[-1]
    for x, y in zip(got, expected):
        assert np.array_equal(x, y)


def test_switch_to_sgd_forces_the_switch_now():
    ps = [torch.nn.Parameter(torch.tensor(t)) for t in _params()]
    opt = optimlab.SWATS(ps, lr=0.05)
    _run(opt, ps, 1, 7)
    opt.switch_to_sgd()
    assert opt.phase == "sgd" and opt.switch_step == 7
    _, _, rates = oracle(_params(), 7, switch_at=7, switch_eps=0.0)
    for r, ours in zip(rates, opt.sgd_lrs()):
        assert math.isclose(ours, r, rel_tol=1e-10)


def test_sgd_rate_follows_lr_after_the_switch():
    """After the switch the step uses sgd_lr * lr / lr_at_switch (one scheduler drives both phases)."""
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = optimlab.SWATS([p], lr=0.1, switch_at=2)
    for _ in range(2):
        p.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
    st = opt.state[p]
    opt.param_groups[0]["lr"] = 0.05
    before = p.detach().clone()
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    # fresh momentum buffer = g = 1; step = (1 - beta1) * sgd_lr * (0.05 / 0.1) * 1
    torch.testing.assert_close(before - p.detach(), torch.full((3,), 0.1 * float(st["sgd_lr"]) * 0.5, dtype=torch.float64))


def test_paper_eps_does_not_fire_on_a_noisy_minibatch_mlp():
    """The docstring's finding, in small: mini-batch noise keeps |Lambda - gamma| far above 1e-9."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 10, generator=g), torch.randint(0, 3, (256,), generator=g)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = optimlab.SWATS(model.parameters(), lr=3e-3, switch_granularity="tensor")
    closest = math.inf
    for t in range(150):
        idx = torch.randint(0, 256, (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        for p in model.parameters():
            st = opt.state[p]
            k = float(st["step"])
            if k > 1:
                closest = min(closest, abs(float(st["proj_lr_avg"]) / (1 - 0.999**k) - float(st["proj_lr"])))
    assert opt.phase == "adam"
    assert closest > 1e-7


@pytest.mark.parametrize("switch_eps", [1e-4, 2e-3])  # no switch in 30 steps / a switch at step 2
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_fused_adam_phase_matches_the_reference_path(maximize, weight_decay, switch_eps, monkeypatch):
    """The default CPU Adam phase (torch's fused kernel writing the step into a zeroed buffer)
    equals the per-tensor reference: parameters, the projected rates and the switch step."""
    calls = []
    kernel = torch._fused_adam_
    monkeypatch.setattr(torch, "_fused_adam_", lambda *a, **k: (calls.append(1), kernel(*a, **k))[1])
    out = []
    for fused in (False, None):
        g = torch.Generator().manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(5, 3, generator=g, dtype=torch.float64)),
              torch.nn.Parameter(torch.randn(4, generator=g, dtype=torch.float64))]
        opt = optimlab.SWATS(ps, lr=0.05, weight_decay=weight_decay, maximize=maximize, switch_eps=switch_eps,
                              fused=fused)
        for _ in range(30):
            for p in ps:
                p.grad = (p.detach() - 0.3) * (-1 if maximize else 1) + 0.01 * torch.randn(p.shape, generator=g,
                                                                                          dtype=torch.float64)
            opt.step()
        out.append((ps, opt))
    (ref_ps, ref), (fu_ps, fu) = out
    assert calls, "the default CPU path did not use the fused kernel"
    assert fu.switch_step == ref.switch_step
    for a, b in zip(ref_ps, fu_ps):
        torch.testing.assert_close(b.detach(), a.detach(), rtol=0, atol=1e-12)
        for key in ("proj_lr", "proj_lr_avg"):
            if key in ref.state[a]:
                torch.testing.assert_close(fu.state[b][key], ref.state[a][key], rtol=1e-9, atol=1e-12)
