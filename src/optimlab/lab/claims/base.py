"""What a claim is (experiments + analysis + figures), the run modes, the workloads and the measurements.

A :class:`Claim` plans its runs from what is already measured (``plan(ctx) -> [RunSpec]``), so
multi-stage experiments (tune, then rerun fresh seeds with the chosen configuration) are expressed as
"the specs I need given the results so far"; the runner calls ``plan`` until no claim asks for anything
new.  ``analyze(ctx) -> Verdict`` and ``figures(ctx, verdict, out_dir)`` only read results.  Identical
specs requested by several claims run once (same key).

``kind``: ``"claim"`` (a claim of the lecture, counted), ``"mechanism"`` (a demonstration of how an
optimizer works, e.g. a constructed counterexample or a bound that shrinks by construction: labelled
shown / not shown, never counted as a reproduced claim) or ``"picture"`` (no verdict).
``user_applicable``: the claim also runs on a user's problem (``run_claims(problem="pkg.mod:fn")``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..problems import problem_info
from ..result import RunResult, score, steps_to_target
from ..spec import RunSpec
from .tuning import Tuned, final_score, tune, typical_lr
from .verdict import Verdict

__all__ = ["Claim", "Mode", "MODES", "Context", "Workload", "Tuned", "tune", "typical_lr", "final_loss",
           "steps_or_cap", "spike_count", "final_score", "test_score", "pick", "metric", "workload"]


@dataclass(frozen=True)
class Mode:
    """How big the experiments are: comparison seeds, tuning trials (stage 1, stage 2), tuning seeds, size."""

    name: str
    seeds: int  # fresh seeds for the comparisons (0 .. seeds-1)
    trials: tuple  # (n1, n2): trials per arm in tuning stages 1 and 2 (the same for every arm)
    tune_seeds: tuple  # seeds used only for tuning (disjoint from the comparison seeds)
    size: str  # problem size passed to the problems ("tiny" in CI)


MODES = {
    "tiny": Mode("tiny", seeds=2, trials=(1, 1), tune_seeds=(1000, 1001, 1002), size="tiny"),
    "quick": Mode("quick", seeds=5, trials=(3, 2), tune_seeds=(1000, 1001, 1002), size="default"),
    "full": Mode("full", seeds=10, trials=(6, 3), tune_seeds=(1000, 1001, 1002), size="default"),
}


def pick(mode: Mode, *, tiny, quick, full):
    """The value for ``mode`` (tiny / quick / full)."""
    return {"tiny": tiny, "quick": quick, "full": full}[mode.name]


@dataclass
class Context:
    """What a claim sees: the mode, the results so far (by spec key), the results root, the user's problem."""

    mode: Mode
    results: dict = field(default_factory=dict)
    root: Path | None = None
    user_problem: str | None = None

    def get(self, spec: RunSpec) -> RunResult | None:
        return self.results.get(spec.key())

    def all(self, specs) -> list[RunResult] | None:
        """The results of every spec, or None while any is missing."""
        out = [self.get(s) for s in specs]
        return None if any(r is None for r in out) else out

    def pkw(self, **kw) -> dict:
        """Problem kwargs with the mode's size (omitted for "default" so keys stay short)."""
        return ({"size": self.mode.size} if self.mode.size != "default" else {}) | kw


@dataclass(frozen=True)
class Workload:
    """A problem as a claim uses it: name, kwargs, steps and evaluation interval in this mode."""

    problem: str
    steps: int
    eval_every: int
    kwargs: tuple = ()  # sorted (key, value) pairs

    @property
    def pkw(self) -> dict:
        return dict(self.kwargs)

    @property
    def label(self) -> str:
        return self.problem if not self.kwargs else self.problem + "(" + ", ".join(f"{k}={v}" for k, v in self.kwargs) + ")"

    def run(self, **kw) -> dict:
        return {"steps": self.steps, "eval_every": self.eval_every, **kw}


