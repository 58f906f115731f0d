"""AdaBound and AMSBound (Luo et al., ICLR 2019): Adam whose per-coordinate rate is clipped to
bounds that tighten towards an SGD rate ``final_lr``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_adam_args, check_flags, check_range
from ._base import OptimizerBase, transform_grads, kernel_ok, tensor_mode
from ._common import (
    ZeroScratch, advance, check_fused_args, coefficients, collect_grads, hyper, init_moments, resolve_foreach,
    run_update, scalar,
)
from ._compiled import use_compiled
from ._docs import common_args

# The scratch-buffer reformulation divides Adam's step by m in the parameter's dtype: exact enough
# in float32/float64 (tested), not in half precision.
SCRATCH_DTYPES = frozenset((torch.float32, torch.float64))

__all__ = ["AdaBound", "AMSBound", "adabound_update", "adabound_coefficients", "rate_bounds"]


def rate_bounds(final_lr, gamma: float, step) -> tuple:
    """AdaBound's dynamic bounds on the per-coordinate rate at step t (Luo et al., 2019):

    eta_l(t) = final_lr * (1 - 1/(gamma t + 1)),  eta_u(t) = final_lr * (1 + 1/(gamma t)).

    Both tend to ``final_lr``; ``gamma = 0`` gives (0, inf), i.e. no bound.  The lecture's
    0.1 -/+ 0.1/((1-beta2) t (+1)) is final_lr = 0.1, gamma = 1 - beta2.  ``final_lr`` and ``step``
    may be floats or 0-d tensors.
    """
    if gamma == 0:
        return 0.0, math.inf
    return final_lr * (1.0 - 1.0 / (gamma * step + 1.0)), final_lr * (1.0 + 1.0 / (gamma * step))


def clamp_rate_denominator_(den, step_size: float, low: float, high: float):
    """Clip the rate ``step_size / den`` to ``[low, high]`` by clamping ``den`` in place.

    ``clip(s / d, low, high) == s / clamp(d, s / high, s / low)`` for s > 0, d > 0, so the
    bounded step ``clip(s / d) * m`` becomes one ``addcdiv`` afterwards (one pass over memory
    fewer than clipping a rate tensor and multiplying).  ``low = 0`` means no lower rate bound.
    """
    d_low = step_size / high if high != math.inf else 0.0
    d_high = step_size / low if low > 0 else math.inf
    return M.clamp_(den, d_low, d_high)


def adabound_coefficients(*, step, lr, final_lr, gamma: float, beta1, beta2) -> dict:
    """AdaBound's per-step scalars: ``s = lr sqrt(1 - beta2^t) / (1 - beta1^t)`` and the rate bounds
    ``(low, high)`` of :func:`rate_bounds` (``final_lr`` already scaled by ``lr / base_lr``)."""
    low, high = rate_bounds(final_lr, gamma, step)
    return {"s": lr * M.bias_correction_sqrt(beta2, step) / M.bias_correction(beta1, step), "low": low, "high": high}


def adabound_update(
    p, g, m, v, vmax, *, s, low, high, lr, beta1, beta2, eps: float, weight_decay, decoupled: bool,
    amsbound: bool, maximize: bool,
) -> None:
    """One AdaBound/AMSBound step on a tensor or on lists of tensors (per-step scalars from
    :func:`adabound_coefficients`).

    With Python floats the clipped rate ``clip(s / (sqrt(v) + eps), low, high) * m`` is computed as
    ``s * m / clamp(sqrt(v) + eps, s/high, s/low)`` (equal in real arithmetic, one pass fewer; see
    :func:`clamp_rate_denominator_`), and nothing moves when ``s = 0`` or ``high = 0``.  With tensor
    scalars (tensor mode) it is the reference code's ``clip(s / (sqrt(v) + eps), low, high) * m``,
    times ``(s != 0)`` for the same rule without reading ``s`` back to the host.
    """
    g = M.regularized_gradient(p, g, lr, weight_decay, decoupled=decoupled, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    if amsbound:
        M.maximum_(vmax, v)
        v = vmax
    denom = M.add_scalar_(M.sqrt(v), eps)
    if isinstance(s, Tensor):
        dt = denom.dtype
        rate = (s.to(dt) / denom).clamp(torch.as_tensor(low).to(dt), torch.as_tensor(high).to(dt))
        M.addcmul_(p, rate, m, -(s != 0).to(dt))
        return
    if s == 0 or high == 0:  # lr = 0, or a schedule drove final_lr to 0: nothing moves
        return
    clamp_rate_denominator_(denom, s, low, high)
    M.addcdiv_(p, m, denom, -s)


class AdaBound(OptimizerBase):
    __doc__ = r"""AdaBound (and AMSBound with ``amsbound=True``): Adam with dynamic bounds on the rate.

    Symbols: :math:`\alpha` = ``lr``, :math:`(\beta_1,\beta_2)` = ``betas``, :math:`\alpha^*` =
    ``final_lr``, :math:`\gamma` = ``gamma``, :math:`\epsilon` = ``eps``, :math:`\lambda` =
    ``weight_decay``, :math:`t` = ``state["step"]`` (after increment).

    Update as implemented (the authors' reference code, Luolc/AdaBound, to float rounding)::

        g <- -g if maximize;   g <- g + lam*theta (L2)   or   theta <- theta*(1 - lr*lam) (decoupled)
        m_t = beta1 m + (1 - beta1) g;   v_t = beta2 v + (1 - beta2) g^2
        v_t <- max(vmax_{t-1}, v_t) = vmax_t                                   (amsbound)
        a*_t  = final_lr * lr / base_lr                    (base_lr = the group's lr at construction)
        eta_l = a*_t (1 - 1/(gamma t + 1));   eta_u = a*_t (1 + 1/(gamma t))
        s_t   = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        theta <- theta - clip(s_t / (sqrt(v_t) + eps), eta_l, eta_u) * m_t

    The lecture's form, :math:`\theta_t=\theta_{t-1}-\mathrm{Clip}(\eta/(\sqrt{\hat v_t}+\epsilon))\hat m_t`
    with bounds :math:`0.1 \mp 0.1/((1-\beta_2)t(+1))`, is ``final_lr=0.1, gamma=1-beta2``.

    **final_lr follows lr.**  A scheduler changes ``group["lr"]`` but not ``final_lr``; as in the
    reference code, the bounds use ``final_lr * lr / base_lr``, where ``base_lr`` is the group's
    ``lr`` when the group was created (stored in the group as ``"base_lr"``, saved in the
    state_dict).  So a StepLR that divides ``lr`` by 10 also divides the SGD rate the bounds
    converge to by 10.  A group created with ``lr = 0`` uses ``final_lr`` unscaled.

    Deviations:
      * from the paper (Algorithm 2): the paper's analysis divides the clipped rate by
        :math:`\sqrt t` and uses no bias correction; the reference code (and its experiments)
        does not divide by :math:`\sqrt t`, de-biases with ``s_t`` inside the clip and
        multiplies the raw :math:`m_t`, and adds ``eps`` to :math:`\sqrt{v_t}` (not to the
        de-biased root as ``torch.optim.Adam`` does).  We follow the reference code.
      * from the reference code: decoupled weight decay (``decoupled_weight_decay=True``) is
        ``theta <- theta (1 - lr * weight_decay)`` as in ``torch.optim.AdamW``; the reference's
        ``AdaBoundW`` uses ``theta <- theta (1 - weight_decay)`` (its value equals ours with
        ``weight_decay = wd_ref / lr`` at constant lr).  ``final_lr`` must be > 0 and ``gamma``
        may be 0 (no bounds: Adam with the reference's eps placement; the reference divides by zero).
        The rearranged arithmetic (clamp the denominator, one ``addcdiv``) differs in the last bits.

    Paper's recommended defaults: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``final_lr=0.1``,
    ``gamma=1e-3`` (the defaults here).

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-3, >= 0): Adam rate :math:`\alpha`.
        betas (tuple, default (0.9, 0.999), each in [0, 1)): :math:`(\beta_1, \beta_2)`.
        final_lr (float, default 0.1, > 0): the SGD rate :math:`\alpha^*` both bounds converge to.
        gamma (float, default 1e-3, in [0, 1)): convergence speed of the bounds.
        eps (float, default 1e-8, >= 0): :math:`\epsilon`.
        weight_decay (float, default 0, >= 0): :math:`\lambda`.
        amsbound (bool, default False): AMSBound: use the running maximum of :math:`v_t`.
        decoupled_weight_decay (bool, default False): AdamW-style decay instead of L2.
    """ + common_args("_fused_adam_", "float32/float64 parameters; the kernel writes Adam's step into a zeroed "
                      "buffer, from which the clipped step is formed; only in groups where the generated kernel "
                      "does not run, which is faster in the large ones") + r"""

    State per parameter: ``step`` (0-d float32 CPU tensor), ``exp_avg`` (:math:`m`),
    ``exp_avg_sq`` (:math:`v`), ``max_exp_avg_sq`` (only with amsbound).  Per group: ``base_lr``.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.AdaBound([w], lr=0.1, final_lr=0.1)
        >>> w.pow(2).sum().backward(); opt.step()
        >>> w.detach()
        tensor([ 0.9000, -1.9000])

    References:
        Luo, Xiong, Liu & Sun, "Adaptive Gradient Methods with Dynamic Bound of Learning Rate",
        ICLR 2019, arXiv:1902.09843.  Reference code: github.com/Luolc/AdaBound.
    """

    _owner = "AdaBound"
    _amsbound_default = False
    _group_defaults = {"capturable": False, "amsbound": False, "decoupled_weight_decay": False, "fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        amsbound: bool | None = None,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        owner = self._owner
        amsbound = self._amsbound_default if amsbound is None else amsbound
        betas = check_adam_args(owner, lr, betas, eps, weight_decay)
        check_range(owner, "final_lr", final_lr, 0.0, low_closed=False)
        check_range(owner, "gamma", gamma, 0.0, 1.0, high_closed=False)
        check_flags(owner, foreach=foreach, amsbound=amsbound, decoupled_weight_decay=decoupled_weight_decay,
                    maximize=maximize)
        self._check_common(capturable=capturable, differentiable=differentiable, fused=fused, foreach=foreach)
        check_fused_args(owner, fused, foreach)
        defaults = dict(lr=lr, betas=betas, final_lr=final_lr, gamma=gamma, eps=eps,
                        weight_decay=weight_decay, amsbound=amsbound,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        """torch's ``add_param_group``; also records the group's ``base_lr`` (see class doc)."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("base_lr", scalar(group["lr"], False))

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("base_lr", scalar(group["lr"], False))

    def _init_group(self, group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps) -> bool:
        """Collect the group's parameters with a gradient and their state (created on a parameter's first step)."""
        collect_grads(self._owner, group, params, grads)
        init_moments(self.state, group, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                     max_sq=group["amsbound"])
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
            base_lr = group["base_lr"]
            final_lr = group["final_lr"] * (lr / base_lr if base_lr > 0 else 1.0)
            rows = list(zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs))
            # large groups: the generated kernel (faster than the scratch reformulation there, measured
            # by benchmarks/step_speed.py); smaller ones: the scratch reformulation where it applies
            generated = use_compiled(group, rows, tensor)
            if not generated and kernel_ok(group, rows, "_fused_adam_", SCRATCH_DTYPES, owner=self._owner):
                self._fused_steps(group, rows, values, lr, final_lr, beta1, beta2, weight_decay)
                continue
            coefs = coefficients(adabound_coefficients, values, lr=lr, final_lr=final_lr, gamma=group["gamma"],
                                 beta1=beta1, beta2=beta2)
            run_update(
                adabound_update, rows, coefs=coefs, foreach=resolve_foreach(group["foreach"], params),
                compiled=generated,
                lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=weight_decay,
                decoupled=group["decoupled_weight_decay"], amsbound=group["amsbound"], maximize=group["maximize"],
            )

    def _fused_steps(self, group: dict, rows: list[tuple], steps: list[float], lr: float, final_lr: float,
                     beta1: float, beta2: float, wd: float) -> None:
        """The same step with torch's fused Adam kernel writing Adam's step into a zeroed buffer.

        The kernel (``eps / sqrt(1 - beta2^t)`` so that eps lands on ``sqrt(v)`` as in the
        reference code; ``amsgrad`` for AMSBound) updates m, v (and vmax) and writes
        ``d = -s m / (sqrt(v) + eps)``.  Then ``d / m = -rate`` (0/0 where m = 0, where the step
        is 0 anyway), clipped to ``[-eta_u, -eta_l]``, and ``theta += d * m``.  Runs only on rows
        :func:`~optimlab.optim._base.plain_rows_ok` accepts (contiguous or identically laid out
        float32/float64 CPU tensors), so the buffer is laid out like the parameter.
        """
        decoupled, maximize, amsbound = group["decoupled_weight_decay"], group["maximize"], group["amsbound"]
        scratch = ZeroScratch([row[0] for row in rows])
        for (p, g, m, v, vmax), k in zip(rows, steps):
            if wd != 0:
                if decoupled:
                    M.decoupled_decay_(p, lr, wd)
                else:  # the kernel negates g under maximize; the reference decays after negating
                    g = g.add(p, alpha=-wd if maximize else wd)
            d = scratch.zeros_like(p) if p.is_contiguous() else torch.zeros_like(p)
            torch._fused_adam_([d], [g], [m], [v], [vmax] if amsbound else [], [self.state[p]["step"]], lr=lr,
                               beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=group["eps"] / M.bias_correction_sqrt(beta2, k), amsgrad=amsbound,
                               maximize=maximize)
            low, high = rate_bounds(final_lr, group["gamma"], k)
            if lr == 0 or high == 0:  # nothing moves (as in adabound_update)
                continue
            d.div_(m).nan_to_num_(nan=0.0).clamp_(-high, -low)
            p.addcmul_(d, m)


class AMSBound(AdaBound):
    __doc__ = (
        "AMSBound: AdaBound with AMSGrad's running maximum of the second moment, "
        "``AdaBound(..., amsbound=True)``.\n\n"
        "Update: as :class:`AdaBound` with ``v_t`` replaced by ``vmax_t = max(vmax_{t-1}, v_t)`` "
        "(the maximum of the raw EMA, as in the reference code), so the per-coordinate rate before "
        "clipping never increases.\n\n"
        "    >>> import torch, optimlab\n"
        "    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))\n"
        "    >>> opt = optimlab.AMSBound([w], lr=0.1)\n"
        "    >>> w.pow(2).sum().backward(); opt.step(); w.detach()\n"
        "    tensor([ 0.9000, -1.9000])\n\n"
        "See :class:`AdaBound` for arguments (all the same; ``amsbound`` defaults to True), state, "
        "deviations and the paper's defaults.\n"
        "Reference: Luo, Xiong, Liu & Sun, \"Adaptive Gradient Methods with Dynamic Bound of Learning "
        "Rate\", ICLR 2019, arXiv:1902.09843.\n"
    )
    _owner = "AMSBound"
    _amsbound_default = True
