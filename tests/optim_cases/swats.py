"""SWATS (issue 3): Adam phase (the paper's eps never fires here), and a forced switch at step 3 so
that the common properties (state_dict round trip after 7 steps, schedulers, GradScaler...) also
run in the SGD phase."""

import torch

import optimlab

from . import Case, ErrorCase

CASES = [
    Case("swats", lambda p, **kw: optimlab.SWATS(p, **{"lr": 0.05, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000),
    Case("swats_switched", lambda p, **kw: optimlab.SWATS(p, **{"lr": 0.05, "switch_at": 3, **kw}), quad_lr=0.05, quad_steps=600,
         rosen_lr=0.02, rosen_steps=0),
    Case("swats_tensor_l2", lambda p, **kw: optimlab.SWATS(p, **{"lr": 0.05, "switch_at": 4, "switch_granularity": "tensor", "weight_decay": 1e-4, **kw}),
         quad_lr=0.05, quad_steps=600, rosen_steps=0),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_s = lambda **kw: optimlab.SWATS(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("swats-lr", _s, {"lr": -1.0}, ValueError, r"SWATS: lr must be >= 0, got -1\.0"),
    ErrorCase("swats-beta1", _s, {"betas": (-0.1, 0.999)}, ValueError, r"SWATS: betas\[0\] must be in \[0, 1\), got -0\.1"),
    ErrorCase("swats-beta2", _s, {"betas": (0.9, 1.0)}, ValueError, r"SWATS: betas\[1\] must be in \[0, 1\), got 1\.0"),
    ErrorCase("swats-eps", _s, {"eps": -1e-8}, ValueError, r"SWATS: eps must be >= 0, got -1e-08"),
    ErrorCase("swats-wd", _s, {"weight_decay": -1e-4}, ValueError, r"SWATS: weight_decay must be >= 0, got -0\.0001"),
    ErrorCase("swats-switch-eps", _s, {"switch_eps": -1e-9}, ValueError, r"SWATS: switch_eps must be >= 0, got -1e-09"),
    ErrorCase("swats-granularity", _s, {"switch_granularity": "layer"}, ValueError, r"SWATS: switch_granularity must be one of 'model', 'tensor', got 'layer'"),
    ErrorCase("swats-switch-at", _s, {"switch_at": 0}, ValueError, r"SWATS: switch_at must be >= 1, got 0"),
    ErrorCase("swats-switch-at-float", _s, {"switch_at": 2.5}, ValueError, r"SWATS: switch_at must be an integer >= 1, got 2\.5"),
    ErrorCase("swats-maximize-type", _s, {"maximize": None}, ValueError, r"SWATS: maximize must be True or False, got None"),
    ErrorCase("swats-unknown", _s, {"momentum": 0.9}, TypeError, r"momentum"),
]
