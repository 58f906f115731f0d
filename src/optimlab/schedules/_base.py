"""Base class, validation and the name registry shared by every schedule.

A schedule is a small frozen dataclass; calling it with a step (an int or float >= 0) returns an
absolute value (a learning rate or a momentum).  It keeps no state, so it can be previewed,
plotted, composed and resumed from any step.  ``to_dict()`` gives ``{"name": ..., "kwargs": ...}``
(JSON-able; nested schedules are nested dicts) and ``from_dict`` / ``make_schedule`` rebuild it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from ..checks import check_choice, check_range

__all__ = ["Schedule", "register", "available_schedules", "make_schedule", "from_dict", "check_step"]

_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator: record the schedule under ``name`` for ``make_schedule``."""

    def deco(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def check_step(owner: str, step: Any) -> float:
    """Validate a step (int or float >= 0, finite) and return it as a float."""
    check_range(owner, "step", step, 0.0)
    return float(step)


def check_positive(owner: str, arg: str, value: Any) -> None:
    check_range(owner, arg, value, 0.0, low_closed=False)


def check_nonneg(owner: str, arg: str, value: Any) -> None:
    check_range(owner, arg, value, 0.0)


def _encode(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"name", "kwargs"}:
        return from_dict(value)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Schedule:
    """Base of every schedule: ``schedule(step) -> float`` plus ``to_dict()``.

    Subclasses are frozen dataclasses that implement ``_at(t)`` for a validated float
    ``t >= 0``; ``__call__`` validates the step first.
    """

    name: ClassVar[str] = "schedule"

    def __call__(self, step: float) -> float:
        return float(self._at(check_step(type(self).__name__, step)))

    def _at(self, t: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict:
        """``{"name": registry name, "kwargs": {...}}``, JSON-able (nested schedules nested)."""
        kwargs = {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"name": self.name, "kwargs": kwargs}


def available_schedules() -> list[str]:
    """The names ``make_schedule`` accepts, sorted.

    >>> from optimlab.schedules import available_schedules
    >>> {"cosine", "onecycle", "sgdr", "warmup"} <= set(available_schedules())
    True
    """
    return sorted(_REGISTRY)


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """Build a schedule by registry name; nested ``{"name", "kwargs"}`` dicts are built too.

    >>> make_schedule("cosine", base_lr=0.1, T_max=10)(0)
    0.1
    """
    if name not in _REGISTRY:
        raise ValueError(f"make_schedule: name must be one of {', '.join(map(repr, available_schedules()))}, got {name!r}")
    return _REGISTRY[name](**{k: _decode(v) for k, v in kwargs.items()})


def from_dict(d: dict) -> Schedule:
    """Inverse of ``Schedule.to_dict()``."""
    if not isinstance(d, dict) or set(d) != {"name", "kwargs"}:
        raise ValueError(f"from_dict: d must be a dict with keys 'name' and 'kwargs', got {d!r}")
    return make_schedule(d["name"], **d["kwargs"])


def anneal(kind: str, start: float, end: float, pct: float) -> float:
    """Cosine or linear interpolation from ``start`` (pct=0) to ``end`` (pct=1), as torch writes it."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def check_schedule(owner: str, arg: str, value: Any) -> None:
    if not isinstance(value, Schedule):
        raise ValueError(f"{owner}: {arg} must be a schedule (an optimlab.schedules object), got {value!r}")


__all__ += ["anneal", "check_schedule", "check_positive", "check_nonneg", "check_choice"]
