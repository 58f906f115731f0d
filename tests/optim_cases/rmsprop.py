"""RMSprop: plain, centred, with momentum; torch's v_0 = 0 and the lecture's v_1 = g_0^2."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("rmsprop", lambda p, **kw: optimlab.RMSprop(p, **{"lr": 0.01, **kw}), quad_lr=0.03, rosen_lr=3e-3, rosen_steps=5000, rosen_tol=0.1),
    Case("rmsprop_first_grad", lambda p, **kw: optimlab.RMSprop(p, **{"lr": 0.01, "init_square_avg": "first_grad", **kw}), quad_lr=0.03, rosen_lr=3e-3, rosen_steps=5000, rosen_tol=0.1),
    Case("rmsprop_centered_momentum", lambda p, **kw: optimlab.RMSprop(p, **{"lr": 0.003, "momentum": 0.9, "centered": True, "weight_decay": 1e-4, **kw}),
         quad_lr=0.003, rosen_lr=3e-4, rosen_steps=2000),
]

TORCH_EQUIV = [
    TorchEquiv(
        "rmsprop",
        lambda p, **kw: optimlab.RMSprop(p, **kw),
        lambda p, **kw: torch.optim.RMSprop(p, **kw),
        grid(momentum=[0.0, 0.9], centered=[False, True], weight_decay=[0.0, 0.05], maximize=[False, True],
             foreach=[False, True], alpha=[0.99, 0.5]),
    ),
]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
_R = lambda **kw: optimlab.RMSprop(_p(), **kw)  # noqa: E731
ERRORS = [
    ErrorCase("rmsprop-lr", _R, {"lr": -1.0}, ValueError, r"RMSprop: lr must be >= 0, got -1\.0"),
    ErrorCase("rmsprop-alpha-low", _R, {"alpha": -0.1}, ValueError, r"RMSprop: alpha must be in \[0, 1\], got -0\.1"),
    ErrorCase("rmsprop-alpha-high", _R, {"alpha": 1.5}, ValueError, r"RMSprop: alpha must be in \[0, 1\], got 1\.5"),
    ErrorCase("rmsprop-eps", _R, {"eps": -1e-8}, ValueError, r"RMSprop: eps must be >= 0, got -1e-08"),
    ErrorCase("rmsprop-wd", _R, {"weight_decay": float("inf")}, ValueError, r"RMSprop: weight_decay must be >= 0, got inf"),
    ErrorCase("rmsprop-momentum", _R, {"momentum": -0.9}, ValueError, r"RMSprop: momentum must be >= 0, got -0\.9"),
    ErrorCase("rmsprop-centered-type", _R, {"centered": 1}, ValueError, r"RMSprop: centered must be True or False, got 1"),
    ErrorCase("rmsprop-init", _R, {"init_square_avg": "ones"}, ValueError, r"RMSprop: init_square_avg must be one of 'zeros', 'first_grad', got 'ones'"),
    ErrorCase("rmsprop-unknown", _R, {"betas": (0.9, 0.99)}, TypeError, r"betas"),
]
