"""LR range test: suggestions on problems whose good rate is known, bit-identical restore (also
after an exception), divergence stop, smoothing, validation mode, and the error table."""

from __future__ import annotations

import doctest
import random

import pytest
import torch

import optimlab
import optimlab.lr_range as LR
from optimlab import (
    LRRangeResult, lr_range_test, lr_range_test_from_batches, suggest_clr_bounds, suggest_lr_min_div10,
    suggest_lr_steepest, suggest_lr_valley,
)

SUGGESTERS = [suggest_lr_steepest, suggest_lr_valley, suggest_lr_min_div10]


def _quadratic(h=2.0):
    """Noiseless quadratic 0.5 * h * |w|^2 (curvature h): best rate 1/h, divergence past 2/h."""
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    model = torch.nn.Module()
    model.w = w
    opt = torch.optim.SGD([w], lr=0.1)

    def step():
        loss = 0.5 * h * (w**2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return model, opt, step


@pytest.mark.parametrize("h", [0.5, 2.0, 40.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.6])
def test_quadratic_suggestions_are_stable_rates_and_divergence_stops_early(h, smoothing):
    model, opt, step = _quadratic(h)
    res = lr_range_test(step, opt, model, start_lr=1e-5, end_lr=1e3, num_steps=100, smoothing=smoothing)
    assert res.stop_reason == "diverged" and len(res.lrs) < 100
    assert res.stop_lr > 2 / h  # the loss only grows once the rate passes the stability limit
    # steepest descent and minimum/10 land within [1/(20h), 2/h): the order of the best rate 1/h
    assert 1 / (20 * h) <= suggest_lr_steepest(res) < 2 / h
    assert 1 / (20 * h) <= suggest_lr_min_div10(res) < 2 / h
    # the valley is half-way through the descent, which here starts at the first rate: stable but
    # conservative (the noiseless loss falls from the very start, unlike a network's)
    assert 1 / (1000 * h) <= suggest_lr_valley(res) < suggest_lr_steepest(res)
    base, top = suggest_clr_bounds(res)
    assert 0 < base < top < 2 / h


def test_logistic_regression_suggestions_match_curvature():
    torch.manual_seed(0)
    n, d = 400, 5
    X = torch.randn(n, d) * torch.tensor([3.0, 1.0, 1.0, 0.5, 0.2])
    y = (X @ torch.randn(d) + 0.5 * torch.randn(n) > 0).float()
    L = torch.linalg.eigvalsh(X.T @ X / n).max().item() / 4  # Hessian bound of the logistic loss at w = 0
    model = torch.nn.Linear(d, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    bce = torch.nn.BCEWithLogitsLoss()
    res = lr_range_test_from_batches(model, lambda o, t: bce(o.squeeze(-1), t), opt, [(X, y)],
                                     start_lr=1e-4, end_lr=1e3, num_steps=100, smoothing=0.9)
    assert res.stop_reason == "diverged"
    for f in SUGGESTERS:
        assert 1 / (20 * L) <= f(res) <= 10 / L, f.__name__
    assert torch.count_nonzero(model.weight) == 0  # restored


def _busy_model():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Dropout(0.3),
                               torch.nn.ReLU(), torch.nn.Linear(8, 1))


def _snapshot(model, opt, sched):
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            repr(opt.state_dict()), {k: v.clone() for k, v in _flat_opt_tensors(opt).items()},
            repr(sched.state_dict()), torch.get_rng_state().clone(), random.getstate())


def _flat_opt_tensors(opt):
    return {(i, k): v for i, st in opt.state_dict()["state"].items() for k, v in st.items() if torch.is_tensor(v)}


def _assert_same(a, b):
    sa, ta, ra, oa, sca, rnga, pya = a
    sb, tb, rb, ob, scb, rngb, pyb = b
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ta == tb and ra == rb and sca == scb and pya == pyb
    assert oa.keys() == ob.keys() and all(torch.equal(oa[k], ob[k]) for k in oa)
    assert torch.equal(rnga, rngb)


