"""SGD, SGD with momentum (SGDM), Nesterov (NAG) and decoupled weight decay (SGDW, SGDWM)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from . import _moments as M
from ..checks import check_flags, check_lr, check_range
from ._common import (
    call_closure, check_fused_args, fill_group_defaults, lr_value, params_with_grad, resolve_foreach, run_update,
    use_fused,
)
from ._docs import common_args

__all__ = ["SGD", "SGDW", "sgd_update"]


def sgd_update(
    p, g, buf, *, lr: float, momentum: float, dampening: float, weight_decay: float,
    nesterov: bool, maximize: bool, decoupled: bool, first: bool = False,
) -> None:
    """One SGD step on a tensor or a list of tensors (``buf`` is ``None`` without momentum).

    On a parameter's first step (``first=True``) the momentum buffer is set to the (regularised)
    gradient, exactly as ``torch.optim.SGD`` does, not to ``(1 - dampening) * g``.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    if momentum != 0:
        if first:
            M.copy_(buf, g)
        else:
            M.momentum_(buf, g, momentum, dampening)
        if nesterov:  # theta <- theta - lr * (g + momentum * b), as two in-place passes
            M.add_(p, g, -lr)
            M.add_(p, buf, -lr * momentum)
            return
        g = buf
    M.add_(p, g, -lr)


