"""The one table of optimizers that drives the property, equivalence and error tests.

Each module in this package describes one optimizer family with three lists:

* ``CASES``: :class:`Case` entries, each a configured optimizer that must pass every property
  test in ``tests/test_optim_properties.py`` (convergence, state_dict round-trip, param groups,
  ``grad=None``, dtype, foreach == per-tensor, schedulers, GradScaler, ...);
* ``TORCH_EQUIV``: :class:`TorchEquiv` entries, our class against its ``torch.optim`` namesake
  over a grid of flags (``tests/test_optim_torch.py``);
* ``ERRORS``: :class:`ErrorCase` entries, bad arguments and the message they must raise
  (``tests/test_optim_errors.py``).

Add a family by adding a module; :func:`collect` finds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Case:
    """A configured optimizer for the property tests.

    ``make(params, **overrides)`` builds it; ``quad_lr``/``quad_steps`` and ``rosen_lr``/
    ``rosen_steps`` configure the convergence tests (``rosen_steps=0`` skips Rosenbrock, with
    ``skip_reason``).  ``kind`` is "optimizer" or "wrapper".
    """

    id: str
    make: Callable[..., Any]
    quad_lr: float
    quad_steps: int = 300
    rosen_lr: float = 1e-3
    rosen_steps: int = 4000
    rosen_tol: float = 0.05
    sparse_ok: bool = False
    has_foreach: bool = True
    fused_kernel: str | None = None  # torch.<kernel> that fused=None uses on CPU
    skip: dict = field(default_factory=dict)  # property name -> reason


@dataclass(frozen=True)
class TorchEquiv:
    """``ours(params, **flags)`` must equal ``theirs(params, **flags)`` for every flag set."""

    id: str
    ours: Callable[..., Any]
    theirs: Callable[..., Any]
    flags: list  # list of dicts
    lr: float = 1e-2


@dataclass(frozen=True)
class ErrorCase:
    """``make(**kwargs)`` raises ``exc`` with a message matching ``pattern`` (a regex)."""

    id: str
    make: Callable[..., Any]
    kwargs: dict
    exc: type
    pattern: str


def grid(**axes: list) -> list[dict]:
    """The Cartesian product of flag axes as a list of dicts."""
    out: list[dict] = [{}]
    for key, values in axes.items():
        out = [{**d, key: v} for d in out for v in values]
    return out


def collect() -> tuple[list[Case], list[TorchEquiv], list[ErrorCase]]:
    cases, equiv, errors = [], [], []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        cases += getattr(mod, "CASES", [])
        equiv += getattr(mod, "TORCH_EQUIV", [])
        errors += getattr(mod, "ERRORS", [])
    return cases, equiv, errors


CASES, TORCH_EQUIV, ERRORS = collect()
