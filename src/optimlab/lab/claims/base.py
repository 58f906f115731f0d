"""What a claim is (experiments + analysis + figures), the run modes, and the shared measurement helpers.

A :class:`Claim` plans its runs from what is already measured (``plan(ctx) -> [RunSpec]``), so
multi-stage experiments (tune the learning rate, then rerun fresh seeds at the chosen one) are
expressed as "the specs I need given the results so far"; the runner calls ``plan`` until no claim
asks for anything new.  ``analyze(ctx) -> Verdict`` and ``figures(ctx, verdict, out_dir)`` only
read results.  Identical specs requested by several claims run once (same key).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..compare import choose_lrs
from ..problems import problem_info
from ..result import RunResult, score, steps_to_target
from ..spec import RunSpec, lr_grid
from .verdict import Verdict

__all__ = ["Claim", "Mode", "MODES", "Context", "Tuned", "tune", "TYPICAL_LR", "final_loss", "steps_or_cap",
           "spike_count", "score", "pick"]


@dataclass(frozen=True)
class Mode:
    """How big the experiments are: seeds for comparisons, lr trials, problem size."""

    name: str
    seeds: int  # fresh seeds for the comparisons (0 .. seeds-1)
    trials: int  # learning-rate trials per optimizer (same for every optimizer)
    tune_seeds: tuple  # seeds used only for tuning (disjoint from the comparison seeds)
    size: str  # problem size passed to the problems ("tiny" in CI)


MODES = {
    "tiny": Mode("tiny", seeds=2, trials=1, tune_seeds=(1000,), size="tiny"),
    "quick": Mode("quick", seeds=5, trials=4, tune_seeds=(1000,), size="default"),
    "full": Mode("full", seeds=10, trials=6, tune_seeds=(1000, 1001), size="default"),
}


def pick(mode: Mode, *, tiny, quick, full):
    """The value for ``mode`` (tiny / quick / full)."""
    return {"tiny": tiny, "quick": quick, "full": full}[mode.name]


@dataclass
class Context:
    """What a claim sees: the mode, the results measured so far (by spec key) and the results root."""

    mode: Mode
    results: dict = field(default_factory=dict)
    root: Path | None = None

    def get(self, spec: RunSpec) -> RunResult | None:
        return self.results.get(spec.key())

    def all(self, specs) -> list[RunResult] | None:
        """The results of every spec, or None while any is missing."""
        out = [self.get(s) for s in specs]
        return None if any(r is None for r in out) else out

    def pkw(self, **kw) -> dict:
        """Problem kwargs with the mode's size (omitted for "default" so keys stay short)."""
        return ({"size": self.mode.size} if self.mode.size != "default" else {}) | kw


class Claim:
    """One lecture claim. Subclasses set ``id``, ``title``, ``words`` and implement the three methods."""

    id: int = 0
    title: str = ""
    words: str = ""  # the lecture's words
    has_verdict: bool = True

    def plan(self, ctx: Context) -> list[RunSpec]:  # pragma: no cover - abstract
        raise NotImplementedError

    def analyze(self, ctx: Context) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def figures(self, ctx: Context, verdict: Verdict, out_dir: Path) -> list[str]:
        return []


# Each optimizer's usual learning-rate range: the tuning grid is lr_grid(trials, low, high) inside it.
TYPICAL_LR = {
    "sgd": (1e-2, 1.0), "sgdm": (3e-3, 0.3), "nag": (3e-3, 0.3), "sgdw": (1e-2, 1.0), "sgdwm": (3e-3, 0.3),
    "adam": (1e-4, 3e-2), "adamw": (1e-4, 3e-2), "amsgrad": (1e-4, 3e-2), "nadam": (1e-4, 3e-2),
    "radam": (1e-4, 3e-2), "adabound": (1e-4, 3e-2), "amsbound": (1e-4, 3e-2), "swats": (1e-4, 3e-2),
    "adagrad": (1e-3, 0.3), "rmsprop": (1e-4, 3e-2),
}


