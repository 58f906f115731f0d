"""Where runs execute: in this process, in a local pool of spawned worker processes, or on Ray.

An :class:`Executor` computes runs and hands their results back; it never touches the results
folder: the sweep (:mod:`optimlab.lab.sweep`, the driver) locks, writes and resumes, so every
guarantee of the folder holds whatever the executor, and workers need no shared disk.

* :class:`InlineExecutor`: one run at a time, in this process (``workers=1``).
* :class:`LocalPool`: ``workers`` processes started with the "spawn" method, one thread each
  (``torch.set_num_threads(1)``, and ``OMP_NUM_THREADS=1`` unless set: with OpenMP's default team the
  workers' steps took twice as long on 2 cores, as measured by ``benchmarks/ray_vs_local.py``), SIGINT ignored (they start with it ignored, so a Ctrl-C at the terminal reaches only this
  process), and a watchdog thread that ends a worker at once when this process dies or asks it to
  stop.  :meth:`~Executor.cancel` stops the workers within about a second (their runs are redone on
  resume).
* :class:`~optimlab.lab.ray_executor.RayExecutor` (``optimlab[ray]``): each run a Ray task on a local
  Ray instance or a cluster.

The protocol (what the sweep calls): :meth:`~Executor.slots` (how many runs may be in flight: the
sweep dispatches no more, so a dispatched run starts at once), :meth:`~Executor.submit` (a spec ->
a handle), :meth:`~Executor.wait` (the handles finished within a timeout), :meth:`~Executor.outcome`
(a finished handle -> :class:`Outcome`: the result and the worker that ran it; a worker that died is
a ``"failed"`` result naming why), :meth:`~Executor.cancel` (Ctrl-C: drop everything in flight now)
and :meth:`~Executor.close`.  :func:`optimlab.lab.sweep.make_executor` builds one from the command
line's words.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..checks import check_int
from .problems import import_dirs, set_import_dirs
from .result import RunResult
from .spec import RunSpec

__all__ = ["Executor", "InlineExecutor", "LocalPool", "Outcome", "run_task", "failed_result", "EXECUTORS", "task_env",
           "WorkerLost"]

EXECUTORS = ("local", "ray")
_WATCH_INTERVAL = 0.2  # seconds between a worker's checks of its parent and the stop event
_ENV_PASSED = ("OPTIMLAB_DATA_DIR",)  # environment a task needs from the driver (claims' --data-dir)


@dataclass(eq=False)  # a handle of the inline executor: hashed by identity
class Outcome:
    """A finished run as the executor hands it back: the result (as a dict), where it ran and when."""

    result: dict
    worker: str  # "host:pid" (Ray: "node <id8> host:pid")
    started: float  # epoch seconds on the worker
    finished: float


@contextmanager
def sigint_ignored():
    """Ignore SIGINT inside the block (main thread only; elsewhere a no-op): processes started here
    inherit the ignored signal, and cleanup is not interrupted by a second Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def task_env() -> dict:
    """The environment variables a run needs from the driver (passed with each task)."""
    return {k: os.environ[k] for k in _ENV_PASSED if k in os.environ}


def run_task(spec_dict: dict, dirs: dict, env: dict, worker_prefix: str = "", progress: bool = False) -> Outcome:
    """Compute one run where the executor placed it; never writes files.  The user-module allowances
    (``dirs``) and ``env`` come from the driver; the run uses one torch thread, as every executor."""
    from .runner import run

    set_import_dirs(dirs)
    os.environ.update(env)
    started = time.time()
    res = run(RunSpec.from_dict(spec_dict), num_threads=1, progress=progress)
    return Outcome(res.to_dict(), f"{worker_prefix}{socket.gethostname()}:{os.getpid()}", started, time.time())


def failed_result(spec: RunSpec, why: str) -> dict:
    """The result of a run that produced none (its worker died, it was lost): ``"failed"``, ``why`` as the error."""
    return RunResult(spec=spec.to_dict(), key=spec.key(), status="failed", error=why).to_dict()


class Executor:
    """Computes runs for a sweep (see the module docstring for the protocol)."""

    name = "executor"

    def slots(self) -> int:
        raise NotImplementedError

    def submit(self, spec: RunSpec, progress: bool = False) -> Any:
        raise NotImplementedError

    def wait(self, handles: list, timeout: float) -> list:
        raise NotImplementedError

    def outcome(self, handle: Any) -> Outcome:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop every run in flight now (Ctrl-C); the executor is unusable afterwards."""

    def close(self) -> None:
        """Release the workers (after the last run)."""

    def describe(self) -> str:
        return self.name


class InlineExecutor(Executor):
    """Runs in this process, one at a time (``submit`` computes the run)."""

    name = "inline"

    def slots(self) -> int:
        return 1

    def submit(self, spec: RunSpec, progress: bool = False) -> Outcome:
        return run_task(spec.to_dict(), import_dirs(), {}, progress=progress)

    def wait(self, handles: list, timeout: float) -> list:
        return list(handles)

    def outcome(self, handle: Outcome) -> Outcome:
        return handle


@contextmanager
def sigint_held():
    """Hold SIGINT inside the block (main thread only; elsewhere a no-op) and raise
    ``KeyboardInterrupt`` when the block ends if one came: none is lost (an ignored one would be),
    and processes started inside start with SIGINT blocked, until their initializer ignores it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending one runs the handler above
        signal.signal(signal.SIGINT, old)
    if came:
        raise KeyboardInterrupt


def _watch(parent: int, stop) -> None:
    while True:
        if os.getppid() != parent or stop.is_set():
            os._exit(1)
        stop.wait(_WATCH_INTERVAL)


def _worker_init(parent: int, stop) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_watch, args=(parent, stop), daemon=True).start()


class LocalPool(Executor):
    """``workers`` spawned processes on this machine (started on the first submit)."""

    name = "local"

    def __init__(self, workers: int = 2):
        check_int("LocalPool", "workers", workers, 1)
        self.workers = workers
        self._pool = None
        self._stop = None

    def describe(self) -> str:
        return f"local pool, {self.workers} workers"

    def slots(self) -> int:
        return self.workers

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init,
                                         initargs=(os.getpid(), self._stop))

    def submit(self, spec: RunSpec, progress: bool = False):
        if self._pool is None:
            self._start()
        with sigint_held(), _one_omp_thread():  # a worker spawned now starts with SIGINT blocked, one thread
            try:
                return self._pool.submit(run_task, spec.to_dict(), import_dirs(), task_env())
            except BrokenProcessPool:  # a worker died (its runs are recorded failed): a fresh pool for the rest
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._start()
                return self._pool.submit(run_task, spec.to_dict(), import_dirs(), task_env())

    def wait(self, handles: list, timeout: float) -> list:
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle) -> Outcome:
        try:
            return handle.result()
        except Exception as exc:  # noqa: BLE001 - a worker that died (BrokenProcessPool) is a failed run
            raise WorkerLost(traceback.format_exception_only(exc)[-1].strip()) from exc

    def cancel(self) -> None:
        if self._pool is None:
            return
        with sigint_ignored():
            self._stop.set()  # every worker exits within _WATCH_INTERVAL, mid-run or idle
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@contextmanager
def _one_omp_thread():
    """``OMP_NUM_THREADS=1`` (unless the user set it) for the processes spawned inside the block."""
    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)


class WorkerLost(RuntimeError):
    """The process computing a run died; the sweep records the run as failed with this message."""
