"""Run a list of specs with a local pool of worker processes, resumable after any crash.

``run_sweep(specs, root, workers=2)`` skips specs whose ``result.json`` exists, runs the others
(inline when ``workers <= 1``; otherwise in ``workers`` spawned processes, each with
``torch.set_num_threads(1)``) and returns ``{key: RunResult}`` for all of ``specs`` in order.
Each run writes its own directory and its ``result.json`` last and atomically, so a sweep killed
at any moment (SIGKILL included) loses no finished run; the next call redoes only unfinished ones.
Workers watch their parent and exit when it dies, so killing only the sweep process leaves no
orphan still writing into a run directory.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..checks import check_int
from .runner import RunResult, run
from .spec import RunSpec
from .store import is_done, load_result, run_dir

__all__ = ["run_sweep", "check_specs"]

log = logging.getLogger(__name__)


def _worker_init(parent: int) -> None:
    import os
    import threading
    import time

    import torch

    torch.set_num_threads(1)

    def watch():  # a worker whose sweep was killed stops too (its unfinished run is redone on resume)
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def _run_one(spec_dict: dict, path: str) -> str:
    spec = RunSpec.from_dict(spec_dict)
    run(spec, path, num_threads=1)
    return spec.key()


def check_specs(specs: list[RunSpec]) -> None:
    """Fail fast (``ValueError``/``TypeError``) on unknown problems, optimizers or keyword arguments."""
    import torch

    import optimlab
    from .problems import problem_info

    seen = set()
    for s in specs:
        if not isinstance(s, RunSpec):
            raise ValueError(f"run_sweep: specs must be RunSpec objects, got {type(s).__name__}")
        sig = (s.problem, s.optimizer, tuple(sorted(s.optimizer_kwargs)))
        if sig in seen:
            continue
        seen.add(sig)
        problem_info(s.problem)
        kwargs = dict(s.optimizer_kwargs)
        if s.lr is not None:
            kwargs["lr"] = s.lr
        optimlab.create_optimizer(s.optimizer, [torch.nn.Parameter(torch.zeros(1))], **kwargs)


def run_sweep(specs: list[RunSpec], root: str | Path, *, workers: int = 1, progress: bool = False,
              retry_failed: bool = False, check: bool = True) -> dict[str, RunResult]:
    """Run every spec not yet finished under ``root``; return ``{key: RunResult}`` for all specs.

    Duplicated specs run once.  ``retry_failed`` reruns runs recorded as ``"failed"``.
    ``progress`` shows a tqdm bar.  ``check`` validates names and kwargs before starting.
    """
    check_int("run_sweep", "workers", workers, 1)
    specs = list(dict.fromkeys(specs))  # dedupe, keep order
    if check:
        check_specs(specs)
    root = Path(root)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    todo = []
    for s in specs:
        if is_done(root, s):
            if retry_failed and load_result(run_dir(root, s)).status == "failed":
                todo.append(s)
        else:
            todo.append(s)
    log.info("sweep: %d specs, %d finished, %d to run with %d worker(s)", len(specs), len(specs) - len(todo),
             len(todo), workers)
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="runs", unit="run")
    try:
        if workers <= 1 or len(todo) <= 1:
            for s in todo:
                run(s, run_dir(root, s), num_threads=1)
                if bar is not None:
                    bar.update(1)
        else:
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                     initializer=_worker_init, initargs=(os.getpid(),)) as pool:
                futures = [pool.submit(_run_one, s.to_dict(), str(run_dir(root, s))) for s in todo]
                for fut in as_completed(futures):
                    fut.result()
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return {s.key(): load_result(run_dir(root, s)) for s in specs}
