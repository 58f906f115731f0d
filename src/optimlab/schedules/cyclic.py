"""Periodic schedules: SGDR (cosine with warm restarts), cyclical LR and one-cycle, with the
inverse momentum cycles."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

from ..checks import check_bool, check_choice, check_int, check_range
from ._base import Schedule, anneal, check_nonneg, check_positive, register

__all__ = ["SGDR", "Cyclic", "CyclicMomentum", "OneCycle", "OneCycleMomentum"]


@register("sgdr")
@dataclass(frozen=True)
class SGDR(Schedule):
    r"""Cosine annealing with warm restarts (SGDR).

    Cycle :math:`i = 0, 1, \dots` has length :math:`T_i = T_0 T_{mult}^i` and starts at
    :math:`S_i = \sum_{j<i} T_j` (:math:`= T_0 (T_{mult}^i - 1)/(T_{mult} - 1)`).  With
    :math:`T_{cur} = t - S_i` for :math:`S_i \le t < S_{i+1}`:

    .. math:: \eta(t) = \eta_{min} + \tfrac12 (\eta_{base} - \eta_{min})\, d^{\,i}
              \big(1 + \cos(\pi T_{cur} / T_i)\big)

    with :math:`d` = ``peak_decay`` (1 = the paper; < 1 lowers each restart's peak towards
    ``eta_min``).  Equals ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` for integer
    ``T_0``/``T_mult`` and ``peak_decay=1``; here ``T_0`` and ``T_mult`` may be real numbers and
    ``t`` may be fractional (e.g. an epoch fraction, as in the paper).

    Args:
        base_lr (float, >= 0): the peak of the first cycle.
        T_0 (float, > 0): length of the first cycle.
        T_mult (float, default 1, >= 1): growth of the cycle length after each restart.
        eta_min (float, default 0, >= 0, <= base_lr): the rate at the end of each cycle.
        peak_decay (float, default 1, in (0, 1]): factor applied to the peak at each restart.

    >>> s = SGDR(base_lr=1.0, T_0=2, T_mult=2.0)
    >>> [round(s(t), 3) for t in range(7)]
    [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]

    Reference: I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm
    Restarts", ICLR 2017, arXiv:1608.03983.
    """

    base_lr: float
    T_0: float
    T_mult: float = 1.0
    eta_min: float = 0.0
    peak_decay: float = 1.0

    def __post_init__(self):
        check_nonneg("SGDR", "base_lr", self.base_lr)
        check_positive("SGDR", "T_0", self.T_0)
        check_range("SGDR", "T_mult", self.T_mult, 1.0)
        check_range("SGDR", "eta_min", self.eta_min, 0.0, self.base_lr)
        check_range("SGDR", "peak_decay", self.peak_decay, 0.0, 1.0, low_closed=False)

    def _start(self, i: int) -> float:
        if self.T_mult == 1:
            return self.T_0 * i
        return self.T_0 * (self.T_mult**i - 1) / (self.T_mult - 1)

    def cycle(self, t: float) -> tuple[int, float, float]:
        """``(i, T_cur, T_i)`` at step ``t``: cycle index, position in the cycle, cycle length."""
        if self.T_mult == 1:
            i = math.floor(t / self.T_0)
        else:
            i = math.floor(math.log(t * (self.T_mult - 1) / self.T_0 + 1, self.T_mult))
        while self._start(i + 1) <= t:  # repair rounding of the logarithm at boundaries
            i += 1
        while i > 0 and self._start(i) > t:
            i -= 1
        return i, t - self._start(i), self.T_0 * self.T_mult**i

    def _at(self, t: float) -> float:
        i, t_cur, t_i = self.cycle(t)
        amp = (self.base_lr - self.eta_min) * self.peak_decay**i
        return self.eta_min + amp * (1 + math.cos(math.pi * t_cur / t_i)) / 2


def _cyclic_height(owner, t, step_size_up, step_size_down, mode, gamma):
    """Torch's CyclicLR arithmetic: the fraction of (max - base) at step t, scale included."""
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total = up + down
    ratio = up / total
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    scale_factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    if mode == "triangular":
        scale = 1.0
    elif mode == "triangular2":
        scale = 1 / (2.0 ** (cycle - 1))
    else:
        g = gamma if gamma is not None else 0.5 ** (1.0 / total)
        scale = g**t
    return scale_factor, scale


def _check_cyclic(owner, step_size_up, step_size_down, mode, gamma):
    check_positive(owner, "step_size_up", step_size_up)
    if step_size_down is not None:
        check_positive(owner, "step_size_down", step_size_down)
    check_choice(owner, "mode", mode, ("triangular", "triangular2", "exp_range"))
    if gamma is not None:
        if mode != "exp_range":
            raise ValueError(
                f"{owner}: gamma must be None unless mode='exp_range' (it would be ignored), "
                f"got gamma={gamma!r} with mode={mode!r}"
            )
        check_range(owner, "gamma", gamma, 0.0, 1.0, low_closed=False)
        if gamma == 1.0:
            warnings.warn(
                f"{owner}: mode='exp_range' with gamma=1.0 is exactly mode='triangular' (torch's "
                "default gamma); pass gamma < 1, or gamma=None for an amplitude that halves per cycle",
                UserWarning,
                stacklevel=4,
            )


_CYCLIC_DOC = r"""
    Torch's ``CyclicLR`` arithmetic, as a pure function of the step :math:`t`::

        total = up + down;  r = up / total;  c = floor(1 + t / total);  x = 1 + t / total - c
        f = x / r if x <= r else (x - 1) / (r - 1)          # 0 -> 1 -> 0 over a cycle
        scale = 1 (triangular),  1 / 2**(c - 1) (triangular2),  gamma**t (exp_range)
"""


@register("cyclic")
@dataclass(frozen=True)
class Cyclic(Schedule):
    __doc__ = r"""Cyclical learning rate (Smith): triangular, triangular2 and exp_range.
""" + _CYCLIC_DOC + r"""
        lr(t) = base_lr + (max_lr - base_lr) * f * scale

    Values equal ``torch.optim.lr_scheduler.CyclicLR`` at every step when ``gamma`` is given.
    Deviation (a fix): torch's default ``gamma=1.0`` makes ``exp_range`` identical to
    ``triangular``.  Here ``gamma=None`` (the default) with ``exp_range`` means
    ``gamma = 0.5 ** (1 / (up + down))``: the amplitude halves every cycle, smoothly (the decay
    rate of triangular2); an explicit ``gamma=1.0`` gives torch's values with a ``UserWarning``.
    ``gamma`` with another mode raises (torch ignores it).  Torch's custom ``scale_fn`` is not
    offered (it would not be JSON-able).  The bounds are the ones the LR range test suggests
    (:func:`optimlab.suggest_clr_bounds`).

    Args:
        base_lr (float, >= 0): lower bound.
        max_lr (float, >= base_lr): upper bound (reached only by the first cycle unless triangular).
        step_size_up (float, default 2000, > 0): steps from base_lr to max_lr.
        step_size_down (float or None, default None = step_size_up, > 0): steps back down.
        mode (str, default "triangular"): "triangular", "triangular2" or "exp_range".
        gamma (float or None, default None, in (0, 1]): exp_range decay per step.

    >>> s = Cyclic(base_lr=0.1, max_lr=0.5, step_size_up=2)
    >>> [round(s(t), 3) for t in range(6)]
    [0.1, 0.3, 0.5, 0.3, 0.1, 0.3]

    Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    arXiv:1506.01186.
    """

    base_lr: float
    max_lr: float
    step_size_up: float = 2000
    step_size_down: Optional[float] = None
    mode: str = "triangular"
    gamma: Optional[float] = None

    def __post_init__(self):
        check_nonneg("Cyclic", "base_lr", self.base_lr)
        check_range("Cyclic", "max_lr", self.max_lr, self.base_lr)
        _check_cyclic("Cyclic", self.step_size_up, self.step_size_down, self.mode, self.gamma)

    def _at(self, t: float) -> float:
        f, scale = _cyclic_height("Cyclic", t, self.step_size_up, self.step_size_down, self.mode, self.gamma)
        return self.base_lr + (self.max_lr - self.base_lr) * f * scale

    def momentum_schedule(self, base_momentum: float = 0.8, max_momentum: float = 0.9) -> "CyclicMomentum":
        """The inverse momentum cycle on the same clock (torch's ``cycle_momentum`` defaults)."""
        return CyclicMomentum(base_momentum, max_momentum, self.step_size_up, self.step_size_down, self.mode, self.gamma)


@register("cyclic_momentum")
@dataclass(frozen=True)
class CyclicMomentum(Schedule):
    __doc__ = r"""The momentum cycle that mirrors :class:`Cyclic` (high momentum at low rate).
""" + _CYCLIC_DOC + r"""
        momentum(t) = max_momentum - (max_momentum - base_momentum) * f * scale

    Equals torch's ``CyclicLR(cycle_momentum=True)`` momentum (``momentum``, or ``betas[0]``).

    Args:
        base_momentum (float, default 0.8, in [0, 1)): momentum at the peak rate.
        max_momentum (float, default 0.9, in [base_momentum, 1)): momentum at the lowest rate.
        step_size_up, step_size_down, mode, gamma: as in :class:`Cyclic`.

    >>> m = CyclicMomentum(0.8, 0.9, step_size_up=2)
    >>> [round(m(t), 3) for t in range(5)]
    [0.9, 0.85, 0.8, 0.85, 0.9]
    """

    base_momentum: float = 0.8
    max_momentum: float = 0.9
    step_size_up: float = 2000
    step_size_down: Optional[float] = None
    mode: str = "triangular"
    gamma: Optional[float] = None

    def __post_init__(self):
        check_range("CyclicMomentum", "base_momentum", self.base_momentum, 0.0, 1.0, high_closed=False)
        check_range("CyclicMomentum", "max_momentum", self.max_momentum, self.base_momentum, 1.0, high_closed=False)
        _check_cyclic("CyclicMomentum", self.step_size_up, self.step_size_down, self.mode, self.gamma)

    def _at(self, t: float) -> float:
        f, scale = _cyclic_height("CyclicMomentum", t, self.step_size_up, self.step_size_down, self.mode, self.gamma)
        return self.max_momentum - (self.max_momentum - self.base_momentum) * f * scale


def _onecycle_ends(owner, total_steps, pct_start, three_phase):
    check_int(owner, "total_steps", total_steps, 2)
    check_range(owner, "pct_start", pct_start, 0.0, 1.0, low_closed=False, high_closed=False)
    check_bool(owner, "three_phase", three_phase)
    if three_phase:
        ends = [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1]
    else:
        ends = [float(pct_start * total_steps) - 1, total_steps - 1]
    starts = [0.0] + ends[:-1]
    if any(e <= s for s, e in zip(starts, ends)):
        need = "in (1/total_steps, (total_steps + 1)/(2 total_steps))" if three_phase else "in (1/total_steps, 1)"
        raise ValueError(
            f"{owner}: pct_start must be {need} so that every phase has at least one step, got "
            f"pct_start={pct_start!r} with total_steps={total_steps!r}"
        )
    return ends


def _onecycle_at(t, total_steps, ends, points, strategy):
    t = min(t, total_steps - 1)  # hold the final value (torch raises / extrapolates past the end)
    start = 0.0
    for i, end in enumerate(ends):
        if t <= end or i == len(ends) - 1:
            a, b = points[i], points[i + 1]
            return anneal(strategy, a, b, (t - start) / (end - start))
        start = end
    raise AssertionError("unreachable")


_ONECYCLE_DOC = r"""
    Phases end at steps (torch's arithmetic, :math:`T` = ``total_steps``, :math:`p` = ``pct_start``)::

        two-phase:   pT - 1,  T - 1
        three-phase: pT - 1,  2pT - 2,  T - 1

    and within a phase from ``s`` to ``e`` the value goes from ``a`` to ``b`` with
    ``pct = (t - s) / (e - s)``: ``cos``: ``b + (a - b)/2 (1 + cos(pi pct))``; ``linear``:
    ``a + (b - a) pct``.  Deviation (a fix): after step ``T - 1`` the final value is held; torch
    raises past ``T`` and at step ``T`` extrapolates (with ``linear`` the rate becomes negative).
"""


@register("onecycle")
@dataclass(frozen=True)
class OneCycle(Schedule):
    __doc__ = r"""One-cycle learning rate: warm-up to ``max_lr``, anneal, then annihilation.
""" + _ONECYCLE_DOC + r"""
    Learning rates: ``initial = max_lr / div_factor``, ``min = initial / final_div_factor``;
    two-phase: initial -> max -> min (the torch / fastai default, with ``cos``); three-phase:
    initial -> max -> initial -> min (Smith's original, with ``linear``; the last phase is the
    "annihilation" far below the initial rate).  Values equal ``torch.optim.lr_scheduler.OneCycleLR``
    for every step ``t <= T - 1``.  Use :meth:`momentum_schedule` for the inverse momentum cycle.

    Args:
        max_lr (float, >= 0): the peak rate.
        total_steps (int, >= 2): length of the cycle in optimiser steps.
        pct_start (float, default 0.3, in (0, 1)): fraction of the steps spent increasing.
        anneal_strategy (str, default "cos"): "cos" or "linear".
        div_factor (float, default 25, > 0): ``initial = max_lr / div_factor``.
        final_div_factor (float, default 1e4, > 0): ``min = initial / final_div_factor``.
        three_phase (bool, default False): Smith's three-phase shape.

    >>> s = OneCycle(max_lr=1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear", div_factor=10.0)
    >>> round(s(0), 3), round(s(4), 3), round(s(9), 7)
    (0.1, 1.0, 1e-05)

    References: L. N. Smith and N. Topin, "Super-Convergence: Very Fast Training of Neural
    Networks Using Large Learning Rates", 2017, arXiv:1708.07120; L. N. Smith, "A disciplined
    approach to neural network hyper-parameters: Part 1", 2018, arXiv:1803.09820.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self):
        check_nonneg("OneCycle", "max_lr", self.max_lr)
        _onecycle_ends("OneCycle", self.total_steps, self.pct_start, self.three_phase)
        check_choice("OneCycle", "anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        check_positive("OneCycle", "div_factor", self.div_factor)
        check_positive("OneCycle", "final_div_factor", self.final_div_factor)

    def _at(self, t: float) -> float:
        ends = _onecycle_ends("OneCycle", self.total_steps, self.pct_start, self.three_phase)
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        points = [initial, self.max_lr, initial, low] if self.three_phase else [initial, self.max_lr, low]
        return _onecycle_at(t, self.total_steps, ends, points, self.anneal_strategy)

    def momentum_schedule(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> "OneCycleMomentum":
        """The inverse momentum cycle on the same phases (torch's defaults 0.85 / 0.95)."""
        return OneCycleMomentum(self.total_steps, self.pct_start, self.anneal_strategy, self.three_phase,
                                base_momentum, max_momentum)


@register("onecycle_momentum")
@dataclass(frozen=True)
class OneCycleMomentum(Schedule):
    __doc__ = r"""The momentum of one-cycle: high while the rate is low, low at the peak rate.
""" + _ONECYCLE_DOC + r"""
    Momentum: two-phase max -> base -> max; three-phase max -> base -> max -> max.  Equals torch's
    ``OneCycleLR(cycle_momentum=True)`` momentum (``momentum`` or ``betas[0]``).

    Args:
        total_steps, pct_start, anneal_strategy, three_phase: as in :class:`OneCycle`.
        base_momentum (float, default 0.85, in [0, 1)): momentum at the peak rate.
        max_momentum (float, default 0.95, in [base_momentum, 1)): momentum at the ends.

    >>> m = OneCycleMomentum(total_steps=10, pct_start=0.5, anneal_strategy="linear")
    >>> round(m(0), 3), round(m(4), 3), round(m(9), 3)
    (0.95, 0.85, 0.95)
    """

    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    three_phase: bool = False
    base_momentum: float = 0.85
    max_momentum: float = 0.95

    def __post_init__(self):
        _onecycle_ends("OneCycleMomentum", self.total_steps, self.pct_start, self.three_phase)
        check_choice("OneCycleMomentum", "anneal_strategy", self.anneal_strategy, ("cos", "linear"))
        check_range("OneCycleMomentum", "base_momentum", self.base_momentum, 0.0, 1.0, high_closed=False)
        check_range("OneCycleMomentum", "max_momentum", self.max_momentum, self.base_momentum, 1.0, high_closed=False)

    def _at(self, t: float) -> float:
        ends = _onecycle_ends("OneCycleMomentum", self.total_steps, self.pct_start, self.three_phase)
        hi, lo = self.max_momentum, self.base_momentum
        points = [hi, lo, hi, hi] if self.three_phase else [hi, lo, hi]
        return _onecycle_at(t, self.total_steps, ends, points, self.anneal_strategy)
