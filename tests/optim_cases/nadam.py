"""NAdam: torch's momentum schedule and the lecture's constant beta1."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("nadam", lambda p, **kw: optimlab.NAdam(p, **{"lr": 0.05, **kw}), quad_lr=0.05, rosen_lr=0.01, rosen_steps=4000),
    Case("nadam_constant", lambda p, **kw: optimlab.NAdam(p, **{"lr": 0.05, "momentum_schedule": "constant", **kw}), quad_lr=0.05, rosen_lr=0.01, rosen_steps=4000),
    Case("nadamw", lambda p, **kw: optimlab.NAdam(p, **{"lr": 0.05, "weight_decay": 1e-4, "decoupled_weight_decay": True, **kw}), quad_lr=0.05, rosen_lr=0.01, rosen_steps=4000),
]

TORCH_EQUIV = [
    TorchEquiv(
        "nadam",
        lambda p, **kw: optimlab.NAdam(p, **kw),
        lambda p, **kw: torch.optim.NAdam(p, **kw),
        grid(momentum_decay=[4e-3, 0.0, 0.5], weight_decay=[0.0, 0.05], decoupled_weight_decay=[False, True],
             maximize=[False, True], foreach=[False, True]),
    ),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_N = lambda **kw: optimlab.NAdam(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("nadam-lr", _N, {"lr": -2e-3}, ValueError, r"NAdam: lr must be >= 0, got -0\.002"),
    ErrorCase("nadam-beta1", _N, {"betas": (1.0, 0.999)}, ValueError, r"NAdam: betas\[0\] must be in \[0, 1\), got 1\.0"),
    ErrorCase("nadam-beta2", _N, {"betas": (0.9, 1.0)}, ValueError, r"NAdam: betas\[1\] must be in \[0, 1\), got 1\.0"),
    ErrorCase("nadam-betas-shape", _N, {"betas": 0.9}, ValueError, r"NAdam: betas must be a pair"),
    ErrorCase("nadam-eps", _N, {"eps": -1.0}, ValueError, r"NAdam: eps must be >= 0, got -1\.0"),
    ErrorCase("nadam-wd", _N, {"weight_decay": -0.01}, ValueError, r"NAdam: weight_decay must be >= 0, got -0\.01"),
    ErrorCase("nadam-momentum-decay", _N, {"momentum_decay": -4e-3}, ValueError, r"NAdam: momentum_decay must be >= 0, got -0\.004"),
    ErrorCase("nadam-decoupled-type", _N, {"decoupled_weight_decay": "no"}, ValueError, r"NAdam: decoupled_weight_decay must be True or False, got 'no'"),
    ErrorCase("nadam-schedule", _N, {"momentum_schedule": "torch"}, ValueError, r"NAdam: momentum_schedule must be one of 'warmup', 'constant', got 'torch'"),
    ErrorCase("nadam-unknown", _N, {"amsgrad": True}, TypeError, r"amsgrad"),
]
