"""The claims' statistics: coverage under simulated null effects at the seed counts the modes use, Holm's
procedure against a direct implementation, and the Pitman-Morgan interval against a brute-force inversion."""

import math

import numpy as np
import pytest

from optimlab.lab.claims.base import MODES
from optimlab.lab.claims.verdict import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, holm, paired_effect,
                                         spread_interval, t_interval)

SEED_COUNTS = sorted({MODES["quick"].seeds, MODES["full"].seeds})
REPS = 1000


def _null_differences(kind, n, rng):
    """Per-seed differences of two exchangeable arms (a null effect): symmetric around 0."""
    if kind == "normal":
        return rng.normal(0.0, 1.0, n)
    if kind == "heavy":  # Student t with 3 degrees of freedom
        return rng.standard_t(3, n)
    if kind == "skewed arms":  # each arm lognormal with a shared per-seed part: the difference is symmetric
        shared = rng.normal(0, 1, n)
        return np.exp(shared + rng.normal(0, 1, n)) - np.exp(shared + rng.normal(0, 1, n))
    if kind == "discrete":  # counts, e.g. loss spikes per run
        return rng.poisson(1.0, n) - rng.poisson(1.0, n) + 0.0
    raise AssertionError(kind)


@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize("kind", ["normal", "heavy", "skewed arms", "discrete"])
def test_t_interval_covers_a_null_effect_at_the_seed_counts_used(n, kind):
    rng = np.random.default_rng(1234 + n)
    covered = 0
    for _ in range(REPS):
        d = _null_differences(kind, n, rng)
        _, lo, hi, _ = t_interval(d)
        covered += (lo is not None and lo <= 0.0 <= hi) or (lo is None)
    assert covered / REPS >= 0.93, (kind, n, covered / REPS)


def test_percentile_bootstrap_under_covers_where_the_t_interval_does_not():
    """Why v2 replaced the bootstrap: at 5 seeds the percentile bootstrap covers a null effect ~85% of the time."""
    rng = np.random.default_rng(7)
    boot = tcov = 0
    reps = 400
    for _ in range(reps):
        d = rng.normal(0, 1, 5)
        idx = rng.integers(0, 5, size=(1000, 5))
        means = d[idx].mean(1)
        lo, hi = np.quantile(means, [0.025, 0.975])
        boot += lo <= 0 <= hi
        _, tlo, thi, _ = t_interval(d)
        tcov += tlo <= 0 <= thi
    assert boot / reps < 0.91 < 0.93 <= tcov / reps


@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_spread_interval_covers_equal_spreads(n, rho):
    rng = np.random.default_rng(99 + n)
    covered = 0
    for _ in range(REPS):
        z = rng.normal(size=(n, 2))
        a = z[:, 0]
        b = rho * z[:, 0] + math.sqrt(1 - rho * rho) * z[:, 1]
        _, lo, hi, p = spread_interval(a, b)
        covered += lo <= 0.0 <= hi
        assert (p < 0.05) == (not lo <= 0.0 <= hi)  # the interval inverts the test
    assert covered / REPS >= 0.93, (n, rho, covered / REPS)


def test_spread_interval_matches_a_brute_force_inversion():
    """Oracle: scan psi and keep the values where the correlation of a/sqrt(psi)+b and a/sqrt(psi)-b is not
    significant (t test, n-2 degrees of freedom)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 2.0, 8), rng.normal(0, 1.0, 8)
    b = 0.3 * a + b
    est, lo, hi, _ = spread_interval(a, b)
    crit = stats.t.ppf(0.975, 6)
    grid = np.linspace(-3, 3, 30001)  # log10 of the sd ratio
    s = 10.0 ** (-grid)[:, None]  # 1/sqrt(psi) with psi = 10^(2g)
    u, v = a * s + b, a * s - b
    u, v = u - u.mean(1, keepdims=True), v - v.mean(1, keepdims=True)
    r = (u * v).sum(1) / np.sqrt((u * u).sum(1) * (v * v).sum(1))
    t = r * math.sqrt(6) / np.sqrt(1 - r * r)
    inside = grid[np.abs(t) <= crit]
    assert lo == pytest.approx(inside.min(), abs=4e-4) and hi == pytest.approx(inside.max(), abs=4e-4)
    assert est == pytest.approx(math.log10(a.std(ddof=1) / b.std(ddof=1)))


def _holm_reference(pvalues, alpha=0.05):
    """Holm (1979) written directly on p-values: which hypotheses are rejected."""
    order = np.argsort(pvalues)
    rejected = [False] * len(pvalues)
    for j, i in enumerate(order):
        if pvalues[i] < alpha / (len(pvalues) - j):
            rejected[i] = True
        else:
            break
    return rejected


def test_holm_decisions_match_the_reference_procedure():
    rng = np.random.default_rng(11)
    for _ in range(200):
        k = int(rng.integers(2, 6))
        effects = []
        for _ in range(k):
            delta = rng.choice([0.0, 0.5, 1.5])
            effects.append(paired_effect("x", list(rng.normal(delta, 1.0, 10)), [0.0] * 10))
        ps = [e.p_value for e in effects]
        holm(effects)
        want = _holm_reference(ps)
        got = [e.verdict in (REPRODUCED, NOT_REPRODUCED) for e in effects]
        assert got == want
        for e in effects:  # each interval is shown at the level it was tested at, and agrees with the decision
            assert e.level >= 0.95 and ((e.low > 0 or e.high < 0) == (e.verdict != INCONCLUSIVE))


def test_holm_controls_the_family_error_under_the_null():
    rng = np.random.default_rng(5)
    reps, false = 1000, 0
    for _ in range(reps):
        effects = [paired_effect("x", list(rng.normal(0, 1, 5)), [0.0] * 5) for _ in range(4)]
        holm(effects)
        false += any(e.verdict != INCONCLUSIVE for e in effects)
    assert false / reps <= 0.06


def test_holm_widens_the_intervals():
    rng = np.random.default_rng(2)
    effects = [paired_effect(f"e{i}", list(rng.normal(1.0, 1.0, 10)), [0.0] * 10) for i in range(3)]
    before = [(e.low, e.high) for e in effects]
    holm(effects)
    for (lo, hi), e in zip(before, effects):
        assert e.low <= lo and e.high >= hi and e.level >= 0.95
    assert max(e.level for e in effects) == pytest.approx(1 - 0.05 / 3)
