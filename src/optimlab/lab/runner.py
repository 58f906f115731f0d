"""Execute one :class:`RunSpec`: deterministic for a seed, lean in the hot loop, crash-safe on disk.

``run(spec)`` returns a :class:`RunResult`; ``run(spec, out_dir=...)`` also writes the run
directory: ``spec.json`` first, ``metrics.jsonl`` appended (buffered, flushed at evaluation
points), and ``result.json`` last via write-to-temp + ``os.replace`` (the "done" marker).

Hot loop: the per-step loss stays a tensor until a flush (every evaluation, at most every 100
steps), where one ``torch.stack(...).tolist()`` converts the buffer and the first non-finite loss
marks the run ``"diverged"`` at that step.  An exception marks it ``"failed"`` with its traceback.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .spec import RunSpec

__all__ = ["RunResult", "run", "build_optimizers"]

log = logging.getLogger(__name__)
_MAX_BUFFER = 100


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunResult":
        return cls(**d)

    @property
    def run_spec(self) -> RunSpec:
        return RunSpec.from_dict(self.spec)

    def curve(self, metric: str) -> tuple[list, list]:
        """``(steps, values)`` of ``"train_loss"`` (per step) or an evaluation metric."""
        if metric == "train_loss_step":
            return list(range(len(self.train_loss))), self.train_loss
        return self.evals.get("step", []), self.evals.get(metric, [])


@contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's (if imported) and torch's generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def build_optimizers(spec: RunSpec, problem) -> list:
    """One optimizer per parameter set of the problem, built through the registry."""
    import optimlab

    kwargs = dict(spec.optimizer_kwargs)
    if spec.lr is not None:
        kwargs["lr"] = spec.lr
    return [optimlab.create_optimizer(spec.optimizer, ps, **kwargs) for ps in problem.parameter_sets()]


def _build_schedulers(spec: RunSpec, optimizers) -> list:
    if spec.schedule is None and spec.momentum_schedule is None:
        return []
    from optimlab.schedules import ScheduledLR, from_dict

    lr_s = from_dict(spec.schedule) if spec.schedule else None
    mom_s = from_dict(spec.momentum_schedule) if spec.momentum_schedule else None
    if lr_s is None:  # momentum only: keep the lr constant
        from optimlab.schedules import make_schedule
        lr_s = make_schedule("constant", lr=optimizers[0].param_groups[0]["lr"])
    return [ScheduledLR(opt, lr_s, momentum=mom_s) for opt in optimizers]


def _probe_fns(spec: RunSpec):
    from .problems import load_callable

    fns = []
    for name in spec.probes:
        if name == "params":
            fns.append((name, lambda step, m, opt: torch.cat([p.detach().reshape(-1) for p in m.parameters()]).tolist()))
        elif name == "lr":
            fns.append((name, lambda step, m, opt: float(opt.param_groups[0]["lr"])))
        elif name == "grad_norm":
            def gn(step, m, opt):
                gs = [p.grad.detach().reshape(-1) for p in m.parameters() if p.grad is not None]
                return float(torch.cat(gs).norm()) if gs else 0.0
            fns.append((name, gn))
        else:
            fns.append((name, load_callable(name)))
    return fns


class _Writer:
    """Buffered append-only metrics.jsonl (or nothing when there is no directory)."""

    def __init__(self, path: Path | None):
        self.f = open(path, "a", encoding="utf-8") if path is not None else None
        self.lines: list[str] = []

    def add(self, obj: dict) -> None:
        if self.f is not None:
            self.lines.append(json.dumps(obj, allow_nan=True))

    def add_losses(self, first: int, values: list[float]) -> None:
        """``{"step": first + i, "loss": v}`` lines, as ``json.dumps`` writes them, without calling it
        per step (the per-step cost of the run loop's bookkeeping)."""
        if self.f is not None:
            self.lines.extend(
                f'{{"step": {first + i}, "loss": {v!r}}}' if math.isfinite(v)
                else json.dumps({"step": first + i, "loss": v}, allow_nan=True)
                for i, v in enumerate(values)
            )

    def flush(self) -> None:
        if self.f is not None and self.lines:
            self.f.write("\n".join(self.lines) + "\n")
            self.f.flush()
            self.lines.clear()

    def close(self) -> None:
        if self.f is not None:
            self.flush()
            self.f.close()


def _finite(d: dict) -> bool:
    return all(not isinstance(v, float) or math.isfinite(v) for v in d.values())


def run(spec: RunSpec, out_dir: str | Path | None = None, *, num_threads: int | None = 1) -> RunResult:
    """Train ``spec`` and return its :class:`RunResult` (same spec -> same metrics, bit for bit).

    ``out_dir``: the run directory to write (created; an unfinished one is cleared first).
    ``num_threads``: torch intra-op threads during the run (default 1, as in sweep workers, so
    inline and pooled runs give identical numbers; ``None`` leaves the setting alone).
    """
    if not isinstance(spec, RunSpec):
        raise ValueError(f"run: spec must be a RunSpec, got {type(spec).__name__}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        from .store import prepare_run_dir
        prepare_run_dir(out, spec)
    writer = _Writer(out / "metrics.jsonl" if out is not None else None)
    result = RunResult(spec=spec.to_dict(), key=spec.key(), status="ok")
    t_start = time.perf_counter()
    try:
        with _threads(num_threads):
            _train(spec, result, writer)
    except Exception:  # noqa: BLE001 - a crash is a result, recorded with its traceback
        result.status = "failed"
        result.error = traceback.format_exc()
        log.warning("run %s (%s/%s) failed:\n%s", result.key, spec.problem, spec.optimizer, result.error)
    finally:
        writer.close()
    result.wall_time = time.perf_counter() - t_start
    if out is not None:
        from .store import write_result
        write_result(out, result)
    return result


def _train(spec: RunSpec, result: RunResult, writer: _Writer) -> None:
    from .problems import make_problem

    seed_everything(spec.seed)
    problem = make_problem(spec.problem, spec.seed, **spec.problem_kwargs)
    model = problem.model
    optimizers = build_optimizers(spec, problem)
    schedulers = _build_schedulers(spec, optimizers)
    probes = _probe_fns(spec)
    opt0 = optimizers[0]
    train_step, post_step, next_batch, loss_fn = problem.train_step, problem.post_step, problem.next_batch, problem.loss_fn
    evals: dict[str, list] = {"step": []}
    probe_rec: dict[str, list] = {"step": []}
    losses: list[float] = []
    buf: list[torch.Tensor] = []
    eval_time = 0.0

    def evaluate(step: int) -> bool:
        nonlocal eval_time
        t0 = time.perf_counter()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in problem.evaluate(model).items()}
        eval_time += time.perf_counter() - t0
        evals["step"].append(step)
        for k, v in metrics.items():
            evals.setdefault(k, []).append(v)
        writer.add({"step": step, "eval": metrics})
        result.final = metrics
        return _finite(metrics)

    def probe(step: int) -> None:
        probe_rec["step"].append(step)
        for name, fn in probes:
            value = fn(step, model, opt0)
            if isinstance(value, dict):
                for k, v in value.items():
                    probe_rec.setdefault(f"{name}.{k}", []).append(v)
            else:
                probe_rec.setdefault(name, []).append(value)
        writer.add({"step": step, "probe": {k: v[-1] for k, v in probe_rec.items() if k != "step"}})

    def flush(upto: int) -> int | None:
        """Convert the buffered losses of steps [upto - len(buf), upto); return a bad step or None."""
        if not buf:
            return None
        values = torch.stack(buf).tolist()
        first = upto - len(values)
        buf.clear()
        bad = None
        for i, v in enumerate(values):
            if not math.isfinite(v):
                bad = first + i
                values = values[:i + 1]
                break
        losses.extend(values)
        writer.add_losses(first, values)
        writer.flush()
        return bad

    model.train()
    if probes:
        probe(0)
    if not evaluate(0):
        result.status, result.diverged_step = "diverged", 0
    t_train, eval_time0 = time.perf_counter(), eval_time
    step = 0
    steps, eval_every = spec.steps, spec.eval_every
    while result.status == "ok" and step < steps:
        batch = next_batch(step)
        if train_step is not None:
            loss = train_step(batch, optimizers, step)
        else:
            opt0.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            loss.backward()
            opt0.step()
            loss = loss.detach()
        if post_step is not None:
            with torch.no_grad():
                post_step(model)
        for s in schedulers:
            s.step()
        buf.append(loss)
        step += 1
        if probes and step % spec.probe_every == 0:
            probe(step)
        at_eval = step % eval_every == 0 or step == steps
        if at_eval or len(buf) >= _MAX_BUFFER:
            bad = flush(step)
            if bad is not None:
                result.status, result.diverged_step = "diverged", bad
                step = bad + 1
                break
            if at_eval and not evaluate(step):
                result.status, result.diverged_step = "diverged", step
    train_time = time.perf_counter() - t_train - (eval_time - eval_time0)
    bad = flush(step)
    if bad is not None and result.status == "ok":
        result.status, result.diverged_step = "diverged", bad
    result.steps_done = min(step, steps)
    result.train_loss = losses
    result.evals = evals
    result.probes = probe_rec if probes else {}
    result.time_per_step = train_time / max(1, result.steps_done)
    result.summary = summarize(result, problem.select_metric, problem.select_mode, spec.target_loss)


def summarize(result: RunResult, metric: str, mode: str, target: float | None = None) -> dict:
    """Best value of ``metric`` over the evaluations, test metrics there, final loss, gap, steps to target."""
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
    elif result.train_loss and result.status == "ok":
        tail = result.train_loss[-max(1, len(result.train_loss) // 20):]
        out["final_train_loss"] = sum(tail) / len(tail)
    else:
        out["final_train_loss"] = None
    out["gap"] = fin.get("gap")
    out["steps_to_target"] = steps_to_target(result.train_loss, target) if target is not None else None
    return out


def steps_to_target(losses: list, target: float, window: int = 10) -> int | None:
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
