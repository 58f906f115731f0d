"""Lookahead: NumPy oracle (k inner steps then the interpolation, across several syncs), sharing of
param_groups with the inner optimizer, schedulers, GradScaler, hooks, add_param_group, checkpoints
in the middle of a k-cycle, and the inner-momentum options."""

import io

import numpy as np
import pytest
import torch

import optimlab


def sgdm_lookahead_oracle(theta0, grad_fn, steps, *, lr, mom, k, alpha, pullback="keep"):
    """Algorithm 1 with SGD-momentum (torch's form: b_1 = g, b = mom b + g, theta -= lr b) inside."""
    theta = np.array(theta0, dtype=np.float64)
    phi = theta.copy()
    buf, slow_buf = None, np.zeros_like(theta)
    out = []
    for t in range(1, steps + 1):
        g = grad_fn(theta, t)
        buf = g.copy() if buf is None else mom * buf + g
        theta = theta - lr * buf
        if t % k == 0:
            phi = phi + alpha * (theta - phi)
            theta = phi.copy()
            if pullback == "reset":
                buf = np.zeros_like(buf)
            elif pullback == "pullback":
                buf = alpha * buf + (1 - alpha) * slow_buf
                slow_buf = buf.copy()
        out.append(theta.copy())
    return out


A = np.linspace(0.5, 3.0, 6)
_N = np.random.default_rng(0).normal(size=(100, 6)) * 0.1


def _g(theta, t):
    return A * theta + _N[t - 1]


def _run(opt, p, t0, t1):
    out = []
    for t in range(t0, t1 + 1):
        p.grad = torch.tensor(_g(p.detach().numpy(), t))
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


@pytest.mark.parametrize("pullback", ["keep", "reset", "pullback"])
@pytest.mark.parametrize("inner", ["ours", "torch"])
def test_matches_oracle_across_syncs(inner, pullback):
    theta0 = np.linspace(-1, 1, 6)
    p = torch.nn.Parameter(torch.tensor(theta0))
    cls = optimlab.SGD if inner == "ours" else torch.optim.SGD
    opt = optimlab.Lookahead(cls([p], lr=0.05, momentum=0.9), k=5, alpha=0.5, pullback=pullback)
    ours = _run(opt, p, 1, 23)  # 4 syncs and 3 steps into the fifth cycle
    ref = sgdm_lookahead_oracle(theta0, _g, 23, lr=0.05, mom=0.9, k=5, alpha=0.5, pullback=pullback)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(opt.state[p]["lookahead_slow"].numpy(), ref[19], rtol=1e-12, atol=1e-14)


def test_pullback_options_really_differ():
    theta0 = np.linspace(-1, 1, 6)
    ends = [sgdm_lookahead_oracle(theta0, _g, 23, lr=0.05, mom=0.9, k=5, alpha=0.5, pullback=m)[-1]
            for m in ("keep", "reset", "pullback")]
    assert not np.allclose(ends[0], ends[1]) and not np.allclose(ends[0], ends[2])


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


def test_shares_the_inner_groups_and_state_and_saves_torchs_flat_format():
    model = _model()
    inner = optimlab.Adam(model.parameters(), lr=0.01)
    la = optimlab.Lookahead(inner)
    assert la.param_groups is inner.param_groups and la.state is inner.state
    assert isinstance(la, torch.optim.Optimizer)
    la.param_groups[0]["lr"] = 0.02
    assert inner.param_groups[0]["lr"] == 0.02
    x = torch.randn(8, 4)
    model(x).pow(2).mean().backward()
    la.step()
    sd = la.state_dict()
    assert set(sd) == {"state", "param_groups"}  # what torch's optimizers give: ZeRO and DCP read it
    assert {"step", "exp_avg", "exp_avg_sq", "lookahead_slow"} == set(sd["state"][0])
    assert isinstance(sd["param_groups"][0]["lookahead_step"], torch.Tensor)
    la.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    # load_state_dict replaces the inner list and dict: the wrapper follows them
    la.load_state_dict(sd)
    assert la.param_groups is inner.param_groups and la.state is inner.state


def test_loads_a_checkpoint_of_optimlab_0_1_with_the_inner_state_nested():
    model = _model()
    la = optimlab.Lookahead(optimlab.SGD(model.parameters(), lr=0.05, momentum=0.9), k=3)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    la.step()
    flat = la.state_dict()
    legacy = {  # the 0.1 layout: wrapper state (slow_param) + the inner state_dict under "inner_optimizer"
        "state": {i: {"slow_param": st["lookahead_slow"]} for i, st in flat["state"].items()},
        "param_groups": [{**g, "lookahead_step": int(g["lookahead_step"])} for g in flat["param_groups"]],
        "inner_optimizer": {"state": {i: {"momentum_buffer": st["momentum_buffer"]} for i, st in flat["state"].items()},
                            "param_groups": flat["param_groups"]},
    }
    other = _model()
    la2 = optimlab.Lookahead(optimlab.SGD(other.parameters(), lr=0.05, momentum=0.9), k=3)
    la2.load_state_dict(legacy)
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(la.state[p]["lookahead_slow"], la2.state[q]["lookahead_slow"])
        assert torch.equal(la.state[p]["momentum_buffer"], la2.state[q]["momentum_buffer"])
    assert int(la2.param_groups[0]["lookahead_step"]) == 1


