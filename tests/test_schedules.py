"""Schedules: equality with torch's schedulers, composition, JSON round trip, the adapter
(resume, momentum, per-group), and the error table."""

from __future__ import annotations

import doctest
import io
import json
import math
import random
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as L

import optimlab
import optimlab.schedules as S
from optimlab.schedules import (
    SGDR, Constant, CosineAnnealing, Cyclic, CyclicMomentum, ExponentialDecay, LinearWarmup,
    OneCycle, OneCycleMomentum, ScheduledLR, Sequence, StepDecay, UntunedWarmup, Warmup,
)

N = 600  # long run for every torch comparison
RTOL = 1e-12


def _opt(kind="sgd", lr=0.1, groups=1):
    ps = [torch.zeros(2, requires_grad=True) for _ in range(groups)]
    if kind == "sgd":
        return torch.optim.SGD([{"params": [p]} for p in ps], lr=lr, momentum=0.9)
    return torch.optim.Adam([{"params": [p]} for p in ps], lr=lr)


def _run_torch(make, steps, kind="sgd", lr=0.1):
    """Values (lr, momentum) torch's scheduler gives for steps 0..steps-1."""
    opt = _opt(kind, lr)
    sched = make(opt)
    lrs, moms = [], []
    for _ in range(steps):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"] if "momentum" in g else g["betas"][0])
        opt.step()
        sched.step()
    return lrs, moms


def _run_ours(lr_s, steps, mom_s=None, kind="sgd"):
    """The same through our adapter (so the adapter is checked on every comparison)."""
    opt = _opt(kind)
    sched = ScheduledLR(opt, lr_s, momentum=mom_s)
    lrs, moms = [], []
    for _ in range(steps):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        moms.append(g["momentum"] if "momentum" in g else g["betas"][0])
        opt.step()
        sched.step()
    assert lrs == [lr_s(t) for t in range(steps)]  # the adapter adds nothing of its own
    return lrs, moms


def _maxrel(a, b):
    assert len(a) == len(b)
    return max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b))


# --------------------------------------------------------------------------- torch equivalence
@pytest.mark.parametrize("mode,gamma", [("triangular", None), ("triangular2", None), ("exp_range", 0.997)])
@pytest.mark.parametrize("down", [None, 13])
def test_cyclic_equals_torch(mode, gamma, down):
    kw = dict(base_lr=0.01, max_lr=0.3, step_size_up=17, step_size_down=down, mode=mode)
    tkw = dict(kw, gamma=1.0 if gamma is None else gamma, base_momentum=0.8, max_momentum=0.9)
    t_lr, t_m = _run_torch(lambda o: L.CyclicLR(o, **tkw), N)
    ours = Cyclic(**kw, gamma=gamma)
    o_lr, o_m = _run_ours(ours, N, ours.momentum_schedule(0.8, 0.9))
    assert _maxrel(o_lr, t_lr) <= RTOL
    assert _maxrel(o_m, t_m) <= RTOL


def test_cyclic_exp_range_default_gamma_is_a_fix():
    # torch's default gamma=1.0 makes exp_range identical to triangular: the complaint.
    tri, _ = _run_torch(lambda o: L.CyclicLR(o, 0.01, 0.3, step_size_up=10, mode="triangular"), 200)
    exp1, _ = _run_torch(lambda o: L.CyclicLR(o, 0.01, 0.3, step_size_up=10, mode="exp_range"), 200)
    assert tri == exp1
    # ours, with gamma=None, halves the amplitude every cycle (peaks at t = 10, 30, 50 ...)
    s = Cyclic(0.01, 0.3, step_size_up=10, mode="exp_range")
    peaks = [s(10 + 20 * k) - 0.01 for k in range(5)]
    for a, b in zip(peaks, peaks[1:]):
        assert b / a == pytest.approx(0.5, rel=1e-12)
    with pytest.warns(UserWarning, match="gamma=1.0 is exactly mode='triangular'"):
        explicit = Cyclic(0.01, 0.3, step_size_up=10, mode="exp_range", gamma=1.0)
    assert [explicit(t) for t in range(200)] == pytest.approx(tri, rel=RTOL)


