"""RAdam (Liu et al.): Adam with the variance of its adaptive rate rectified; SGDM while the
rate's variance is intractable."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

import math

from . import _ops as M
from ..checks import check_adam_args, check_flags, check_range
from ._base import OptimizerBase, transform_grads, tensor_mode
from ._common import (
    advance, check_fused_args, coefficients, collect_grads, hyper, init_moments, resolve_foreach, run_update,
)
from ._compiled import use_compiled
from ._docs import common_args

__all__ = ["RAdam", "radam_update", "radam_coefficients"]


def sma_length(beta2, step):
    """RAdam's length of the approximated simple moving average: ``(rho_inf, rho_t)``.

    rho_inf = 2 / (1 - beta2) - 1,  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t).
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf, rho_inf - 2.0 * step * beta2**step / (1.0 - beta2**step)


def rectification(rho_inf, rho_t, rectify=True):
    """RAdam's variance rectification r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)),
    defined for rho_t > 4.  With tensors, ``rectify`` (a bool tensor) masks the steps where it is
    used; elsewhere r is 1, so that a ``torch.where`` over both branches (and its gradient) stays finite."""
    ratio = (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
    if isinstance(ratio, Tensor):
        return torch.where(rectify, ratio, 1.0).sqrt()
    return math.sqrt(ratio)


def radam_coefficients(*, step, lr, beta1, beta2, eps: float, rectify_threshold: float) -> dict:
    """RAdam's per-step scalars, for one formula over both branches:
    ``theta += step_c * m / (root_c * sqrt(v) + eps_c)``.

    Rectified (``rho_t > tau``): ``step_c = -lr r_t sqrt(bc2) / bc1``, ``root_c = 1``, ``eps_c = eps``.
    Not yet (an un-adapted momentum step): ``step_c = -lr / bc1``, ``root_c = 0``, ``eps_c = 1``.
    """
    bc1 = M.bias_correction(beta1, step)
    rho_inf, rho_t = sma_length(beta2, step)
    rectify = rho_t > rectify_threshold
    if isinstance(rectify, Tensor):
        r = rectification(rho_inf, rho_t, rectify)
        on = rectify.to(r.dtype)
        return {"step_c": -lr * torch.where(rectify, r * M.bias_correction_sqrt(beta2, step), 1.0) / bc1,
                "root_c": on, "eps_c": on * eps + (1.0 - on)}
    if rectify:
        r = rectification(rho_inf, rho_t)
        return {"step_c": -lr * r * M.bias_correction_sqrt(beta2, step) / bc1, "root_c": 1.0, "eps_c": eps}
    return {"step_c": -lr / bc1, "root_c": 0.0, "eps_c": 1.0}


def radam_update(p, g, m, v, *, step_c, root_c, eps_c, lr, beta1, beta2, weight_decay, decoupled: bool,
                 maximize: bool) -> None:
    """One RAdam step on a tensor or on lists of tensors (per-step scalars from :func:`radam_coefficients`).

    Rectified: ``theta -= (eta r sqrt(bc2) / bc1) * m / (sqrt(v) + eps)``, torch's order of operations
    folded into one scalar, one root and one ``addcdiv``; before: ``theta -= (eta / bc1) m``.  With
    Python scalars the un-rectified step skips the root; with tensor scalars (tensor mode) it is the
    same formula with ``root_c = 0``, ``eps_c = 1``, so no value is read back to the host.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    if isinstance(root_c, Tensor):
        M.addcdiv_(p, m, M.add_scalar_(M.sqrt(v) * root_c.to(v.dtype), eps_c), step_c)
    elif root_c:
        M.addcdiv_(p, m, M.add_scalar_(M.sqrt(v), eps_c), step_c)
    else:  # un-adapted momentum step (SGDM with a de-biased m)
        M.add_(p, m, step_c)


class RAdam(OptimizerBase):
    __doc__ = r"""RAdam: rectified Adam, a built-in warm-up.  While the approximated SMA length
    :math:`\rho_t` is small the adaptive rate's variance is intractable and the step is plain
    de-biased momentum; afterwards Adam's step is scaled by the rectification :math:`r_t`.

    Symbols: :math:`\eta` = ``lr``, :math:`(\beta_1,\beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps``, :math:`\gamma` = ``weight_decay``, :math:`\tau` = ``rectify_threshold``, :math:`t` =
    ``state["step"]`` (after increment), :math:`g_t` the gradient at :math:`\theta_{t-1}`.

    Update as implemented (equal to ``torch.optim.RAdam`` to float rounding with :math:`\tau=5`)::

        g <- -g if maximize;   g <- g + gamma*theta (L2)  or  theta <- theta*(1 - eta*gamma) (decoupled)
        m_t = beta1 m_{t-1} + (1 - beta1) g_t,   v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        rho_inf = 2/(1 - beta2) - 1,   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > tau:
            r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
            theta <- theta - eta r_t (m_t/(1-beta1^t)) sqrt(1-beta2^t) / (sqrt(v_t) + eps)
        else:
            theta <- theta - eta m_t/(1-beta1^t)

    The paper (Algorithm 2) and the lecture rectify when :math:`\rho_t > 4`; torch uses
    :math:`\rho_t > 5` (the authors' code uses :math:`\ge 5`).  With :math:`\beta_2=0.999`,
    :math:`\rho_5\approx4.99`, so torch takes one more un-adapted step (t = 5) than the paper.
    ``rectify_threshold=4.0`` gives the paper's rule, the default 5.0 torch's.

    Deviations: :math:`\epsilon` is added to :math:`\sqrt{v_t}` before de-biasing (torch and the
    authors' code; the lecture writes :math:`\sqrt{\hat v_t}+\epsilon`, the paper has no
    :math:`\epsilon`); the two agree when ``eps=0``.

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-3, >= 0): learning rate :math:`\eta`.
        betas (tuple, default (0.9, 0.999), each in [0, 1)): :math:`(\beta_1, \beta_2)`.
        eps (float, default 1e-8, >= 0): :math:`\epsilon`.
        weight_decay (float, default 0, >= 0): :math:`\gamma`.
        decoupled_weight_decay (bool, default False): AdamW-style decay (torch's "RAdamW").
        rectify_threshold (float, default 5.0, >= 4): :math:`\tau`; rectify when
            :math:`\rho_t > \tau` (4.0: the paper and the lecture; 5.0: torch).
    """ + common_args() + r"""

    State per parameter: ``step`` (0-d float32 CPU tensor), ``exp_avg`` (:math:`m`),
    ``exp_avg_sq`` (:math:`v`); torch's format.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.RAdam([w], lr=0.1)
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.8000, -1.6000])

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, arXiv:1908.03265.
    """

    _owner = "RAdam"
    _group_defaults = {"capturable": False, "decoupled_weight_decay": False, "rectify_threshold": 5.0,
                       "fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        rectify_threshold: float = 5.0,
    ) -> None:
        owner = self._owner
        betas = check_adam_args(owner, lr, betas, eps, weight_decay)
        check_flags(owner, foreach=foreach, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        check_range(owner, "rectify_threshold", rectify_threshold, 4.0)
        self._check_common(capturable=capturable, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
            capturable=capturable, differentiable=differentiable, fused=fused,
            rectify_threshold=float(rectify_threshold),
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's first step)."""
        collect_grads(self._owner, group, params, grads)
        init_moments(self.state, group, params, exp_avgs, exp_avg_sqs, [], steps)
        return bool(params)

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
            if not self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, steps):
                continue
            transform_grads(grad_transform, group, params, grads)
            tensor = tensor_mode(group)
            values = advance(steps, tensor)
            lr, beta1, beta2, weight_decay = hyper(group, tensor, "lr", "beta1", "beta2", "weight_decay")
            coefs = coefficients(radam_coefficients, values, lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                                 rectify_threshold=group["rectify_threshold"])
            rows = list(zip(params, grads, exp_avgs, exp_avg_sqs))
            run_update(
                radam_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                compiled=use_compiled(group, rows, tensor), lr=lr, beta1=beta1, beta2=beta2,
                weight_decay=weight_decay, decoupled=group["decoupled_weight_decay"], maximize=group["maximize"],
            )