def test_add_param_group_through_either_object_and_step_hooks():
    model = _model()
    inner = torch.optim.SGD(model[0].parameters(), lr=0.1)
    la = optimlab.Lookahead(inner, k=2, alpha=0.3)
    la.add_param_group({"params": model[2].parameters(), "lr": 0.05})
    assert len(inner.param_groups) == 2 and inner.param_groups[1]["lookahead_k"] == 2
    assert inner.param_groups[1]["momentum"] == 0  # the inner optimizer filled its own defaults
    extra = torch.nn.Parameter(torch.zeros(2))
    inner.add_param_group({"params": [extra]})  # added behind the wrapper's back
    calls = []
    la.register_step_pre_hook(lambda opt, a, k: calls.append("pre"))
    la.register_step_post_hook(lambda opt, a, k: calls.append("post"))
    for _ in range(2):
        la.zero_grad()
        (model(torch.randn(5, 4)).sum() + extra.sum()).backward()
        la.step()
    assert calls == ["pre", "post", "pre", "post"]
    assert inner.param_groups[2]["lookahead_step"] == 2 and extra in la.state


def test_scheduler_drives_the_inner_optimizer_through_the_wrapper():
    p = torch.nn.Parameter(torch.ones(3))
    inner = optimlab.SGD([p], lr=1.0, momentum=0.9)
    la = optimlab.Lookahead(inner)
    sched = torch.optim.lr_scheduler.StepLR(la, step_size=2, gamma=0.1)
    for _ in range(4):
        p.grad = torch.ones(3)
        la.step()
        sched.step()
    assert abs(inner.param_groups[0]["lr"] - 0.01) < 1e-12
    one = torch.optim.lr_scheduler.OneCycleLR(optimlab.Lookahead(optimlab.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9)),
                                              max_lr=0.1, total_steps=10)
    assert one.optimizer.param_groups[0]["momentum"] != 0.9  # cycle_momentum reached the inner group


def test_grad_scaler_skips_inf_steps_and_does_not_advance_the_cycle():
    p = torch.nn.Parameter(torch.ones(3))
    la = optimlab.Lookahead(optimlab.SGD([p], lr=0.1), k=2)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    (p.sum() * float("inf")).backward()
    scaler.scale(p.sum()).backward()
    scaler.step(la)
    scaler.update()
    assert torch.equal(p.detach(), torch.ones(3)) and la.param_groups[0]["lookahead_step"] == 0
    la.zero_grad()
    scaler.scale(p.sum()).backward()
    scaler.step(la)
    torch.testing.assert_close(p.detach(), torch.full((3,), 0.9))  # unscaled gradient 1


def test_checkpoint_in_the_middle_of_a_cycle_resumes_bit_identically():
    theta0 = np.linspace(-1, 1, 6)

    def make(p):
        return optimlab.Lookahead(optimlab.Adam([p], lr=0.05), k=5, alpha=0.5, pullback="pullback")

    p = torch.nn.Parameter(torch.tensor(theta0))
    opt = make(p)
    _run(opt, p, 1, 7)  # 2 steps into the second cycle
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "p": p.detach().clone()}, buf)
    expected = _run(opt, p, 8, 20)[-1]
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    p2 = torch.nn.Parameter(ckpt["p"].clone())
    opt2 = make(p2)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.param_groups[0]["lookahead_step"] == 7
    assert np.array_equal(_run(opt2, p2, 8, 20)[-1], expected)


def test_closure_without_prior_grad_starts_slow_weights_at_theta0():
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    la = optimlab.Lookahead(torch.optim.SGD([p], lr=0.1), k=2, alpha=0.5)

    def closure():
        la.zero_grad()
        loss = p.pow(2).sum()
        loss.backward()
        return loss

    la.step(closure)
    assert torch.equal(la.state[p]["lookahead_slow"], torch.ones(2, dtype=torch.float64))
    la.step(closure)
    # fast: 1 -> 0.8 -> 0.64; slow: 1 + 0.5 (0.64 - 1) = 0.82
    torch.testing.assert_close(p.detach(), torch.full((2,), 0.82, dtype=torch.float64))


def test_registry_spellings():
    p = [torch.nn.Parameter(torch.zeros(2))]
    a = optimlab.create_optimizer("lookahead_radam", p, lr=0.1, k=7)
    b = optimlab.create_optimizer("lookahead", [torch.nn.Parameter(torch.zeros(2))], inner="radam", lr=0.1, k=7)
    for opt in (a, b):
        assert type(opt.optimizer).__name__ == "RAdam" and opt.param_groups[0]["lookahead_k"] == 7
        assert opt.param_groups[0]["lr"] == 0.1
    c = optimlab.create_optimizer("lookahead", [torch.nn.Parameter(torch.zeros(2))])
    assert type(c.optimizer).__name__ == "Adam" and c.param_groups[0]["lookahead_alpha"] == 0.5
