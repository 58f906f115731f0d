"""Adagrad (dense and sparse gradients)."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("adagrad", lambda p, **kw: optimlab.Adagrad(p, **{"lr": 0.1, **kw}), quad_lr=0.5, rosen_lr=1.0, rosen_steps=8000, rosen_tol=0.1, sparse_ok=True, fused_kernel="_fused_adagrad_"),
    Case("adagrad_decay_init_l2", lambda p, **kw: optimlab.Adagrad(p, **{"lr": 0.1, "lr_decay": 1e-4, "initial_accumulator_value": 0.1, "weight_decay": 1e-4, **kw}),
         quad_lr=0.5, rosen_steps=0, fused_kernel="_fused_adagrad_"),  # lr_decay slows Rosenbrock by design; covered by "adagrad"
]

TORCH_EQUIV = [
    TorchEquiv(
        "adagrad",
        lambda p, **kw: optimlab.Adagrad(p, **kw),
        lambda p, **kw: torch.optim.Adagrad(p, **kw),
        grid(lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.05], initial_accumulator_value=[0.0, 0.3],
             maximize=[False, True], foreach=[False, True, None]),
        lr=0.1,
    ),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_A = lambda **kw: optimlab.Adagrad(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("adagrad-lr", _A, {"lr": -0.01}, ValueError, r"Adagrad: lr must be >= 0, got -0\.01"),
    ErrorCase("adagrad-lr-tensor", _A, {"lr": torch.tensor([0.1, 0.2])}, ValueError, r"Adagrad: lr must be a number or a 1-element Tensor"),
    ErrorCase("adagrad-lr-decay", _A, {"lr_decay": -1.0}, ValueError, r"Adagrad: lr_decay must be >= 0, got -1\.0"),
    ErrorCase("adagrad-wd", _A, {"weight_decay": -0.1}, ValueError, r"Adagrad: weight_decay must be >= 0, got -0\.1"),
    ErrorCase("adagrad-init", _A, {"initial_accumulator_value": -0.5}, ValueError, r"Adagrad: initial_accumulator_value must be >= 0, got -0\.5"),
    ErrorCase("adagrad-eps", _A, {"eps": float("nan")}, ValueError, r"Adagrad: eps must be >= 0, got nan"),
    ErrorCase("adagrad-maximize-type", _A, {"maximize": None}, ValueError, r"Adagrad: maximize must be True or False, got None"),
    ErrorCase("adagrad-foreach-type", _A, {"foreach": "yes"}, ValueError, r"Adagrad: foreach must be True, False or None, got 'yes'"),
    ErrorCase("adagrad-unknown", _A, {"momentum": 0.9}, TypeError, r"momentum"),
]
