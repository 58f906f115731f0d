"""What a person follows during a long sweep: a line per event in ``<root>/progress.log``, and a bar.

``progress.log`` (appended by every sweep on the folder, one line per event, fields ``key=value``
after an ISO time and the event's name; values with spaces are quoted)::

    2026-12-01T10:31:12.345 sweep-start pid=4242 executor="local pool, 2 workers" total=24 finished=8 todo=16
    2026-12-01T10:31:12.351 start key=3f2a... run="digits_mlp/adam lr=0.01 seed=0" running=1 done=0/16 failed=0
    2026-12-01T10:31:14.902 finish key=3f2a... status=ok worker=host:4250 secs=2.54 running=2 done=1/16 failed=0 eta=38s
    2026-12-01T10:31:15.020 fail key=9c1b... worker=host:4251 secs=0.31 error="RuntimeError: ..." ... 
    2026-12-01T10:31:40.100 worker worker=host:4250 runs=8 busy_s=20.1 runs_per_min=23.9
    2026-12-01T10:31:40.101 sweep-end ran=16 ok=15 failed=1 wall_s=27.8

``start`` is written when a run is dispatched (an executor holds no more runs than it has worker
slots, so a dispatched run starts at once; the worker that took it is named on its ``finish`` or
``fail`` line); ``done`` counts the runs of this sweep call, ``eta`` extrapolates the call's
throughput so far.  The terminal bar (tqdm, on stderr, only on a terminal) shows the same counts,
its ETA, and the throughput per worker.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path

from .spec import RunSpec

__all__ = ["SweepProgress", "read_progress_log"]

LOG_NAME = "progress.log"


def _quote(v) -> str:
    s = str(v)
    if not s or any(c in s for c in ' "\'\\\n\t=#'):
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return s


def _label(spec: RunSpec) -> str:
    return f"{spec.problem}/{spec.config_label()} lr={spec.lr} seed={spec.seed}"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class SweepProgress:
    """Counts of one sweep call, written to ``root/progress.log`` and (``bar=True``) shown as a bar."""

    def __init__(self, root: Path, total: int, todo: int, executor: str, bar: bool = False):
        self.path = Path(root) / LOG_NAME
        self.todo, self.t0, self.first = todo, time.perf_counter(), None
        self.running = self.done = self.failed = 0
        self.workers: dict[str, list] = {}  # worker -> [runs, busy seconds]
        self.bar = _runs_bar(todo) if bar and todo else None
        self._event("sweep-start", pid=os.getpid(), executor=executor, total=total, finished=total - todo, todo=todo)

    def _event(self, name: str, **fields) -> None:
        line = datetime.now().isoformat(timespec="milliseconds") + " " + name
        line += "".join(f" {k}={_quote(v)}" for k, v in fields.items())
        with open(self.path, "a", encoding="utf-8") as f:  # one write per line: lines of two sweeps never mix
            f.write(line + "\n")

    def eta(self) -> float | None:
        """Seconds left at this call's throughput since its first run started (None before a run finished)."""
        if not self.done or self.first is None:
            return None
        return (time.perf_counter() - self.first) / self.done * (self.todo - self.done)

    def _counts(self) -> dict:
        return {"running": self.running, "done": f"{self.done}/{self.todo}", "failed": self.failed}

    def start(self, spec: RunSpec) -> None:
        if self.first is None:
            self.first = time.perf_counter()  # after the executor started (a Ray connection takes seconds)
        self.running += 1
        self._event("start", key=spec.key(), run=_label(spec), **self._counts())
        self._show()

    def skip(self, spec: RunSpec) -> None:
        """Another process finished the run since this sweep looked: not redone."""
        self.done += 1
        self._event("skip", key=spec.key(), reason="finished by another process", **self._counts())
        self._update()

    def finish(self, spec: RunSpec, status: str, worker: str, seconds: float, error: str | None = None) -> None:
        self.running -= 1
        self.done += 1
        self.failed += status == "failed"
        w = self.workers.setdefault(worker, [0, 0.0])
        w[0] += 1
        w[1] += seconds
        fields = {"key": spec.key(), "status": status, "worker": worker, "secs": f"{seconds:.2f}"}
        if status == "failed":
            fields["error"] = (error or "").strip().splitlines()[-1:][0] if (error or "").strip() else "?"
        self._event("fail" if status == "failed" else "finish", **fields, **self._counts(), eta=_eta(self.eta()))
        self._update()

    def _rate(self) -> float | None:
        busy = [(n, s) for n, s in self.workers.values() if s > 0]
        if not busy:
            return None
        return 60.0 * sum(n for n, _ in busy) / sum(s for _, s in busy)  # runs per busy minute of one worker

    def _show(self) -> None:
        if self.bar is None:
            return
        post = f"running {self.running}, failed {self.failed}"
        rate = self._rate()
        if rate is not None:
            post += f", {len(self.workers)} workers at {rate:.3g} runs/min each"
        self.bar.set_postfix_str(post, refresh=True)

    def _update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
        self._show()

    def close(self, interrupted: bool = False) -> None:
        for worker, (n, busy) in sorted(self.workers.items()):
            self._event("worker", worker=worker, runs=n, busy_s=f"{busy:.1f}",
                        runs_per_min=f"{60.0 * n / busy:.3g}" if busy > 0 else "?")
        self._event("interrupted" if interrupted else "sweep-end", ran=self.done, ok=self.done - self.failed,
                    failed=self.failed, wall_s=f"{time.perf_counter() - self.t0:.1f}")
        if self.bar is not None:
            self.bar.close()


def _runs_bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="runs", unit="run", file=sys.stderr, disable=None, dynamic_ncols=True)


def read_progress_log(root: str | Path) -> list[dict]:
    """The events of ``root/progress.log``: ``{"time", "event", field: value, ...}`` (values as strings)."""
    import shlex

    out = []
    path = Path(root) / LOG_NAME
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = shlex.split(line)
        if len(parts) < 2:
            continue
        ev = {"time": parts[0], "event": parts[1]}
        for p in parts[2:]:
            k, _, v = p.partition("=")
            ev[k] = v
        out.append(ev)
    return out
