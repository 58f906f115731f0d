"""Named test problems: each builds model, data, loss and evaluation from a seed.

A :class:`Problem` knows nothing about optimizers.  The runner asks it for a batch per step
(``next_batch(step)``), computes ``loss_fn(model, batch)`` and steps one optimizer per entry of
``param_sets`` (one set for almost every problem; two for the GAN, which supplies its own
``train_step``).  ``evaluate(model)`` returns a flat dict of floats such as ``train_loss``,
``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` and ``gap`` (``val_loss - train_loss``).

Problems are registered by name (``available_problems()``); ``make_problem(name, seed, **kwargs)``
builds one.  A name of the form ``"package.module:function"`` imports ``function`` and calls it as
``function(seed=seed, **kwargs)``; it must return a :class:`Problem` (the "your own model" route).
Every built-in problem takes ``size="default" | "tiny"`` (tiny: for tests, a second or less).
Nothing is downloaded: digits come with scikit-learn, other data are generated from the seed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

__all__ = [
    "Problem", "ProblemInfo", "register_problem", "make_problem", "available_problems",
    "problem_info", "load_callable",
]


@dataclass
class Problem:
    """A built problem (model + data + loss + evaluation), ready for any optimizer.

    Attributes:
        name: the problem's name.
        model: the ``nn.Module`` being trained (for the GAN, a container of generator and critic).
        loss_fn: ``(model, batch) -> scalar tensor``, the training loss of a batch.
        next_batch: ``step -> batch`` (deterministic given the seed; ``None`` when not needed).
        evaluate: ``model -> dict[str, float]`` (run under ``torch.no_grad`` by the runner).
        select_metric / select_mode: the evaluation key used to pick learning rates
            ("val_acc", "max") and its direction.
        param_sets: lists of parameters, one optimizer each (default: ``[model.parameters()]``).
        train_step: optional ``(batch, optimizers, step) -> loss tensor`` replacing the default
            ``zero_grad / loss.backward() / step`` (the GAN's alternating updates).
        post_step: optional ``model -> None`` called under ``no_grad`` after each update
            (the Reddi problem's projection onto [-1, 1]).
        difficulty: optional per-training-example difficulty scores (curriculum problems).
        meta: extra facts for plots and reports, e.g. ``{"kind": "2d", "fn": f, "minima": [...],
            "bounds": (xmin, xmax, ymin, ymax)}`` for 2-D functions.
    """

    name: str
    model: nn.Module
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    next_batch: Callable[[int], Any]
    evaluate: Callable[[nn.Module], dict]
    select_metric: str = "train_loss"
    select_mode: str = "min"
    param_sets: list | None = None
    train_step: Callable | None = None
    post_step: Callable | None = None
    difficulty: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def parameter_sets(self) -> list[list[torch.nn.Parameter]]:
        if self.param_sets is not None:
            return [list(ps) for ps in self.param_sets]
        return [[p for p in self.model.parameters() if p.requires_grad]]


@dataclass(frozen=True)
class ProblemInfo:
    """What the registry knows about a problem name."""

    name: str
    factory: Callable[..., Problem]
    family: str  # "2d", "quadratic", "online", "vision", "sequence", "gan", "noise", "curriculum"
    summary: str
    default_steps: int
    tiny_steps: int
    eval_every: int
    trajectory: bool = False  # record the parameter trajectory by default (2-D problems)


_PROBLEMS: dict[str, ProblemInfo] = {}


def register_problem(name: str, factory: Callable[..., Problem], *, family: str, summary: str,
                     default_steps: int, tiny_steps: int, eval_every: int, trajectory: bool = False) -> None:
    """Register ``factory(seed, size="default", **kwargs) -> Problem`` under ``name``."""
    if name in _PROBLEMS:
        raise ValueError(f"register_problem: name {name!r} is already registered")
    _PROBLEMS[name] = ProblemInfo(name, factory, family, summary, default_steps, tiny_steps,
                                  eval_every, trajectory)


def available_problems() -> list[str]:
    """The registered problem names, sorted."""
    _ensure_builtins()
    return sorted(_PROBLEMS)


def load_callable(path: str) -> Callable:
    """Import ``"package.module:function"`` and return the function (``ValueError`` if impossible)."""
    if not isinstance(path, str) or path.count(":") != 1:
        raise ValueError(f"load_callable: path must look like 'package.module:function', got {path!r}")
    mod_name, attr = path.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"load_callable: cannot import module {mod_name!r} ({exc})") from exc
    fn = getattr(mod, attr, None)
    if not callable(fn):
        raise ValueError(f"load_callable: {mod_name!r} has no callable {attr!r}")
    return fn


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


def check_size(owner: str, size: str) -> None:
    if size not in ("default", "tiny"):
        raise ValueError(f"{owner}: size must be one of 'default', 'tiny', got {size!r}")


_loaded = False


def _ensure_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import functions2d, quadratic, classification, sequence, gan  # noqa: F401  (they register)
