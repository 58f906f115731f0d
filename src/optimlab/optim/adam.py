"""Adam, AMSGrad (torch's form and Reddi et al.'s) and AdamW."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_adam_args, check_flags
from ._base import AlwaysDecoupled, OptimizerBase, transform_grads, kernel_ok, tensor_mode
from ._common import (
    FUSED_DTYPES, advance, check_fused_args, coefficients, collect_grads, hyper, init_moments, resolve_foreach,
    run_update,
)
from ._compiled import use_compiled
from ._docs import common_args

__all__ = ["Adam", "AdamW", "adam_update", "adam_coefficients"]


def adam_coefficients(*, step, lr, beta1, beta2, eps: float, bias_correction: bool) -> dict:
    """Adam's per-step scalars: ``eps_c = eps sqrt(bc2)`` and ``step_c = -lr sqrt(bc2) / bc1``
    (``bc = 1 - beta**t``; 1 without bias correction)."""
    if bias_correction:
        bc1 = M.bias_correction(beta1, step)
        bc2_sqrt = M.bias_correction_sqrt(beta2, step)
    else:  # Reddi et al.'s AMSGrad: no de-biasing
        bc1 = bc2_sqrt = 1.0
    return {"eps_c": eps * bc2_sqrt, "step_c": -lr * bc2_sqrt / bc1}


def adam_update(
    p, g, m, v, vmax, *, eps_c, step_c, lr, beta1, beta2, weight_decay, decoupled: bool, amsgrad: bool,
    maximize: bool,
) -> None:
    """One Adam/AMSGrad/AdamW step on a tensor or on lists of tensors (per-step scalars from
    :func:`adam_coefficients`).

    Computed as ``theta += step_c * m / (sqrt(v) + eps_c)``, i.e. ``theta -= (eta * sqrt(bc2) / bc1) *
    m / (sqrt(v) + eps * sqrt(bc2))``, which equals torch's ``theta -= (eta / bc1) * m / (sqrt(v) /
    sqrt(bc2) + eps)`` exactly in real arithmetic and saves one pass over memory.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    if amsgrad:
        M.maximum_(vmax, v)
        v = vmax
    denom = M.add_scalar_(M.sqrt(v), eps_c)
    M.addcdiv_(p, m, denom, step_c)


