"""Small pure tensor functions named after the equation they compute.

Every function here accepts **either one Tensor or a list of Tensors** (and, in list form,
either one float or one float per tensor where it takes a scalar).  An optimizer writes its
update rule once, as a function of these helpers, and runs it

* per tensor (the readable reference path, and the fastest on CPU because every equation for
  one tensor runs while that tensor is still in cache), or
* once over lists of tensors (the ``foreach`` path: ``torch._foreach_*`` kernels, the fastest
  on accelerators because it launches a handful of kernels for the whole group).

Because both paths run the same function, they agree by construction; the tests still check it.

Notation (lecture): ``g`` gradient, ``m`` first moment, ``v`` second moment, ``t`` step count,
``beta1, beta2`` EMA coefficients, ``eta`` learning rate, ``lam`` weight decay.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from torch import Tensor

TensorOrList = Union[Tensor, Sequence[Tensor]]
Scalar = Union[float, Sequence[float]]

__all__ = [
    "ema_",
    "ema_sq_",
    "ema_sq_centered_",
    "bias_correction",
    "momentum_",
    "bias_correction_sqrt",
    "decoupled_decay_",
    "l2_gradient",
    "regularized_gradient",
    "negate",
    "sqrt",
    "add_scalar_",
    "addcdiv_",
    "add_",
    "mul_",
    "maximum_",
    "copy_",
    "clone",
    "zeros_like",
    "lerp_",
    "div_",
    "clamp_",
    "mul",
    "reciprocal_",
]


def _is_one(x: TensorOrList) -> bool:
    return isinstance(x, Tensor)


# ---------------------------------------------------------------------------------------------
# Elementary operations (one tensor or a list)
# ---------------------------------------------------------------------------------------------

def add_(x: TensorOrList, y: TensorOrList, alpha: Scalar = 1.0) -> TensorOrList:
    """x <- x + alpha * y (in place)."""
    if _is_one(x):
        return x.add_(y, alpha=alpha)
    if isinstance(alpha, (int, float)):
        torch._foreach_add_(x, y, alpha=alpha)
    else:  # one alpha per tensor
        torch._foreach_add_(x, torch._foreach_mul(y, list(alpha)))
    return x


def mul_(x: TensorOrList, c: Scalar) -> TensorOrList:
    """x <- c * x (in place)."""
    if _is_one(x):
        return x.mul_(c)
    torch._foreach_mul_(x, c if isinstance(c, (int, float)) else list(c))
    return x


def mul(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x * y (new tensor(s))."""
    if _is_one(x):
        return torch.mul(x, y)
    return torch._foreach_mul(x, y)


