"""Where calls run: in this process, or in a local pool of spawned worker processes; both stop cleanly on Ctrl-C.

``execute(fn, calls, workers=..., on_result=...)`` runs ``fn(*args)`` for each ``args`` of ``calls``
and hands each return value to ``on_result(args, value)`` in this process, as it arrives;
``on_result`` may return new ``args`` to run (a run busy in another process, asked again later).

The pool: ``workers`` processes started with the "spawn" method, ``torch.set_num_threads(1)`` each,
SIGINT ignored (they start with it ignored, so a Ctrl-C at the terminal reaches only this process),
and a watchdog thread that ends a worker at once when this process dies or asks it to stop.  On
``KeyboardInterrupt`` the pending calls are cancelled, the workers are stopped (their unfinished
runs are redone on resume), and the ``KeyboardInterrupt`` is re-raised within about a second: no
waiting for runs in flight, no traceback from the workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Iterable

from .problems import import_dirs, set_import_dirs

__all__ = ["execute"]

_WATCH_INTERVAL = 0.2  # seconds between a worker's checks of its parent and the stop event


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


def _watch(parent: int, stop) -> None:
    while True:
        if os.getppid() != parent or stop.is_set():
            os._exit(1)
        stop.wait(_WATCH_INTERVAL)


def _worker_init(parent: int, stop, dirs: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)
    set_import_dirs(dirs)  # the user's problem module, where the command line allowed its directory
    threading.Thread(target=_watch, args=(parent, stop), daemon=True).start()


def execute(fn: Callable, calls: Iterable[tuple], *, workers: int = 1,
            on_result: Callable[[tuple, Any], tuple | None]) -> None:
    """Run ``fn(*args)`` for every ``args`` in ``calls`` (inline when ``workers <= 1``, else in a pool);
    ``on_result(args, value)`` may return new ``args`` to run after the others."""
    calls = list(calls)
    if workers <= 1 or len(calls) <= 1:
        _inline(fn, calls, on_result)
    else:
        _pool(fn, calls, min(workers, len(calls)), on_result)


def _inline(fn, calls, on_result) -> None:
    queue = list(calls)
    while queue:
        args = queue.pop(0)
        again = on_result(args, fn(*args))
        if again is not None:
            queue.append(again)


def _pool(fn, calls, workers, on_result) -> None:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(os.getpid(), stop, import_dirs()))
    futures: dict = {}

    def submit(args):
        with sigint_ignored():  # a worker spawned now starts with SIGINT ignored
            futures[pool.submit(fn, *args)] = args

    try:
        for args in calls:
            submit(args)
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                args = futures.pop(fut)
                again = on_result(args, fut.result())
                if again is not None:
                    submit(again)
    except BaseException:
        with sigint_ignored():
            stop.set()  # every worker exits within _WATCH_INTERVAL, mid-run or idle
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