class Adam(OptimizerBase):
    __doc__ = r"""Adam, with optional AMSGrad, L2 or decoupled weight decay (AdamW).

    Symbols: :math:`\eta` = ``lr``, :math:`(\beta_1,\beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps``, :math:`\gamma` = ``weight_decay``, :math:`t` = ``state["step"]`` (after increment).

    Update as implemented (equal to ``torch.optim.Adam`` to float rounding)::

        g <- -g if maximize;   g <- g + gamma*theta (L2)   or   theta <- theta*(1 - eta*gamma) (decoupled)
        m_t = beta1 m_{t-1} + (1 - beta1) g_t
        v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        vmax_t = max(vmax_{t-1}, v_t)  and use vmax_t in place of v_t          (amsgrad)
        theta <- theta - eta * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

    With ``bias_correction=False`` the two de-biasing factors are dropped; together with
    ``amsgrad=True`` this is AMSGrad exactly as in Reddi et al. (and the lecture):
    :math:`\theta_t=\theta_{t-1}-\eta m_t/(\sqrt{\hat v_t}+\epsilon)`, :math:`\hat v_t=\max(\hat v_{t-1},v_t)`.
    torch's ``amsgrad=True`` keeps the de-biasing and takes the maximum of the raw :math:`v_t`.

    Deviations: from Kingma & Ba, :math:`\epsilon` is added to :math:`\sqrt{\hat v_t}` (as in the
    paper's Algorithm 1 and torch), and the rearranged arithmetic in :func:`adam_update` differs
    from torch's in the last bits only.  ``capturable`` and ``differentiable`` are torch's
    (torch's own Adam has them); Reddi et al.'s decaying :math:`\beta_{1,t}` is not used.  On CPU
    the default step is torch's fused kernel (see ``fused``), which torch itself does not default to.

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-3, >= 0): learning rate :math:`\eta`.
        betas (tuple, default (0.9, 0.999), each in [0, 1)): :math:`(\beta_1, \beta_2)`.
        eps (float, default 1e-8, >= 0): :math:`\epsilon`.
        weight_decay (float, default 0, >= 0): :math:`\gamma`.
        amsgrad (bool, default False): keep the running maximum of :math:`v_t` (AMSGrad).
        decoupled_weight_decay (bool, default False): AdamW's decay instead of L2.
        bias_correction (bool, default True): de-bias :math:`m_t` and :math:`v_t`.
    """ + common_args("_fused_adam_ / _fused_adamw_", "all but bias_correction=False") + r"""

    State per parameter: ``step`` (0-d float32 CPU tensor, as torch), ``exp_avg`` (:math:`m`),
    ``exp_avg_sq`` (:math:`v`), ``max_exp_avg_sq`` (:math:`\hat v`, only with amsgrad).  The
    state_dict has torch's format, so a ``torch.optim.Adam`` checkpoint loads into this class.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.Adam([w], lr=0.1)
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, arXiv:1412.6980.
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018, arXiv:1904.09237.
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, arXiv:1711.05101.
    """

    _owner = "Adam"
    _group_defaults = {"capturable": False, "amsgrad": False, "decoupled_weight_decay": False, "bias_correction": True, "fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
        bias_correction: bool = True,
    ) -> None:
        owner = self._owner
        betas = check_adam_args(owner, lr, betas, eps, weight_decay)
        check_flags(owner, foreach=foreach, amsgrad=amsgrad, maximize=maximize,
                    decoupled_weight_decay=decoupled_weight_decay, bias_correction=bias_correction)
        self._check_common(capturable=capturable, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        for name, value in (("lr", lr), ("betas[0]", betas[0]), ("betas[1]", betas[1])):
            if isinstance(value, Tensor) and foreach and not capturable:  # as torch.optim.Adam
                raise ValueError(f"{owner}: {name} as a Tensor needs capturable=True with foreach=True (the foreach "
                                 f"kernels would read it back every step), got foreach=True, capturable=False")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
            fused=fused, decoupled_weight_decay=decoupled_weight_decay, bias_correction=bias_correction,
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's
        first step); nothing is advanced here (torch.compile runs this eagerly, once)."""
        collect_grads(self._owner, group, params, grads)
        init_moments(self.state, group, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                     max_sq=group["amsgrad"])
        return bool(params)

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = [], [], [], [], [], []
            if not self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps):
                continue
            transform_grads(grad_transform, group, params, grads)
            tensor = tensor_mode(group)
            values = advance(steps, tensor)
            lr, beta1, beta2, weight_decay = hyper(group, tensor, "lr", "beta1", "beta2", "weight_decay")
            rows = list(zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))
            if kernel_ok(group, rows, "_fused_adam_", FUSED_DTYPES, options_ok=group["bias_correction"],
                         owner=self._owner):
                kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
                kernel(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs if group["amsgrad"] else [], steps,
                       lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=group["eps"],
                       amsgrad=group["amsgrad"], maximize=group["maximize"])
                continue
            coefs = coefficients(adam_coefficients, values, lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                                 bias_correction=group["bias_correction"])
            run_update(
                adam_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                compiled=use_compiled(group, rows, tensor),
                lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay,
                decoupled=group["decoupled_weight_decay"], amsgrad=group["amsgrad"], maximize=group["maximize"],
            )


class AdamW(AlwaysDecoupled, Adam):
    __doc__ = (
        "AdamW: Adam with decoupled weight decay, "
        "``Adam(..., decoupled_weight_decay=True)`` with ``weight_decay=1e-2`` (torch's defaults).\n\n"
        "Update: ``theta <- theta * (1 - lr * weight_decay)`` then Adam's step from the raw gradient, "
        "so the decay enters neither m nor v (the lecture's "
        "theta_t = theta_{t-1} - eta (m_hat/(sqrt(v_hat)+eps) + gamma theta_{t-1})).\n\n"
        "    >>> import torch, optimlab\n"
        "    >>> w = torch.nn.Parameter(torch.ones(2))\n"
        "    >>> opt = optimlab.AdamW([w], lr=0.1, weight_decay=0.1)\n"
        "    >>> w.sum().backward(); opt.step(); w.detach()\n"
        "    tensor([0.8900, 0.8900])\n\n"
        "See :class:`Adam` for arguments (all the same) and state.\n"
        "Reference: Loshchilov & Hutter, \"Decoupled Weight Decay Regularization\", ICLR 2019, arXiv:1711.05101.\n"
    )
    _owner = "AdamW"

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        bias_correction: bool = True,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
            capturable=capturable, differentiable=differentiable, fused=fused,
            decoupled_weight_decay=True, bias_correction=bias_correction,
        )
