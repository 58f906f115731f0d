"""The claims' tuning protocol, driven with made-up results: equal budgets, knobs, edge extension, selection."""

import math

import pytest

from optimlab.lab.claims.base import MODES, Context
from optimlab.lab.claims.tuning import halton, search_space, to_kwargs, tune
from optimlab.lab.result import RunResult


def _result(spec, score):
    return RunResult(spec=spec.to_dict(), key=spec.key(), status="ok" if math.isfinite(score) else "diverged",
                     final={"val_acc": score}, summary={"select_metric": "val_acc", "select_mode": "max"})


def _drive(ctx, fn, **kw):
    """Call tune until it has a choice, answering every requested run with fn(spec)."""
    for _ in range(5):
        t = tune(ctx, "mnist1d_mlp", **kw)
        missing = [s for s in t.all_specs if ctx.get(s) is None]
        if not missing:
            return t
        for s in missing:
            ctx.results[s.key()] = _result(s, fn(s))
    raise AssertionError("tune did not converge")


def test_every_arm_gets_the_same_budget_over_lr_and_its_knobs():
    mode = MODES["quick"]
    n1, n2 = mode.trials
    assert len(mode.tune_seeds) >= 3 and not set(mode.tune_seeds) & set(range(mode.seeds))
    budgets = {}
    for opt in ("sgdm", "adam", "rmsprop", "lookahead_adam"):
        ctx = Context(mode)
        t = _drive(ctx, lambda s: -abs(math.log10(s.lr) + 2.5), optimizer=opt, steps=10, eval_every=5)
        budgets[opt] = len(t.trials)
        assert len(t.tune_specs) == (n1 + n2) * len(mode.tune_seeds)
        assert [s.seed for s in t.specs] == list(range(mode.seeds))
        kws = [s.optimizer_kwargs for s in t.tune_specs]
        if opt == "sgdm":
            assert all(0.7 <= k["momentum"] <= 0.99 for k in kws) and len({k["momentum"] for k in kws}) > 1
        if opt in ("adam", "lookahead_adam"):
            assert all(0.7 <= k["betas"][0] <= 0.98 and 0.9 <= k["betas"][1] <= 0.999 and 1e-10 <= k["eps"] <= 1e-6
                       for k in kws)
        if opt == "rmsprop":
            assert all(0.9 <= k["alpha"] <= 0.999 for k in kws)
    assert len(set(budgets.values())) == 1


def test_the_chosen_trial_has_the_best_mean_over_the_tuning_seeds():
    ctx = Context(MODES["quick"])

    def score(s):  # best near lr = 0.01 on average, one seed noisy
        return -abs(math.log10(s.lr) + 2.0) + (0.05 if s.seed == 1001 else 0.0)

    t = _drive(ctx, score, optimizer="sgdm", steps=10, eval_every=5)
    best = max(t.trials, key=lambda x: x["score"])
    assert t.lr == best["lr"] and t.kwargs == {"momentum": best["momentum"]}
    assert all(s.lr == t.lr and s.optimizer_kwargs == t.kwargs for s in t.specs)


@pytest.mark.parametrize("direction", [1, -1])
def test_the_lr_range_is_extended_when_the_best_is_on_its_edge(direction):
    ctx = Context(MODES["quick"])
    t = _drive(ctx, lambda s: direction * math.log10(s.lr), optimizer="adam", steps=10, eval_every=5)
    lo, hi = search_space("adam")[0].low, search_space("adam")[0].high
    stage2 = [x["lr"] for x in t.trials if x["stage"] == 2]
    if direction > 0:
        assert all(hi <= v <= 10 * hi for v in stage2) and t.lr > hi
    else:
        assert all(lo / 10 <= v <= lo for v in stage2) and t.lr < lo
    assert t.edge  # still on the edge after the extension: reported


def test_a_diverged_trial_is_never_chosen():
    ctx = Context(MODES["quick"])
    t = _drive(ctx, lambda s: -math.inf if s.lr > 0.01 else math.log10(s.lr), optimizer="sgdm", steps=10, eval_every=5)
    assert t.lr <= 0.01


def test_fixed_knobs_and_extra_knobs():
    space = [k.name for k in search_space("adam", fixed={"beta1": 0.5})]
    assert space == ["lr", "beta2", "eps"]
    assert to_kwargs({"lr": 0.1, "beta1": 0.5, "eps": 1e-8}) == (0.1, {"betas": [0.5, 0.999], "eps": 1e-8})
    ctx = Context(MODES["tiny"])
    t = tune(ctx, "gan", "adam", steps=5, eval_every=5, fixed={"beta1": 0.5})
    assert all(s.optimizer_kwargs["betas"][0] == 0.5 for s in t.tune_specs)
    with pytest.raises(ValueError, match="tune: lr is always tuned"):
        tune(ctx, "gan", "adam", steps=5, eval_every=5, fixed={"lr": 0.1})


def test_halton_points_are_deterministic_and_spread():
    a, b = halton(8, 3), halton(8, 3)
    assert a == b and all(0 <= v < 1 for row in a for v in row)
    assert halton(4, 2, start=4) == halton(8, 2)[4:]
    xs = sorted(row[0] for row in halton(16, 2))
    assert max(y - x for x, y in zip(xs, xs[1:])) < 0.2  # quasi-random: no big holes
