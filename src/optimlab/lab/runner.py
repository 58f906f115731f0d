"""Execute one :class:`RunSpec`: deterministic for a seed, lean in the hot loop, crash-safe on disk.

``run(spec)`` returns a :class:`~optimlab.lab.result.RunResult`; ``run(spec, out_dir=...)`` also
writes the run directory: ``spec.json`` first, ``metrics.jsonl`` appended (buffered, flushed at
evaluation points), and ``result.json`` last via write-to-temp + ``os.replace`` (the "done" marker).

The loop reads through short named helpers: :func:`_setup` builds problem, optimizers, schedulers
and probes from the seed; :func:`train_step` is one optimisation step (the problem's own, or
``zero_grad / loss / backward / step``); a :class:`_Record` evaluates, probes and converts the
per-step losses; :func:`_steps` runs the steps and stops at the first divergence.

Hot loop: the per-step loss stays a tensor until a flush (every evaluation, at most every 100
steps), where one ``torch.stack(...).tolist()`` converts the buffer and the first non-finite loss
marks the run ``"diverged"`` at that step.  An exception marks it ``"failed"`` with its traceback.
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from .problems import Problem, load_callable, make_problem, source_fingerprint
from .result import RunResult, summarize
from .spec import RunSpec
from .store import prepare_run_dir, write_result

__all__ = ["run", "train_step", "build_optimizers", "seed_everything", "code_sources"]

log = logging.getLogger(__name__)
_MAX_BUFFER = 100


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's (if imported) and torch's generators."""
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def build_optimizers(spec: RunSpec, problem: Problem) -> list:
    """One optimizer per parameter set of the problem, built through the registry."""
    import optimlab

    kwargs = dict(spec.optimizer_kwargs)
    if spec.lr is not None:
        kwargs["lr"] = spec.lr
    return [optimlab.create_optimizer(spec.optimizer, ps, **kwargs) for ps in problem.parameter_sets()]


def train_step(problem: Problem, optimizers: list, batch, step: int) -> torch.Tensor:
    """One optimisation step on ``batch``; returns the batch's loss (detached, before the update).

    The problem's own ``train_step(batch, optimizers, step)`` when it has one (the GAN), else
    ``zero_grad / loss_fn / backward / step`` of the single optimizer; then ``post_step`` under
    ``no_grad`` (a projection, say).  The runner and the LR range test both step through here.
    """
    if problem.train_step is not None:
        loss = problem.train_step(batch, optimizers, step)
    else:
        opt = optimizers[0]
        opt.zero_grad(set_to_none=True)
        loss = problem.loss_fn(problem.model, batch)
        loss.backward()
        opt.step()
        loss = loss.detach()
    if problem.post_step is not None:
        with torch.no_grad():
            problem.post_step(problem.model)
    return loss


def code_sources(spec: RunSpec) -> dict[str, str]:
    """``{name: fingerprint}`` of the code outside optimlab that ``spec`` names (its problem or probes
    as ``"package.module:function"``): see :func:`optimlab.lab.problems.source_fingerprint`."""
    out = {}
    for name in (spec.problem, *spec.probes):
        if ":" in name:
            fp = source_fingerprint(name)
            if fp is not None:
                out[name] = fp
    return out


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


def _params_probe(step, model, opt):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def _lr_probe(step, model, opt):
    return float(opt.param_groups[0]["lr"])


def _grad_norm_probe(step, model, opt):
    gs = [p.grad.detach().reshape(-1) for p in model.parameters() if p.grad is not None]
    return float(torch.cat(gs).norm()) if gs else 0.0


_BUILTIN_PROBES = {"params": _params_probe, "lr": _lr_probe, "grad_norm": _grad_norm_probe}


def _probe_fns(spec: RunSpec) -> list:
    return [(name, _BUILTIN_PROBES.get(name) or load_callable(name)) for name in spec.probes]


@dataclass
class _Setup:
    """What a run trains: the problem, one optimizer per parameter set, their schedulers, the probes."""

    problem: Problem
    optimizers: list
    schedulers: list
    probes: list  # [(name, fn(step, model, optimizer))]


def _setup(spec: RunSpec) -> _Setup:
    seed_everything(spec.seed)
    problem = make_problem(spec.problem, spec.seed, **spec.problem_kwargs)
    optimizers = build_optimizers(spec, problem)
    return _Setup(problem, optimizers, _build_schedulers(spec, optimizers), _probe_fns(spec))


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


