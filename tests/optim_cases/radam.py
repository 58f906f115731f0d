"""RAdam: torch's rectification threshold rho_t > 5 and the paper's rho_t > 4."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("radam", lambda p, **kw: optimlab.RAdam(p, **{"lr": 0.05, **kw}), quad_lr=0.05, rosen_lr=0.006, rosen_steps=7000),
    Case("radam_paper", lambda p, **kw: optimlab.RAdam(p, **{"lr": 0.05, "rectify_threshold": 4.0, **kw}), quad_lr=0.05, rosen_lr=0.006, rosen_steps=9000),
    Case("radamw", lambda p, **kw: optimlab.RAdam(p, **{"lr": 0.05, "weight_decay": 1e-4, "decoupled_weight_decay": True, **kw}), quad_lr=0.05, rosen_lr=0.006, rosen_steps=7000),
]

TORCH_EQUIV = [
    TorchEquiv(
        "radam",
        lambda p, **kw: optimlab.RAdam(p, **kw),
        lambda p, **kw: torch.optim.RAdam(p, **kw),
        grid(weight_decay=[0.0, 0.05], decoupled_weight_decay=[False, True], maximize=[False, True],
             foreach=[False, True], betas=[(0.9, 0.999), (0.5, 0.9)]),
    ),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_R = lambda **kw: optimlab.RAdam(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("radam-lr", _R, {"lr": -1e-3}, ValueError, r"RAdam: lr must be >= 0, got -0\.001"),
    ErrorCase("radam-beta1", _R, {"betas": (-0.1, 0.999)}, ValueError, r"RAdam: betas\[0\] must be in \[0, 1\), got -0\.1"),
    ErrorCase("radam-beta2", _R, {"betas": (0.9, 1.2)}, ValueError, r"RAdam: betas\[1\] must be in \[0, 1\), got 1\.2"),
    ErrorCase("radam-eps", _R, {"eps": -1e-8}, ValueError, r"RAdam: eps must be >= 0, got -1e-08"),
    ErrorCase("radam-wd", _R, {"weight_decay": -0.1}, ValueError, r"RAdam: weight_decay must be >= 0, got -0\.1"),
    ErrorCase("radam-decoupled-type", _R, {"decoupled_weight_decay": 0}, ValueError, r"RAdam: decoupled_weight_decay must be True or False, got 0"),
    ErrorCase("radam-threshold", _R, {"rectify_threshold": 3.0}, ValueError, r"RAdam: rectify_threshold must be >= 4, got 3\.0"),
    ErrorCase("radam-unknown", _R, {"momentum_decay": 4e-3}, TypeError, r"momentum_decay"),
]
