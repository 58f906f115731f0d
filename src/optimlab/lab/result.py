"""What came out of a run: :class:`RunResult` and the summaries computed from it (pure data, no I/O).

One definition each of the rules every reader of results shares:

* :func:`summarize`: best value of the problem's selection metric over the evaluations, the test
  metrics at that point, the final training loss, the generalization gap, the steps to a target;
* :func:`tail_loss`: the final training loss read from the per-step losses (mean of the last
  ``max(10, n // 20)`` steps: never shorter than :func:`steps_to_target`'s 10-step window, so a
  target set at a tail mean is one the running mean can reach);
* :func:`score`: the selection value oriented so that larger is better (``None`` for a run that
  diverged or failed), used to choose learning rates and to compare arms;
* :func:`steps_to_target`: the first step at which the 10-step running mean of the loss is <= a target.

A result read from disk is data from anyone: :meth:`RunResult.from_dict` checks its structure and
types (``ValueError`` naming what is wrong) and never imports or calls anything it names.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .spec import RunSpec

__all__ = ["RunResult", "STATUSES", "summarize", "steps_to_target", "tail_loss", "score"]

STATUSES = ("ok", "diverged", "failed")
TARGET_WINDOW = 10  # steps of the running mean in steps_to_target
_NUMERIC_SUMMARY = ("best_value", "best_step", "test_acc_at_best", "test_loss_at_best", "final_train_loss", "gap",
                    "steps_to_target")


@dataclass
class RunResult:
    """A finished run, JSON-able (``to_dict`` / ``from_dict``).

    Fields:
        spec: the spec as a dict; key: its hash (``RunSpec.key()``).
        status: ``"ok"``, ``"diverged"`` (non-finite loss or evaluation) or ``"failed"`` (exception).
        diverged_step: the first step with a non-finite loss (or evaluation), else None.
        error: the traceback of a failed run.
        steps_done: optimisation steps completed.
        train_loss: the per-step mini-batch loss (index = step, before that step's update).
        evals: ``{"step": [...], metric: [...]}`` evaluations at steps 0, eval_every, ..., steps.
        probes: ``{"step": [...], name: [...]}`` (a user probe's dict keys become ``name.key``).
        final: the last evaluation; summary: ``best_step``, ``best_value`` (of the problem's
            select metric), ``test_acc_at_best``/``test_loss_at_best`` (where the problem has a test
            set), ``final_train_loss``, ``gap``, ``steps_to_target``, ``select_metric``, ``select_mode``.
        time_per_step: seconds per optimisation step (evaluation excluded); wall_time: seconds in all.
        sources: ``{"package.module:function": sha256 of that module's source file}`` for the code
            outside optimlab the spec names (a user problem or probe), as it was when the run ran;
            a sweep redoes the run when the file has changed since.
    """

    spec: dict
    key: str
    status: str
    steps_done: int = 0
    diverged_step: int | None = None
    error: str | None = None
    train_loss: list = field(default_factory=list)
    evals: dict = field(default_factory=dict)
    probes: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    time_per_step: float | None = None
    wall_time: float = 0.0
    sources: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "RunResult":
        """Build from ``to_dict``'s form, checking structure and types (``ValueError`` naming the problem)."""
        _check_result_dict(d)
        return cls(**d)

    @property
    def run_spec(self) -> RunSpec:
        return RunSpec.from_dict(self.spec)

    def curve(self, metric: str) -> tuple[list, list]:
        """``(steps, values)`` of ``"train_loss_step"`` (the per-step loss) or an evaluation metric."""
        if metric == "train_loss_step":
            return list(range(len(self.train_loss))), self.train_loss
        return self.evals.get("step", []), self.evals.get(metric, [])


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_result_dict(d: Any) -> None:
    def bad(what: str) -> ValueError:
        return ValueError(f"RunResult: {what}")

    if not isinstance(d, dict):
        raise bad(f"a result must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in fields(RunResult)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(map(repr, unknown))}")
    missing = sorted({"spec", "key", "status"} - set(d))
    if missing:
        raise bad(f"missing key(s) {', '.join(map(repr, missing))}")
    spec = RunSpec.from_dict(d["spec"])
    if d["key"] != spec.key():
        raise bad(f"key {d['key']!r} is not the hash of its spec ({spec.key()!r})")
    if d["status"] not in STATUSES:
        raise bad(f"status must be one of {', '.join(STATUSES)}, got {d['status']!r}")
    for name in ("steps_done", "diverged_step", "time_per_step", "wall_time"):
        v = d.get(name)
        if v is not None and not _is_num(v):
            raise bad(f"{name} must be a number, got {v!r}")
    if d.get("error") is not None and not isinstance(d["error"], str):
        raise bad(f"error must be a string, got {type(d['error']).__name__}")
    if not isinstance(d.get("train_loss", []), list) or not all(map(_is_num, d.get("train_loss", []))):
        raise bad("train_loss must be a list of numbers")
    for name in ("evals", "probes", "final", "summary", "sources"):
        if not isinstance(d.get(name, {}), dict):
            raise bad(f"{name} must be an object, got {type(d[name]).__name__}")
    for k, vals in d.get("evals", {}).items():
        if not isinstance(vals, list) or not all(map(_is_num, vals)):
            raise bad(f"evals[{k!r}] must be a list of numbers")
    if not all(isinstance(v, list) for v in d.get("probes", {}).values()):
        raise bad("probes must map names to lists")
    if not all(_is_num(v) for v in d.get("final", {}).values()):
        raise bad("final must map metric names to numbers")
    summary = d.get("summary", {})
    for k in _NUMERIC_SUMMARY:
        if summary.get(k) is not None and not _is_num(summary[k]):
            raise bad(f"summary[{k!r}] must be a number or null, got {summary[k]!r}")
    if not isinstance(summary.get("select_metric", ""), str) or summary.get("select_mode", "min") not in ("min", "max"):
        raise bad("summary's select_metric must be a string and select_mode 'min' or 'max'")
    if not all(isinstance(v, str) for v in d.get("sources", {}).values()):
        raise bad("sources must map names to strings")


def tail_loss(losses: list) -> float | None:
    """The final training loss from per-step losses: the mean of the last ``max(10, n // 20)`` (None if empty)."""
    if not losses:
        return None
    tail = losses[-max(TARGET_WINDOW, len(losses) // 20):]
    return statistics.fmean(tail)


def score(r: RunResult | None, at: str = "best") -> float | None:
    """A run's score, oriented so that larger is better; ``None`` for a missing, diverged or failed run
    (the worst).

    ``at="best"``: the best value of the problem's select metric over the evaluations (the summary's
    ``best_value``: how ``compare`` chooses).  ``at="final"``: the select metric at the last
    evaluation (how the claims' tuning chooses).  ``at="test"``: the test counterpart of the select
    metric (``val_acc`` -> ``test_acc``) at the last evaluation.
    """
    if r is None or r.status != "ok":
        return None
    metric = r.summary.get("select_metric") or ""
    if at == "best":
        v = r.summary.get("best_value")
    elif at == "final":
        v = r.final.get(metric)
    elif at == "test":
        key = "test_" + metric[4:] if metric.startswith("val_") else metric
        v = r.final.get(key if key in r.final else metric)
    else:
        raise ValueError(f"score: at must be one of 'best', 'final', 'test', got {at!r}")
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v if r.summary.get("select_mode") == "max" else -v


def summarize(result: RunResult, metric: str, mode: str, target: float | None = None) -> dict:
    """Best value of ``metric`` over the evaluations (the earliest on ties), the test metrics there,
    the final training loss (the last evaluation's ``train_loss``, else :func:`tail_loss`), the gap
    and the steps to ``target``."""
    ev = result.evals
    out: dict[str, Any] = {"select_metric": metric, "select_mode": mode}
    vals = ev.get(metric, [])
    finite = [(v, i) for i, v in enumerate(vals) if isinstance(v, float) and math.isfinite(v)]
    if finite and result.status == "ok":
        v, i = max(finite, key=lambda t: (t[0] if mode == "max" else -t[0], -t[1]))  # best, earliest
        out["best_value"], out["best_step"] = v, ev["step"][i]
        for k in ("test_acc", "test_loss"):
            if k in ev:
                out[f"{k}_at_best"] = ev[k][i]
    else:
        out["best_value"], out["best_step"] = None, None
    fin = result.final if result.status == "ok" else {}
    if "train_loss" in fin:
        out["final_train_loss"] = fin["train_loss"]
    elif result.status == "ok":
        out["final_train_loss"] = tail_loss(result.train_loss)
    else:
        out["final_train_loss"] = None
    out["gap"] = fin.get("gap")
    out["steps_to_target"] = steps_to_target(result.train_loss, target) if target is not None else None
    return out


def steps_to_target(losses: list, target: float, window: int = TARGET_WINDOW) -> int | None:
    """First step at which the running mean (over ``window`` steps) of the loss is <= ``target``."""
    s = 0.0
    for i, v in enumerate(losses):
        s += v
        if i >= window:
            s -= losses[i - window]
        if i >= window - 1 and s / window <= target:
            return i
        if not math.isfinite(v):
            return None
    return None