@pytest.mark.parametrize("strategy,three", [("cos", False), ("linear", False), ("cos", True), ("linear", True)])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_onecycle_equals_torch(strategy, three, kind):
    T = N
    kw = dict(total_steps=T, pct_start=0.27, anneal_strategy=strategy, three_phase=three)
    t_lr, t_m = _run_torch(lambda o: L.OneCycleLR(o, max_lr=0.4, div_factor=20.0, final_div_factor=300.0,
                                                  base_momentum=0.8, max_momentum=0.93, **kw), T, kind)
    ours = OneCycle(max_lr=0.4, div_factor=20.0, final_div_factor=300.0, **kw)
    o_lr, o_m = _run_ours(ours, T, ours.momentum_schedule(0.8, 0.93), kind)
    assert _maxrel(o_lr, t_lr) <= RTOL
    assert _maxrel(o_m, t_m) <= RTOL


def test_onecycle_holds_final_value_after_the_end():
    # documented fix: torch's linear one-cycle extrapolates below zero at step total_steps
    opt = _opt()
    t = L.OneCycleLR(opt, max_lr=1.0, total_steps=50, anneal_strategy="linear")
    for _ in range(50):
        opt.step()
        t.step()
    assert opt.param_groups[0]["lr"] < 0
    s = OneCycle(max_lr=1.0, total_steps=50, anneal_strategy="linear")
    assert s(50) == s(49) == s(1000) == pytest.approx(1.0 / 25 / 1e4, rel=1e-12)


@pytest.mark.parametrize("T_0,T_mult,eta_min", [(10, 1, 0.0), (7, 2, 0.003), (3, 3, 0.0)])
def test_sgdr_equals_torch(T_0, T_mult, eta_min):
    t_lr, _ = _run_torch(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=eta_min), N)
    o_lr, _ = _run_ours(SGDR(base_lr=0.1, T_0=T_0, T_mult=float(T_mult), eta_min=eta_min), N)
    assert _maxrel(o_lr, t_lr) <= RTOL


def test_linear_warmup_equals_torch_linearlr():
    t_lr, _ = _run_torch(lambda o: L.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=40), N)
    o_lr, _ = _run_ours(LinearWarmup(base_lr=0.1, warmup_steps=40, start_factor=0.25), N)
    assert _maxrel(o_lr, t_lr) <= RTOL


def test_simple_decays_equal_torch():
    pairs = [
        (lambda o: L.StepLR(o, step_size=33, gamma=0.5), StepDecay(0.1, step_size=33, gamma=0.5)),
        (lambda o: L.MultiStepLR(o, milestones=[50, 120, 400], gamma=0.3),
         StepDecay(0.1, milestones=[50, 120, 400], gamma=0.3)),
        (lambda o: L.ExponentialLR(o, gamma=0.995), ExponentialDecay(0.1, gamma=0.995)),
        (lambda o: L.ConstantLR(o, factor=1.0, total_iters=1), Constant(0.1)),
    ]
    for make, ours in pairs:
        t_lr, _ = _run_torch(make, N)
        o_lr, _ = _run_ours(ours, N)
        assert _maxrel(o_lr, t_lr) <= 1e-11, ours  # torch's ExponentialLR multiplies recursively


def test_cosine_equals_torch_until_T_max_then_holds():
    T = 250
    t_lr, _ = _run_torch(lambda o: L.CosineAnnealingLR(o, T_max=T, eta_min=0.001), 2 * T)
    s = CosineAnnealing(base_lr=0.1, T_max=T, eta_min=0.001)
    o_lr, _ = _run_ours(s, 2 * T)
    assert max(abs(a - b) for a, b in zip(o_lr[: T + 1], t_lr[: T + 1])) <= 1e-12
    assert t_lr[2 * T - 1] > 0.09  # torch climbs back up after T_max ...
    assert all(v == pytest.approx(0.001, rel=1e-12) for v in o_lr[T:])  # ... ours stays at eta_min


def test_warmup_cosine_equals_torch_sequential():
    W, T = 25, 300
    make = lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=W),  # noqa: E731
                                        L.CosineAnnealingLR(o, T_max=T, eta_min=0.0)], milestones=[W])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_lr, _ = _run_torch(make, W + T)
    o_lr, _ = _run_ours(Warmup(CosineAnnealing(0.1, T_max=T), warmup_steps=W, start_factor=0.1), W + T)
    assert max(abs(a - b) for a, b in zip(o_lr, t_lr)) <= 1e-12


