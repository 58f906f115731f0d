"""Adagrad (Duchi, Hazan & Singer), with torch's learning-rate decay and initial accumulator."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_flags, check_lr, check_range
from ._base import OptimizerBase, transform_grads, kernel_ok, tensor_mode
from ._common import (
    FUSED_DTYPES, advance, check_fused_args, coefficients, collect_grads, hyper, new_step, resolve_foreach,
    run_update,
)
from ._compiled import use_compiled
from ._docs import common_args

__all__ = ["Adagrad", "adagrad_update", "adagrad_coefficients", "adagrad_sparse_update"]


def adagrad_coefficients(*, step, lr, lr_decay) -> dict:
    """Adagrad's per-step scalar: ``step_c = -lr / (1 + (t - 1) lr_decay)``."""
    return {"step_c": -(lr / (1.0 + (step - 1.0) * lr_decay))}


def adagrad_update(p, g, s, *, step_c, weight_decay, eps: float, maximize: bool) -> None:
    """One dense Adagrad step on a tensor or on lists of tensors (``s`` is the sum of squares)."""
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.addcmul_(s, g, g)
    std = M.add_scalar_(M.sqrt(s), eps, constant=True)
    M.addcdiv_(p, g, std, step_c)


def adagrad_sparse_update(
    p: Tensor, g: Tensor, s: Tensor, *, step: float, lr: float, lr_decay: float, eps: float, maximize: bool,
) -> None:
    """One Adagrad step for a sparse COO gradient (per tensor only): only the rows present in
    ``g`` change, in ``s`` and in ``p``, exactly as ``torch.optim.Adagrad`` does."""
    if maximize:
        g = -g
    g = g.coalesce()  # the update is non-linear in g, so indices must be unique
    idx, vals = g._indices(), g._values()
    s.add_(torch.sparse_coo_tensor(idx, vals.pow(2), g.size(), check_invariants=False))
    std_vals = s.sparse_mask(g)._values().sqrt_().add_(eps)
    p.add_(torch.sparse_coo_tensor(idx, vals / std_vals, g.size(), check_invariants=False),
           alpha=adagrad_coefficients(step=step, lr=lr, lr_decay=lr_decay)["step_c"])


class Adagrad(OptimizerBase):
    __doc__ = r"""Adagrad: a per-coordinate learning rate divided by the root of the sum of all past
    squared gradients.

    Symbols: :math:`\eta` = ``lr``, :math:`\delta` = ``lr_decay``, :math:`\gamma` =
    ``weight_decay``, :math:`s_0` = ``initial_accumulator_value``, :math:`\epsilon` = ``eps``,
    :math:`t` = ``state["step"]`` (after increment), :math:`g_t` the gradient at :math:`\theta_{t-1}`.

    Update as implemented (equal to ``torch.optim.Adagrad`` to float rounding)::

        g <- -g if maximize;   g <- g + gamma*theta      (L2)
        eta_t = eta / (1 + (t - 1) * delta)
        s_t = s_{t-1} + g_t^2                             (s_0 = initial_accumulator_value)
        theta <- theta - eta_t * g_t / (sqrt(s_t) + eps)

    The lecture's form :math:`\theta_t=\theta_{t-1}-\eta\,g_{t-1}/\sqrt{\sum_{i=0}^{t-1}g_i^2}` is this
    with ``lr_decay=0``, ``initial_accumulator_value=0`` and ``eps=0``; Duchi et al.'s diagonal
    Adagrad adds :math:`\delta` to the root, as ``eps`` does here.  ``lr_decay`` and
    ``initial_accumulator_value`` are torch's extensions, not in the paper.

    Deviations from ``torch.optim.Adagrad``: state is created lazily at a parameter's first step
    (torch creates it in ``__init__`` for every parameter, even those that never get a
    gradient), and ``initial_accumulator_value`` is read from the parameter's group (torch reads
    the constructor default even when a group sets its own).

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-2, >= 0): learning rate :math:`\eta`.
        lr_decay (float, default 0, >= 0): :math:`\delta`, the rate decays as :math:`1/(1+(t-1)\delta)`.
        weight_decay (float, default 0, >= 0): L2 penalty :math:`\gamma` added to the gradient.
        initial_accumulator_value (float, default 0, >= 0): :math:`s_0` (both parts for complex
            parameters).
        eps (float, default 1e-10, >= 0): :math:`\epsilon`, added to :math:`\sqrt{s_t}`.
    """ + common_args("_fused_adagrad_", "all of them", capturable=False) + r"""

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported, per tensor, as in torch: only
    the rows present in the gradient are updated (a ``foreach`` group falls back to the
    per-tensor rule for its sparse gradients).  With ``weight_decay > 0`` a sparse gradient
    raises ``RuntimeError`` (the L2 term is dense), as in torch.

    State per parameter: ``step`` (0-d float32 CPU tensor, as torch), ``sum`` (:math:`s_t`).

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.Adagrad([w], lr=0.1)
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization", JMLR 12, 2011 (no arXiv version).
    """

    _owner = "Adagrad"
    _group_defaults = {"fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float | Tensor = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        owner = self._owner
        check_lr(owner, lr)
        check_range(owner, "lr_decay", lr_decay, 0.0)
        check_range(owner, "weight_decay", weight_decay, 0.0)
        check_range(owner, "initial_accumulator_value", initial_accumulator_value, 0.0)
        check_range(owner, "eps", eps, 0.0)
        check_flags(owner, foreach=foreach, maximize=maximize)
        self._check_common(capturable=False, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(
            lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
            differentiable=differentiable, fused=fused,
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, sums, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's
        first step); return whether any gradient is sparse."""
        sparse = collect_grads(self._owner, group, params, grads, allow_sparse=True)
        init = group["initial_accumulator_value"]
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = new_step(p, group)
                state["sum"] = torch.full_like(p, complex(init, init) if torch.is_complex(p) else init,
                                               memory_format=torch.preserve_format)
            sums.append(state["sum"])
            steps.append(state["step"])
        return sparse

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, sums, steps = [], [], [], []
            sparse = self._init_group(group, params, grads, sums, steps)
            if not params:
                continue
            transform_grads(grad_transform, group, params, grads)
            if sparse and group["weight_decay"] != 0:
                raise RuntimeError(f"{self._owner} does not support sparse gradients with weight_decay > 0 (the L2 "
                                   f"term is dense), got weight_decay={group['weight_decay']!r}")
            tensor = tensor_mode(group)
            values = advance(steps, tensor)
            lr, lr_decay, weight_decay = hyper(group, tensor, "lr", "lr_decay", "weight_decay")
            rule = dict(lr=lr, lr_decay=lr_decay, eps=group["eps"], maximize=group["maximize"])
            rows = list(zip(params, grads, sums))
            if not sparse and kernel_ok(group, rows, "_fused_adagrad_", FUSED_DTYPES, owner=self._owner):
                torch._fused_adagrad_(params, grads, sums, steps, weight_decay=weight_decay, **rule)
                continue
            if sparse:  # sparse gradients: per tensor, torch's rule; the dense rest as usual
                for row, step in zip(rows, values):
                    if row[1].is_sparse:
                        adagrad_sparse_update(*row, step=step, **rule)
                dense = [i for i, row in enumerate(rows) if not row[1].is_sparse]
                rows, values = [rows[i] for i in dense], [values[i] for i in dense]
            coefs = coefficients(adagrad_coefficients, values, lr=lr, lr_decay=lr_decay)
            run_update(adagrad_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                       compiled=use_compiled(group, rows, tensor),
                       weight_decay=weight_decay, eps=group["eps"], maximize=group["maximize"])
