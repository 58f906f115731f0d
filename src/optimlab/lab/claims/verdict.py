"""Verdicts from measurements: a paired bootstrap over seeds and one written-down decision rule.

Every claim is reduced to one (or a few) *oriented* effects: numbers whose sign is positive when the
lecture is right (e.g. ``steps(SGDM) - steps(Adam)`` for "Adam is faster").  The uncertainty of an
effect comes from a nonparametric bootstrap over seeds: the seed indices are resampled with
replacement (the same indices for every arm, so paired designs stay paired), the statistic is
recomputed, and the percentile interval at ``level`` is read off.  The resampling generator has a
fixed seed, so the same measurements always give the same interval.

The rule (:data:`RULE`, also printed in the report)::

    reproduced      the interval lies entirely above 0 (the effect is in the claimed direction)
    not reproduced  the interval lies entirely below 0 (the opposite effect), or it lies inside the
                    stated equivalence margin [-margin, +margin] (no effect of practical size)
    inconclusive    otherwise (including fewer than 2 seeds or no finite measurement)

A claim made of several parts (e.g. "better test metric AND smaller gap") combines them with
:func:`combine`: reproduced if every part is reproduced, not reproduced if any part is not
reproduced, inconclusive otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["Verdict", "Effect", "bootstrap", "paired_effect", "decide", "combine", "RULE", "REPRODUCED",
           "NOT_REPRODUCED", "INCONCLUSIVE", "ERROR", "VERDICTS", "BOOT_SEED", "N_BOOT", "LEVEL"]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, ERROR = "reproduced", "not reproduced", "inconclusive", "error"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
BOOT_SEED, N_BOOT, LEVEL = 20240601, 2000, 0.95

RULE = ("Each effect is oriented so that a positive value supports the lecture. Its {level:.0%} interval is a "
        "percentile bootstrap over seeds ({n_boot} resamples of the seed indices, the same indices for every arm, "
        "generator seed {seed}). Reproduced: the interval lies above 0. Not reproduced: it lies below 0, or "
        "inside the stated equivalence margin [-m, +m] (no effect of practical size). Otherwise inconclusive "
        "(also with fewer than 2 seeds). A claim with several parts is reproduced only if every part is, "
        "not reproduced if any part is not, otherwise inconclusive.").format(level=LEVEL, n_boot=N_BOOT,
                                                                            seed=BOOT_SEED)


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


@dataclass
class Effect:
    """One oriented effect with its bootstrap interval and its decision."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    level: float = LEVEL
    units: str = ""
    margin: float = 0.0
    n_seeds: int = 0
    verdict: str = INCONCLUSIVE
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def decide(value: float | None, low: float | None, high: float | None, margin: float = 0.0,
           n_seeds: int = 2) -> str:
    """The rule of :data:`RULE` for one oriented effect and its interval ``[low, high]``."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"decide: margin must be a finite number >= 0, got {margin!r}")
    if n_seeds < 2 or not (_finite(value) and _finite(low) and _finite(high)):
        return INCONCLUSIVE
    if low > 0:
        return REPRODUCED
    if high < 0:
        return NOT_REPRODUCED
    if margin > 0 and -margin <= low and high <= margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def bootstrap(stat: Callable[[np.ndarray], float], n: int, *, n_boot: int = N_BOOT, level: float = LEVEL,
              seed: int = BOOT_SEED) -> tuple[float | None, float | None, float | None]:
    """``(stat(all seeds), low, high)``: percentile interval of ``stat(idx)`` over resampled seed indices.

    ``stat`` receives an integer index array (length ``n``, drawn with replacement) and returns a
    number; resamples whose statistic is not finite are dropped (if more than half are, the
    interval is ``None``).
    """
    if not (isinstance(n, int) and n >= 0):
        raise ValueError(f"bootstrap: n must be an int >= 0, got {n!r}")
    if not 0 < level < 1:
        raise ValueError(f"bootstrap: level must be in (0, 1), got {level!r}")
    if n == 0:
        return None, None, None
    est = stat(np.arange(n))
    est = float(est) if _finite(est) else None
    if n < 2:
        return est, None, None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    vals = np.array([stat(i) for i in idx], dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) < n_boot / 2:
        return est, None, None
    a = (1 - level) / 2
    return est, float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def paired_effect(name: str, claimed: Sequence[float], other: Sequence[float], *, sign: float = 1.0,
                  units: str = "", margin: float = 0.0, stat: str = "mean", note: str = "") -> Effect:
    """Effect ``sign * (stat(claimed) - stat(other))`` paired by seed (position), with its verdict.

    ``claimed``/``other`` are per-seed measurements of the two arms (same seeds, same order);
    ``sign=+1`` when the lecture says ``claimed`` should be *larger*, ``-1`` when smaller.
    Pairs with a missing value in either arm are dropped.  ``stat``: ``"mean"`` of the paired
    differences, or ``"std"`` (difference of the spreads, resampling the seeds jointly).
    """
    if len(claimed) != len(other):
        raise ValueError(f"paired_effect: both arms need one value per seed, got {len(claimed)} and {len(other)}")
    if stat not in ("mean", "std"):
        raise ValueError(f"paired_effect: stat must be one of 'mean', 'std', got {stat!r}")
    pairs = [(float(a), float(b)) for a, b in zip(claimed, other) if _finite(a) and _finite(b)]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])

    def fn(i):
        if stat == "mean":
            return sign * float(np.mean(a[i] - b[i]))
        return sign * (float(np.std(a[i], ddof=1)) - float(np.std(b[i], ddof=1))) if len(i) > 1 else math.nan

    value, low, high = bootstrap(fn, len(pairs))
    return Effect(name, value, low, high, LEVEL, units, margin, len(pairs),
                  decide(value, low, high, margin, len(pairs)), note)


def combine(verdicts: Sequence[str]) -> str:
    """All parts reproduced -> reproduced; any not reproduced -> not reproduced; else inconclusive."""
    verdicts = list(verdicts)
    if not verdicts:
        return INCONCLUSIVE
    if any(v == NOT_REPRODUCED for v in verdicts):
        return NOT_REPRODUCED
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


@dataclass
class Verdict:
    """The outcome of one claim: what was measured, the decision, and the evidence.

    ``effect``/``interval`` are the headline effect (the first part whose verdict is the claim's);
    ``effects`` lists every part.
    ``verdict`` is one of reproduced / not reproduced / inconclusive, or ``"error"`` when the
    claim's experiment or analysis crashed (``error`` holds the traceback).
    """

    claim_id: int
    title: str
    words: str
    verdict: str
    effect: dict = field(default_factory=dict)  # {name, value, units}
    interval: dict = field(default_factory=dict)  # {low, high, level}
    n_seeds: int = 0
    settings: dict = field(default_factory=dict)
    rule: str = RULE
    details: dict = field(default_factory=dict)
    effects: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_effects(cls, claim, effects: Sequence[Effect], *, settings: dict, details: dict,
                     rule: str = RULE, verdict: str | None = None, headline_first: bool = False) -> "Verdict":
        effects = list(effects)
        verdict = verdict if verdict is not None else combine([e.verdict for e in effects])
        # the headline is the first part whose own verdict is the claim's (the part that decided it)
        head = next((e for e in effects if e.verdict == verdict and not headline_first),
                    effects[0] if effects else Effect("none", None, None, None))
        return cls(claim.id, claim.title, claim.words, verdict,
                   {"name": head.name, "value": head.value, "units": head.units},
                   {"low": head.low, "high": head.high, "level": head.level},
                   min((e.n_seeds for e in effects), default=0), settings, rule, details,
                   [e.to_dict() for e in effects])

    def to_dict(self) -> dict:
        return asdict(self)
