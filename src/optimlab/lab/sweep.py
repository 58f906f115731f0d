"""Run a list of specs under a results folder, resumable after any crash, shareable between processes.

``run_sweep(specs, root, workers=2)`` runs the specs that have no usable result under ``root``
(inline when ``workers <= 1``; otherwise in a local pool, see :mod:`optimlab.lab.executors`) and
returns ``{key: RunResult}`` for all of ``specs`` in order.  A result is usable unless it is
unreadable (named in a warning), failed and ``retry_failed`` (the default: a failure may come from
code that has been fixed since), or records code that has changed since: a ``"package.module:function"``
problem or probe whose module's source file no longer has the fingerprint the run recorded.

Each run writes its own directory and its ``result.json`` last and atomically, so a sweep killed at
any moment (SIGKILL included) loses no finished run.  Ctrl-C stops the sweep within about a second
and raises :class:`SweepInterrupted` (a ``KeyboardInterrupt``) saying how many runs are finished;
the next call redoes only unfinished ones.  Two sweeps may share a folder: a run is written only
under its lock, a run another process holds is left to it (and waited for at the end), and a run
another process finished meanwhile is not redone.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path

from filelock import Timeout

from ..checks import check_int
from .executors import execute
from .problems import check_problem_kwargs, make_problem, source_fingerprint
from .result import RunResult
from .runner import run
from .spec import RunSpec
from .store import ensure_writable_dir, read_result, run_dir, run_lock

__all__ = ["run_sweep", "check_specs", "SweepInterrupted"]

log = logging.getLogger(__name__)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep: ``finished`` of ``total`` runs have a result under ``root`` (kept)."""

    def __init__(self, root: Path, finished: int, total: int):
        self.root, self.finished, self.total = root, finished, total
        super().__init__(f"{finished} of {total} runs are finished and kept in {root}; "
                         f"the same command resumes the others")


# --- checks before any run -----------------------------------------------------------------------

def _optimizer_keywords(name: str, kwargs: dict) -> set | None:
    """The keyword arguments ``create_optimizer(name, ...)`` takes (None: the class takes ``**kwargs``)."""
    import optimlab
    from optimlab.optim.registry import WrapperInfo

    accepted: set = set()
    rest = name.lower()
    while True:
        info = optimlab.optimizer_info(rest)  # ValueError naming the known optimizers
        if not isinstance(info, WrapperInfo):
            params = inspect.signature(info.cls).parameters
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                return None
            return accepted | (set(params) - {"params"})
        accepted |= set(info.options)
        if rest == info.name:  # a bare wrapper name: inner= names the optimizer inside
            accepted.add("inner")
            rest = kwargs.get("inner", info.default_inner)
            if not isinstance(rest, str):
                return None  # create_optimizer names the bad value
            rest = rest.lower()
        else:
            rest = rest.split("_", 1)[1]


