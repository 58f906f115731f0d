"""Results on disk: one directory per run under ``<root>/runs/<spec key>/``.

Layout::

    <root>/runs/<key>/spec.json       written first (the spec, canonical JSON)
    <root>/runs/<key>/metrics.jsonl   append-only: {"step", "loss"} / {"step", "eval": {...}} / {"step", "probe": {...}}
    <root>/runs/<key>/result.json     written last, atomically (temp file + os.replace): the run is done
    <root>/progress.log               one line per event of every sweep on this folder (progress.py)
    <root>/report/                    the HTML report, figures and CSV/JSON tables (report.py)
    <root>/.locks/                    lock files: one per run being written, one for the folder's shared files

A directory without a readable ``result.json`` is an unfinished run: it is cleared and redone from
scratch.  An unreadable one (empty, cut short, not a result) is named in a warning and treated the
same way.  Several processes may share a results folder: a run is written only by the holder of its
lock (:func:`run_lock`), the report and ``comparison.json`` only by the holder of the folder's lock
(:func:`folder_lock`).  A sweep's driver writes a run's directory from the result its executor
returned (:func:`write_run`): the workers need no access to the folder.  Reading a folder is reading data: nothing named in it is imported or called.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from filelock import FileLock

from .result import RunResult
from .spec import RunSpec

__all__ = ["run_dir", "is_done", "read_result", "load_result", "load_results", "write_result", "prepare_run_dir",
           "atomic_write", "ensure_writable_dir", "run_lock", "folder_lock", "write_run", "metrics_lines"]

log = logging.getLogger(__name__)


def run_dir(root: str | Path, spec: RunSpec) -> Path:
    """The directory of ``spec``'s run under results root ``root``."""
    return Path(root) / "runs" / spec.key()


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory, fsync and ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def ensure_writable_dir(path: str | Path, owner: str) -> Path:
    """Create ``path`` if needed and check that files can be written in it, before any work is done.

    ``ValueError`` naming ``owner`` (the command or function) and the path when it is a file, cannot
    be created, or is not writable (read-only, full disk, no permission).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{owner}: the output folder {str(path)!r} is a file, not a folder")
    probe = path / f".optimlab-write-test-{uuid.uuid4().hex}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
    except OSError as exc:
        raise ValueError(f"{owner}: cannot write in the output folder {str(path)!r} "
                         f"({exc.strerror or type(exc).__name__})") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return path


def _lock_path(root: Path, name: str) -> Path:
    d = Path(root) / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.lock"


def run_lock(root: str | Path, key: str) -> FileLock:
    """The lock of run ``key`` under ``root`` (its holder alone may clear or write the run's directory)."""
    return FileLock(_lock_path(Path(root), key))


def folder_lock(root: str | Path) -> FileLock:
    """The lock of ``root``'s shared files (``comparison.json``, ``report/``)."""
    return FileLock(_lock_path(Path(root), "folder"))


def prepare_run_dir(path: Path, spec: RunSpec) -> None:
    """Start a run directory from scratch: clear leftovers of an interrupted attempt, write spec.json."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    atomic_write(path / "spec.json", json.dumps(spec.to_dict(), indent=2, sort_keys=True))


def write_result(path: Path, result: RunResult) -> None:
    atomic_write(Path(path) / "result.json", json.dumps(result.to_dict(), allow_nan=True))


def metrics_lines(result: dict):
    """The lines of ``metrics.jsonl`` for a finished result (as the runner streams them, ordered by
    step: the probes and the evaluation at step ``s`` (after ``s`` updates), then the loss of step ``s``)."""
    evals, probes = result.get("evals") or {}, result.get("probes") or {}
    at: dict[int, list] = {}
    for i, s in enumerate(probes.get("step", [])):
        at.setdefault(s, []).append({"step": s, "probe": {k: v[i] for k, v in probes.items() if k != "step"}})
    for i, s in enumerate(evals.get("step", [])):
        at.setdefault(s, []).append({"step": s, "eval": {k: v[i] for k, v in evals.items() if k != "step"}})
    losses = result.get("train_loss") or []
    for s in range(max([len(losses), *(t + 1 for t in at)])):
        for obj in at.get(s, ()):
            yield json.dumps(obj, allow_nan=True)
        if s < len(losses):
            yield json.dumps({"step": s, "loss": losses[s]}, allow_nan=True)


def write_run(root: str | Path, spec: RunSpec, result: dict) -> Path:
    """Write run ``spec``'s directory under ``root`` from its finished ``result`` (a ``RunResult`` dict):
    cleared, ``spec.json``, ``metrics.jsonl``, then ``result.json`` last and atomically.  The caller
    holds the run's lock.  ``ValueError`` when ``result`` is not a result of ``spec``."""
    res = RunResult.from_dict(result)
    if res.key != spec.key():
        raise ValueError(f"write_run: the result is of run {res.key}, not of {spec.key()}")
    path = run_dir(root, spec)
    prepare_run_dir(path, spec)
    with open(path / "metrics.jsonl", "w", encoding="utf-8") as f:
        for line in metrics_lines(result):
            f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    write_result(path, res)
    return path


def load_result(path: str | Path) -> RunResult:
    """Load a run directory's ``result.json`` (or that file itself).

    ``ValueError`` naming the file when it is not a result (empty, cut short, wrong structure);
    ``FileNotFoundError`` when it does not exist.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "result.json"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return RunResult.from_dict(json.loads(text))
    except ValueError as exc:  # JSONDecodeError is a ValueError
        reason = "empty file" if not text.strip() else str(exc).splitlines()[0]
        raise ValueError(f"{path} is not a readable run result ({reason})") from None


def read_result(path: str | Path, spec: RunSpec | None = None) -> RunResult | None:
    """The result in run directory ``path``, or None when the run is unfinished.

    A missing ``result.json`` is unfinished; an unreadable one (or, with ``spec``, the result of
    another spec) is logged as a warning naming the file and also counts as unfinished.
    """
    p = Path(path) / "result.json"
    if not p.is_file():
        return None
    try:
        res = load_result(p)
    except (OSError, ValueError) as exc:
        log.warning("%s; the run counts as unfinished", exc)
        return None
    if spec is not None and res.key != spec.key():
        log.warning("%s holds the result of another spec (%s); the run counts as unfinished", p, res.key)
        return None
    return res


def is_done(root: str | Path, spec: RunSpec) -> bool:
    """Whether ``spec``'s run under ``root`` has a readable result (whatever its status)."""
    return read_result(run_dir(root, spec), spec) is not None


def load_results(root: str | Path, specs: list[RunSpec] | None = None) -> dict[str, RunResult]:
    """Finished results under ``root`` keyed by spec key (only those of ``specs`` when given).

    Unreadable result files are skipped with a warning naming them.
    """
    runs = Path(root) / "runs"
    out: dict[str, RunResult] = {}
    if specs is not None:
        for s in specs:
            r = read_result(runs / s.key(), s)
            if r is not None:
                out[s.key()] = r
        return out
    if not runs.is_dir():
        return out
    for d in sorted(runs.iterdir()):
        r = read_result(d) if d.is_dir() else None
        if r is not None:
            if r.key != d.name:
                log.warning("%s holds the result of another spec (%s); skipped", d / "result.json", r.key)
                continue
            out[d.name] = r
    return out
