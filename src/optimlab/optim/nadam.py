"""NAdam (Dozat): Adam with Nesterov momentum, with torch's momentum schedule or the lecture's
constant beta1."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_adam_args, check_choice, check_flags, check_range
from ._base import OptimizerBase, transform_grads, tensor_mode
from ._common import advance, check_fused_args, collect_grads, hyper, init_moments, resolve_foreach, run_update
from ._compiled import use_compiled
from ._docs import common_args

__all__ = ["NAdam", "nadam_update", "nadam_coefficients"]

SCHEDULE_CHOICES = ("warmup", "constant")


def _mu(beta1, momentum_decay, step):
    """torch's (Dozat's) momentum schedule mu_t = beta1 (1 - 0.5 * 0.96**(t * psi))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_coefficients(*, step, mu_product, lr, beta1, beta2, eps: float, momentum_decay: float,
                       constant: bool) -> dict:
    """NAdam's per-step scalars; advances ``mu_product`` (the state scalar: a 0-d tensor, or a list).

    ``g_c = -lr sqrt(bc2) (1 - mu_t) / (1 - P_t)``, ``m_c = -lr sqrt(bc2) mu_{t+1} / (1 - P_t mu_{t+1})``,
    ``eps_c = eps sqrt(bc2)`` (``P_t = mu_1 ... mu_t``; ``mu_t = beta1`` for ``constant``, the lecture's form,
    where the products are ``beta1**t`` exactly).
    """
    if constant:
        M.mul_(mu_product, beta1)  # kept in torch's state format
        c_g = (1.0 - beta1) / M.bias_correction(beta1, step)
        c_m = beta1 / M.bias_correction(beta1, step + 1)
    else:
        mu, mu_next = _mu(beta1, momentum_decay, step), _mu(beta1, momentum_decay, step + 1)
        M.mul_(mu_product, mu)
        # torch rounds the product to float32 each step; so do we (read as a float in eager mode)
        if isinstance(step, Tensor):
            prod = mu_product
        else:
            prod = float(mu_product) if isinstance(mu_product, Tensor) else [float(t) for t in mu_product]
        if isinstance(prod, list):
            c_g = [(1.0 - mu) / (1.0 - x) for x in prod]
            c_m = [mu_next / (1.0 - x * mu_next) for x in prod]
        else:
            c_g, c_m = (1.0 - mu) / (1.0 - prod), mu_next / (1.0 - prod * mu_next)
    bc2_sqrt = M.bias_correction_sqrt(beta2, step)
    scale = -lr * bc2_sqrt
    if isinstance(c_g, list):
        return {"eps_c": eps * bc2_sqrt, "g_c": [scale * c for c in c_g], "m_c": [scale * c for c in c_m]}
    return {"eps_c": eps * bc2_sqrt, "g_c": scale * c_g, "m_c": scale * c_m}


