"""Probes the claims record during runs: ``fn(step, model, optimizer) -> dict`` (``RunSpec.probes``).

They read the optimizer's state only (no gradients are changed); names are
``"optimlab.lab.claims.probes:<function>"``.
"""

from __future__ import annotations

import math

import torch

from optimlab.optim.adabound import rate_bounds

__all__ = ["adabound_step_sizes", "swats_state", "adaptive_rate", "ADABOUND", "SWATS", "ADAPTIVE"]

ADABOUND = "optimlab.lab.claims.probes:adabound_step_sizes"
SWATS = "optimlab.lab.claims.probes:swats_state"
ADAPTIVE = "optimlab.lab.claims.probes:adaptive_rate"


def _quantiles(x: torch.Tensor, qs=(0.1, 0.5, 0.9)) -> list[float]:
    if x.numel() > 200_000:
        x = x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:200_000]]
    return torch.quantile(x.double(), torch.tensor(qs, dtype=torch.float64)).tolist()


def adabound_step_sizes(step, model, optimizer) -> dict:
    """AdaBound's per-parameter step size ``clip(a_t / (sqrt(v_t) + eps), eta_l, eta_u)`` (the factor
    applied to ``m_t``) and the bounds: quantiles 10/50/90% of the clipped and unclipped sizes."""
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    base_lr = float(group.get("base_lr", lr)) or lr
    final_lr = float(group["final_lr"]) * (lr / base_lr)
    gamma, eps = float(group["gamma"]), float(group["eps"])
    beta1, beta2 = group["betas"]
    sizes, raw, t = [], [], 0
    for p in group["params"]:
        st = optimizer.state.get(p, {})
        if "exp_avg_sq" not in st:
            continue
        t = float(st["step"])
        v = st["max_exp_avg_sq"] if group.get("amsbound") else st["exp_avg_sq"]
        a = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        r = (a / (v.sqrt() + eps)).reshape(-1)
        raw.append(r)
    if not raw or t == 0:  # every key, so that the recorded series stay aligned with the probe steps
        return dict.fromkeys(("t", "lower", "upper", "final_lr", "q10", "q50", "q90", "raw_q10", "raw_q50", "raw_q90",
                              "log_spread"))
    lo, hi = rate_bounds(final_lr, gamma, t)
    r = torch.cat(raw)
    sizes = r.clamp(lo, hi)
    q = _quantiles(sizes)
    qr = _quantiles(r)
    return {"t": t, "lower": lo, "upper": hi if math.isfinite(hi) else None, "final_lr": final_lr,
            "q10": q[0], "q50": q[1], "q90": q[2], "raw_q10": qr[0], "raw_q50": qr[1], "raw_q90": qr[2],
            "log_spread": math.log10(q[2] / q[0]) if q[0] > 0 else None}


def swats_state(step, model, optimizer) -> dict:
    """SWATS's phase (1 once every tensor is in SGD, 0.5 mixed, 0 Adam), first switch step and median SGD rate."""
    phase = getattr(optimizer, "phase", None)
    rates = [r for r in (optimizer.sgd_lrs() if hasattr(optimizer, "sgd_lrs") else []) if r is not None]
    rates.sort()
    return {"phase": {"adam": 0.0, "mixed": 0.5, "sgd": 1.0}.get(phase, float("nan")),
            "switch_step": getattr(optimizer, "switch_step", None),
            "sgd_lr": rates[len(rates) // 2] if rates else None}


def adaptive_rate(step, model, optimizer) -> dict:
    """Adam's adaptive rate ``1 / (sqrt(v_hat) + eps)`` of 32 fixed coordinates (the first of the largest
    tensor), as log10, to measure its variance over seeds in the first steps (RAdam's argument)."""
    group = optimizer.param_groups[0]
    beta2, eps = group["betas"][1], float(group["eps"])
    ps = [p for p in group["params"] if "exp_avg_sq" in optimizer.state.get(p, {})]
    if not ps:
        return {"log_rate": None}
    p = max(ps, key=lambda q: q.numel())
    st = optimizer.state[p]
    t = float(st["step"])
    vhat = st["exp_avg_sq"].reshape(-1)[:32] / (1 - beta2 ** t)
    return {"log_rate": torch.log10(1.0 / (vhat.sqrt() + eps)).tolist()}
