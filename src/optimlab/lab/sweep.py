"""Run a list of specs under a results folder, resumable after any crash, shareable between processes.

``run_sweep(specs, root, workers=2)`` runs the specs that have no usable result under ``root`` on an
executor (:mod:`optimlab.lab.executors`: inline when ``workers <= 1``, else a local process pool;
``executor="ray"`` runs them as Ray tasks, on ``address`` or ``RAY_ADDRESS`` or a local Ray
instance) and returns ``{key: RunResult}`` for all of ``specs`` in order.  A result is usable unless
it is unreadable (named in a warning), failed and ``retry_failed`` (the default: a failure may come
from code that has been fixed since), or records code that has changed since: a
``"package.module:function"`` problem or probe whose module's source file no longer has the
fingerprint the run recorded.

This process (the driver) owns the results folder: executors return results, and the driver writes
each run's directory, its ``result.json`` last and atomically, so a sweep killed at any moment
(SIGKILL included) loses no finished run, and workers need no shared disk.  A run is dispatched only
under its lock (``root/.locks``), held by the driver until its result is written: two sweeps may
share a folder, a run another process holds is left to it (and waited for at the end), and a run
another process finished meanwhile is not redone.  A worker that died mid-run (a local worker
killed; a Ray worker killed more often than its retries) is recorded as a failed run naming why.
Ctrl-C stops the sweep within about a second (the executor's runs in flight are cancelled) and
raises :class:`SweepInterrupted` (a ``KeyboardInterrupt``) saying how many runs are finished; the
next call redoes only unfinished ones.  Every event goes to ``root/progress.log``
(:mod:`optimlab.lab.progress`); ``track=("mlflow", "tensorboard")`` also records every run there
(:mod:`optimlab.lab.tracking`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import Timeout

from ..checks import check_choice, check_int
from .executors import EXECUTORS, Executor, InlineExecutor, LocalPool, Outcome, WorkerLost, failed_result, sigint_ignored
from .problems import check_problem_kwargs, make_problem, source_fingerprint
from .progress import SweepProgress
from .result import RunResult
from .spec import RunSpec
from .store import ensure_writable_dir, read_result, run_dir, run_lock, write_run
from .tracking import make_trackers

__all__ = ["run_sweep", "check_specs", "SweepInterrupted", "make_executor", "open_executor"]

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


# --- executors -----------------------------------------------------------------------------------

def make_executor(executor: str | Executor | None = None, *, workers: int = 1, address: str | None = None,
                  **ray_options: Any) -> Executor:
    """An executor from words: ``None`` or ``"local"``: inline for ``workers == 1``, else a
    :class:`LocalPool`; ``"ray"``: a :class:`~optimlab.lab.ray_executor.RayExecutor` on ``address``
    (``None``: ``RAY_ADDRESS`` if set, else a local Ray instance); an :class:`Executor` as it is."""
    if isinstance(executor, Executor):
        return executor
    check_int("make_executor", "workers", workers, 1)
    check_choice("make_executor", "executor", executor or "local", EXECUTORS)
    if executor == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(address=address, **ray_options)
    if address is not None:
        raise ValueError(f"make_executor: address is for executor='ray', got address={address!r} with the local executor")
    if ray_options:
        raise ValueError(f"make_executor: {', '.join(sorted(ray_options))} are options of executor='ray'")
    return LocalPool(workers) if workers > 1 else InlineExecutor()


@contextmanager
def open_executor(executor: str | Executor | None = None, *, workers: int = 1, address: str | None = None):
    """:func:`make_executor` for a block of sweeps (a comparison's, the claims' rounds): one pool or one
    Ray connection for all of them, closed at the end unless ``executor`` was an :class:`Executor` already."""
    ex = make_executor(executor, workers=workers, address=address)
    try:
        yield ex
    finally:
        if ex is not executor:
            ex.close()


# --- the driver ----------------------------------------------------------------------------------

_POLL = 0.5  # seconds between the driver's looks at runs in flight and at runs busy elsewhere


class _Driver:
    """Dispatches the runs to do under their locks, writes what comes back, counts and tracks it."""

    def __init__(self, root: Path, executor: Executor, progress: SweepProgress, trackers: list, inline_bar: bool):
        self.root, self.executor, self.progress, self.trackers = root, executor, progress, trackers
        self.inline_bar = inline_bar
        self.inflight: dict = {}  # handle -> (spec, lock, dispatch time)

    def dispatch(self, spec: RunSpec, stamp: tuple | None) -> str:
        """Dispatch ``spec`` if its lock is free: ``"started"``, ``"busy"`` (another process holds it)
        or ``"skipped"`` (another process finished it since the sweep looked)."""
        lock = run_lock(self.root, spec.key())
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return "busy"
        try:
            if _stamp(self.root, spec) != stamp:
                lock.release()
                self.progress.skip(spec)
                return "skipped"
            self.progress.start(spec)
            handle = self.executor.submit(spec, progress=self.inline_bar)
        except BaseException:
            if lock.is_locked:
                lock.release()
            raise
        self.inflight[handle] = (spec, lock, time.time())
        return "started"

    def collect(self, handle) -> None:
        spec, lock, t0 = self.inflight.pop(handle)
        try:
            try:
                out = self.executor.outcome(handle)
            except WorkerLost as exc:
                log.warning("run %s (%s/%s): %s", spec.key(), spec.problem, spec.optimizer, exc)
                out = Outcome(failed_result(spec, str(exc)), "?", t0, time.time())
            write_run(self.root, spec, out.result)
        finally:
            lock.release()
        res = out.result
        self.progress.finish(spec, res["status"], out.worker, out.finished - out.started, res.get("error"))
        for t in self.trackers:
            t.log_run_safely(RunResult.from_dict(res), run_dir(self.root, spec))

    def run(self, todo: list[tuple[RunSpec, tuple | None]]) -> None:
        pending = list(todo)
        busy: list = []  # held by another process: tried again while the others run, waited for at the end
        while pending or busy or self.inflight:
            free = self.executor.slots() - len(self.inflight)
            for queue in (pending, busy):
                kept = []
                for item in queue:
                    what = self.dispatch(*item) if free > 0 else "busy"
                    free -= what == "started"
                    if what == "busy":
                        kept.append(item)
                queue[:] = kept
            if self.inflight:
                for handle in self.executor.wait(list(self.inflight), timeout=_POLL):
                    self.collect(handle)
            elif busy and not pending:
                time.sleep(_POLL / 2)

    def abandon(self) -> None:
        """Ctrl-C or an error: cancel the runs in flight and release their locks (they are redone on resume)."""
        with sigint_ignored():
            try:
                self.executor.cancel()
            finally:
                for _, lock, _ in self.inflight.values():
                    lock.release()
                self.inflight.clear()


# --- the sweep -----------------------------------------------------------------------------------

def run_sweep(specs: list[RunSpec], root: str | Path, *, workers: int = 1, executor: str | Executor | None = None,
              address: str | None = None, progress: bool = False, retry_failed: bool = True, check: bool = True,
              track: tuple | list = (), tracking_uri: str | None = None, experiment: str | None = None
              ) -> dict[str, RunResult]:
    """Run every spec without a usable result under ``root``; return ``{key: RunResult}`` for all specs.

    Duplicated specs run once.  ``executor``: ``"local"`` (default: inline for ``workers == 1``, else
    a pool of ``workers`` processes), ``"ray"`` (Ray tasks on ``address``, ``RAY_ADDRESS`` or a local
    instance), or an :class:`~optimlab.lab.executors.Executor` (kept open: the caller closes it).
    ``retry_failed`` (default True) reruns runs recorded as ``"failed"``.  ``progress`` shows a bar
    on stderr (over runs; over steps for a single inline run); ``root/progress.log`` gets every event
    regardless.  ``check`` validates names, keyword arguments and values before starting
    (:func:`check_specs`).  ``track``: ``"mlflow"`` and/or ``"tensorboard"``: record every run there
    too (``tracking_uri``, ``experiment``: see :func:`optimlab.lab.tracking.make_trackers`).
    Ctrl-C raises :class:`SweepInterrupted` once the runs in flight are cancelled.
    """
    check_int("run_sweep", "workers", workers, 1)
    specs = list(dict.fromkeys(specs))  # dedupe, keep order
    root = ensure_writable_dir(root, "run_sweep")
    own = not isinstance(executor, Executor)
    ex = make_executor(executor, workers=workers, address=address)
    trackers = make_trackers(track, root, tracking_uri=tracking_uri, experiment=experiment)
    try:
        if check:
            check_specs(specs)
        todo = _todo(specs, root, retry_failed)
        log.info("sweep: %d specs, %d finished, %d to run on %s", len(specs), len(specs) - len(todo), len(todo),
                 ex.describe())
        _drive(root, ex, len(specs), todo, progress, trackers)
        results = _collect(specs, root)
        for t in trackers:
            t.sync(results, root)
        return results
    finally:
        if own:
            ex.close()
        for t in trackers:
            t.close()


def _drive(root: Path, ex: Executor, total: int, todo: list, progress: bool, trackers: list) -> None:
    """Run ``todo`` on ``ex`` with its progress log (and bar); Ctrl-C: :class:`SweepInterrupted`."""
    inline_bar = progress and len(todo) == 1 and isinstance(ex, InlineExecutor)
    prog = SweepProgress(root, total, len(todo), ex.describe(), bar=progress and not inline_bar)
    driver = _Driver(root, ex, prog, trackers, inline_bar)
    try:
        driver.run(todo)
    except BaseException as exc:
        driver.abandon()
        prog.close(interrupted=True)
        if isinstance(exc, KeyboardInterrupt):
            raise SweepInterrupted(root, total - len(todo) + prog.done, total) from None
        raise
    prog.close()


def _collect(specs: list[RunSpec], root: Path) -> dict[str, RunResult]:
    out = {}
    for s in specs:
        res = read_result(run_dir(root, s), s)
        if res is None:
            raise RuntimeError(f"run_sweep: run {s.key()} has no readable result in {run_dir(root, s)} after running")
        out[s.key()] = res
    return out
