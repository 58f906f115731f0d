"""Lookahead (issue 3) around ours and torch's optimizers.  ``foreach``, ``lr``, ``maximize`` go to
the inner optimizer; k=3 makes the 6-13-step property runs cross several syncs and stop mid-cycle."""

import torch

import optimlab

from . import Case, ErrorCase


def _la(inner, k=3, alpha=0.5, pullback="keep", **defaults):
    return lambda p, **kw: optimlab.Lookahead(inner(p, **{**defaults, **kw}), k=k, alpha=alpha, pullback=pullback)


CASES = [
    Case("lookahead_adam", _la(optimlab.Adam, lr=0.05), quad_lr=0.05, quad_steps=400, rosen_lr=0.03, rosen_steps=5000),
    Case("lookahead_sgdm_reset", _la(optimlab.SGD, pullback="reset", lr=0.01, momentum=0.9), quad_lr=0.02, rosen_lr=2e-3, rosen_steps=12000, rosen_tol=0.1, sparse_ok=True),
    Case("lookahead_sgdm_pullback", _la(optimlab.SGD, k=5, alpha=0.8, pullback="pullback", lr=0.01, momentum=0.9), quad_lr=0.02, rosen_lr=5e-4, rosen_steps=12000, rosen_tol=0.1, sparse_ok=True),
    Case("lookahead_torch_adam", _la(torch.optim.Adam, lr=0.05), quad_lr=0.05, quad_steps=400, rosen_steps=0),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_l = lambda **kw: optimlab.Lookahead(torch.optim.SGD(_p(), lr=0.1), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("lookahead-k", _l, {"k": 0}, ValueError, r"Lookahead: k must be >= 1, got 0"),
    ErrorCase("lookahead-k-float", _l, {"k": 2.0}, ValueError, r"Lookahead: k must be an integer >= 1, got 2\.0"),
    ErrorCase("lookahead-alpha", _l, {"alpha": 0.0}, ValueError, r"Lookahead: alpha must be in \(0, 1\], got 0\.0"),
    ErrorCase("lookahead-alpha-big", _l, {"alpha": 1.5}, ValueError, r"Lookahead: alpha must be in \(0, 1\], got 1\.5"),
    ErrorCase("lookahead-pullback", _l, {"pullback": "none"}, ValueError, r"Lookahead: pullback must be one of 'keep', 'reset', 'pullback', got 'none'"),
    ErrorCase("lookahead-unknown", _l, {"lr": 0.1}, TypeError, r"lr"),
    ErrorCase("lookahead-not-optimizer", lambda **kw: optimlab.Lookahead(**kw), {"optimizer": _p()}, TypeError,
              r"Lookahead: optimizer must be a torch.optim.Optimizer instance, got list"),
    ErrorCase("lookahead-class-not-instance", lambda **kw: optimlab.Lookahead(**kw), {"optimizer": torch.optim.SGD}, TypeError,
              r"Lookahead: optimizer must be a torch.optim.Optimizer instance, got type"),
    ErrorCase("lookahead-registry-inner-unknown", lambda **kw: optimlab.create_optimizer("lookahead", _p(), **kw), {"inner": "adamm"},
              ValueError, r"unknown optimizer 'adamm'"),
    ErrorCase("lookahead-registry-inner-kwarg", lambda **kw: optimlab.create_optimizer("lookahead_sgd", _p(), **kw), {"betas": (0.9, 0.99)},
              TypeError, r"betas"),
]
