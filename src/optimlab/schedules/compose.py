"""Composition: a linear warm-up followed by any schedule; a sequence joined at boundaries."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence as Seq

from ..checks import check_int, check_range
from ._base import Schedule, check_schedule, register

__all__ = ["Warmup", "Sequence"]


@register("warmup")
@dataclass(frozen=True)
class Warmup(Schedule):
    r"""Linear warm-up for ``warmup_steps`` steps, then ``schedule`` started from its own step 0.

    .. math:: v(t) = \begin{cases} v_0\,\big(s + (1-s)\,t/W\big) & t < W \\
                                   \text{schedule}(t - W) & t \ge W \end{cases}
              \qquad v_0 = \text{schedule}(0)

    so the ramp ends exactly where the schedule begins and the schedule keeps its full length
    (warm-up + cosine over ``T_max`` steps lasts ``W + T_max`` steps).  This is torch's
    ``SequentialLR([LinearLR(start_factor=s, total_iters=W), other], milestones=[W])``.

    Args:
        schedule (Schedule): what follows the warm-up.
        warmup_steps (int, >= 1): :math:`W`.
        start_factor (float, default 0, in [0, 1]): :math:`s`, fraction of ``schedule(0)`` at step 0.

    >>> from optimlab.schedules import CosineAnnealing
    >>> s = Warmup(CosineAnnealing(base_lr=1.0, T_max=4), warmup_steps=2)
    >>> [round(s(t), 4) for t in range(7)]
    [0.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 0.0]

    Reference: P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
    2017, arXiv:1706.02677.
    """

    schedule: Schedule
    warmup_steps: int
    start_factor: float = 0.0

    def __post_init__(self):
        check_schedule("Warmup", "schedule", self.schedule)
        check_int("Warmup", "warmup_steps", self.warmup_steps, 1)
        check_range("Warmup", "start_factor", self.start_factor, 0.0, 1.0)

    def _at(self, t: float) -> float:
        w = self.warmup_steps
        if t >= w:
            return self.schedule._at(t - w)
        s = self.start_factor
        return self.schedule._at(0.0) * (s + (1.0 - s) * t / w)


@register("sequence")
@dataclass(frozen=True)
class Sequence(Schedule):
    r"""Schedules joined at boundaries; each restarts from its own step 0.

    With boundaries :math:`b_1 < \dots < b_{n-1}` (and :math:`b_0 = 0`),
    :math:`v(t) = \text{schedules}[i](t - b_i)` for :math:`b_i \le t < b_{i+1}` (optax's
    ``join_schedules``, torch's ``SequentialLR`` with ``milestones``).

    Args:
        schedules (list of Schedule, at least 1): the pieces.
        boundaries (list of float, len(schedules) - 1, strictly increasing, > 0): join steps.

    >>> from optimlab.schedules import Constant, ExponentialDecay
    >>> s = Sequence([Constant(1.0), ExponentialDecay(0.5, gamma=0.5)], boundaries=[2])
    >>> [s(t) for t in range(5)]
    [1.0, 1.0, 0.5, 0.25, 0.125]
    """

    schedules: Seq[Schedule]
    boundaries: Seq[float]

    def __post_init__(self):
        scheds, bounds = list(self.schedules), list(self.boundaries)
        if not scheds:
            raise ValueError("Sequence: schedules must be a non-empty list of schedules, got []")
        for i, s in enumerate(scheds):
            check_schedule("Sequence", f"schedules[{i}]", s)
        if len(bounds) != len(scheds) - 1:
            raise ValueError(
                f"Sequence: boundaries must have len(schedules) - 1 = {len(scheds) - 1} entries, got {bounds!r}"
            )
        for i, b in enumerate(bounds):
            check_range("Sequence", f"boundaries[{i}]", b, 0.0, low_closed=False)
        if any(b <= a for a, b in zip(bounds, bounds[1:])):
            raise ValueError(f"Sequence: boundaries must be strictly increasing, got {bounds!r}")
        object.__setattr__(self, "schedules", tuple(scheds))
        object.__setattr__(self, "boundaries", tuple(bounds))

    def _at(self, t: float) -> float:
        i = bisect.bisect_right(self.boundaries, t)
        offset = self.boundaries[i - 1] if i > 0 else 0.0
        return self.schedules[i]._at(t - offset)