class SGD(torch.optim.Optimizer):
    __doc__ = r"""Stochastic gradient descent with optional momentum (SGDM), Nesterov momentum (NAG) and
    L2 or decoupled weight decay (SGDW / SGDWM).

    Symbols: :math:`\eta` = ``lr``, :math:`\lambda` = ``momentum``, :math:`\tau` = ``dampening``,
    :math:`\gamma` = ``weight_decay``, :math:`g_t` the gradient at :math:`\theta_{t-1}`.

    Update as implemented (the same as ``torch.optim.SGD``)::

        g   <- -g                          if maximize
        g   <- g + gamma * theta           if weight_decay and not decoupled (L2)
        theta <- theta * (1 - eta*gamma)   if weight_decay and decoupled (SGDW)
        b_1 = g_1;  b_t = lam * b_{t-1} + (1 - tau) * g_t          if momentum
        d_t = g_t + lam * b_t  (nesterov)   or   d_t = b_t          (or g_t without momentum)
        theta <- theta - eta * d_t

    The lecture writes SGDM as :math:`v_t = \lambda v_{t-1} - \eta g`, :math:`\theta_t = \theta_{t-1}+v_t`;
    with a constant rate this is the same trajectory (:math:`v_t = -\eta b_t`).  NAG is the
    lecture's "no second copy of the parameters" form, evaluated at :math:`\theta'` (Sutskever et
    al. 2013 reformulation), which is what torch implements.

    Decoupled weight decay follows Loshchilov & Hutter (SGDW): the decay bypasses the momentum.
    The paper multiplies the decay by the schedule multiplier :math:`\eta_t`; here (as in
    ``torch.optim.AdamW``) it is multiplied by the current ``lr``, so a scheduler scales it too.
    The lecture's SGDWM :math:`\theta_t=\theta_{t-1}-m_t-\gamma\theta_{t-1}` is
    ``weight_decay = gamma / lr``.

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-3, >= 0): learning rate :math:`\eta` (torch's default).
        momentum (float, default 0, >= 0): momentum factor :math:`\lambda`.
        dampening (float, default 0, in [0, 1]): dampening :math:`\tau` for momentum.
        weight_decay (float, default 0, >= 0): :math:`\gamma`.
        nesterov (bool, default False): Nesterov momentum; needs momentum > 0 and dampening = 0.
        decoupled_weight_decay (bool, default False): SGDW: decay the weights outside the gradient.
    """ + common_args("_fused_sgd_", "all but decoupled weight decay") + r"""

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported without momentum and without
    L2 weight decay; otherwise they raise torch's "does not support sparse gradients" error.

    State per parameter: ``momentum_buffer`` (like the parameter; only when momentum > 0).

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.6200, -1.2400])

    References:
        Robbins & Monro, "A Stochastic Approximation Method", 1951.
        Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        Nesterov, "A method for unconstrained convex minimization problem with the rate of
        convergence O(1/k^2)", 1983; Sutskever et al., ICML 2013.
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, arXiv:1711.05101.
    """

    _owner = "SGD"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        decoupled_weight_decay: bool = False,
        fused: bool | None = None,
    ) -> None:
        owner = self._owner
        check_lr(owner, lr)
        check_range(owner, "momentum", momentum, 0.0)
        check_range(owner, "dampening", dampening, 0.0, 1.0)
        check_range(owner, "weight_decay", weight_decay, 0.0)
        check_flags(owner, foreach=foreach, nesterov=nesterov, maximize=maximize,
                    decoupled_weight_decay=decoupled_weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"{owner}: nesterov=True requires momentum > 0 and dampening = 0, "
                f"got momentum={momentum!r}, dampening={dampening!r}"
            )
        check_fused_args(owner, fused, foreach, {"decoupled_weight_decay=True": decoupled_weight_decay})
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, foreach=foreach,
            decoupled_weight_decay=decoupled_weight_decay, fused=fused,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        fill_group_defaults(self.param_groups, decoupled_weight_decay=False, maximize=False, foreach=None,
                            nesterov=False, fused=None)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = call_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            sparse_ok = momentum == 0 and (group["weight_decay"] == 0 or group["decoupled_weight_decay"])
            params, grads = params_with_grad(self._owner, group, allow_sparse=sparse_ok)
            if not params:
                continue
            foreach = resolve_foreach(group["foreach"], params)
            if foreach and sparse_ok and any(g.is_sparse for g in grads):
                foreach = False  # torch._foreach_* kernels take dense tensors only
            fused = use_fused(self._owner, group, params, grads, "_fused_sgd_",
                              options_ok=not (group["decoupled_weight_decay"] and group["weight_decay"]))
            hyper = dict(
                lr=lr_value(group["lr"]), momentum=momentum, dampening=group["dampening"],
                weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                maximize=group["maximize"], decoupled=group["decoupled_weight_decay"],
            )
            if momentum == 0:
                self._apply([(p, g, None) for p, g in zip(params, grads)], hyper, foreach, fused, first=False)
                continue
            # A buffer starts as the first gradient, so fresh and existing buffers run apart.
            fresh, rest = [], []
            for p, g in zip(params, grads):
                state = self.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    fresh.append((p, g, state["momentum_buffer"]))
                else:
                    rest.append((p, g, state["momentum_buffer"]))
            if fresh:
                self._apply(fresh, hyper, foreach, fused, first=True)
            if rest:
                self._apply(rest, hyper, foreach, fused, first=False)
        return loss

    @staticmethod
    def _apply(rows: list[tuple], hyper: dict, foreach: bool, fused: bool, first: bool) -> None:
        if not fused:
            run_update(sgd_update, rows, foreach=foreach, first=first, **hyper)
            return
        ps, gs, bufs = (list(c) for c in zip(*rows))
        torch._fused_sgd_(ps, gs, [] if hyper["momentum"] == 0 else bufs, weight_decay=hyper["weight_decay"],
                          momentum=hyper["momentum"], lr=hyper["lr"], dampening=hyper["dampening"],
                          nesterov=hyper["nesterov"], maximize=hyper["maximize"], is_first_step=first)


class SGDW(SGD):
    __doc__ = (
        "SGD with decoupled weight decay (SGDW, and SGDWM with momentum): "
        "``SGD(..., decoupled_weight_decay=True)``.\n\n"
        "Defaults: lr=1e-3, momentum=0, weight_decay=1e-2 (torch.optim.AdamW's default decay).\n\n"
        "    >>> import torch, optimlab\n"
        "    >>> w = torch.nn.Parameter(torch.ones(2))\n"
        "    >>> opt = optimlab.SGDW([w], lr=0.1, momentum=0.9, weight_decay=0.1)\n"
        "    >>> w.sum().backward(); opt.step(); w.detach()\n"
        "    tensor([0.8900, 0.8900])\n\n"
        "See :class:`SGD` for the update rule, arguments and state.\n"
        "Reference: Loshchilov & Hutter, \"Decoupled Weight Decay Regularization\", ICLR 2019, arXiv:1711.05101.\n"
    )
    _owner = "SGDW"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 1e-2,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, momentum, dampening, weight_decay, nesterov,
            maximize=maximize, foreach=foreach, decoupled_weight_decay=True,
        )
