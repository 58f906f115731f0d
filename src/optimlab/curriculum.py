r"""Curriculum learning (Bengio et al., ICML'09): easy examples first, then harder ones.

:class:`CurriculumSampler` sorts the examples by a difficulty score you give (low = easy) and,
at epoch :math:`e`, samples from the :math:`n_e = \lceil N\, g(\min(e / E, 1)) \rceil` easiest
ones, where :math:`g` is a pacing function (:math:`g(0) = b` = ``start_fraction``,
:math:`g(1) = 1`) and :math:`E` = ``pace_epochs``.  The pacing functions, for progress
:math:`p \in [0, 1]`::

    linear:      b + (1 - b) p
    root:        b + (1 - b) sqrt(p)
    step:        b + (1 - b) floor(p K) / K               (K = num_stairs)
    exponential: b ** (1 - p)                              (the pool grows by a constant factor)

(Wu et al. 2021's families; exponential is the continuous form of Hacohen & Weinshall's "fixed
exponential pacing".)  Deviation: Hacohen & Weinshall pace per iteration; here the pool grows per
epoch so the sampler has a length and works with ``DataLoader`` like ``DistributedSampler``.

References: Y. Bengio, J. Louradour, R. Collobert, J. Weston, "Curriculum learning", ICML 2009;
G. Hacohen and D. Weinshall, "On the power of curriculum learning in training deep networks",
ICML 2019, arXiv:1904.03626; X. Wu, E. Dyer, B. Neyshabur, "When do curricula work?", ICLR 2021,
arXiv:2012.03107.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence, Union

import torch
from torch.utils.data import Sampler

from .checks import check_bool, check_choice, check_int, check_range

__all__ = ["CurriculumSampler", "PACINGS", "pacing_linear", "pacing_root", "pacing_step", "pacing_exponential"]


def _check_p(owner, progress, start_fraction):
    check_range(owner, "progress", progress, 0.0, 1.0)
    check_range(owner, "start_fraction", start_fraction, 0.0, 1.0, low_closed=False)


def pacing_linear(progress: float, start_fraction: float) -> float:
    """``b + (1 - b) p``.

    >>> round(pacing_linear(0.5, 0.2), 6)
    0.6
    """
    _check_p("pacing_linear", progress, start_fraction)
    return start_fraction + (1 - start_fraction) * progress


def pacing_root(progress: float, start_fraction: float) -> float:
    """``b + (1 - b) sqrt(p)``: fast growth first.

    >>> round(pacing_root(0.25, 0.2), 6)
    0.6
    """
    _check_p("pacing_root", progress, start_fraction)
    return start_fraction + (1 - start_fraction) * math.sqrt(progress)


def pacing_step(progress: float, start_fraction: float, num_stairs: int = 4) -> float:
    """``b + (1 - b) floor(p K) / K``: ``K`` equal stairs.

    >>> round(pacing_step(0.5, 0.2, num_stairs=4), 6)
    0.6
    """
    _check_p("pacing_step", progress, start_fraction)
    check_int("pacing_step", "num_stairs", num_stairs, 1)
    return start_fraction + (1 - start_fraction) * math.floor(progress * num_stairs) / num_stairs


def pacing_exponential(progress: float, start_fraction: float) -> float:
    """``b ** (1 - p)``: the pool grows by the same factor in every equal stretch of time.

    >>> pacing_exponential(0.5, 0.25)
    0.5
    """
    _check_p("pacing_exponential", progress, start_fraction)
    return start_fraction ** (1 - progress)


PACINGS = {"linear": pacing_linear, "root": pacing_root, "step": pacing_step, "exponential": pacing_exponential}


class CurriculumSampler(Sampler[int]):
    """Yield indices from the easiest examples first, growing the pool with a pacing function.

    Examples are ranked by ``difficulty`` (ascending; ties by index).  Iterating yields the
    pool of epoch ``e`` (the ``n_e`` easiest, see the module docstring), shuffled with a
    generator seeded from ``(seed, e)`` (or in easy-to-hard order with ``shuffle=False``), then
    moves to epoch ``e + 1``; ``set_epoch(e)`` jumps to an epoch (and resumes a run).
    ``len(sampler)`` is the size of the next pool.  From epoch ``pace_epochs`` on every example
    is in the pool, so each is seen once per epoch.  The same seed gives the same order.

    Args:
        difficulty (sequence of float or 1-D Tensor, finite, N >= 1): one score per example.
        pacing (str or callable, default "linear"): "linear", "root", "step", "exponential", or
            ``f(progress) -> fraction`` in (0, 1], non-decreasing, ``f(1) == 1``.
        start_fraction (float, default 0.2, in (0, 1]): pool fraction at epoch 0 (named pacings).
        pace_epochs (int, default 5, >= 1): epoch at which the pool is the whole data set.
        num_stairs (int, default 4, >= 1): stairs of the "step" pacing.
        shuffle (bool, default True): shuffle within the pool.
        seed (int, default 0): seed of the shuffles.

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> data = TensorDataset(torch.arange(10.0))
    >>> s = CurriculumSampler([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], pacing="linear", start_fraction=0.2, pace_epochs=4)
    >>> sorted(int(i) for i in s)        # epoch 0: the two easiest examples
    [8, 9]
    >>> len(s), len(DataLoader(data, batch_size=2, sampler=s))   # epoch 1: 40% of the data
    (4, 2)
    """

    def __init__(self, difficulty: Union[Sequence[float], torch.Tensor], pacing: Union[str, Callable] = "linear", *,
                 start_fraction: float = 0.2, pace_epochs: int = 5, num_stairs: int = 4, shuffle: bool = True,
                 seed: int = 0) -> None:
        owner = "CurriculumSampler"
        d = torch.as_tensor(difficulty, dtype=torch.float64)
        if d.ndim != 1 or d.numel() == 0:
            raise ValueError(f"{owner}: difficulty must be a non-empty 1-D sequence of numbers, got shape {tuple(d.shape)}")
        if not torch.isfinite(d).all():
            bad = int((~torch.isfinite(d)).nonzero()[0])
            raise ValueError(f"{owner}: difficulty must be finite, got {d[bad].item()} at index {bad}")
        if not callable(pacing):
            check_choice(owner, "pacing", pacing, tuple(PACINGS))
        check_range(owner, "start_fraction", start_fraction, 0.0, 1.0, low_closed=False)
        check_int(owner, "pace_epochs", pace_epochs, 1)
        check_int(owner, "num_stairs", num_stairs, 1)
        check_bool(owner, "shuffle", shuffle)
        check_int(owner, "seed", seed, 0)
        self.order = torch.sort(d, stable=True).indices  # easy -> hard
        self.pacing, self.start_fraction, self.pace_epochs = pacing, start_fraction, pace_epochs
        self.num_stairs, self.shuffle, self.seed = num_stairs, shuffle, seed
        self.epoch = 0

    def fraction(self, epoch: int) -> float:
        """Pool fraction g(min(epoch / pace_epochs, 1)) at ``epoch``."""
        p = min(epoch / self.pace_epochs, 1.0)
        if callable(self.pacing):
            f = self.pacing(p)
            check_range("CurriculumSampler", "pacing(progress)", f, 0.0, 1.0, low_closed=False)
            return f
        if self.pacing == "step":
            return pacing_step(p, self.start_fraction, self.num_stairs)
        return PACINGS[self.pacing](p, self.start_fraction)

    def pool_size(self, epoch: int) -> int:
        """Number of examples in the pool at ``epoch`` (at least 1, all from ``pace_epochs`` on)."""
        n = len(self.order)
        if epoch >= self.pace_epochs:
            return n
        return max(1, min(n, math.ceil(n * self.fraction(epoch) - 1e-9)))

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration yields."""
        check_int("CurriculumSampler", "epoch", epoch, 0)
        self.epoch = epoch

    def __len__(self) -> int:
        return self.pool_size(self.epoch)

    def __iter__(self) -> Iterator[int]:
        e = self.epoch
        self.epoch += 1
        pool = self.order[: self.pool_size(e)]
        if self.shuffle:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + e) % (2**63))
            pool = pool[torch.randperm(len(pool), generator=g)]
        return iter(pool.tolist())
