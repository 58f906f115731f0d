"""AdaBound / AMSBound (issue 3): no torch namesake, so the oracle lives in tests/test_adabound.py."""

import torch

import optimlab

from . import Case, ErrorCase

CASES = [
    Case("adabound", lambda p, **kw: optimlab.AdaBound(p, **{"lr": 0.05, "final_lr": 0.01, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000),
    Case("amsbound", lambda p, **kw: optimlab.AMSBound(p, **{"lr": 0.05, "final_lr": 0.01, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000),
    Case("adabound_decoupled", lambda p, **kw: optimlab.AdaBound(p, **{"lr": 0.05, "weight_decay": 1e-4, "decoupled_weight_decay": True, "final_lr": 0.01, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000),
    Case("adabound_l2_tight", lambda p, **kw: optimlab.AdaBound(p, **{"lr": 0.05, "final_lr": 0.05, "gamma": 0.1, "weight_decay": 1e-4, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=0),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_ab = lambda **kw: optimlab.AdaBound(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("adabound-lr", _ab, {"lr": -1e-3}, ValueError, r"AdaBound: lr must be >= 0, got -0\.001"),
    ErrorCase("adabound-beta1", _ab, {"betas": (1.0, 0.999)}, ValueError, r"AdaBound: betas\[0\] must be in \[0, 1\), got 1\.0"),
    ErrorCase("adabound-beta2", _ab, {"betas": (0.9, 1.2)}, ValueError, r"AdaBound: betas\[1\] must be in \[0, 1\), got 1\.2"),
    ErrorCase("adabound-final-lr", _ab, {"final_lr": -0.1}, ValueError, r"AdaBound: final_lr must be > 0, got -0\.1"),
    ErrorCase("adabound-final-lr-zero", _ab, {"final_lr": 0.0}, ValueError, r"AdaBound: final_lr must be > 0, got 0\.0"),
    ErrorCase("adabound-gamma", _ab, {"gamma": 1.0}, ValueError, r"AdaBound: gamma must be in \[0, 1\), got 1\.0"),
    ErrorCase("adabound-gamma-neg", _ab, {"gamma": -1e-3}, ValueError, r"AdaBound: gamma must be in \[0, 1\), got -0\.001"),
    ErrorCase("adabound-eps", _ab, {"eps": -1e-8}, ValueError, r"AdaBound: eps must be >= 0, got -1e-08"),
    ErrorCase("adabound-wd", _ab, {"weight_decay": -0.1}, ValueError, r"AdaBound: weight_decay must be >= 0, got -0\.1"),
    ErrorCase("adabound-amsbound-type", _ab, {"amsbound": "yes"}, ValueError, r"AdaBound: amsbound must be True or False, got 'yes'"),
    ErrorCase("adabound-decoupled-type", _ab, {"decoupled_weight_decay": 1}, ValueError, r"AdaBound: decoupled_weight_decay must be True or False, got 1"),
    ErrorCase("adabound-foreach-type", _ab, {"foreach": "no"}, ValueError, r"AdaBound: foreach must be True, False or None, got 'no'"),
    ErrorCase("adabound-unknown", _ab, {"momentum": 0.9}, TypeError, r"momentum"),
    ErrorCase("amsbound-final-lr", lambda **kw: optimlab.AMSBound(_p(), **kw), {"final_lr": float("nan")}, ValueError, r"AMSBound: final_lr must be > 0, got nan"),
]