def typical_lr(optimizer: str) -> tuple[float, float]:
    name = optimizer
    for prefix in ("lookahead_", "noisy_"):
        while name.startswith(prefix):
            name = name[len(prefix):]
    return TYPICAL_LR.get(name, (1e-4, 1e-1))


@dataclass
class Tuned:
    """The specs of a tuned comparison arm: tuning runs, the chosen lr (None until tuned), final runs."""

    tune_specs: list
    lr: float | None
    specs: list  # the comparison runs at the chosen lr, seeds 0..n-1 (empty until tuned)

    @property
    def all_specs(self) -> list:
        return self.tune_specs + self.specs


def tune(ctx: Context, problem: str, optimizer: str, *, steps: int, eval_every: int, problem_kwargs: dict | None = None,
         optimizer_kwargs: dict | None = None, lrs: list | None = None, seeds: int | None = None, **extra) -> Tuned:
    """The fair-tuning protocol: ``mode.trials`` log-spaced lrs in the optimizer's typical range, run
    on the tuning seeds, chosen on the problem's validation metric (``choose_lrs``); then fresh seeds."""
    pkw = ctx.pkw(**(problem_kwargs or {}))
    lrs = lrs if lrs is not None else lr_grid(ctx.mode.trials, *typical_lr(optimizer))
    common = dict(problem=problem, optimizer=optimizer, steps=steps, eval_every=eval_every, problem_kwargs=pkw,
                  optimizer_kwargs=dict(optimizer_kwargs or {}), **extra)
    tune_specs = [RunSpec(lr=float(lr), seed=s, **common) for lr in lrs for s in ctx.mode.tune_seeds]
    done = ctx.all(tune_specs)
    if done is None:
        return Tuned(tune_specs, None, [])
    chosen = choose_lrs(done)
    lr = next(iter(chosen.values()))
    n = ctx.mode.seeds if seeds is None else seeds
    return Tuned(tune_specs, lr, [RunSpec(lr=lr, seed=s, **common) for s in range(n)])


def default_steps(problem: str) -> int:
    return problem_info(problem).default_steps


# --- measurements -------------------------------------------------------------------------------

def initial_loss(r: RunResult) -> float | None:
    tl = r.evals.get("train_loss") or []
    if tl and math.isfinite(tl[0]):
        return tl[0]
    return r.train_loss[0] if r.train_loss else None


def final_loss(r: RunResult, diverged: str = "initial") -> float | None:
    """Final training loss; a diverged run counts as its initial loss (no progress) when
    ``diverged="initial"``, or is missing (None) when ``diverged="none"``."""
    if r.status == "ok":
        v = r.summary.get("final_train_loss")
        return v if v is not None and math.isfinite(v) else None
    return initial_loss(r) if diverged == "initial" and r.status == "diverged" else None


def steps_or_cap(r: RunResult, target: float) -> int:
    """Steps to reach ``target`` (running mean of 10 steps), or ``steps + 1`` if never (censored)."""
    cap = int(r.spec["steps"]) + 1
    if r.status == "failed":
        return cap
    s = steps_to_target(r.train_loss, target)
    return cap if s is None else s


def spike_count(losses: list, ratio: float = 2.0, window: int = 20, min_jump: float = 0.05) -> int:
    """Loss spikes: steps where the loss first exceeds ``ratio`` x the median of the previous ``window`` steps
    *and* that median by at least ``min_jump`` x the initial loss (so mini-batch noise at a tiny loss is no spike)."""
    if not losses:
        return 0
    floor = min_jump * abs(losses[0])
    n, inside = 0, False
    for i in range(window, len(losses)):
        v = losses[i]
        if not math.isfinite(v):
            return n + 1
        med = statistics.median(losses[i - window:i])
        high = v > ratio * med and v - med > floor
        if high and not inside:
            n += 1
        inside = high
    return n


def metric(r: RunResult, name: str) -> float | None:
    """``test_acc_at_best`` etc. from the summary, or a key of the final evaluation."""
    if r.status != "ok":
        return None
    v = r.summary.get(name, r.final.get(name))
    return v if v is not None and math.isfinite(v) else None
