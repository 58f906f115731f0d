"""Results on disk: one directory per run under ``<root>/runs/<spec key>/``.

Layout::

    <root>/runs/<key>/spec.json       written first (the spec, canonical JSON)
    <root>/runs/<key>/metrics.jsonl   append-only: {"step", "loss"} / {"step", "eval": {...}} / {"step", "probe": {...}}
    <root>/runs/<key>/result.json     written last, atomically (temp file + os.replace): the run is done
    <root>/report/                    the HTML report, figures and CSV/JSON tables (report.py)

A directory without ``result.json`` is an unfinished run: it is cleared and redone from scratch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .runner import RunResult
from .spec import RunSpec

__all__ = ["run_dir", "is_done", "load_result", "load_results", "write_result", "prepare_run_dir", "atomic_write"]


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


def prepare_run_dir(path: Path, spec: RunSpec) -> None:
    """Start a run directory from scratch: clear leftovers of an interrupted attempt, write spec.json."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    atomic_write(path / "spec.json", json.dumps(spec.to_dict(), indent=2, sort_keys=True))


def write_result(path: Path, result: RunResult) -> None:
    atomic_write(Path(path) / "result.json", json.dumps(result.to_dict(), allow_nan=True))


def is_done(root: str | Path, spec: RunSpec) -> bool:
    return (run_dir(root, spec) / "result.json").is_file()


def load_result(path: str | Path) -> RunResult:
    """Load a run directory's ``result.json`` (or that file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / "result.json"
    with open(path, encoding="utf-8") as f:
        return RunResult.from_dict(json.load(f))


def load_results(root: str | Path, specs: list[RunSpec] | None = None) -> dict[str, RunResult]:
    """Finished results under ``root`` keyed by spec key (only those of ``specs`` when given)."""
    runs = Path(root) / "runs"
    out: dict[str, RunResult] = {}
    if specs is not None:
        for s in specs:
            p = runs / s.key() / "result.json"
            if p.is_file():
                out[s.key()] = load_result(p)
        return out
    if not runs.is_dir():
        return out
    for d in sorted(runs.iterdir()):
        p = d / "result.json"
        if p.is_file():
            out[d.name] = load_result(p)
    return out