class _Record:
    """What a run measures as it goes: evaluations, probes and the per-step losses (kept as tensors
    in ``pending`` until :meth:`flush`), written to metrics.jsonl and counted on the progress bar."""

    def __init__(self, writer: _Writer, bar=None):
        self.writer, self.bar = writer, bar
        self.evals: dict[str, list] = {"step": []}
        self.probes: dict[str, list] = {"step": []}
        self.losses: list[float] = []
        self.pending: list[torch.Tensor] = []
        self.eval_time = 0.0
        self.final: dict = {}

    def evaluate(self, problem: Problem, step: int) -> bool:
        """Evaluate the model (under no_grad, timed apart); False when a metric is not finite."""
        t0 = time.perf_counter()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in problem.evaluate(problem.model).items()}
        self.eval_time += time.perf_counter() - t0
        self.evals["step"].append(step)
        for k, v in metrics.items():
            self.evals.setdefault(k, []).append(v)
        self.writer.add({"step": step, "eval": metrics})
        self.final = metrics
        return all(not isinstance(v, float) or math.isfinite(v) for v in metrics.values())

    def probe(self, s: _Setup, step: int) -> None:
        """Record every probe at ``step`` (a dict-valued probe ``name`` gives series ``name.key``)."""
        rec = self.probes
        rec["step"].append(step)
        for name, fn in s.probes:
            value = fn(step, s.problem.model, s.optimizers[0])
            if isinstance(value, dict):
                for k, v in value.items():
                    rec.setdefault(f"{name}.{k}", []).append(v)
            else:
                rec.setdefault(name, []).append(value)
        self.writer.add({"step": step, "probe": {k: v[-1] for k, v in rec.items() if k != "step"}})

    def flush(self, upto: int) -> int | None:
        """Convert the pending losses of steps [upto - len(pending), upto); return the first
        non-finite step (keeping the losses up to it) or None."""
        if not self.pending:
            return None
        values = torch.stack(self.pending).tolist()
        first = upto - len(values)
        self.pending.clear()
        bad = None
        for i, v in enumerate(values):
            if not math.isfinite(v):
                bad = first + i
                values = values[:i + 1]
                break
        self.losses.extend(values)
        self.writer.add_losses(first, values)
        self.writer.flush()
        if self.bar is not None:
            self.bar.update(len(values))
        return bad


def _steps(spec: RunSpec, s: _Setup, rec: _Record, result: RunResult) -> int:
    """Train until ``spec.steps`` or the first divergence (recorded in ``result``); return the steps taken."""
    step = 0
    while result.status == "ok" and step < spec.steps:
        rec.pending.append(train_step(s.problem, s.optimizers, s.problem.next_batch(step), step))
        for sched in s.schedulers:
            sched.step()
        step += 1
        if s.probes and step % spec.probe_every == 0:
            rec.probe(s, step)
        at_eval = step % spec.eval_every == 0 or step == spec.steps
        if at_eval or len(rec.pending) >= _MAX_BUFFER:
            bad = rec.flush(step)
            if bad is not None:
                result.status, result.diverged_step = "diverged", bad
                return bad + 1
            if at_eval and not rec.evaluate(s.problem, step):
                result.status, result.diverged_step = "diverged", step
    return step


def _train(spec: RunSpec, result: RunResult, rec: _Record) -> None:
    s = _setup(spec)
    result.sources = code_sources(spec)
    s.problem.model.train()
    if s.probes:
        rec.probe(s, 0)
    if not rec.evaluate(s.problem, 0):
        result.status, result.diverged_step = "diverged", 0
    t_train, eval_time0 = time.perf_counter(), rec.eval_time
    step = _steps(spec, s, rec, result)
    train_time = time.perf_counter() - t_train - (rec.eval_time - eval_time0)
    bad = rec.flush(step)
    if bad is not None and result.status == "ok":
        result.status, result.diverged_step = "diverged", bad
    result.steps_done = min(step, spec.steps)
    result.train_loss, result.evals, result.final = rec.losses, rec.evals, rec.final
    result.probes = rec.probes if s.probes else {}
    result.time_per_step = train_time / max(1, result.steps_done)
    result.summary = summarize(result, s.problem.select_metric, s.problem.select_mode, spec.target_loss)


def _step_bar(spec: RunSpec):
    from tqdm.auto import tqdm

    return tqdm(total=spec.steps, desc=f"{spec.problem}/{spec.optimizer}", unit="step", leave=False,
                file=sys.stderr, disable=None, dynamic_ncols=True)


def run(spec: RunSpec, out_dir: str | Path | None = None, *, num_threads: int | None = 1,
        progress: bool = False) -> RunResult:
    """Train ``spec`` and return its :class:`RunResult` (same spec -> same metrics, bit for bit).

    ``out_dir``: the run directory to write (created; an unfinished one is cleared first).
    ``num_threads``: torch intra-op threads during the run (default 1, as in sweep workers, so
    inline and pooled runs give identical numbers; ``None`` leaves the setting alone).
    ``progress``: a bar over the steps on stderr (tqdm; only when stderr is a terminal).
    """
    if not isinstance(spec, RunSpec):
        raise ValueError(f"run: spec must be a RunSpec, got {type(spec).__name__}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        prepare_run_dir(out, spec)
    writer = _Writer(out / "metrics.jsonl" if out is not None else None)
    rec = _Record(writer, _step_bar(spec) if progress else None)
    result = RunResult(spec=spec.to_dict(), key=spec.key(), status="ok")
    t_start = time.perf_counter()
    try:
        with _threads(num_threads):
            _train(spec, result, rec)
    except Exception:  # noqa: BLE001 - a crash is a result, recorded with its traceback
        result.status = "failed"
        result.error = traceback.format_exc()
        where = out / "result.json" if out is not None else "the result's error field"
        log.warning("run %s (%s/%s) failed: %s (traceback in %s)", result.key, spec.problem, spec.optimizer,
                    result.error.strip().splitlines()[-1], where)
    finally:
        writer.close()
        if rec.bar is not None:
            rec.bar.close()
    result.wall_time = time.perf_counter() - t_start
    if out is not None:
        write_result(out, result)
    return result
