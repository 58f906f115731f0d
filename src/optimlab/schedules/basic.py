"""Constant, warm-up, step, exponential and cosine schedules (pure functions of the step)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Optional, Sequence

from ..checks import check_choice, check_int, check_range
from ._base import Schedule, check_nonneg, check_positive, register

__all__ = ["Constant", "LinearWarmup", "UntunedWarmup", "StepDecay", "ExponentialDecay", "CosineAnnealing"]


@register("constant")
@dataclass(frozen=True)
class Constant(Schedule):
    r"""A constant value: :math:`v(t) = \text{value}`.

    Args:
        value (float, >= 0): the learning rate (or momentum) returned at every step.

    >>> Constant(0.1)(0), Constant(0.1)(1000)
    (0.1, 0.1)
    """

    value: float

    def __post_init__(self):
        check_nonneg("Constant", "value", self.value)

    def _at(self, t: float) -> float:
        return self.value


@register("linear_warmup")
@dataclass(frozen=True)
class LinearWarmup(Schedule):
    r"""Linear warm-up from ``start_factor * base_lr`` to ``base_lr``, then constant.

    .. math:: \eta(t) = \eta_{base}\,\big(s + (1 - s)\,\min(t, W)/W\big)

    with :math:`s` = ``start_factor`` and :math:`W` = ``warmup_steps``.  Goyal et al. ramp from a
    fraction of the target rate (not only from 0).  Equals ``torch.optim.lr_scheduler.LinearLR(
    start_factor=s, end_factor=1, total_iters=W)`` (torch updates the rate recursively, so the two
    agree to rounding, ~1e-15 relative); torch requires ``s > 0``, here ``s = 0`` is allowed.

    Args:
        base_lr (float, >= 0): the rate reached at step ``warmup_steps``.
        warmup_steps (int, >= 1): length :math:`W` of the ramp.
        start_factor (float, default 0, in [0, 1]): :math:`s`, the fraction of ``base_lr`` at step 0.

    >>> s = LinearWarmup(base_lr=0.4, warmup_steps=4, start_factor=0.0)
    >>> [s(t) for t in range(6)]
    [0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.4]

    Reference: P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
    2017, arXiv:1706.02677.
    """

    base_lr: float
    warmup_steps: int
    start_factor: float = 0.0

    def __post_init__(self):
        check_nonneg("LinearWarmup", "base_lr", self.base_lr)
        check_int("LinearWarmup", "warmup_steps", self.warmup_steps, 1)
        check_range("LinearWarmup", "start_factor", self.start_factor, 0.0, 1.0)

    def _at(self, t: float) -> float:
        s = self.start_factor
        return self.base_lr * (s + (1.0 - s) * min(t, self.warmup_steps) / self.warmup_steps)


@register("untuned_warmup")
@dataclass(frozen=True)
class UntunedWarmup(Schedule):
    r"""The untuned warm-up of Ma & Yarats for Adam: no warm-up length to tune, it follows
    from :math:`\beta_2`.

    With :math:`\tau = t + 1` (our step 0 is Adam's first step, the paper's :math:`t = 1`)::

        linear:      eta(t) = eta_base * min(1, tau * (1 - beta2) / 2)      (period 2/(1-beta2))
        exponential: eta(t) = eta_base * (1 - exp(-tau * (1 - beta2)))     (time constant 1/(1-beta2))

    Not in torch.  With ``beta2 = 0.999`` the linear form reaches ``base_lr`` at step 1999.

    Args:
        base_lr (float, >= 0): the rate after warm-up.
        beta2 (float, default 0.999, in (0, 1)): Adam's :math:`\beta_2`.
        form (str, default "linear"): "linear" or "exponential".

    >>> s = UntunedWarmup(base_lr=1.0, beta2=0.5)   # period 2 / (1 - 0.5) = 4 steps
    >>> [s(t) for t in range(5)]
    [0.25, 0.5, 0.75, 1.0, 1.0]

    Reference: J. Ma and D. Yarats, "On the adequacy of untuned warmup for adaptive
    optimization", AAAI 2021, arXiv:1910.04209.
    """

    base_lr: float
    beta2: float = 0.999
    form: str = "linear"

    def __post_init__(self):
        check_nonneg("UntunedWarmup", "base_lr", self.base_lr)
        check_range("UntunedWarmup", "beta2", self.beta2, 0.0, 1.0, low_closed=False, high_closed=False)
        check_choice("UntunedWarmup", "form", self.form, ("linear", "exponential"))

    def _at(self, t: float) -> float:
        tau, rate = t + 1.0, 1.0 - self.beta2
        if self.form == "linear":
            return self.base_lr * min(1.0, tau * rate / 2.0)
        return self.base_lr * (1.0 - math.exp(-tau * rate))


@register("step")
@dataclass(frozen=True)
class StepDecay(Schedule):
    r"""Step decay: multiply by ``gamma`` every ``step_size`` steps, or at each milestone.

    .. math:: \eta(t) = \eta_{base}\,\gamma^{\lfloor t / \text{step\_size} \rfloor}
       \quad\text{or}\quad \eta_{base}\,\gamma^{\#\{m \in \text{milestones}: m \le t\}}

    Equals torch's ``StepLR`` (with ``step_size``) and ``MultiStepLR`` (with ``milestones``).
    Give exactly one of ``step_size`` and ``milestones``.

    Args:
        base_lr (float, >= 0): the initial rate.
        step_size (int, >= 1, optional): decay period.
        gamma (float, default 0.1, in (0, 1]): decay factor.
        milestones (list of int, strictly increasing, >= 1, optional): decay steps.

    >>> s = StepDecay(base_lr=1.0, step_size=2, gamma=0.5)
    >>> [s(t) for t in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    base_lr: float
    step_size: Optional[int] = None
    gamma: float = 0.1
    milestones: Optional[Sequence[int]] = None

    def __post_init__(self):
        check_nonneg("StepDecay", "base_lr", self.base_lr)
        check_range("StepDecay", "gamma", self.gamma, 0.0, 1.0, low_closed=False)
        if (self.step_size is None) == (self.milestones is None):
            raise ValueError(
                f"StepDecay: exactly one of step_size and milestones must be given, got "
                f"step_size={self.step_size!r} and milestones={self.milestones!r}"
            )
        if self.step_size is not None:
            check_int("StepDecay", "step_size", self.step_size, 1)
        else:
            ms = list(self.milestones)
            for i, m in enumerate(ms):
                check_int("StepDecay", f"milestones[{i}]", m, 1)
            if any(b <= a for a, b in zip(ms, ms[1:])):
                raise ValueError(f"StepDecay: milestones must be strictly increasing, got {ms!r}")
            object.__setattr__(self, "milestones", tuple(ms))

    def _at(self, t: float) -> float:
        if self.step_size is not None:
            k = math.floor(t / self.step_size)
        else:
            k = bisect.bisect_right(self.milestones, t)
        return self.base_lr * self.gamma**k


@register("exponential")
@dataclass(frozen=True)
class ExponentialDecay(Schedule):
    r"""Exponential decay :math:`\eta(t) = \eta_{base}\,\gamma^t` (torch's ``ExponentialLR``).

    Args:
        base_lr (float, >= 0): the initial rate.
        gamma (float, in (0, 1]): decay per step.

    >>> ExponentialDecay(base_lr=1.0, gamma=0.5)(3)
    0.125
    """

    base_lr: float
    gamma: float

    def __post_init__(self):
        check_nonneg("ExponentialDecay", "base_lr", self.base_lr)
        check_range("ExponentialDecay", "gamma", self.gamma, 0.0, 1.0, low_closed=False)

    def _at(self, t: float) -> float:
        return self.base_lr * self.gamma**t


@register("cosine")
@dataclass(frozen=True)
class CosineAnnealing(Schedule):
    r"""Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` steps, then ``eta_min``.

    .. math:: \eta(t) = \eta_{min} + \tfrac12(\eta_{base} - \eta_{min})
              \big(1 + \cos(\pi \min(t, T_{max}) / T_{max})\big)

    Deviation from torch: ``CosineAnnealingLR`` keeps following the cosine after ``T_max`` (the
    rate climbs back to ``base_lr`` at ``2 T_max``); here it stays at ``eta_min``.  For
    ``t <= T_max`` the values are torch's (torch updates recursively; equal to rounding).
    For restarts use :class:`SGDR`.

    Args:
        base_lr (float, >= 0): the rate at step 0.
        T_max (int or float, > 0): length of the annealing.
        eta_min (float, default 0, >= 0): the final rate.

    >>> s = CosineAnnealing(base_lr=1.0, T_max=4)
    >>> [round(s(t), 4) for t in range(6)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]

    Reference: I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm
    Restarts", ICLR 2017, arXiv:1608.03983.
    """

    base_lr: float
    T_max: float
    eta_min: float = 0.0

    def __post_init__(self):
        check_nonneg("CosineAnnealing", "base_lr", self.base_lr)
        check_positive("CosineAnnealing", "T_max", self.T_max)
        check_nonneg("CosineAnnealing", "eta_min", self.eta_min)

    def _at(self, t: float) -> float:
        x = min(t, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * x)) / 2