# steps per mode; None: the problem is not used in that mode (full mode adds Fashion-MNIST and the char-LM)
STEPS = {
    "mnist1d_mlp": {"tiny": 30, "quick": 800, "full": 2000},
    "mnist1d_cnn": {"tiny": None, "quick": None, "full": 1500},
    "wilson": {"tiny": 30, "quick": 500, "full": 1000},
    "fashion_mnist": {"tiny": None, "quick": None, "full": 1200},
    "charlm": {"tiny": None, "quick": None, "full": 1500},
    "gan": {"tiny": 20, "quick": 300, "full": 1500},
    "deep_mlp": {"tiny": 30, "quick": 400, "full": 2000},
}


def workload(ctx: Context, problem: str, steps: dict | None = None, **kwargs) -> Workload | None:
    """The workload of ``problem`` in ctx's mode (None when the mode does not use it)."""
    n = (steps or STEPS[problem])[ctx.mode.name]
    if n is None:
        return None
    evals = 2 if ctx.mode.name == "tiny" else 5
    return Workload(problem, n, max(1, n // evals), tuple(sorted(kwargs.items())))


def user_workload(ctx: Context) -> Workload:
    """The user's problem with its own step counts (``fn.default_steps`` / ``fn.tiny_steps`` / ``fn.eval_every``)."""
    info = problem_info(ctx.user_problem)
    steps = info.tiny_steps if ctx.mode.name == "tiny" else info.default_steps
    return Workload(ctx.user_problem, steps, max(1, min(info.eval_every, steps)))


def workloads(ctx: Context, names) -> list[Workload]:
    """The user's problem when there is one, else the named problems this mode uses."""
    if ctx.user_problem:
        return [user_workload(ctx)]
    return [w for w in (workload(ctx, n) for n in names) if w is not None]


class Claim:
    """One lecture claim. Subclasses set ``id``, ``title``, ``words`` and implement the three methods."""

    id: int = 0
    title: str = ""
    words: str = ""  # the lecture's words
    kind: str = "claim"  # "claim" | "mechanism" | "picture"
    user_applicable: bool = False
    changes: str = ""  # what v2 changed in this experiment, and why (the README's "changed" column)

    @property
    def has_verdict(self) -> bool:
        return self.kind != "picture"

    def plan(self, ctx: Context) -> list[RunSpec]:  # pragma: no cover - abstract
        raise NotImplementedError

    def analyze(self, ctx: Context) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError

    def figures(self, ctx: Context, verdict: Verdict, out_dir: Path) -> list[str]:
        return []


# --- measurements -------------------------------------------------------------------------------

def initial_loss(r: RunResult) -> float | None:
    tl = r.evals.get("train_loss") or []
    if tl and tl[0] is not None and math.isfinite(tl[0]):
        return tl[0]
    return r.train_loss[0] if r.train_loss else None


def final_loss(r: RunResult, diverged: str = "initial") -> float | None:
    """Final training loss (the last evaluation's); a diverged run counts as its initial loss (no progress)
    when ``diverged="initial"``, or is missing (None) when ``diverged="none"``."""
    if r.status == "ok":
        v = r.final.get("train_loss", r.summary.get("final_train_loss"))
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


def test_score(r: RunResult) -> float | None:
    """The test metric at the end of training, oriented so that larger is better (None if the run is not ok)."""
    return score(r, at="test")


def metric(r: RunResult, name: str) -> float | None:
    """A key of the final evaluation (or of the summary), None for a run that is not ok."""
    if r.status != "ok":
        return None
    v = r.final.get(name, r.summary.get(name))
    return v if v is not None and isinstance(v, (int, float)) and math.isfinite(v) else None


def describe(tuned: dict) -> dict:
    """``{label: Tuned}`` -> ``{label: chosen settings}`` for a claim's settings."""
    return {k: (t.describe() if isinstance(t, Tuned) else t) for k, t in tuned.items()}