@pytest.mark.parametrize("fail_at", [None, 0, 7])
def test_restores_everything_bit_identically_even_on_exception(fail_at):
    model = _busy_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(3):  # give the optimizer some state first
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2)
    model.eval()
    model[1].train()  # mixed flags must come back as they were
    random.seed(5)
    before = _snapshot(model, opt, sched)
    calls = []

    def step():
        calls.append(1)
        if fail_at is not None and len(calls) > fail_at:
            raise RuntimeError("boom")
        model.train()
        loss = torch.nn.functional.mse_loss(model(x + 0.1 * torch.randn_like(x)), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        random.random()
        return loss

    if fail_at is None:
        res = lr_range_test(step, opt, model, start_lr=1e-5, end_lr=1.0, num_steps=20, scheduler=sched)
        assert len(res.lrs) >= 2
    else:
        with pytest.raises(RuntimeError, match="boom"):
            lr_range_test(step, opt, model, start_lr=1e-5, end_lr=1.0, num_steps=20, scheduler=sched)
    _assert_same(before, _snapshot(model, opt, sched))
    # and the restored run continues exactly as an untouched copy would
    torch.nn.functional.mse_loss(model(x), y).backward()


def test_sweep_values_and_bias_corrected_smoothing():
    model, opt, step = _quadratic(0.01)  # tiny curvature: no divergence, sweep completes
    for mode in ("exp", "linear"):
        beta = 0.7
        seen = []

        def rec():
            seen.append(opt.param_groups[0]["lr"])
            return step()

        res = lr_range_test(rec, opt, model, start_lr=0.01, end_lr=1.0, num_steps=11, mode=mode, smoothing=beta)
        assert res.stop_reason == "completed" and res.stop_lr is None
        assert list(res.lrs) == seen
        expect = [0.01 * 100 ** (i / 10) for i in range(11)] if mode == "exp" else [0.01 + 0.099 * i for i in range(11)]
        assert res.lrs == pytest.approx(expect, rel=1e-12)
        avg = 0.0
        for i, (raw, sm) in enumerate(zip(res.losses, res.smoothed_losses)):
            avg = beta * avg + (1 - beta) * raw
            assert sm == pytest.approx(avg / (1 - beta ** (i + 1)), rel=1e-12)


def test_validation_mode_records_val_loss():
    model, opt, step = _quadratic(1.0)
    res = lr_range_test(step, opt, model, start_lr=1e-3, end_lr=1e-2, num_steps=5,
                        val_fn=lambda: torch.tensor(7.0, requires_grad=False))
    assert res.validation and res.losses == (7.0,) * 5 and res.smoothed_losses == pytest.approx((7.0,) * 5)


def test_nan_from_the_start_and_too_few_points_say_why():
    model, opt, _ = _quadratic()
    res = lr_range_test(lambda: float("nan"), opt, model, num_steps=10)
    assert res.stop_reason == "non_finite" and res.lrs == () and res.stop_lr == 1e-7
    for f in SUGGESTERS + [suggest_clr_bounds]:
        with pytest.raises(ValueError, match=rf"{f.__name__}: result must have >= \d recorded points .*got 0 .*non_finite"):
            f(res)
    short = LRRangeResult((1e-3,), (1.0,), (1.0,), "diverged", 1e-2, "exp", 1e-3, 1.0, 10, 0.0, 5.0, False)
    with pytest.raises(ValueError, match="suggest_lr_steepest: result must have >= 3 recorded points .*got 1"):
        suggest_lr_steepest(short)
    flat = LRRangeResult((1e-3, 1e-2, 1e-1), (1.0, 1.0, 2.0), (1.0, 1.0, 2.0), "completed", None, "exp",
                         1e-3, 1e-1, 3, 0.0, 5.0, False)
    with pytest.raises(ValueError, match="suggest_clr_bounds: the smoothed loss must fall below its first value"):
        suggest_clr_bounds(flat)


def test_result_to_dict_is_json():
    import json
    model, opt, step = _quadratic(1.0)
    res = lr_range_test(step, opt, model, start_lr=1e-3, end_lr=1.0, num_steps=8)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["lrs"] == list(res.lrs) and d["stop_reason"] == res.stop_reason


ERRORS = [
    (dict(start_lr=0.0), r"lr_range_test: start_lr must be > 0, got 0.0"),
    (dict(start_lr=1.0, end_lr=1.0), r"lr_range_test: end_lr must be > 1, got 1.0"),
    (dict(start_lr=1.0, end_lr=0.1), r"lr_range_test: end_lr must be > 1, got 0.1"),
    (dict(num_steps=0), r"lr_range_test: num_steps must be >= 2, got 0"),
    (dict(num_steps=-5), r"lr_range_test: num_steps must be >= 2, got -5"),
    (dict(smoothing=1.0), r"lr_range_test: smoothing must be in \[0, 1\), got 1.0"),
    (dict(smoothing=-0.1), r"lr_range_test: smoothing must be in \[0, 1\), got -0.1"),
    (dict(mode="log"), r"lr_range_test: mode must be one of 'exp', 'linear', got 'log'"),
    (dict(diverge_threshold=1.0), r"lr_range_test: diverge_threshold must be > 1, got 1.0"),
    (dict(val_fn=3), r"lr_range_test: val_fn must be callable or None, got 3"),
    (dict(also_restore=[object()]), r"lr_range_test: also_restore\[0\] must have state_dict\(\)"),
]


@pytest.mark.parametrize("kwargs,pattern", ERRORS)
def test_error_table(kwargs, pattern):
    model, opt, step = _quadratic()
    w_before = model.w.detach().clone()
    with pytest.raises(ValueError, match=pattern):
        lr_range_test(step, opt, model, **kwargs)
    assert torch.equal(model.w, w_before)


def test_bad_returns_and_unknown_keyword():
    model, opt, step = _quadratic()
    with pytest.raises(ValueError, match="lr_range_test: step_fn/val_fn must return a float or a 1-element Tensor, got 'x'"):
        lr_range_test(lambda: "x", opt, model)
    with pytest.raises(TypeError):
        lr_range_test(step, opt, model, lr_min=1e-3)
    res = lr_range_test(step, opt, model, num_steps=5)
    with pytest.raises(ValueError, match="suggest_clr_bounds: start_fraction must be in \\(0, 1\\), got 0"):
        suggest_clr_bounds(res, start_fraction=0)
    with pytest.raises(ValueError, match="suggest_lr_valley: skip_start must be >= 0, got -1"):
        suggest_lr_valley(res, skip_start=-1)


def test_docstring_examples_run():
    assert doctest.testmod(LR).failed == 0
    for name in ("lr_range_test", "suggest_lr_steepest", "suggest_lr_valley", "suggest_lr_min_div10", "suggest_clr_bounds"):
        assert name in optimlab.__all__ and getattr(optimlab, name).__doc__