# --------------------------------------------------------------------------- formulas without torch twin
def test_sgdr_real_T_mult_fractional_steps_and_peak_decay():
    base, eta_min, T_0, T_mult, d = 0.5, 0.01, 3.3, 1.5, 0.7
    s = SGDR(base, T_0=T_0, T_mult=T_mult, eta_min=eta_min, peak_decay=d)
    start, length = 0.0, T_0
    for i in range(8):  # restart points computed by summing the cycle lengths
        assert s(start) == pytest.approx(eta_min + (base - eta_min) * d**i, rel=1e-9)
        mid = start + length / 2
        assert s(mid) == pytest.approx(eta_min + (base - eta_min) * d**i / 2, rel=1e-9)
        assert s(start + length - 1e-9) == pytest.approx(eta_min, abs=1e-9)
        start, length = start + length, length * T_mult


def test_untuned_warmup_period():
    for beta2 in (0.999, 0.99, 0.9):
        s = UntunedWarmup(1.0, beta2=beta2)
        period = 2 / (1 - beta2)
        assert s(round(period) - 1) == pytest.approx(1.0)
        assert s(round(period) // 2 - 1) == pytest.approx(0.5)
        e = UntunedWarmup(1.0, beta2=beta2, form="exponential")
        tau = 1 / (1 - beta2)
        assert e(round(tau) - 1) == pytest.approx(1 - math.exp(-1))
        assert all(0 < e(t) < 1 for t in range(0, 50))


def test_sequence_joins_and_restarts_each_piece():
    a, b, c = Constant(0.3), LinearWarmup(0.2, warmup_steps=10), CosineAnnealing(0.2, T_max=40)
    s = Sequence([a, b, c], boundaries=[5, 15])
    for t in [0, 2.5, 4.999]:
        assert s(t) == a(t)
    for t in [5, 7.5, 14]:
        assert s(t) == b(t - 5)
    for t in [15, 30, 100]:
        assert s(t) == c(t - 15)


def test_warmup_composes_with_any_schedule():
    inner = OneCycle(max_lr=1.0, total_steps=100)
    s = Warmup(inner, warmup_steps=10, start_factor=0.5)
    assert s(0) == pytest.approx(0.5 * inner(0))
    assert s(5) == pytest.approx(0.75 * inner(0))
    assert [s(10 + t) for t in range(100)] == [inner(t) for t in range(100)]


# --------------------------------------------------------------------------- registry / JSON
EXAMPLES = {
    "constant": Constant(0.1),
    "linear_warmup": LinearWarmup(0.1, 5, 0.2),
    "untuned_warmup": UntunedWarmup(0.1, 0.99, "exponential"),
    "step": StepDecay(0.1, milestones=[3, 9], gamma=0.5),
    "exponential": ExponentialDecay(0.1, 0.9),
    "cosine": CosineAnnealing(0.1, 20, 0.001),
    "sgdr": SGDR(0.1, 2.5, 1.5, 0.0, 0.9),
    "cyclic": Cyclic(0.01, 0.1, 5, 3, "exp_range", 0.99),
    "cyclic_momentum": CyclicMomentum(0.8, 0.9, 5),
    "onecycle": OneCycle(0.1, 50, three_phase=True, anneal_strategy="linear"),
    "onecycle_momentum": OneCycleMomentum(50),
    "warmup": Warmup(SGDR(0.1, 10), 4),
    "sequence": Sequence([Constant(0.1), Warmup(CosineAnnealing(0.1, 9), 2)], [4]),
}


def test_every_schedule_has_an_example_and_round_trips_through_json():
    assert sorted(EXAMPLES) == S.available_schedules()
    for name, s in EXAMPLES.items():
        d = json.loads(json.dumps(s.to_dict()))
        assert d["name"] == name
        back = S.from_dict(d)
        assert back == s and repr(back) == repr(s)
        assert [back(t / 3) for t in range(90)] == [s(t / 3) for t in range(90)]
        assert S.make_schedule(name, **d["kwargs"]) == s


def test_make_schedule_errors():
    with pytest.raises(ValueError, match=r"make_schedule: name must be one of .*'cosine'.*got 'cosin'"):
        S.make_schedule("cosin", base_lr=0.1, T_max=3)
    with pytest.raises(TypeError):
        S.make_schedule("cosine", base_lr=0.1, T_max=3, warmup=2)


# --------------------------------------------------------------------------- adapter
def test_adapter_per_group_and_momentum_targets():
    opt = _opt("sgd", groups=2)
    sched = ScheduledLR(opt, [Constant(0.1), ExponentialDecay(0.2, 0.5)], momentum=CyclicMomentum(0.8, 0.9, 2))
    for _ in range(3):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2 * 0.5**3]
    assert opt.param_groups[0]["momentum"] == CyclicMomentum(0.8, 0.9, 2)(3)
    adam = optimlab.Adam([torch.zeros(1, requires_grad=True)], lr=1.0, betas=(0.9, 0.98))
    ScheduledLR(adam, Constant(0.1), momentum=Constant(0.85))
    assert tuple(adam.param_groups[0]["betas"]) == (0.85, 0.98)
    ada = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match=r"ScheduledLR: momentum needs param_groups\[0\] to have 'momentum' or 'betas'"):
        ScheduledLR(ada, Constant(0.1), momentum=Constant(0.9))
    with pytest.raises(ValueError, match="ScheduledLR: lr must be one schedule or a list of 2"):
        ScheduledLR(_opt("sgd", groups=2), [Constant(0.1)])


