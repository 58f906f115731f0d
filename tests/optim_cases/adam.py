"""Adam family: Adam, AMSGrad (torch's and Reddi's forms), AdamW."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("adam", lambda p, **kw: optimlab.Adam(p, **{"lr": 0.05, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000, fused_kernel="_fused_adam_"),
    Case("amsgrad", lambda p, **kw: optimlab.Adam(p, **{"lr": 0.05, "amsgrad": True, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000, fused_kernel="_fused_adam_"),
    Case("amsgrad_reddi", lambda p, **kw: optimlab.Adam(p, **{"lr": 0.05, "amsgrad": True, "bias_correction": False, **kw}), quad_lr=0.05, rosen_lr=0.01, rosen_steps=6000),
    Case("adamw", lambda p, **kw: optimlab.AdamW(p, **{"lr": 0.05, "weight_decay": 1e-4, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000, fused_kernel="_fused_adamw_"),
    Case("adam_l2", lambda p, **kw: optimlab.Adam(p, **{"lr": 0.05, "weight_decay": 1e-4, **kw}), quad_lr=0.05, rosen_lr=0.02, rosen_steps=4000, fused_kernel="_fused_adam_"),
]

TORCH_EQUIV = [
    TorchEquiv(
        "adam",
        lambda p, **kw: optimlab.Adam(p, **kw),
        lambda p, **kw: torch.optim.Adam(p, **kw),
        grid(amsgrad=[False, True], weight_decay=[0.0, 0.05], decoupled_weight_decay=[False, True],
             maximize=[False, True], foreach=[False, True, None], betas=[(0.9, 0.999), (0.5, 0.9)]),
    ),
    TorchEquiv(
        "adamw",
        lambda p, **kw: optimlab.AdamW(p, **kw),
        lambda p, **kw: torch.optim.AdamW(p, **kw),
        grid(amsgrad=[False, True], weight_decay=[0.0, 0.01, 0.1], maximize=[False, True], foreach=[False, True, None]),
    ),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
ERRORS = [
    ErrorCase("adam-lr", lambda **kw: optimlab.Adam(_p(), **kw), {"lr": -1e-3}, ValueError, r"Adam: lr must be >= 0, got -0\.001"),
    ErrorCase("adam-lr-tensor", lambda **kw: optimlab.Adam(_p(), **kw), {"lr": torch.tensor(-1.0)}, ValueError, r"Adam: lr must be >= 0, got -1\.0"),
    ErrorCase("adam-beta1", lambda **kw: optimlab.Adam(_p(), **kw), {"betas": (1.0, 0.999)}, ValueError, r"Adam: betas\[0\] must be in \[0, 1\), got 1\.0"),
    ErrorCase("adam-beta2", lambda **kw: optimlab.Adam(_p(), **kw), {"betas": (0.9, -0.1)}, ValueError, r"Adam: betas\[1\] must be in \[0, 1\), got -0\.1"),
    ErrorCase("adam-betas-shape", lambda **kw: optimlab.Adam(_p(), **kw), {"betas": (0.9,)}, ValueError, r"Adam: betas must be a pair"),
    ErrorCase("adam-eps", lambda **kw: optimlab.Adam(_p(), **kw), {"eps": -1e-8}, ValueError, r"Adam: eps must be >= 0, got -1e-08"),
    ErrorCase("adam-wd", lambda **kw: optimlab.Adam(_p(), **kw), {"weight_decay": -0.1}, ValueError, r"Adam: weight_decay must be >= 0, got -0\.1"),
    ErrorCase("adam-amsgrad-type", lambda **kw: optimlab.Adam(_p(), **kw), {"amsgrad": 1}, ValueError, r"Adam: amsgrad must be True or False, got 1"),
    ErrorCase("adam-unknown", lambda **kw: optimlab.Adam(_p(), **kw), {"momentum": 0.9}, TypeError, r"momentum"),
    ErrorCase("adam-fused-foreach", lambda **kw: optimlab.Adam(_p(), **kw), {"fused": True, "foreach": True}, ValueError, r"Adam: fused=True and foreach=True are mutually exclusive"),
    ErrorCase("adam-fused-type", lambda **kw: optimlab.Adam(_p(), **kw), {"fused": 1}, ValueError, r"Adam: fused must be True, False or None, got 1"),
    ErrorCase("adam-tensor-lr-foreach", lambda **kw: optimlab.Adam(_p(), **kw), {"lr": torch.tensor(0.1), "foreach": True}, ValueError,
              r"Adam: lr as a Tensor needs capturable=True with foreach=True"),
    ErrorCase("adam-tensor-betas-foreach", lambda **kw: optimlab.Adam(_p(), **kw), {"betas": (torch.tensor(0.9), torch.tensor(0.99)), "foreach": True},
              ValueError, r"Adam: betas\[0\] as a Tensor needs capturable=True with foreach=True"),
    ErrorCase("adam-betas-mixed", lambda **kw: optimlab.Adam(_p(), **kw), {"betas": (0.9, torch.tensor(0.99))}, ValueError,
              r"Adam: betas must be two numbers or two 1-element Tensors"),
    ErrorCase("adam-differentiable-fused", lambda **kw: optimlab.Adam(_p(), **kw), {"differentiable": True, "fused": True}, ValueError,
              r"Adam: fused=True and differentiable=True are mutually exclusive"),
    ErrorCase("adam-differentiable-foreach", lambda **kw: optimlab.Adam(_p(), **kw), {"differentiable": True, "foreach": True}, ValueError,
              r"Adam: foreach=True and differentiable=True are mutually exclusive"),
    ErrorCase("adam-capturable-type", lambda **kw: optimlab.Adam(_p(), **kw), {"capturable": 1}, ValueError, r"Adam: capturable must be True or False, got 1"),
    ErrorCase("adamw-wd", lambda **kw: optimlab.AdamW(_p(), **kw), {"weight_decay": float("inf")}, ValueError, r"AdamW: weight_decay must be >= 0, got inf"),
    ErrorCase("adamw-beta", lambda **kw: optimlab.AdamW(_p(), **kw), {"betas": (0.9, 1.5)}, ValueError, r"AdamW: betas\[1\] must be in \[0, 1\), got 1\.5"),
]