def div_(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x <- x / y (in place)."""
    if _is_one(x):
        return x.div_(y)
    torch._foreach_div_(x, y)
    return x


def add_scalar_(x: TensorOrList, c: Scalar) -> TensorOrList:
    """x <- x + c (in place)."""
    if _is_one(x):
        return x.add_(c)
    torch._foreach_add_(x, c if isinstance(c, (int, float)) else list(c))
    return x


def addcdiv_(x: TensorOrList, num: TensorOrList, den: TensorOrList, value: Scalar) -> TensorOrList:
    """x <- x + value * num / den (in place)."""
    if _is_one(x):
        return x.addcdiv_(num, den, value=value)
    if isinstance(value, (int, float)):
        torch._foreach_addcdiv_(x, num, den, value)
    else:
        torch._foreach_addcdiv_(x, num, den, list(value))
    return x


def addcmul_(x: TensorOrList, a: TensorOrList, b: TensorOrList, value: Scalar) -> TensorOrList:
    """x <- x + value * a * b (in place)."""
    if _is_one(x):
        return x.addcmul_(a, b, value=value)
    if isinstance(value, (int, float)):
        torch._foreach_addcmul_(x, a, b, value)
    else:
        torch._foreach_addcmul_(x, a, b, list(value))
    return x


def lerp_(x: TensorOrList, y: TensorOrList, weight: float) -> TensorOrList:
    """x <- x + weight * (y - x) (in place)."""
    if _is_one(x):
        return x.lerp_(y, weight)
    torch._foreach_lerp_(x, y, weight)
    return x


def sqrt(x: TensorOrList) -> TensorOrList:
    """sqrt(x) (new tensor(s))."""
    if _is_one(x):
        return torch.sqrt(x)
    return torch._foreach_sqrt(x)


def reciprocal_(x: TensorOrList) -> TensorOrList:
    """x <- 1 / x (in place)."""
    if _is_one(x):
        return x.reciprocal_()
    torch._foreach_reciprocal_(x)
    return x


def maximum_(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x <- max(x, y) elementwise (in place)."""
    if _is_one(x):
        return torch.maximum(x, y, out=x)
    torch._foreach_maximum_(x, y)
    return x


def clamp_(x: TensorOrList, low: TensorOrList | float, high: TensorOrList | float) -> TensorOrList:
    """x <- min(max(x, low), high) (in place); bounds are scalars or tensors like x."""
    if _is_one(x):
        return x.clamp_(low, high)
    if isinstance(low, (int, float)):
        torch._foreach_clamp_min_(x, low)
        torch._foreach_clamp_max_(x, high)
    else:
        torch._foreach_maximum_(x, low)
        torch._foreach_minimum_(x, high)
    return x


def copy_(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x <- y (in place)."""
    if _is_one(x):
        return x.copy_(y)
    torch._foreach_copy_(x, y)
    return x


def clone(x: TensorOrList) -> TensorOrList:
    """A copy of x."""
    if _is_one(x):
        return x.clone()
    return [t.clone() for t in x]


def zeros_like(x: TensorOrList) -> TensorOrList:
    """Zeros shaped like x."""
    if _is_one(x):
        return torch.zeros_like(x)
    return [torch.zeros_like(t) for t in x]


def negate(x: TensorOrList) -> TensorOrList:
    """-x (new tensor(s)); used for ``maximize`` so that the user's ``p.grad`` is never written."""
    if _is_one(x):
        return torch.neg(x)
    return torch._foreach_neg(x)


# ---------------------------------------------------------------------------------------------
# Equations
# ---------------------------------------------------------------------------------------------

def ema_(m: TensorOrList, g: TensorOrList, beta: float) -> TensorOrList:
    """First-moment EMA: m <- beta * m + (1 - beta) * g  (computed as ``lerp``, as torch does)."""
    return lerp_(m, g, 1.0 - beta)


def ema_sq_(v: TensorOrList, g: TensorOrList, beta: float) -> TensorOrList:
    """Second-moment EMA: v <- beta * v + (1 - beta) * g**2."""
    mul_(v, beta)
    return addcmul_(v, g, g, 1.0 - beta)


def ema_sq_centered_(v: TensorOrList, g: TensorOrList, beta: float) -> TensorOrList:
    """Alias of :func:`ema_sq_` kept for readability in RMSprop's centred form."""
    return ema_sq_(v, g, beta)


def momentum_(buf: TensorOrList, g: TensorOrList, momentum: float, dampening: float = 0.0) -> TensorOrList:
    """Heavy-ball buffer: b <- momentum * b + (1 - dampening) * g (in place).

    Without dampening, one fused pass (``torch.add(g, b, alpha=momentum, out=b)``) instead of
    torch's ``b.mul_(momentum).add_(g)``: one read and write of ``b`` fewer.
    """
    if _is_one(buf):
        if dampening == 0:
            return torch.add(g, buf, alpha=momentum, out=buf)
        return buf.mul_(momentum).add_(g, alpha=1.0 - dampening)
    torch._foreach_mul_(buf, momentum)
    torch._foreach_add_(buf, g, alpha=1.0 - dampening)
    return buf


def bias_correction(beta: float, step: float) -> float:
    """Adam's de-biasing denominator 1 - beta**t."""
    return 1.0 - beta**step


def bias_correction_sqrt(beta: float, step: float) -> float:
    """sqrt(1 - beta**t), the de-biasing of the second moment's square root."""
    return math.sqrt(1.0 - beta**step)


def decoupled_decay_(p: TensorOrList, lr: Scalar, weight_decay: float) -> TensorOrList:
    """Decoupled weight decay (Loshchilov & Hutter): theta <- theta * (1 - lr * lam).

    The factor is ``lr * weight_decay`` as in ``torch.optim.AdamW``; the lecture writes it
    ``theta - eta * gamma * theta`` (AdamW) or ``theta - gamma * theta`` (SGDWM, gamma already
    including the rate): both are this with the corresponding ``weight_decay``.
    """
    if isinstance(lr, (int, float)):
        return mul_(p, 1.0 - lr * weight_decay)
    return mul_(p, [1.0 - a * weight_decay for a in lr])


def l2_gradient(g: TensorOrList, p: TensorOrList, weight_decay: float) -> TensorOrList:
    """L2 regularisation folded into the gradient: g + lam * theta (a new tensor, never ``p.grad``)."""
    if _is_one(g):
        return g.add(p, alpha=weight_decay)
    return torch._foreach_add(g, p, alpha=weight_decay)


def regularized_gradient(p: TensorOrList, g: TensorOrList, lr: Scalar, weight_decay: float, *,
                         decoupled: bool = False, maximize: bool = False) -> TensorOrList:
    """The gradient an update rule uses: ``-g`` under ``maximize`` (out of place), then weight decay,
    either folded in as L2 (``g + lam theta``, a new tensor) or, ``decoupled``, applied to the
    parameters directly (``theta <- theta (1 - lr lam)``, in place).  ``p.grad`` is never written."""
    if maximize:
        g = negate(g)
    if weight_decay != 0:
        if decoupled:
            decoupled_decay_(p, lr, weight_decay)
        else:
            g = l2_gradient(g, p, weight_decay)
    return g


# ---------------------------------------------------------------------------------------------
# Adagrad, RMSprop, NAdam, RAdam (issue 2)
# ---------------------------------------------------------------------------------------------

def addcmul(x: TensorOrList, a: TensorOrList, b: TensorOrList, value: float) -> TensorOrList:
    """x + value * a * b (new tensor(s)); RMSprop's centred ``v - gbar**2``."""
    if _is_one(x):
        return torch.addcmul(x, a, b, value=value)
    return torch._foreach_addcmul(x, a, b, value)


def sqrt_(x: TensorOrList) -> TensorOrList:
    """x <- sqrt(x) (in place)."""
    if _is_one(x):
        return x.sqrt_()
    torch._foreach_sqrt_(x)
    return x


def values(x: TensorOrList) -> Scalar:
    """The value of a 0-d (CPU) state tensor as a float, or a list of floats for a list.

    Used for scalar state such as NAdam's ``mu_product`` (kept as a CPU tensor in torch's state
    format, so reading it never synchronises an accelerator).
    """
    if _is_one(x):
        return float(x)
    return [float(t) for t in x]


def sma_length(beta2: float, step: float) -> tuple[float, float]:
    """RAdam's length of the approximated simple moving average: ``(rho_inf, rho_t)``.

    rho_inf = 2 / (1 - beta2) - 1,  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t).
    """
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf, rho_inf - 2.0 * step * beta2**step / (1.0 - beta2**step)


def rectification(rho_inf: float, rho_t: float) -> float:
    """RAdam's variance rectification r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)),
    defined for rho_t > 4."""
    return math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))


