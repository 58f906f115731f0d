"""The elementwise building blocks every update rule is written with.

Each function takes **one Tensor or a list of Tensors** and a coefficient, so that an optimizer
writes its update rule once and runs it

* per tensor (the reference path), with the coefficients as Python floats (eager) or as 0-d
  tensors (``capturable``/``differentiable`` steps and ``torch.compile`` traces, where a step
  count or a learning rate must stay a tensor: no host synchronisation, no recompilation when it
  changes, gradients flow through it), or
* once over lists of tensors (the ``foreach`` path: ``torch._foreach_*`` kernels), with float
  coefficients (one per list or one per tensor).

Tensor coefficients are only used per tensor (``run_update`` never builds lists in tensor mode).
Nothing here writes into a tensor it was not asked to write (the user's ``p.grad`` is only read).

Sections: elementary operations; scalar helpers (float or 0-d tensor); the equations shared by
the Adam and SGD families (EMAs, bias correction, momentum, weight decay).
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
from torch import Tensor

TensorOrList = Union[Tensor, Sequence[Tensor]]
Scalar = Union[float, Tensor, Sequence[float]]

__all__ = [
    # elementary operations
    "add_", "add_scalar_", "mul_", "lerp_", "addcdiv_", "addcmul_", "addcmul", "sqrt", "sqrt_", "maximum_",
    "clamp_", "copy_", "neg",
    # scalar helpers
    "is_tensor_scalar", "ssqrt", "where",
    # equations
    "ema_", "ema_sq_", "momentum_", "bias_correction", "bias_correction_sqrt", "decoupled_decay_",
    "regularized_gradient",
]


def _one(x: TensorOrList) -> bool:
    return isinstance(x, Tensor)


def _out_ok() -> bool:
    """Whether ``out=`` forms may be used: not while autograd records the step (differentiable)
    and not while torch.compile traces it."""
    return not torch.is_grad_enabled() and not torch.compiler.is_compiling()


def _coef(c, x: Tensor):
    """A tensor coefficient in ``x``'s dtype, as a Python float is used by torch's kernels (computed
    in float64, applied in the tensor's precision): elementwise math stays in float32 for float32
    tensors (also in a compiled kernel), and the result equals the eager float path's."""
    if isinstance(c, Tensor) and c.dtype != x.dtype and x.is_floating_point():
        return c.to(x.dtype)
    return c


def _saved(t: Tensor) -> Tensor:
    """An operand as an out-of-place op may save it for backward.

    Only a ``differentiable=True`` step records autograd (grad mode is on only there); then a
    parameter or state tensor that an op saves must not be modified in place afterwards (this
    step's update, or the next step's), so the op gets a copy (as torch's optimizers clone in
    that mode).  Otherwise the tensor itself.
    """
    return t.clone() if torch.is_grad_enabled() else t


def is_tensor_scalar(c) -> bool:
    """Whether a coefficient is a (0-d) tensor rather than a Python number (or list of numbers)."""
    return isinstance(c, Tensor)


# Step-invariant float coefficients on CPU as cached 0-d tensors: ``x.mul_(t)`` with a 0-d tensor
# skips the scalar-to-tensor wrapping that ``x.mul_(0.9)`` does on every call (about 1.5 us of a
# CPU step's per-tensor overhead).  The arithmetic is identical: a Python float is wrapped as a
# 0-d float64 tensor too.  Not used while torch.compile traces (a float is a constant there).
_CONSTANTS: dict[float, Tensor] = {}


def _cached(c: float) -> Tensor | float:
    if torch.compiler.is_compiling():
        return c
    t = _CONSTANTS.get(c)
    if t is None:
        if len(_CONSTANTS) >= 64:  # hyperparameters, not per-step values: a small cache
            _CONSTANTS.clear()
        t = _CONSTANTS[c] = torch.tensor(c, dtype=torch.float64)
    return t


# ---------------------------------------------------------------------------------------------
# Elementary operations
# ---------------------------------------------------------------------------------------------

def add_(x: TensorOrList, y: TensorOrList, alpha: Scalar = 1.0) -> TensorOrList:
    """x <- x + alpha * y (in place)."""
    if _one(x):
        if isinstance(alpha, Tensor):
            return x.add_(_saved(y) * _coef(alpha, x))
        return x.add_(y, alpha=alpha)
    if isinstance(alpha, (int, float)):
        torch._foreach_add_(x, y, alpha=alpha)
    else:  # one alpha per tensor
        torch._foreach_add_(x, torch._foreach_mul(y, list(alpha)))
    return x


def add_scalar_(x: TensorOrList, c: Scalar, *, constant: bool = False) -> TensorOrList:
    """x <- x + c (in place); ``c`` a float, a 0-d tensor, or one float per tensor.

    ``constant=True`` says ``c`` is a hyperparameter that stays the same from step to step
    (``eps``): on CPU it is then passed as a cached 0-d tensor (see ``_cached``).  Used on
    temporaries (a denominator), so while autograd records the step it returns ``x + c`` instead
    (``x`` may be saved for backward, e.g. a ``sqrt`` result).
    """
    if _one(x):
        if torch.is_grad_enabled():
            return x + _coef(c, x)
        if constant and isinstance(c, float) and x.is_cpu:
            return x.add_(_cached(c))
        return x.add_(_coef(c, x))
    torch._foreach_add_(x, c if isinstance(c, (int, float)) else list(c))
    return x


def mul_(x: TensorOrList, c: Scalar, *, constant: bool = False) -> TensorOrList:
    """x <- c * x (in place); ``c`` a float, a 0-d tensor, or one float per tensor
    (``constant``: as in :func:`add_scalar_`)."""
    if _one(x):
        if constant and isinstance(c, float) and x.is_cpu:
            return x.mul_(_cached(c))
        return x.mul_(_coef(c, x))
    torch._foreach_mul_(x, c if isinstance(c, (int, float)) else list(c))
    return x


def lerp_(x: TensorOrList, y: TensorOrList, weight: Scalar) -> TensorOrList:
    """x <- x + weight * (y - x) (in place)."""
    if _one(x):
        return x.lerp_(y, _coef(weight, x))
    torch._foreach_lerp_(x, y, weight)
    return x


def addcdiv_(x: TensorOrList, num: TensorOrList, den: TensorOrList, value: Scalar = 1.0) -> TensorOrList:
    """x <- x + value * num / den (in place)."""
    if _one(x):
        if torch.is_grad_enabled():
            num, den = _saved(num), _saved(den)
        if isinstance(value, Tensor):
            return x.addcdiv_(num * _coef(value, x), den)
        return x.addcdiv_(num, den, value=value)
    torch._foreach_addcdiv_(x, num, den, value if isinstance(value, (int, float)) else list(value))
    return x


def addcmul_(x: TensorOrList, a: TensorOrList, b: TensorOrList, value: Scalar = 1.0) -> TensorOrList:
    """x <- x + value * a * b (in place)."""
    if _one(x):
        if torch.is_grad_enabled():
            a, b = _saved(a), _saved(b)
        if isinstance(value, Tensor):
            return x.addcmul_(a * _coef(value, x), b)
        return x.addcmul_(a, b, value=value)
    torch._foreach_addcmul_(x, a, b, value if isinstance(value, (int, float)) else list(value))
    return x


def addcmul(x: TensorOrList, a: TensorOrList, b: TensorOrList, value: float = 1.0) -> TensorOrList:
    """x + value * a * b (new tensor(s))."""
    if _one(x):
        return torch.addcmul(x, _saved(a), _saved(b), value=value)
    return torch._foreach_addcmul(x, a, b, value)


def sqrt(x: TensorOrList) -> TensorOrList:
    """sqrt(x) (new tensor(s))."""
    if _one(x):
        return torch.sqrt(x)
    return torch._foreach_sqrt(x)


def sqrt_(x: TensorOrList) -> TensorOrList:
    """x <- sqrt(x) (in place; out of place while autograd records the step)."""
    if _one(x):
        if torch.is_grad_enabled():
            return x.sqrt()
        return x.sqrt_()
    torch._foreach_sqrt_(x)
    return x


def maximum_(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x <- max(x, y) elementwise (in place; without ``out=`` while autograd records the step)."""
    if _one(x):
        if _out_ok():
            return torch.maximum(x, y, out=x)
        return x.copy_(torch.maximum(_saved(x), _saved(y)))
    torch._foreach_maximum_(x, y)
    return x


def clamp_(x: TensorOrList, low: Scalar, high: Scalar) -> TensorOrList:
    """x <- min(max(x, low), high) (in place); bounds are floats or 0-d tensors."""
    if _one(x):
        return x.clamp_(_coef(low, x), _coef(high, x))
    torch._foreach_clamp_min_(x, low)
    torch._foreach_clamp_max_(x, high)
    return x


def copy_(x: TensorOrList, y: TensorOrList) -> TensorOrList:
    """x <- y (in place).  Lists holding a tensor subclass are copied one by one: DTensor (FSDP2's
    parameters) has no sharding rule for ``_foreach_copy_`` (torch 2.13), while it has one for the
    other ``_foreach_*`` kernels used here."""
    if _one(x):
        return x.copy_(y)
    if any(type(t) not in (Tensor, torch.nn.Parameter) for t in (*x, *y)):
        for a, b in zip(x, y):
            a.copy_(b)
        return x
    torch._foreach_copy_(x, y)
    return x


def neg(x: TensorOrList) -> TensorOrList:
    """-x (new tensor(s)); ``maximize`` negates out of place, so ``p.grad`` is never written."""
    if _one(x):
        return torch.neg(x)
    return torch._foreach_neg(x)


# ---------------------------------------------------------------------------------------------
# Scalar helpers: a step count, a learning rate or a bias correction is a Python float (eager)
# or a 0-d tensor (tensor mode); these work for both.
# ---------------------------------------------------------------------------------------------

def ssqrt(c):
    """sqrt of a float or of a 0-d tensor."""
    return torch.sqrt(c) if isinstance(c, Tensor) else math.sqrt(c)


def where(cond, a, b):
    """``a if cond else b`` for a Python bool, ``torch.where(cond, a, b)`` for a bool tensor
    (both sides are then evaluated, so neither may raise: keep them finite where unused)."""
    if isinstance(cond, Tensor):
        return torch.where(cond, a, b)
    return a if cond else b


# ---------------------------------------------------------------------------------------------
# Equations (lecture notation: g gradient, m first moment, v second moment, t step)
# ---------------------------------------------------------------------------------------------

def ema_(m: TensorOrList, g: TensorOrList, beta: Scalar) -> TensorOrList:
    """First-moment EMA: m <- beta * m + (1 - beta) * g (computed as ``lerp``, as torch does)."""
    return lerp_(m, g, 1.0 - beta)


def ema_sq_(v: TensorOrList, g: TensorOrList, beta: Scalar) -> TensorOrList:
    """Second-moment EMA: v <- beta * v + (1 - beta) * g**2 (``beta`` is a hyperparameter)."""
    mul_(v, beta, constant=True)
    return addcmul_(v, g, g, 1.0 - beta)


def momentum_(buf: TensorOrList, g: TensorOrList, momentum: Scalar, dampening: Scalar = 0.0) -> TensorOrList:
    """Heavy-ball buffer: b <- momentum * b + (1 - dampening) * g (in place).

    Per tensor without dampening, one pass (``torch.add(g, b, alpha=momentum, out=b)``) instead of
    torch's ``b.mul_(momentum).add_(g)``; the two-pass form where that is not allowed (a tensor
    coefficient, autograd recording the step).
    """
    if _one(buf):
        if (isinstance(dampening, (int, float)) and dampening == 0 and isinstance(momentum, (int, float))
                and _out_ok()):
            return torch.add(g, buf, alpha=momentum, out=buf)
        mul_(buf, momentum, constant=True)
        return add_(buf, g, 1.0 - dampening)
    torch._foreach_mul_(buf, momentum)
    torch._foreach_add_(buf, g, alpha=1.0 - dampening)
    return buf


def bias_correction(beta: Scalar, step):
    """Adam's de-biasing denominator 1 - beta**t (float or 0-d tensor)."""
    return 1.0 - beta**step


def bias_correction_sqrt(beta: Scalar, step):
    """sqrt(1 - beta**t), the de-biasing of the second moment's square root."""
    return ssqrt(1.0 - beta**step)


def decoupled_decay_(p: TensorOrList, lr: Scalar, weight_decay: Scalar) -> TensorOrList:
    """Decoupled weight decay (Loshchilov & Hutter): theta <- theta * (1 - lr * lam).

    The factor is ``lr * weight_decay`` as in ``torch.optim.AdamW``; the lecture writes it
    ``theta - eta * gamma * theta`` (AdamW) or ``theta - gamma * theta`` (SGDWM, gamma already
    including the rate): both are this with the corresponding ``weight_decay``.
    """
    if isinstance(lr, (int, float, Tensor)):
        return mul_(p, 1.0 - lr * weight_decay)
    return mul_(p, [1.0 - a * weight_decay for a in lr])


def regularized_gradient(p: TensorOrList, g: TensorOrList, lr: Scalar, weight_decay: Scalar, *,
                         decoupled: bool = False, maximize: bool = False) -> TensorOrList:
    """The gradient an update rule uses: ``-g`` under ``maximize`` (out of place), then weight decay,
    either folded in as L2 (``g + lam theta``, a new tensor) or, ``decoupled``, applied to the
    parameters directly (``theta <- theta (1 - lr lam)``, in place).  ``p.grad`` is never written."""
    if maximize:
        g = neg(g)
    if isinstance(weight_decay, Tensor) or weight_decay != 0:
        if decoupled:
            decoupled_decay_(p, lr, weight_decay)
        elif _one(g):
            g = g.add(p, alpha=weight_decay) if not isinstance(weight_decay, Tensor) else g + _saved(p) * _coef(weight_decay, p)
        else:
            g = torch._foreach_add(g, p, alpha=weight_decay)
    return g