def nadam_update(p, g, m, v, *, eps_c, g_c, m_c, lr, beta1, beta2, weight_decay, decoupled: bool,
                 maximize: bool) -> None:
    """One NAdam step on a tensor or on lists (per-step scalars from :func:`nadam_coefficients`).

    Computed as ``theta += (g_c g + m_c m) / (sqrt(v) + eps_c)`` (two ``addcdiv``), which equals
    torch's division of ``v`` by ``bc2`` before the root exactly in real arithmetic and saves a pass
    over memory.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    denom = M.add_scalar_(M.sqrt(v), eps_c)
    M.addcdiv_(p, g, denom, g_c)
    M.addcdiv_(p, m, denom, m_c)


class NAdam(OptimizerBase):
    __doc__ = r"""NAdam: Adam whose first-moment estimate looks one step ahead (Nesterov momentum).

    Symbols: :math:`\eta` = ``lr``, :math:`(\beta_1,\beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps``, :math:`\gamma` = ``weight_decay``, :math:`\psi` = ``momentum_decay``, :math:`t` =
    ``state["step"]`` (after increment), :math:`g_t` the gradient at :math:`\theta_{t-1}`.

    Update as implemented (``momentum_schedule="warmup"``, equal to ``torch.optim.NAdam`` to
    float rounding)::

        g <- -g if maximize;   g <- g + gamma*theta (L2)  or  theta <- theta*(1 - eta*gamma) (decoupled)
        mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),   P_t = mu_1 ... mu_t   (state "mu_product", float32)
        m_t = beta1 m_{t-1} + (1 - beta1) g_t,   v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        mhat_t = (1 - mu_t) g_t / (1 - P_t) + mu_{t+1} m_t / (1 - P_t mu_{t+1})
        theta <- theta - eta * mhat_t / (sqrt(v_t / (1 - beta2^t)) + eps)

    ``momentum_schedule="constant"`` sets :math:`\mu_t=\beta_1` for every t, which is the lecture's
    form (section 10, Dozat 2016 without the schedule):

    .. math:: \hat m_t = \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^{t}}

    (the products are computed exactly as powers of :math:`\beta_1`; ``momentum_decay`` is
    ignored).  ``momentum_decay=0`` is *not* this form: torch's schedule then gives
    :math:`\mu_t=\beta_1/2`.  With :math:`\psi=0.004` torch's :math:`\mu_t` warms up from about
    :math:`\beta_1/2` and reaches :math:`0.75\beta_1` only after ~4300 steps.

    Deviations: from Dozat, :math:`\epsilon` is added to :math:`\sqrt{\hat v_t}` and weight decay
    is optional (torch); from torch, the arithmetic is rearranged (see :func:`nadam_update`) and
    ``capturable``/``differentiable`` are torch's.

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 2e-3, >= 0): learning rate :math:`\eta`.
        betas (tuple, default (0.9, 0.999), each in [0, 1)): :math:`(\beta_1, \beta_2)`.
        eps (float, default 1e-8, >= 0): :math:`\epsilon`.
        weight_decay (float, default 0, >= 0): :math:`\gamma`.
        momentum_decay (float, default 4e-3, >= 0): :math:`\psi` of the momentum schedule.
        decoupled_weight_decay (bool, default False): AdamW-style decay (torch's "NAdamW").
        momentum_schedule (str, default "warmup"): ``"warmup"`` (torch's :math:`\mu_t`) or
            ``"constant"`` (:math:`\mu_t=\beta_1`, the lecture's form).
    """ + common_args() + r"""

    State per parameter: ``step`` (0-d float32 CPU tensor), ``mu_product`` (0-d float32 CPU
    tensor, :math:`P_t`), ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`); torch's format.
    ``Optimizer.load_state_dict`` casts ``mu_product`` to the parameter's dtype and device (torch
    keeps it so); here it is cast back to float32 on CPU at the next step, so a resumed run is
    bit-identical to an uninterrupted one.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.NAdam([w], lr=0.1, momentum_schedule="constant")
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()  # first step: 0.1 * (1 + 0.9 * 0.1 / (1 - 0.9**2)) = 0.1474 per coordinate
        tensor([ 0.8526, -1.8526])

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop (no arXiv version).
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, arXiv:1711.05101.
    """

    _owner = "NAdam"
    _group_defaults = {"capturable": False, "decoupled_weight_decay": False, "momentum_schedule": "warmup",
                       "fused": None}
    _scalar_state = ("step", "mu_product")

    def __init__(
        self,
        params,
        lr: float | Tensor = 2e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        momentum_schedule: str = "warmup",
    ) -> None:
        owner = self._owner
        betas = check_adam_args(owner, lr, betas, eps, weight_decay)
        check_range(owner, "momentum_decay", momentum_decay, 0.0)
        check_flags(owner, foreach=foreach, decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        check_choice(owner, "momentum_schedule", momentum_schedule, SCHEDULE_CHOICES)
        self._check_common(capturable=capturable, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay, foreach=foreach, maximize=maximize,
            capturable=capturable, differentiable=differentiable, fused=fused, momentum_schedule=momentum_schedule,
        )
        super().__init__(params, defaults)

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, mu_products, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's
        first step: the Adam moments and ``mu_product = 1``)."""
        collect_grads(self._owner, group, params, grads)
        init_moments(self.state, group, params, exp_avgs, exp_avg_sqs, [], steps)
        for p in params:
            state = self.state[p]
            if "mu_product" not in state:
                state["mu_product"] = torch.ones((), dtype=torch.float32, device=state["step"].device)
            mu_products.append(state["mu_product"])
        return bool(params)

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, mu_products, steps = [], [], [], [], [], []
            if not self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, mu_products, steps):
                continue
            transform_grads(grad_transform, group, params, grads)
            tensor = tensor_mode(group)
            values = advance(steps, tensor)
            lr, beta1, beta2, weight_decay = hyper(group, tensor, "lr", "beta1", "beta2", "weight_decay")
            coefs = self._coefficients(group, values, mu_products, lr, beta1, beta2, tensor)
            rows = list(zip(params, grads, exp_avgs, exp_avg_sqs))
            run_update(
                nadam_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                compiled=use_compiled(group, rows, tensor), lr=lr, beta1=beta1, beta2=beta2,
                weight_decay=weight_decay, decoupled=group["decoupled_weight_decay"], maximize=group["maximize"],
            )

    @staticmethod
    def _coefficients(group, steps, mu_products, lr, beta1, beta2, tensor: bool) -> list[dict]:
        """Per row (tensor mode), or once per group of rows with the same step: the mu products of
        parameters stepped together are equal, so their scalars are computed once over a list."""
        args = dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], momentum_decay=group["momentum_decay"],
                    constant=group["momentum_schedule"] == "constant")
        if tensor:
            return [nadam_coefficients(step=k.to(torch.float64, copy=True), mu_product=mu, **args)
                    for k, mu in zip(steps, mu_products)]
        by_step: dict = {}
        for i, k in enumerate(steps):
            by_step.setdefault(k, []).append(i)
        out: list = [None] * len(steps)
        for k, idx in by_step.items():
            c = nadam_coefficients(step=k, mu_product=[mu_products[i] for i in idx], **args)
            lists = {n: v for n, v in c.items() if isinstance(v, list)}
            if all(len(set(v)) == 1 for v in lists.values()):  # the common case: one dict for all
                shared = {n: (v[0] if isinstance(v, list) else v) for n, v in c.items()}
                for i in idx:
                    out[i] = shared
            else:
                for j, i in enumerate(idx):
                    out[i] = {n: (v[j] if isinstance(v, list) else v) for n, v in c.items()}
        return out
