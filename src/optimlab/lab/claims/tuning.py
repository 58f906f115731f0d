"""The tuning protocol of the claims: the same budget of trials for every arm, over lr and the usual knobs.

After Choi et al. (2019, "On Empirical Comparisons of Optimizers for Deep Learning") and AlgoPerf
(Dahl et al., 2023): every arm (optimizer, or optimizer + schedule) gets ``n1 + n2`` trials, each a point
of a scrambled Halton sequence (quasi-random, fixed generator seed, the same points for every arm) mapped
to the arm's search space:

    lr               log-uniform in the optimizer's usual range (:data:`LR_RANGE`)
    momentum         1 - momentum log-uniform in [0.01, 0.3]           (SGDM, NAG, SGDWM)
    beta1, beta2     1 - beta log-uniform in [0.02, 0.3], [1e-3, 0.1]   (the Adam family, AdaBound, SWATS)
    alpha            1 - alpha log-uniform in [1e-3, 0.1]               (RMSprop)
    eps              log-uniform in [1e-10, 1e-6]                      (every adaptive method)

A claim may fix knobs (``fixed={"beta1": 0.5}`` for GANs) or add its own (SWATS's ``switch_eps``).  Stage 1
runs ``n1`` points on every tuning seed.  Stage 2 runs ``n2`` more: if stage 1's best lr was the largest (the
smallest) lr tried, stage 2 samples lr in the decade above (below) the range, otherwise it continues the
sequence in the same range, so every arm gets exactly ``n1 + n2`` trials.  The chosen trial has the best mean
score over the tuning seeds (:func:`final_score`: the problem's validation metric at the end of training,
a diverged or failed run counts as the worst; a claim may pass another objective, e.g. steps to a target);
the comparison then runs the chosen configuration on fresh seeds ``0 .. n-1``.  Tuning seeds (1000, 1001, ...)
never serve as comparison seeds, and the data split is the same for all seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ..result import RunResult, score
from ..spec import RunSpec

__all__ = ["Knob", "LR_RANGE", "search_space", "halton", "tune", "Tuned", "final_score", "typical_lr", "base_name",
           "to_kwargs"]

HALTON_SEED = 20240601


@dataclass(frozen=True)
class Knob:
    """One tuned hyperparameter: ``scale="log"`` (log-uniform in [low, high]) or ``"log1m"`` (1 - value log-uniform)."""

    name: str
    low: float
    high: float
    scale: str = "log"

    def value(self, u: float) -> float:
        a, b = math.log10(self.low), math.log10(self.high)
        x = 10 ** (a + (b - a) * u)
        return float(f"{(1 - x if self.scale == 'log1m' else x):.4g}")


LR_RANGE = {
    "sgd": (1e-2, 1.0), "sgdm": (1e-3, 0.3), "nag": (1e-3, 0.3), "sgdw": (1e-2, 1.0), "sgdwm": (1e-3, 0.3),
    "adam": (1e-4, 3e-2), "adamw": (1e-4, 3e-2), "amsgrad": (1e-4, 3e-2), "nadam": (1e-4, 3e-2),
    "radam": (1e-4, 3e-2), "adabound": (1e-4, 3e-2), "amsbound": (1e-4, 3e-2), "swats": (1e-4, 3e-2),
    "adagrad": (1e-3, 0.3), "rmsprop": (1e-4, 3e-2),
}
MOMENTUM = Knob("momentum", 0.01, 0.3, "log1m")
BETA1 = Knob("beta1", 0.02, 0.3, "log1m")
BETA2 = Knob("beta2", 1e-3, 0.1, "log1m")
ALPHA = Knob("alpha", 1e-3, 0.1, "log1m")
EPS = Knob("eps", 1e-10, 1e-6, "log")
KNOBS = {
    "sgd": (), "sgdw": (), "sgdm": (MOMENTUM,), "nag": (MOMENTUM,), "sgdwm": (MOMENTUM,),
    "adam": (BETA1, BETA2, EPS), "adamw": (BETA1, BETA2, EPS), "amsgrad": (BETA1, BETA2, EPS),
    "nadam": (BETA1, BETA2, EPS), "radam": (BETA1, BETA2, EPS), "adabound": (BETA1, BETA2, EPS),
    "amsbound": (BETA1, BETA2, EPS), "swats": (BETA1, BETA2, EPS), "rmsprop": (ALPHA, EPS), "adagrad": (EPS,),
}


def base_name(optimizer: str) -> str:
    """The inner optimizer of a wrapper name (``lookahead_noisy_adam`` -> ``adam``)."""
    name = optimizer
    for prefix in ("lookahead_", "noisy_"):
        while name.startswith(prefix):
            name = name[len(prefix):]
    return name


def typical_lr(optimizer: str) -> tuple[float, float]:
    return LR_RANGE.get(base_name(optimizer), (1e-4, 1e-1))


def search_space(optimizer: str, fixed: dict | None = None, extra: tuple = ()) -> list[Knob]:
    """lr first, then the optimizer's usual knobs (minus the ``fixed`` ones), then ``extra`` knobs."""
    fixed = fixed or {}
    lo, hi = typical_lr(optimizer)
    knobs = [Knob("lr", lo, hi)] + [k for k in KNOBS.get(base_name(optimizer), ()) if k.name not in fixed]
    return [k for k in knobs if k.name not in fixed] + [k for k in extra if k.name not in fixed]


def to_kwargs(values: dict) -> tuple[float | None, dict]:
    """``({"lr", "beta1", "beta2", "momentum", ...}) -> (lr, optimizer kwargs)`` (betas joined, defaults 0.9/0.999)."""
    v = dict(values)
    lr = v.pop("lr", None)
    b1, b2 = v.pop("beta1", None), v.pop("beta2", None)
    if b1 is not None or b2 is not None:
        v["betas"] = [0.9 if b1 is None else b1, 0.999 if b2 is None else b2]
    return lr, v


