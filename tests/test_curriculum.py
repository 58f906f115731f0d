"""CurriculumSampler: ordering, pacing, determinism, every example eventually seen, errors."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import optimlab
import optimlab.curriculum as C
from optimlab import CurriculumSampler


def _difficulty(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, generator=g)


def test_pool_is_the_easiest_examples():
    d = _difficulty()
    s = CurriculumSampler(d, start_fraction=0.3, pace_epochs=4, seed=1)
    ranked = sorted(range(50), key=lambda i: (d[i].item(), i))
    for e in range(6):
        idx = list(s)
        k = len(idx)
        assert sorted(idx) == sorted(ranked[:k])  # exactly the k easiest, each once
        assert len(set(idx)) == k


def test_unshuffled_order_is_easy_to_hard_and_ties_keep_index_order():
    d = [3.0, 1.0, 2.0, 1.0, 0.0]
    s = CurriculumSampler(d, start_fraction=1.0, pace_epochs=1, shuffle=False)
    assert list(s) == [4, 1, 3, 2, 0]


@pytest.mark.parametrize("pacing,f", [
    ("linear", lambda p, b: b + (1 - b) * p),
    ("root", lambda p, b: b + (1 - b) * math.sqrt(p)),
    ("step", lambda p, b: b + (1 - b) * math.floor(p * 3) / 3),
    ("exponential", lambda p, b: b ** (1 - p)),
])
def test_pacing_sizes(pacing, f):
    n, b, E = 200, 0.1, 6
    s = CurriculumSampler(torch.arange(n), pacing, start_fraction=b, pace_epochs=E, num_stairs=3)
    sizes = []
    for e in range(E + 3):
        assert len(s) == s.pool_size(e)
        sizes.append(len(list(s)))
    assert sizes == [min(n, math.ceil(n * f(min(e / E, 1.0), b) - 1e-9)) for e in range(E + 3)]
    assert sizes[0] == math.ceil(n * b) and all(x == n for x in sizes[E:])
    assert sizes == sorted(sizes)  # the pool only grows


def test_root_grows_faster_than_linear_faster_than_exponential():
    kw = dict(start_fraction=0.1, pace_epochs=10)
    sizes = {p: [CurriculumSampler(torch.arange(1000), p, **kw).pool_size(e) for e in range(1, 10)]
             for p in ("root", "linear", "exponential")}
    assert all(r > l > x for r, l, x in zip(sizes["root"], sizes["linear"], sizes["exponential"]))


def test_deterministic_for_a_seed_and_set_epoch_resumes():
    d = _difficulty(100)
    a = [list(CurriculumSampler(d, seed=7)) for _ in range(1)][0]
    b = list(CurriculumSampler(d, seed=7))
    c = list(CurriculumSampler(d, seed=8))
    assert a == b and a != c
    run = CurriculumSampler(d, seed=3, pace_epochs=3)
    epochs = [list(run) for _ in range(5)]
    resumed = CurriculumSampler(d, seed=3, pace_epochs=3)
    resumed.set_epoch(3)
    assert [list(resumed) for _ in range(2)] == epochs[3:]
    assert epochs[3] != epochs[4]  # a new shuffle each epoch


def test_every_example_eventually_seen_through_a_dataloader():
    n = 37
    data = TensorDataset(torch.arange(n))
    s = CurriculumSampler(_difficulty(n), "exponential", start_fraction=0.05, pace_epochs=4)
    loader = DataLoader(data, batch_size=4, sampler=s)
    seen = set()
    for _ in range(5):
        assert len(loader) == math.ceil(len(s) / 4)
        for (x,) in loader:
            seen.update(x.tolist())
    assert seen == set(range(n))


def test_callable_pacing():
    s = CurriculumSampler(torch.arange(10), lambda p: 0.5 + 0.5 * p, pace_epochs=2)
    assert [len(list(s)) for _ in range(3)] == [5, 8, 10]
    bad = CurriculumSampler(torch.arange(10), lambda p: 0.0, pace_epochs=2)
    with pytest.raises(ValueError, match=r"CurriculumSampler: pacing\(progress\) must be in \(0, 1\], got 0.0"):
        len(bad)


ERRORS = [
    (dict(difficulty=[]), r"CurriculumSampler: difficulty must be a non-empty 1-D sequence of numbers, got shape \(0,\)"),
    (dict(difficulty=[1.0, float("nan")]), r"CurriculumSampler: difficulty must be finite, got nan at index 1"),
    (dict(difficulty=[1.0], pacing="cubic"), r"CurriculumSampler: pacing must be one of 'linear', 'root', 'step', 'exponential', got 'cubic'"),
    (dict(difficulty=[1.0], start_fraction=0.0), r"CurriculumSampler: start_fraction must be in \(0, 1\], got 0.0"),
    (dict(difficulty=[1.0], pace_epochs=0), r"CurriculumSampler: pace_epochs must be >= 1, got 0"),
    (dict(difficulty=[1.0], num_stairs=0), r"CurriculumSampler: num_stairs must be >= 1, got 0"),
    (dict(difficulty=[1.0], seed=-1), r"CurriculumSampler: seed must be >= 0, got -1"),
    (dict(difficulty=[1.0], shuffle=1), r"CurriculumSampler: shuffle must be True or False, got 1"),
]


@pytest.mark.parametrize("kwargs,pattern", ERRORS)
def test_error_table(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        CurriculumSampler(**kwargs)


def test_pacing_function_errors_and_unknown_keyword():
    with pytest.raises(ValueError, match=r"pacing_linear: progress must be in \[0, 1\], got 1.5"):
        C.pacing_linear(1.5, 0.2)
    with pytest.raises(ValueError, match=r"pacing_root: start_fraction must be in \(0, 1\], got 0"):
        C.pacing_root(0.5, 0)
    with pytest.raises(TypeError):
        CurriculumSampler([1.0], pace=3)
    with pytest.raises(ValueError, match="CurriculumSampler: epoch must be >= 0, got -2"):
        CurriculumSampler([1.0]).set_epoch(-2)


def test_docstring_examples_run():
    assert doctest.testmod(C).failed == 0
    assert "CurriculumSampler" in optimlab.__all__
