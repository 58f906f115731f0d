"""SGD family: SGD, SGDM, NAG, SGDW(M)."""

import torch

import optimlab

from . import Case, ErrorCase, TorchEquiv, grid

CASES = [
    Case("sgd", lambda p, **kw: optimlab.SGD(p, **{"lr": 0.05, **kw}), quad_lr=0.05, rosen_lr=1e-3, rosen_steps=20000, rosen_tol=0.1, sparse_ok=True, fused_kernel="_fused_sgd_"),
    Case("sgdm", lambda p, **kw: optimlab.SGD(p, **{"lr": 0.01, "momentum": 0.9, **kw}), quad_lr=0.01, rosen_lr=2e-4, rosen_steps=12000, sparse_ok=True, fused_kernel="_fused_sgd_"),
    Case("nag", lambda p, **kw: optimlab.SGD(p, **{"lr": 0.01, "momentum": 0.9, "nesterov": True, **kw}), quad_lr=0.01, rosen_lr=2e-4, rosen_steps=12000, sparse_ok=True, fused_kernel="_fused_sgd_"),
    Case("sgdwm", lambda p, **kw: optimlab.SGDW(p, **{"lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, **kw}), quad_lr=0.01, rosen_lr=2e-4, rosen_steps=12000, sparse_ok=True,
         skip={"sparse": "decoupled decay moves every row: compared with torch's rule in test_optim_sparse.py"}),
    Case("sgdm_dampening_l2", lambda p, **kw: optimlab.SGD(p, **{"lr": 0.01, "momentum": 0.9, "dampening": 0.5, "weight_decay": 1e-4, **kw}), quad_lr=0.02, rosen_lr=4e-4, rosen_steps=12000, fused_kernel="_fused_sgd_",
         skip={"sparse": "L2 decay with a sparse gradient is refused, as torch fails on it: test_optim_sparse.py"}),
]

TORCH_EQUIV = [
    TorchEquiv(
        "sgd",
        lambda p, **kw: optimlab.SGD(p, **kw),
        lambda p, **kw: torch.optim.SGD(p, **kw),
        grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True], weight_decay=[0.0, 0.05],
             maximize=[False, True], foreach=[False, True, None]),
    ),
]
# drop combinations torch rejects (nesterov needs momentum > 0 and zero dampening)
TORCH_EQUIV[0].flags[:] = [f for f in TORCH_EQUIV[0].flags
                           if not (f["nesterov"] and (f["momentum"] == 0 or f["dampening"] != 0))]

_p = lambda: [torch.nn.Parameter(torch.zeros(2))]  # noqa: E731
ERRORS = [
    ErrorCase("sgd-lr", lambda **kw: optimlab.SGD(_p(), **kw), {"lr": -0.1}, ValueError, r"SGD: lr must be >= 0, got -0\.1"),
    ErrorCase("sgd-momentum", lambda **kw: optimlab.SGD(_p(), **kw), {"momentum": -0.5}, ValueError, r"SGD: momentum must be >= 0, got -0\.5"),
    ErrorCase("sgd-dampening", lambda **kw: optimlab.SGD(_p(), **kw), {"dampening": 1.5}, ValueError, r"SGD: dampening must be in \[0, 1\], got 1\.5"),
    ErrorCase("sgd-wd", lambda **kw: optimlab.SGD(_p(), **kw), {"weight_decay": -1e-3}, ValueError, r"SGD: weight_decay must be >= 0, got -0\.001"),
    ErrorCase("sgd-nesterov-no-momentum", lambda **kw: optimlab.SGD(_p(), **kw), {"nesterov": True}, ValueError, r"SGD: nesterov=True requires momentum > 0 and dampening = 0, got momentum=0"),
    ErrorCase("sgd-nesterov-dampening", lambda **kw: optimlab.SGD(_p(), **kw), {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, r"SGD: nesterov=True requires .*dampening=0\.1"),
    ErrorCase("sgd-lr-nan", lambda **kw: optimlab.SGD(_p(), **kw), {"lr": float("nan")}, ValueError, r"SGD: lr must be >= 0, got nan"),
    ErrorCase("sgd-nesterov-type", lambda **kw: optimlab.SGD(_p(), **kw), {"nesterov": "yes"}, ValueError, r"SGD: nesterov must be True or False, got 'yes'"),
    ErrorCase("sgd-unknown", lambda **kw: optimlab.SGD(_p(), **kw), {"betas": (0.9, 0.99)}, TypeError, r"betas"),
    ErrorCase("sgdw-lr", lambda **kw: optimlab.SGDW(_p(), **kw), {"lr": -1.0}, ValueError, r"SGDW: lr must be >= 0, got -1\.0"),
    ErrorCase("sgdw-unknown", lambda **kw: optimlab.SGDW(_p(), **kw), {"decoupled_weight_decay": False}, TypeError, r"decoupled_weight_decay"),
]
