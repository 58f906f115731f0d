"""Named test problems: each builds model, data, loss and evaluation from a seed.

A :class:`Problem` knows nothing about optimizers.  The runner asks it for a batch per step
(``next_batch(step)``), computes ``loss_fn(model, batch)`` and steps one optimizer per entry of
``param_sets`` (one set for almost every problem; two for the GAN, which supplies its own
``train_step``).  ``evaluate(model)`` returns a flat dict of floats such as ``train_loss``,
``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` and ``gap`` (``val_loss - train_loss``).

Problems are registered by name (``available_problems()``); ``make_problem(name, seed, **kwargs)``
builds one.  A name of the form ``"package.module:function"`` imports ``function`` and calls it as
``function(seed=seed, **kwargs)``; it must return a :class:`Problem` (the "your own model" route).
The module is imported from ``sys.path`` as it stands; :func:`allow_import_from` lets one named
module be imported from one more directory (the command line passes the working directory for the
problem the user names), only while that module is imported; :func:`source_fingerprint` hashes
its source file so that a run of changed code is not mistaken for the old one.
Every built-in problem takes ``size="default" | "tiny"`` (tiny: for tests, a second or less).
Nothing is downloaded: digits come with scikit-learn, other data are generated from the seed.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from .base import Problem, ProblemInfo, check_size, register_problem, registered

_PROBLEMS = registered()

__all__ = [
    "Problem", "ProblemInfo", "register_problem", "check_size", "make_problem", "available_problems",
    "problem_info", "load_callable", "allow_import_from", "import_dirs", "set_import_dirs",
    "source_fingerprint", "check_problem_kwargs",
]


def available_problems() -> list[str]:
    """The registered problem names, sorted."""
    _ensure_builtins()
    return sorted(_PROBLEMS)


_IMPORT_DIRS: dict[str, str] = {}  # top-level module name -> the one extra directory it may be imported from


def _split(path: str) -> tuple[str, str]:
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise ValueError(f"load_callable: path must look like 'package.module:function', got {path!r}")
    mod_name, attr = path.split(":")
    return mod_name, attr


def allow_import_from(path: str, directory: str | Path) -> bool:
    """Let the module of ``path`` (``"package.module:function"``) be imported from ``directory``.

    Only when ``directory`` holds that module's top-level package or file, and only for importing
    that module: ``directory`` is put first on ``sys.path`` while :func:`load_callable` imports it
    and removed afterwards (nothing else, say a ``matplotlib.py`` there, is ever picked up later).
    Sweeps pass the allowance to their worker processes.  Returns whether it was granted.
    """
    mod_name, _ = _split(path)
    top = mod_name.split(".")[0]
    d = Path(directory).resolve()
    if not ((d / f"{top}.py").is_file() or (d / top).is_dir()):
        return False
    _IMPORT_DIRS[top] = str(d)
    return True


def import_dirs() -> dict[str, str]:
    """The allowances granted by :func:`allow_import_from` (``{top-level module: directory}``)."""
    return dict(_IMPORT_DIRS)


def set_import_dirs(dirs: dict[str, str]) -> None:
    """Grant the allowances of :func:`import_dirs` (in a worker process)."""
    _IMPORT_DIRS.update(dirs)


def _import(mod_name: str):
    extra = _IMPORT_DIRS.get(mod_name.split(".")[0])
    if extra is None or mod_name in sys.modules:
        return importlib.import_module(mod_name)
    sys.path.insert(0, extra)
    try:
        return importlib.import_module(mod_name)
    finally:
        if extra in sys.path:
            sys.path.remove(extra)


def load_callable(path: str) -> Callable:
    """Import ``"package.module:function"`` and return the function (``ValueError`` if impossible)."""
    mod_name, attr = _split(path)
    try:
        mod = _import(mod_name)
    except ImportError as exc:
        raise ValueError(f"load_callable: cannot import module {mod_name!r} ({exc})") from exc
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ValueError(f"load_callable: {mod_name!r} has no callable {attr!r}")
    return fn


def source_fingerprint(path: str) -> str | None:
    """The sha256 (16 hex digits) of the source file of ``path``'s module (``"package.module:function"``,
    imported if needed), or None for a module of optimlab itself or one without a source file."""
    mod_name, _ = _split(path)
    load_callable(path)
    if mod_name == "optimlab" or mod_name.startswith("optimlab."):
        return None
    file = getattr(sys.modules.get(mod_name), "__file__", None)
    if not file or not Path(file).is_file():
        return None
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]


def check_problem_kwargs(name: str, kwargs: dict) -> None:
    """``ValueError`` unless problem ``name``'s factory takes the keyword arguments ``kwargs``."""
    info = problem_info(name)
    try:
        sig = inspect.signature(info.factory)
    except (TypeError, ValueError):  # no signature to check against: the factory will tell
        return
    try:
        sig.bind(seed=0, **kwargs)
    except TypeError as exc:
        takes = [p for p in sig.parameters if p != "seed" and sig.parameters[p].kind in
                 (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        raise ValueError(f"{name}: {exc}; it takes {', '.join(takes) or 'no keyword arguments'}") from None


def problem_info(name: str) -> ProblemInfo:
    """The :class:`ProblemInfo` of a name; user problems (``"pkg.mod:fn"``) get a generic one."""
    _ensure_builtins()
    if isinstance(name, str) and name in _PROBLEMS:
        return _PROBLEMS[name]
    if isinstance(name, str) and ":" in name:
        fn = load_callable(name)
        steps = int(getattr(fn, "default_steps", 500))
        return ProblemInfo(name, fn, getattr(fn, "family", "user"), (fn.__doc__ or "user problem").strip().split("\n")[0],
                           steps, int(getattr(fn, "tiny_steps", max(1, steps // 10))),
                           int(getattr(fn, "eval_every", max(1, steps // 10))), bool(getattr(fn, "trajectory", False)))
    raise ValueError(f"make_problem: problem must be one of {', '.join(sorted(_PROBLEMS))} "
                     f"or 'package.module:function', got {name!r}")


def make_problem(name: str, seed: int = 0, **kwargs: Any) -> Problem:
    """Build problem ``name`` for ``seed`` (keyword arguments go to its factory).

    The factory runs with torch's global generator seeded by ``seed`` (and restored afterwards), so
    model initialisation depends on the seed alone.

    >>> p = make_problem("rosenbrock", seed=0, size="tiny")
    >>> sorted(p.evaluate(p.model))[:2]
    ['dist_to_min', 'train_loss']
    """
    info = problem_info(name)
    try:
        with torch.random.fork_rng(devices=[]):  # model initialisation is a function of the seed alone
            torch.manual_seed(seed)
            problem = info.factory(seed=seed, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from exc
    if not isinstance(problem, Problem):
        raise ValueError(f"make_problem: {name!r} must return an optimlab.lab.Problem, got {type(problem).__name__}")
    return problem


_loaded = False


def _ensure_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import functions2d, quadratic, classification, sequence, gan  # noqa: F401  (they register)
