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
    "bias_correction_sqrt",
    "decoupled_decay_",
    "l2_gradient",
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
