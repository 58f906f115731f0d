"""SGD, SGD with momentum (SGDM), Nesterov (NAG) and decoupled weight decay (SGDW, SGDWM)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_flags, check_lr, check_range
from ._base import AlwaysDecoupled, OptimizerBase, transform_grads, kernel_ok, tensor_mode
from ._common import check_fused_args, collect_grads, hyper, resolve_foreach, run_update
from ._compiled import use_compiled
from ._docs import common_args

# torch 2.13's _fused_sgd_ skips whole SIMD blocks of float16/bfloat16 parameters (they never
# change), so the kernel runs only for these dtypes.
SGD_KERNEL_DTYPES = frozenset((torch.float32, torch.float64))

__all__ = ["SGD", "SGDW", "sgd_update"]


def sgd_update(
    p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov: bool, maximize: bool, decoupled: bool,
    first: bool = False,
) -> None:
    """One SGD step on a tensor or a list of tensors (``buf`` is ``None`` without momentum).

    On a parameter's first step (``first=True``) the momentum buffer is set to the (regularised)
    gradient, exactly as ``torch.optim.SGD`` does, not to ``(1 - dampening) * g``.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    if buf is not None:  # momentum != 0 (the buffer exists exactly then)
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


def sgd_sparse_update(p: Tensor, g: Tensor, buf: Tensor | None, *, lr: float, momentum: float, dampening: float,
                      weight_decay: float, nesterov: bool, maximize: bool, decoupled: bool) -> Tensor | None:
    """One SGD step for a sparse COO gradient, per tensor, exactly as ``torch.optim.SGD`` does it:
    the momentum buffer starts as a (sparse) copy of the gradient.  L2 decay is refused (torch fails
    on it); decoupled decay shrinks every row.  Returns the buffer (``None`` without momentum)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        if not decoupled:
            raise RuntimeError(f"SGD does not support sparse gradients with L2 weight decay (the L2 term is dense; "
                               f"torch.optim.SGD fails too), got weight_decay={weight_decay!r}; use "
                               f"decoupled_weight_decay=True")
        M.decoupled_decay_(p, lr, weight_decay)
    if momentum != 0:
        if buf is None:
            buf = torch.clone(g).detach()
        else:
            buf.mul_(momentum).add_(g, alpha=1.0 - dampening)
        g = g.add(buf, alpha=momentum) if nesterov else buf
    p.add_(g, alpha=-lr)
    return buf


class SGD(OptimizerBase):
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
    """ + common_args("_fused_sgd_", "all but decoupled weight decay; float32/float64 only: torch 2.13's "
                  "kernel leaves float16/bfloat16 weights unchanged", capturable=False) + r"""

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported as in torch, per tensor: the
    momentum buffer of such a parameter is a sparse copy of its first gradient (torch's format).
    With L2 weight decay they raise ``RuntimeError`` (torch fails too); decoupled decay works.

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
    _group_defaults = {"nesterov": False, "decoupled_weight_decay": False, "fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float | Tensor = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
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
        self._check_common(capturable=False, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize, foreach=foreach, differentiable=differentiable,
            fused=fused, decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, momentum_buffers) -> bool:
        """Collect the group's parameters with a gradient and their momentum buffers (None before a
        parameter's first step with momentum); return whether any gradient is sparse."""
        sparse = collect_grads(self._owner, group, params, grads, allow_sparse=True)
        if group["momentum"] != 0:
            for p in params:
                momentum_buffers.append(self.state[p].get("momentum_buffer"))
        return sparse

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, bufs = [], [], []
            sparse = self._init_group(group, params, grads, bufs)
            if not params:
                continue
            transform_grads(grad_transform, group, params, grads)
            momentum = group["momentum"]
            tensor = tensor_mode(group)
            lr, weight_decay = hyper(group, tensor, "lr", "weight_decay")
            rule = dict(lr=lr, momentum=momentum, dampening=group["dampening"], weight_decay=weight_decay,
                        nesterov=group["nesterov"], maximize=group["maximize"],
                        decoupled=group["decoupled_weight_decay"])
            if sparse:  # sparse gradients: per tensor, torch's rule; the dense rest as usual
                dense = []
                for p, g, buf in zip(params, grads, bufs or [None] * len(params)):
                    if g.is_sparse:
                        buf = sgd_sparse_update(p, g, buf, **rule)
                        if buf is not None:
                            self.state[p]["momentum_buffer"] = buf
                    else:
                        dense.append((p, g, buf))
                params, grads, bufs = ([list(c) for c in zip(*dense)] if dense else ([], [], []))
                if momentum == 0:
                    bufs = []
                if not params:
                    continue
            if momentum == 0:
                self._apply(group, [(p, g, None) for p, g in zip(params, grads)], rule, first=False)
                continue
            # A buffer starts as the first gradient (torch's rule), so fresh and existing buffers run apart.
            fresh, rest = [], []
            for p, g, buf in zip(params, grads, bufs):
                if buf is None:
                    buf = self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    fresh.append((p, g, buf))
                else:
                    rest.append((p, g, buf))
            if fresh:
                self._apply(group, fresh, rule, first=True)
            if rest:
                self._apply(group, rest, rule, first=False)

    def _apply(self, group: dict, rows: list[tuple], rule: dict, first: bool) -> None:
        decoupled = rule["decoupled"] and (isinstance(rule["weight_decay"], Tensor) or rule["weight_decay"] != 0)
        if kernel_ok(group, rows, "_fused_sgd_", SGD_KERNEL_DTYPES, options_ok=not decoupled, owner=self._owner):
            ps, gs, bufs = (list(c) for c in zip(*rows))
            torch._fused_sgd_(ps, gs, [] if rule["momentum"] == 0 else bufs, weight_decay=rule["weight_decay"],
                              momentum=rule["momentum"], lr=rule["lr"], dampening=rule["dampening"],
                              nesterov=rule["nesterov"], maximize=rule["maximize"], is_first_step=first)
            return
        run_update(sgd_update, rows, foreach=resolve_foreach(group["foreach"], [r[0] for r in rows]), first=first,
                   compiled=use_compiled(group, rows, tensor_mode(group)), **rule)


class SGDW(AlwaysDecoupled, SGD):
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
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, momentum, dampening, weight_decay, nesterov,
            maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=True,
        )
