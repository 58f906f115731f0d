"""RMSprop (Hinton's lecture 6e), centred (Graves) and with momentum, as torch; plus the
lecture's initialisation v_1 = g_0^2."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_choice, check_flags, check_lr, check_range
from ._base import OptimizerBase, transform_grads, tensor_mode
from ._common import advance, check_fused_args, coefficients, collect_grads, hyper, new_step, resolve_foreach, run_update
from ._compiled import use_compiled
from ._docs import common_args

__all__ = ["RMSprop", "rmsprop_update", "rmsprop_coefficients"]

INIT_CHOICES = ("zeros", "first_grad")


def rmsprop_coefficients(*, step, alpha, first_grad_init: bool) -> dict:
    """RMSprop's per-step scalar: the EMA coefficient of ``v``, 0 at the first step with
    ``first_grad_init`` (``v_1 = g_1^2``), else ``alpha``."""
    return {"v_decay": M.where(step == 1, 0.0, alpha) if first_grad_init else alpha}


def rmsprop_update(
    p, g, v, buf, gbar, *, v_decay, lr, alpha, eps: float, weight_decay, momentum, centered: bool, maximize: bool,
) -> None:
    """One RMSprop step on a tensor or lists (``buf``/``gbar`` are ``None`` when unused; ``v_decay``
    from :func:`rmsprop_coefficients`)."""
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.ema_sq_(v, g, v_decay)
    if centered:
        M.ema_(gbar, g, alpha)
        avg = M.sqrt_(M.addcmul(v, gbar, gbar, -1.0))
    else:
        avg = M.sqrt(v)
    avg = M.add_scalar_(avg, eps, constant=True)
    if buf is not None:  # momentum > 0 (the buffer exists exactly then)
        M.addcdiv_(M.mul_(buf, momentum, constant=True), g, avg)
        M.add_(p, buf, -lr)
    else:
        M.addcdiv_(p, g, avg, -lr)


class RMSprop(OptimizerBase):
    __doc__ = r"""RMSprop: divide the gradient by the root of an EMA of its square; optionally centred
    (divide by an estimate of the standard deviation instead) and with momentum.

    Symbols: :math:`\eta` = ``lr``, :math:`\alpha` = ``alpha``, :math:`\epsilon` = ``eps``,
    :math:`\gamma` = ``weight_decay``, :math:`\mu` = ``momentum``, :math:`t` = ``state["step"]``
    (after increment), :math:`g_t` the gradient at :math:`\theta_{t-1}`.

    Update as implemented (equal to ``torch.optim.RMSprop`` to float rounding)::

        g <- -g if maximize;   g <- g + gamma*theta      (L2)
        v_t = alpha v_{t-1} + (1 - alpha) g_t^2          v_0 = 0 (init_square_avg="zeros")
                                                         v_1 = g_1^2 (init_square_avg="first_grad")
        gbar_t = alpha gbar_{t-1} + (1 - alpha) g_t,  d_t = sqrt(v_t - gbar_t^2) + eps   (centered)
        d_t = sqrt(v_t) + eps                                                             (otherwise)
        b_t = mu b_{t-1} + g_t / d_t,  theta <- theta - eta b_t                          (momentum > 0)
        theta <- theta - eta g_t / d_t                                                   (otherwise)

    The lecture's RMSProp, :math:`\theta_t=\theta_{t-1}-\eta\,g_{t-1}/\sqrt{v_t}`,
    :math:`v_1=g_0^2`, :math:`v_t=\alpha v_{t-1}+(1-\alpha)g_{t-1}^2`, is
    ``init_square_avg="first_grad"`` (with ``eps=0``; the default ``eps`` is added outside the
    root, as torch does).  torch starts from :math:`v_0=0`, which makes the first steps larger
    by up to :math:`1/\sqrt{1-\alpha}` (10x for :math:`\alpha=0.99`); that is the default here.
    ``"first_grad"`` only changes :math:`v`; the centred :math:`\bar g` and the momentum buffer
    still start at zero.  The lecture has no centred form or momentum (Graves, 2013, and torch).

    Deviations from ``torch.optim.RMSprop``: ``alpha`` must be in [0, 1] (torch only checks
    >= 0).

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-2, >= 0): learning rate :math:`\eta`.
        alpha (float, default 0.99, in [0, 1]): smoothing constant :math:`\alpha`.
        eps (float, default 1e-8, >= 0): :math:`\epsilon`, added to the root.
        weight_decay (float, default 0, >= 0): L2 penalty :math:`\gamma` added to the gradient.
        momentum (float, default 0, >= 0): momentum factor :math:`\mu`.
        centered (bool, default False): normalise by the estimated variance (Graves).
        init_square_avg (str, default "zeros"): ``"zeros"`` (torch, :math:`v_0=0`) or
            ``"first_grad"`` (the lecture, :math:`v_1=g_1^2`).
    """ + common_args() + r"""

    State per parameter: ``step`` (0-d float32 CPU tensor, as torch), ``square_avg`` (:math:`v`),
    ``momentum_buffer`` (:math:`b`, only with momentum > 0), ``grad_avg`` (:math:`\bar g`, only
    when centered).  The state_dict has torch's format.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.RMSprop([w], lr=0.01, init_square_avg="first_grad")
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.9900, -1.9900])

    References:
        Tieleman & Hinton, "Lecture 6.5 - RMSprop", COURSERA: Neural Networks for Machine
        Learning, 2012 (no paper).
        Graves, "Generating Sequences With Recurrent Neural Networks", 2013, arXiv:1308.0850.
    """

    _owner = "RMSprop"
    _group_defaults = {"capturable": False, "momentum": 0.0, "centered": False, "init_square_avg": "zeros",
                       "fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        fused: bool | None = None,
        init_square_avg: str = "zeros",
    ) -> None:
        owner = self._owner
        check_lr(owner, lr)
        check_range(owner, "alpha", alpha, 0.0, 1.0)
        check_range(owner, "eps", eps, 0.0)
        check_range(owner, "weight_decay", weight_decay, 0.0)
        check_range(owner, "momentum", momentum, 0.0)
        check_flags(owner, foreach=foreach, centered=centered, maximize=maximize)
        check_choice(owner, "init_square_avg", init_square_avg, INIT_CHOICES)
        self._check_common(capturable=capturable, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
            capturable=capturable, foreach=foreach, maximize=maximize, differentiable=differentiable,
            fused=fused, init_square_avg=init_square_avg,
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, square_avgs, momentum_buffers, grad_avgs, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's
        first step; ``momentum_buffer``/``grad_avg`` also when momentum/centered is turned on later)."""
        collect_grads(self._owner, group, params, grads)
        momentum, centered = group["momentum"], group["centered"]
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = new_step(p, group)
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if momentum > 0 and "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if centered and "grad_avg" not in state:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            steps.append(state["step"])
            square_avgs.append(state["square_avg"])
            momentum_buffers.append(state["momentum_buffer"] if momentum > 0 else None)
            grad_avgs.append(state["grad_avg"] if centered else None)
        return bool(params)

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, square_avgs, momentum_buffers, grad_avgs, steps = [], [], [], [], [], []
            if not self._init_group(group, params, grads, square_avgs, momentum_buffers, grad_avgs, steps):
                continue
            transform_grads(grad_transform, group, params, grads)
            tensor = tensor_mode(group)
            values = advance(steps, tensor)
            lr, weight_decay = hyper(group, tensor, "lr", "weight_decay")
            coefs = coefficients(rmsprop_coefficients, values, alpha=group["alpha"],
                                 first_grad_init=group["init_square_avg"] == "first_grad")
            rows = list(zip(params, grads, square_avgs, momentum_buffers, grad_avgs))
            run_update(
                rmsprop_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                compiled=use_compiled(group, rows, tensor), lr=lr, alpha=group["alpha"], eps=group["eps"],
                weight_decay=weight_decay, momentum=group["momentum"], centered=group["centered"],
                maximize=group["maximize"],
            )