@pytest.mark.parametrize("factory", [lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                                     lambda p: optimlab.SGD(p, lr=0.1, momentum=0.9),
                                     lambda p: optimlab.AdamW(p, lr=0.1)])
@pytest.mark.parametrize("optimizer_first", [True, False])
def test_adapter_resume_continues_on_the_same_curve(factory, optimizer_first):
    lr_s = Warmup(SGDR(0.1, T_0=7, T_mult=1.5), warmup_steps=5)
    mom_s = OneCycleMomentum(total_steps=80)
    rng = random.Random(1234 + int(optimizer_first))
    stop, total = rng.randint(1, 60), 80

    def make():
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        opt = factory(model.parameters())
        return model, opt, ScheduledLR(opt, lr_s, momentum=mom_s)

    def train(model, opt, sched, n, seq):
        for _ in range(n):
            g = opt.param_groups[0]
            seq.append((g["lr"], g["momentum"] if "momentum" in g else g["betas"][0]))
            model(torch.ones(4, 3)).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            sched.step()

    ref = []
    train(*make(), total, ref)
    got = []
    model, opt, sched = make()
    train(model, opt, sched, stop, got)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    model2, opt2, sched2 = make()
    model2.load_state_dict(ck["model"])
    if optimizer_first:
        opt2.load_state_dict(ck["opt"])
        sched2.load_state_dict(ck["sched"])
    else:
        sched2.load_state_dict(ck["sched"])
        opt2.load_state_dict(ck["opt"])
    train(model2, opt2, sched2, total - stop, got)
    assert got == ref
    assert sched2.last_epoch == total


def test_adapter_warns_when_resumed_with_other_schedules():
    opt = _opt()
    sd = ScheduledLR(opt, Constant(0.1)).state_dict()
    with pytest.warns(UserWarning, match="different schedules"):
        ScheduledLR(_opt(), Constant(0.2)).load_state_dict(sd)