def _check_optimizer(s: RunSpec) -> None:
    import torch

    import optimlab

    accepted = _optimizer_keywords(s.optimizer, s.optimizer_kwargs)
    unknown = sorted(set(s.optimizer_kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise ValueError(f"{s.optimizer}: unknown keyword argument(s) {', '.join(map(repr, unknown))}; "
                         f"it takes {', '.join(sorted(accepted))}")
    kwargs = dict(s.optimizer_kwargs)
    if s.lr is not None:
        kwargs["lr"] = s.lr
    optimlab.create_optimizer(s.optimizer, [torch.nn.Parameter(torch.zeros(1))], **kwargs)  # checks the values


def _check_problem(s: RunSpec) -> None:
    check_problem_kwargs(s.problem, s.problem_kwargs)
    make_problem(s.problem, s.seed, **s.problem_kwargs)  # the factory checks the values (size="huge" ...)


def check_specs(specs: list[RunSpec]) -> None:
    """Fail fast, before any run, with a ``ValueError`` naming the problem: unknown problems or
    optimizers, keyword arguments they do not take, values they refuse (each distinct problem
    configuration is built once, each optimizer configuration once on a dummy parameter, with the
    first learning rate it comes with; ``RunSpec`` itself checks every rate)."""
    seen: set = set()
    for s in specs:
        if not isinstance(s, RunSpec):
            raise ValueError(f"run_sweep: specs must be RunSpec objects, got {type(s).__name__}")
        opt_sig = ("optimizer", s.optimizer, json.dumps(s.optimizer_kwargs, sort_keys=True))
        prob_sig = ("problem", s.problem, json.dumps(s.problem_kwargs, sort_keys=True))
        if opt_sig not in seen:
            seen.add(opt_sig)
            _check_optimizer(s)
        if prob_sig not in seen:
            seen.add(prob_sig)
            _check_problem(s)


# --- which runs to do ----------------------------------------------------------------------------

def _stamp(root: Path, spec: RunSpec) -> tuple | None:
    """Identity of the run's result file as it is now (None when there is none)."""
    try:
        st = os.stat(run_dir(root, spec) / "result.json")
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _usable(res: RunResult | None, spec: RunSpec, retry_failed: bool, sources: dict) -> bool:
    if res is None:
        return False
    if res.status == "failed" and retry_failed:
        log.info("run %s failed before; retrying it", res.key)
        return False
    want = {name: sources[name] for name in sources if name in (spec.problem, *spec.probes)}
    if res.sources != want:
        log.info("run %s: the code it names has changed since it ran; redoing it", res.key)
        return False
    return True


def _todo(specs: list[RunSpec], root: Path, retry_failed: bool) -> list[tuple[RunSpec, tuple | None]]:
    """The specs to run, each with the stamp of the result file it replaces."""
    names = {name for s in specs for name in (s.problem, *s.probes) if ":" in name}
    sources = {name: fp for name in sorted(names) if (fp := source_fingerprint(name)) is not None}
    todo = []
    for s in specs:
        if not _usable(read_result(run_dir(root, s), s), s, retry_failed, sources):
            todo.append((s, _stamp(root, s)))
    return todo


def _run_locked(spec_dict: dict, root: str, stamp: tuple | None, wait: bool, progress: bool) -> str:
    """Run one spec under its lock: ``"ran"``, ``"done"`` (another process wrote its result since the
    sweep looked) or ``"busy"`` (another process holds it and ``wait`` is False)."""
    spec = RunSpec.from_dict(spec_dict)
    lock = run_lock(root, spec.key())
    try:
        lock.acquire(timeout=-1 if wait else 0)
    except Timeout:
        return "busy"
    try:
        if _stamp(Path(root), spec) != stamp:
            return "done"
        run(spec, run_dir(root, spec), num_threads=1, progress=progress)
        return "ran"
    finally:
        lock.release()


# --- the sweep -----------------------------------------------------------------------------------

def run_sweep(specs: list[RunSpec], root: str | Path, *, workers: int = 1, progress: bool = False,
              retry_failed: bool = True, check: bool = True) -> dict[str, RunResult]:
    """Run every spec without a usable result under ``root``; return ``{key: RunResult}`` for all specs.

    Duplicated specs run once.  ``retry_failed`` (default True) reruns runs recorded as ``"failed"``.
    ``progress`` shows a bar on stderr (over runs; over steps for a single inline run).  ``check``
    validates names, keyword arguments and values before starting (:func:`check_specs`).
    Ctrl-C raises :class:`SweepInterrupted` once the workers are stopped.
    """
    check_int("run_sweep", "workers", workers, 1)
    specs = list(dict.fromkeys(specs))  # dedupe, keep order
    root = ensure_writable_dir(root, "run_sweep")
    if check:
        check_specs(specs)
    todo = _todo(specs, root, retry_failed)
    log.info("sweep: %d specs, %d finished, %d to run with %d worker(s)", len(specs), len(specs) - len(todo),
             len(todo), workers)
    inline_bar = progress and len(todo) == 1
    bar = _runs_bar(len(todo)) if progress and todo and not inline_bar else None
    done = len(specs) - len(todo)

    def on_result(args, outcome):
        nonlocal done
        if outcome == "busy":  # another process is running it: ask again at the end, waiting for the lock
            return args[:3] + (True,) + args[4:]
        done += 1
        if bar is not None:
            bar.update(1)
        return None

    calls = [(s.to_dict(), str(root), stamp, False, inline_bar) for s, stamp in todo]
    try:
        execute(_run_locked, calls, workers=workers, on_result=on_result)
    except KeyboardInterrupt:
        raise SweepInterrupted(root, done, len(specs)) from None
    finally:
        if bar is not None:
            bar.close()
    return _collect(specs, root)


def _runs_bar(total: int):
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc="runs", unit="run", file=sys.stderr, disable=None, dynamic_ncols=True)


def _collect(specs: list[RunSpec], root: Path) -> dict[str, RunResult]:
    out = {}
    for s in specs:
        res = read_result(run_dir(root, s), s)
        if res is None:
            raise RuntimeError(f"run_sweep: run {s.key()} has no readable result in {run_dir(root, s)} after running")
        out[s.key()] = res
    return out
