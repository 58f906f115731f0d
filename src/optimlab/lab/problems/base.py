"""The problem registry's data: :class:`Problem`, :class:`ProblemInfo`, :func:`register_problem`.

Built-in problem modules import these from here (not from the package), so that the package's
lazy import of its built-ins is no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["Problem", "ProblemInfo", "register_problem", "registered", "check_size", "check_gpus"]


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
    gpus: float = 0.0  # GPUs a run asks an executor for (Ray's num_gpus); 0: a CPU problem


_PROBLEMS: dict[str, ProblemInfo] = {}


def register_problem(name: str, factory: Callable[..., Problem], *, family: str, summary: str,
                     default_steps: int, tiny_steps: int, eval_every: int, trajectory: bool = False,
                     gpus: float = 0.0) -> None:
    """Register ``factory(seed, size="default", **kwargs) -> Problem`` under ``name`` (``gpus``: the
    GPUs each run asks a cluster for, e.g. 1 or 0.5; 0 for a CPU problem)."""
    if name in _PROBLEMS:
        raise ValueError(f"register_problem: name {name!r} is already registered")
    _PROBLEMS[name] = ProblemInfo(name, factory, family, summary, default_steps, tiny_steps,
                                  eval_every, trajectory, check_gpus(f"register_problem({name!r})", gpus))


def check_gpus(owner: str, gpus) -> float:
    """``gpus`` as a float: a number >= 0 (``ValueError`` naming ``owner`` otherwise)."""
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not gpus >= 0 or gpus == float("inf"):
        raise ValueError(f"{owner}: gpus must be a number >= 0, got {gpus!r}")
    return float(gpus)


def registered() -> dict[str, ProblemInfo]:
    """The registry itself (name -> :class:`ProblemInfo`)."""
    return _PROBLEMS


def check_size(owner: str, size: str) -> None:
    if size not in ("default", "tiny"):
        raise ValueError(f"{owner}: size must be one of 'default', 'tiny', got {size!r}")
