"""Hyperparameter validation with one message format.

Every check raises ``ValueError("<Owner>: <arg> must be <range>, got <value>")`` so that a
user reading the message knows which class complained, about which argument, what is
allowed and what was passed.  Nothing is ever clamped silently.

The optimizers, schedules, the LR range test, the curriculum sampler and the lab all validate
with these helpers (``owner`` is any name); the module is public so that user code (a problem
factory, a schedule of its own) can raise the same messages.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch

__all__ = [
    "check_range",
    "check_betas",
    "check_choice",
    "check_bool",
    "check_int",
    "check_lr",
    "check_adam_args",
    "check_flags",
    "describe_range",
]


def describe_range(low: float | None, high: float | None, low_closed: bool, high_closed: bool) -> str:
    """Return the human form of an interval: ``">= 0"``, ``"> 0"``, ``"in [0, 1)"``."""
    if low is not None and high is not None:
        return f"in {'[' if low_closed else '('}{low:g}, {high:g}{']' if high_closed else ')'}"
    if low is not None:
        return f"{'>=' if low_closed else '>'} {low:g}"
    if high is not None:
        return f"{'<=' if high_closed else '<'} {high:g}"
    return "a finite number"


def _as_number(owner: str, arg: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{owner}: {arg} must be a number or a 1-element Tensor, got a Tensor of shape {tuple(value.shape)}")
        return float(value.detach().cpu().item())
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{owner}: {arg} must be a real number, got {value!r}")
    return float(value)


def check_range(
    owner: str,
    arg: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_closed: bool = True,
    high_closed: bool = True,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number in the given interval.

    >>> check_range("Adam", "eps", 1e-8, 0.0)
    >>> check_range("Adam", "eps", -1.0, 0.0)
    Traceback (most recent call last):
    ValueError: Adam: eps must be >= 0, got -1.0
    """
    x = _as_number(owner, arg, value)
    ok = math.isfinite(x)
    if ok and low is not None:
        ok = x >= low if low_closed else x > low
    if ok and high is not None:
        ok = x <= high if high_closed else x < high
    if not ok:
        shown = value.item() if isinstance(value, torch.Tensor) else value
        raise ValueError(f"{owner}: {arg} must be {describe_range(low, high, low_closed, high_closed)}, got {shown!r}")


def check_lr(owner: str, lr: Any) -> None:
    """``lr`` is a float or a 1-element Tensor, >= 0."""
    check_range(owner, "lr", lr, 0.0)


def check_betas(owner: str, betas: Any, *, arg: str = "betas") -> tuple:
    """``betas`` is a pair, each in [0, 1): two numbers, or two 1-element Tensors (as torch takes them).

    Returns the pair as a tuple, Tensors squeezed to 0-d (torch's ``_to_scalar``).
    """
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: {arg} must be a pair (beta1, beta2) each in [0, 1), got {betas!r}")
    for i, b in enumerate(betas):
        check_range(owner, f"{arg}[{i}]", b, 0.0, 1.0, high_closed=False)
    tensors = [isinstance(b, torch.Tensor) for b in betas]
    if tensors[0] != tensors[1]:
        raise ValueError(f"{owner}: {arg} must be two numbers or two 1-element Tensors, got {betas!r}")
    return tuple(b.squeeze() if isinstance(b, torch.Tensor) else b for b in betas)


def check_choice(owner: str, arg: str, value: Any, choices: tuple) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}: {arg} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_bool(owner: str, arg: str, value: Any, *, allow_none: bool = False) -> None:
    """``value`` is a bool (or None where ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        allowed = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"{owner}: {arg} must be {allowed}, got {value!r}")


def check_int(owner: str, arg: str, value: Any, low: int | None = None, high: int | None = None) -> None:
    """``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}: {arg} must be an integer {describe_range(low, high, True, True)}, got {value!r}")
    check_range(owner, arg, value, low, high)


def check_adam_args(owner: str, lr: Any, betas: Any, eps: Any, weight_decay: Any) -> tuple:
    """What every Adam-family optimizer takes: lr >= 0, betas each in [0, 1), eps >= 0, weight_decay >= 0.

    Returns ``betas`` as :func:`check_betas` does.
    """
    check_lr(owner, lr)
    betas = check_betas(owner, betas)
    check_range(owner, "eps", eps, 0.0)
    check_range(owner, "weight_decay", weight_decay, 0.0)
    return betas


def check_flags(owner: str, *, foreach: Any, **flags: Any) -> None:
    """Each of ``flags`` is True or False; ``foreach`` is True, False or None."""
    for name, flag in flags.items():
        check_bool(owner, name, flag)
    check_bool(owner, "foreach", foreach, allow_none=True)