def halton(n: int, d: int, start: int = 0) -> list[list[float]]:
    """Points ``start .. start+n-1`` of a scrambled Halton sequence in [0, 1)^d (fixed generator seed)."""
    if d == 0:
        return [[] for _ in range(n)]
    from scipy.stats import qmc

    eng = qmc.Halton(d, scramble=True, seed=HALTON_SEED)
    if start:
        eng.fast_forward(start)
    return eng.random(n).tolist()


def final_score(r: RunResult) -> float:
    """:func:`optimlab.lab.result.score` at the last evaluation, with -inf for a run that is not ok (for ``max``)."""
    v = score(r, at="final")
    return -math.inf if v is None else v


@dataclass
class Tuned:
    """A tuned arm: its tuning runs, the chosen configuration (None until tuned) and the comparison runs."""

    tune_specs: list
    lr: float | None
    specs: list  # the comparison runs with the chosen configuration (empty until tuned)
    kwargs: dict = field(default_factory=dict)
    trials: list = field(default_factory=list)  # [{"lr", **knobs, "stage", "score"}] once tuned
    edge: bool = False  # the chosen lr is still the largest or smallest tried

    @property
    def all_specs(self) -> list:
        return self.tune_specs + self.specs

    def describe(self) -> dict:
        return {"lr": self.lr, **self.kwargs, "trials": len(self.trials), "chosen_on_range_edge": self.edge}


def _mean(scores: list[float]) -> float:
    return -math.inf if any(s == -math.inf for s in scores) else sum(scores) / len(scores)


def tune(ctx, problem: str, optimizer: str, *, steps: int, eval_every: int, problem_kwargs: dict | None = None,
         fixed: dict | None = None, extra_knobs: tuple = (), lr_range: tuple | None = None,
         schedule: Callable[[float], dict | None] | None = None, seeds: int | None = None,
         objective: Callable[[RunResult], float] | None = None, **extra) -> Tuned:
    """The protocol of the module docstring for one arm; ``ctx`` supplies the mode and the results so far.

    ``fixed``: knob values that are not tuned (``{"beta1": 0.5}``, ``{"weight_decay": 0.0}``; a value
    for a name that is not a knob goes to the optimizer as is).  ``schedule(lr)``: the lr schedule of a
    trial from its (peak) lr.  ``extra``: more RunSpec fields (probes, target_loss, tag, momentum_schedule).
    """
    fixed = dict(fixed or {})
    if "lr" in fixed:
        raise ValueError(f"tune: lr is always tuned; fixed must not contain it, got fixed={fixed!r}")
    n1, n2 = ctx.mode.trials
    space = search_space(optimizer, fixed, extra_knobs)
    if lr_range is not None:
        space[0] = Knob("lr", *lr_range)
    pkw = ctx.pkw(**(problem_kwargs or {}))
    objective = objective or final_score

    def spec(values: dict, seed: int) -> RunSpec:
        lr, kw = to_kwargs({**fixed, **values})
        return RunSpec(problem=problem, optimizer=optimizer, lr=lr, steps=steps, eval_every=eval_every, seed=seed,
                       problem_kwargs=pkw, optimizer_kwargs=kw,
                       schedule=schedule(lr) if schedule is not None else None, **extra)

    def points(n: int, start: int, lr_knob: Knob) -> list[dict]:
        knobs = [lr_knob] + space[1:]
        return [{k.name: k.value(u) for k, u in zip(knobs, row)} for row in halton(n, len(knobs), start)]

    def scored(configs, stage):
        out = []
        for c in configs:
            rs = ctx.all([spec(c, s) for s in ctx.mode.tune_seeds])
            out.append({**c, "stage": stage, "score": None if rs is None else _mean([objective(r) for r in rs])})
        return out

    stage1 = points(n1, 0, space[0])
    tune_specs = [spec(c, s) for c in stage1 for s in ctx.mode.tune_seeds]
    t1 = scored(stage1, 1)
    if any(t["score"] is None for t in t1):
        return Tuned(tune_specs, None, [])
    best1 = max(t1, key=lambda t: t["score"])
    lrs1 = [t["lr"] for t in t1]
    lr_knob = space[0]
    if n1 >= 2 and best1["lr"] == max(lrs1):
        lr_knob = Knob("lr", lr_knob.high, lr_knob.high * 10)
    elif n1 >= 2 and best1["lr"] == min(lrs1):
        lr_knob = Knob("lr", lr_knob.low / 10, lr_knob.low)
    stage2 = points(n2, n1 if lr_knob is space[0] else 0, lr_knob) if n2 else []
    tune_specs += [spec(c, s) for c in stage2 for s in ctx.mode.tune_seeds]
    t2 = scored(stage2, 2)
    if any(t["score"] is None for t in t2):
        return Tuned(tune_specs, None, [])
    trials = t1 + t2
    best = max(trials, key=lambda t: t["score"])  # ties: the earlier trial
    values = {k: v for k, v in best.items() if k not in ("stage", "score")}
    lr, kw = to_kwargs({**fixed, **values})
    all_lrs = [t["lr"] for t in trials]
    n = ctx.mode.seeds if seeds is None else seeds
    comp = [spec(values, s) for s in range(n)]
    edge = len(trials) > 2 and (best["lr"] == max(all_lrs) or best["lr"] == min(all_lrs))
    return Tuned(tune_specs, lr, comp, kw, trials, edge)