# --------------------------------------------------------------------------- error table
ERRORS = [
    (Constant, dict(value=-1.0), r"Constant: value must be >= 0, got -1.0"),
    (LinearWarmup, dict(base_lr=0.1, warmup_steps=0), r"LinearWarmup: warmup_steps must be >= 1, got 0"),
    (LinearWarmup, dict(base_lr=0.1, warmup_steps=5, start_factor=1.5), r"LinearWarmup: start_factor must be in \[0, 1\], got 1.5"),
    (UntunedWarmup, dict(base_lr=0.1, beta2=1.0), r"UntunedWarmup: beta2 must be in \(0, 1\), got 1.0"),
    (UntunedWarmup, dict(base_lr=0.1, form="cubic"), r"UntunedWarmup: form must be one of 'linear', 'exponential', got 'cubic'"),
    (StepDecay, dict(base_lr=0.1), r"StepDecay: exactly one of step_size and milestones must be given"),
    (StepDecay, dict(base_lr=0.1, step_size=-3), r"StepDecay: step_size must be >= 1, got -3"),
    (StepDecay, dict(base_lr=0.1, milestones=[5, 5]), r"StepDecay: milestones must be strictly increasing, got \[5, 5\]"),
    (StepDecay, dict(base_lr=0.1, step_size=3, gamma=0.0), r"StepDecay: gamma must be in \(0, 1\], got 0.0"),
    (ExponentialDecay, dict(base_lr=0.1, gamma=1.5), r"ExponentialDecay: gamma must be in \(0, 1\], got 1.5"),
    (CosineAnnealing, dict(base_lr=0.1, T_max=0), r"CosineAnnealing: T_max must be > 0, got 0"),
    (CosineAnnealing, dict(base_lr=-0.1, T_max=5), r"CosineAnnealing: base_lr must be >= 0, got -0.1"),
    (SGDR, dict(base_lr=0.1, T_0=-1), r"SGDR: T_0 must be > 0, got -1"),
    (SGDR, dict(base_lr=0.1, T_0=5, T_mult=0.5), r"SGDR: T_mult must be >= 1, got 0.5"),
    (SGDR, dict(base_lr=0.1, T_0=5, eta_min=0.2), r"SGDR: eta_min must be in \[0, 0.1\], got 0.2"),
    (SGDR, dict(base_lr=0.1, T_0=5, peak_decay=0), r"SGDR: peak_decay must be in \(0, 1\], got 0"),
    (Cyclic, dict(base_lr=0.1, max_lr=0.05), r"Cyclic: max_lr must be >= 0.1, got 0.05"),
    (Cyclic, dict(base_lr=0.1, max_lr=1, step_size_up=0), r"Cyclic: step_size_up must be > 0, got 0"),
    (Cyclic, dict(base_lr=0.1, max_lr=1, mode="sine"), r"Cyclic: mode must be one of 'triangular', 'triangular2', 'exp_range', got 'sine'"),
    (Cyclic, dict(base_lr=0.1, max_lr=1, gamma=0.9), r"Cyclic: gamma must be None unless mode='exp_range'.*got gamma=0.9 with mode='triangular'"),
    (Cyclic, dict(base_lr=0.1, max_lr=1, mode="exp_range", gamma=1.2), r"Cyclic: gamma must be in \(0, 1\], got 1.2"),
    (CyclicMomentum, dict(base_momentum=0.95, max_momentum=0.9), r"CyclicMomentum: max_momentum must be in \[0.95, 1\), got 0.9"),
    (OneCycle, dict(max_lr=0.1, total_steps=1), r"OneCycle: total_steps must be >= 2, got 1"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, pct_start=1.0), r"OneCycle: pct_start must be in \(0, 1\), got 1.0"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True), r"OneCycle: pct_start must be in \(1/total_steps, .*got pct_start=0.6 with total_steps=100"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, anneal_strategy="exp"), r"OneCycle: anneal_strategy must be one of 'cos', 'linear', got 'exp'"),
    (OneCycle, dict(max_lr=0.1, total_steps=100, div_factor=0), r"OneCycle: div_factor must be > 0, got 0"),
    (OneCycleMomentum, dict(total_steps=100, three_phase="yes"), r"OneCycleMomentum: three_phase must be True or False, got 'yes'"),
    (Warmup, dict(schedule=0.1, warmup_steps=5), r"Warmup: schedule must be a schedule .*got 0.1"),
    (Warmup, dict(schedule=Constant(0.1), warmup_steps=2.5), r"Warmup: warmup_steps must be an integer >= 1, got 2.5"),
    (Sequence, dict(schedules=[Constant(0.1)] * 2, boundaries=[]), r"Sequence: boundaries must have len\(schedules\) - 1 = 1 entries, got \[\]"),
    (Sequence, dict(schedules=[Constant(0.1)] * 3, boundaries=[5, 2]), r"Sequence: boundaries must be strictly increasing, got \[5, 2\]"),
    (Sequence, dict(schedules=[Constant(0.1)] * 2, boundaries=[0]), r"Sequence: boundaries\[0\] must be > 0, got 0"),
]


@pytest.mark.parametrize("cls,kwargs,pattern", ERRORS, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(ERRORS)])
def test_error_table(cls, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(**kwargs)


def test_every_schedule_is_in_the_error_table_and_rejects_bad_steps():
    assert {c.__name__ for c, _, _ in ERRORS} == {type(s).__name__ for s in EXAMPLES.values()}
    for s in EXAMPLES.values():
        name = type(s).__name__
        with pytest.raises(ValueError, match=rf"{name}: step must be >= 0, got -1"):
            s(-1)
        with pytest.raises(ValueError, match=rf"{name}: step must be >= 0, got nan"):
            s(float("nan"))
        with pytest.raises(TypeError):
            type(s)(**s.to_dict()["kwargs"] | {"bogus": 1})


def test_docstring_examples_run():
    import optimlab.schedules.adapter as ad
    import optimlab.schedules._base as b
    import optimlab.schedules.basic as ba
    import optimlab.schedules.compose as co
    import optimlab.schedules.cyclic as cy
    for mod in (S, ad, b, ba, co, cy):
        res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
        assert res.failed == 0, mod.__name__
    names = [n for n in S.__all__ if isinstance(getattr(S, n), type) and issubclass(getattr(S, n), S.Schedule)]
    for n in names:
        if n != "Schedule":
            assert ">>>" in getattr(S, n).__doc__ and "Args:" in getattr(S, n).__doc__, n
