"""Gradient noise (issue 3) around Adam and SGDM, seeded; the variance oracle is in tests/test_noise.py."""

import torch

import optimlab

from . import Case, ErrorCase

_SKIP = {
    "param_groups": "a parameter's noise stream is its position among all groups, so two optimizers number them differently (groups are tested in test_noise.py)",
    "maximize": "maximize flips the inner step, hence the noise's sign: same distribution, different draws",
}


def _noisy(inner, eta=1e-4, **defaults):
    return lambda p, **kw: optimlab.GradientNoise(inner(p, **{**defaults, **kw}), eta=eta, gamma=0.55, seed=1234)


CASES = [
    Case("noisy_adam", _noisy(optimlab.Adam, lr=0.05), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000, rosen_tol=0.1, skip=_SKIP),
    Case("noisy_sgdm", _noisy(optimlab.SGD, eta=1e-3, lr=0.01, momentum=0.9), quad_lr=0.01, rosen_lr=2e-4, rosen_steps=12000, rosen_tol=0.1, skip=_SKIP),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_n = lambda **kw: optimlab.GradientNoise(torch.optim.SGD(_p(), lr=0.1), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("noise-eta", _n, {"eta": -0.01}, ValueError, r"GradientNoise: eta must be >= 0, got -0\.01"),
    ErrorCase("noise-eta-inf", _n, {"eta": float("inf")}, ValueError, r"GradientNoise: eta must be >= 0, got inf"),
    ErrorCase("noise-gamma", _n, {"gamma": -0.55}, ValueError, r"GradientNoise: gamma must be >= 0, got -0\.55"),
    ErrorCase("noise-seed", _n, {"seed": -1}, ValueError, r"GradientNoise: seed must be >= 0, got -1"),
    ErrorCase("noise-seed-float", _n, {"seed": 1.5}, ValueError, r"GradientNoise: seed must be an integer >= 0, got 1\.5"),
    ErrorCase("noise-seed-huge", _n, {"seed": 2**70}, ValueError, r"GradientNoise: seed must be < 2\*\*64, got 1180591620717411303424"),
    ErrorCase("noise-unknown", _n, {"k": 5}, TypeError, r"k"),
    ErrorCase("noise-not-optimizer", lambda **kw: optimlab.GradientNoise(**kw), {"optimizer": "adam"}, TypeError,
              r"GradientNoise: optimizer must be a torch.optim.Optimizer instance, got str"),
]