# ---------------------------------------------------------------------------------------------
# AdaBound, SWATS (issue 3)
# ---------------------------------------------------------------------------------------------

def clamp_rate_denominator_(den: TensorOrList, step_size: float, low: float, high: float) -> TensorOrList:
    """Clip the rate ``step_size / den`` to ``[low, high]`` by clamping ``den`` in place.

    ``clip(s / d, low, high) == s / clamp(d, s / high, s / low)`` for s > 0, d > 0, so the
    bounded step ``clip(s / d) * m`` becomes one ``addcdiv`` afterwards (one pass over memory
    fewer than clipping a rate tensor and multiplying).  ``low = 0`` means no lower rate bound.
    """
    d_low = step_size / high if high != math.inf else 0.0
    d_high = step_size / low if low > 0 else math.inf
    return clamp_(den, d_low, d_high)


def dot_(out: TensorOrList, x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """out <- sum(x * y) per tensor (``out`` a 0-d tensor, or a list of them, of any dtype).

    A reduction (no host synchronisation): SWATS's projections p^T p and p^T g.
    """
    if _is_one(x):
        return out.copy_(torch.dot(x.reshape(-1), y.reshape(-1)))
    for o, a, b in zip(out, x, y):
        o.copy_(torch.dot(a.reshape(-1), b.reshape(-1)))
    return out


def quotient_(den: TensorOrList, num: TensorOrList) -> TensorOrList:
    """den <- num / den (in place, reusing the denominator's memory)."""
    if _is_one(den):
        return torch.div(num, den, out=den)
    quot = torch._foreach_div(num, den)
    torch._foreach_copy_(den, quot)
    return den


# Step-invariant constants (eps, alpha) as cached 0-d CPU tensors: ``x.add_(t)`` with a 0-d
# tensor skips the scalar-to-tensor wrapping that ``x.add_(1e-10)`` does on every call (about
# 1.5 us of a CPU step's per-tensor overhead).  The arithmetic is identical: a Python float is
# wrapped as a 0-d float64 tensor too, and the kernel reads it in the tensor's compute type.
_CONSTANTS: dict[float, Tensor] = {}


def _constant(c: float) -> Tensor:
    t = _CONSTANTS.get(c)
    if t is None:
        if len(_CONSTANTS) >= 64:  # hyperparameters, not per-step values: a small cache
            _CONSTANTS.clear()
        t = _CONSTANTS[c] = torch.tensor(c, dtype=torch.float64)
    return t


def add_const_(x: TensorOrList, c: float) -> TensorOrList:
    """x <- x + c (in place) for a constant hyperparameter c (e.g. ``eps``)."""
    if _is_one(x):
        return x.add_(_constant(c)) if x.is_cpu else x.add_(c)
    torch._foreach_add_(x, c)
    return x


def add_sq_(s: TensorOrList, g: TensorOrList) -> TensorOrList:
    """Adagrad's accumulator: s <- s + g**2 (in place)."""
    if _is_one(s):
        return s.addcmul_(g, g)
    torch._foreach_addcmul_(s, g, g)
    return s


def ema_sq_const_(v: TensorOrList, g: TensorOrList, beta: float) -> TensorOrList:
    """:func:`ema_sq_` for a constant ``beta`` (RMSprop's alpha): v <- beta v + (1 - beta) g**2."""
    if _is_one(v):
        return v.mul_(_constant(beta) if v.is_cpu else beta).addcmul_(g, g, value=1.0 - beta)
    return ema_sq_(v, g, beta)


def mul_const_(x: TensorOrList, c: float) -> TensorOrList:
    """x <- c * x (in place) for a constant hyperparameter c (e.g. ``momentum``)."""
    if _is_one(x):
        return x.mul_(_constant(c)) if x.is_cpu else x.mul_(c)
    torch._foreach_mul_(x, c)
    return x


def add_div_(x: TensorOrList, num: TensorOrList, den: TensorOrList) -> TensorOrList:
    """x <- x + num / den (in place)."""
    if _is_one(x):
        return x.addcdiv_(num, den)
    torch._foreach_addcdiv_(x, num, den)
    return x
