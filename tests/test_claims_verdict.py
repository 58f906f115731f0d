"""The verdict rule on synthetic measurements: it must be able to say reproduced, not reproduced and inconclusive."""

import numpy as np
import pytest

from optimlab.lab.claims.verdict import (INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, SHOWN, Verdict, combine, decide,
                                         paired_effect, t_interval)


def _arms(delta, noise, n=10, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, n)  # shared per-seed component: pairing removes it
    return list(base + delta + rng.normal(0, noise, n)), list(base + rng.normal(0, noise, n))


def test_clear_effect_is_reproduced():
    a, b = _arms(1.0, 0.1)
    e = paired_effect("x", a, b)
    assert e.verdict == REPRODUCED and e.low > 0 and e.value == pytest.approx(np.mean(np.subtract(a, b)))


def test_opposite_effect_is_not_reproduced():
    a, b = _arms(-1.0, 0.1)
    assert paired_effect("x", a, b).verdict == NOT_REPRODUCED
    # the sign convention: "claimed should be smaller" flips it
    assert paired_effect("x", a, b, sign=-1.0).verdict == REPRODUCED


def test_noise_without_effect_is_inconclusive():
    a, b = _arms(0.0, 1.0, n=6, seed=3)
    e = paired_effect("x", a, b)
    assert e.low < 0 < e.high and e.verdict == INCONCLUSIVE


def test_equivalence_margin_turns_a_tight_null_into_not_reproduced():
    a, b = _arms(0.0, 0.01, n=10, seed=1)
    assert paired_effect("x", a, b, margin=0.0).verdict == INCONCLUSIVE
    assert paired_effect("x", a, b, margin=0.1).verdict == NOT_REPRODUCED
    # a real effect larger than the margin stays reproduced
    a, b = _arms(1.0, 0.01)
    assert paired_effect("x", a, b, margin=0.1).verdict == REPRODUCED


def test_too_few_seeds_or_missing_values_are_inconclusive():
    assert paired_effect("x", [1.0], [0.0]).verdict == INCONCLUSIVE
    e = paired_effect("x", [1.0, None, float("nan")], [0.0, 0.0, 0.0])
    assert e.n_seeds == 1 and e.verdict == INCONCLUSIVE
    assert decide(None, None, None) == INCONCLUSIVE


def test_spread_statistic():
    rng = np.random.default_rng(0)
    wide, narrow = list(rng.normal(0, 1.0, 12)), list(rng.normal(0, 0.05, 12))
    e = paired_effect("spread", wide, narrow, stat="spread")
    assert e.verdict == REPRODUCED and e.value == pytest.approx(np.log10(np.std(wide, ddof=1) / np.std(narrow, ddof=1)))
    assert paired_effect("spread", narrow, wide, stat="spread").verdict == NOT_REPRODUCED
    assert paired_effect("spread", narrow, wide, stat="spread", sign=-1).verdict == REPRODUCED
    assert paired_effect("spread", [1.0, 2.0], [1.0, 3.0], stat="spread").verdict == INCONCLUSIVE  # needs 3 pairs


def test_t_interval_against_the_textbook_formula():
    x = np.random.default_rng(5).normal(2.0, 1.0, 20)
    m, lo, hi, p = t_interval(x)
    half = 2.093024054408263 * x.std(ddof=1) / np.sqrt(20)  # t_{19, 0.975}
    assert m == pytest.approx(x.mean()) and lo == pytest.approx(m - half) and hi == pytest.approx(m + half)
    assert p < 1e-6 and t_interval(x) == (m, lo, hi, p)


def test_a_mechanism_says_shown_not_reproduced():
    class Demo:
        id, title, words, kind = 99, "demo", "", "mechanism"

    a, b = _arms(1.0, 0.1)
    v = Verdict.from_effects(Demo(), [paired_effect("x", a, b)], settings={}, details={})
    assert v.verdict == SHOWN and v.kind == "mechanism"


def test_combine_rule():
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]) == NOT_REPRODUCED
    assert combine([]) == INCONCLUSIVE


@pytest.mark.parametrize("call, match", [
    (lambda: decide(1.0, 0.5, 1.5, margin=-1.0), "decide: margin must be a finite number >= 0, got -1.0"),
    (lambda: paired_effect("x", [1.0, 2.0], [1.0]), "paired_effect: both arms need one value per seed"),
    (lambda: paired_effect("x", [1.0], [1.0], stat="median"), "paired_effect: stat must be one of"),
    (lambda: t_interval([1.0, 2.0], level=1.5), "t_interval: level must be in"),
    (lambda: paired_effect("x", [1.0], [1.0], sign=2.0), "paired_effect: sign must be"),
])
def test_errors_name_owner_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
