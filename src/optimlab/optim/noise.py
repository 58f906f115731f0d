"""Annealed Gaussian gradient noise (Neelakantan et al., 2015) around any optimizer."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from ..checks import check_int, check_range
from ._base import call_closure, run_inner_step, step_context, tensor_mode
from ._wrapper import Wrapper

__all__ = ["GradientNoise", "noise_variance", "gaussian_noise"]

_M32 = 0xFFFFFFFF
_SEED_BITS = 64


def noise_variance(eta, gamma: float, t):
    """sigma_t^2 = eta / (1 + t)^gamma (t counts steps from 0; a float or a 0-d tensor)."""
    return eta / (1.0 + t) ** gamma


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit integer hash (xorshift-multiply, the "lowbias32" shape with multipliers below 2**31
    so that every product of a 32-bit value fits in int64: exact, no overflow), on int64 tensors
    holding values in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def _mix32_int(x: int) -> int:
    """:func:`_mix32` on a Python int (for keys computed on the host)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & _M32
    x ^= x >> 15
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def _element_index(g: Tensor) -> tuple[Tensor, Tensor]:
    """The global row-major index of every element of ``g`` (int64, shaped like ``g``'s local data),
    and that local data.  For a DTensor, the index is the element's place in the full tensor, so
    sharded noise equals unsharded noise."""
    local, shape, offset = g, tuple(g.shape), (0,) * g.dim()
    if hasattr(g, "device_mesh") and hasattr(g, "to_local"):  # a DTensor
        from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

        local = g.to_local()
        _, offset = compute_local_shape_and_global_offset(g.shape, g.device_mesh, g.placements)
    if local.dim() == 0:
        return torch.zeros((), dtype=torch.int64, device=local.device), local
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * shape[d + 1]
    index = torch.zeros((), dtype=torch.int64, device=local.device)
    for d, n in enumerate(local.shape):
        view = [1] * local.dim()
        view[d] = n
        index = index + ((torch.arange(n, device=local.device) + offset[d]) * strides[d]).view(view)
    return index, local


def gaussian_noise(g: Tensor, seed: int, stream: int, step) -> Tensor:
    """Standard normal noise shaped like ``g``, a pure function of (seed, stream, step, element).

    Counter-based: element ``i`` of parameter ``stream`` at ``step`` gets
    ``z = sqrt(2) erfinv(2u - 1)`` with ``u = (h + 1/2) / 2**32`` and
    ``h = mix(mix(lo(i) ^ k0) ^ hi(i) ^ mix(step ^ k1))``, where ``mix`` is a 32-bit integer hash and
    ``k0, k1`` are derived from (seed, stream).  Nothing is stored between steps (no generator
    state), so a resumed run, a compiled step, another device or a sharded parameter (DTensor:
    global element indices) draw the same numbers.  ``step`` may be an int or a 0-d integer tensor.
    Computed in float64 for float64 gradients, float32 otherwise (tails to about 5.3 sigma).
    """
    s = seed & ((1 << _SEED_BITS) - 1)
    k0 = _mix32_int((s & _M32) ^ _mix32_int(stream * 2 + 1))
    k1 = _mix32_int((s >> 32) ^ _mix32_int(stream * 2 + 2) ^ 0x9E3779B9)
    index, local = _element_index(g)
    if isinstance(step, Tensor):
        step_key = _mix32((step.to(torch.int64) & _M32) ^ k1).to(index.device)
    else:
        step_key = _mix32_int((int(step) & _M32) ^ k1)
    h = _mix32((index & _M32) ^ k0)
    h = _mix32(h ^ (index >> 32) ^ step_key)
    dtype = torch.float64 if local.dtype == torch.float64 else torch.float32
    u = (h.to(dtype) + 0.5) * (1.0 / 2**32)
    z = torch.erfinv(u * 2.0 - 1.0) * math.sqrt(2.0)
    return z


class GradientNoise(Wrapper):
    r"""Add annealed Gaussian noise to the gradients an inner optimizer sees.

    Symbols: :math:`\eta` = ``eta``, :math:`\gamma` = ``gamma``, :math:`t` = the group's
    ``noise_step`` (0 at the first step).

    Update as implemented (Neelakantan et al., eq. 1)::

        sigma_t^2 = eta / (1 + t)^gamma
        g~ = g + N(0, sigma_t^2)      (independently for every coordinate; real and imaginary
                                       parts of complex gradients each get variance sigma_t^2)
        inner.step() with g~ in place of g;  then p.grad is g again

    **The user's gradient is never written.**  For the inner step, ``p.grad`` is temporarily
    replaced by a new tensor ``g + noise`` (computed out of place, laid out like ``g`` where ``g``
    is dense); the original tensor object is put back in a ``finally`` block, so after ``step()``
    (or an exception in it) ``p.grad`` is exactly what backward produced.

    **Reproducible without state.**  The noise is counter-based (:func:`gaussian_noise`): a pure
    function of the seed, the parameter's position in ``param_groups`` (its state_dict index), the
    group's step and the element's index.  There is no generator state, so a resumed run, a
    ``torch.compile``-d step (one graph: the noise is ordinary tensor arithmetic), a run on another
    device, and FSDP2's sharded parameters (global element indices) all draw the same noise as
    one uninterrupted eager run.  ``seed=None`` draws the seed from torch's global RNG at
    construction (so ``torch.manual_seed`` fixes it); it is kept in every group (``noise_seed``)
    and so in the state_dict.  Under ``ZeroRedundancyOptimizer`` each rank numbers its own
    partition's parameters, so the draws differ from an unsharded run's (still reproducible).

    The lecture (section 12) writes :math:`\sigma_t = c/(1+t)^\gamma`; the paper anneals the
    variance, which is what is implemented (:math:`c = \sqrt\eta`, exponent :math:`\gamma/2`).
    ``eta``, ``gamma``, ``seed`` and the step counter live in each param group (``noise_eta``,
    ``noise_gamma``, ``noise_seed``, ``noise_step``, a 0-d int64 tensor), shared with the inner
    optimizer's groups (see :mod:`optimlab.optim._wrapper`), checked when a group is added.

    Deviations: with a ``closure``, the wrapper evaluates it once, adds the noise and runs the
    inner step without the closure (an inner optimizer that re-evaluates the closure, such as
    L-BFGS, would otherwise see noise-free gradients).  Sparse gradients are rejected.
    ``maximize`` of the inner optimizer flips the noise too (same distribution).  The normal
    deviates come from a 32-bit uniform through the inverse error function, so the tails are
    cut at about 5.3 standard deviations (float32) or 6.2 (float64).

    Paper's recommended defaults: ``eta`` in {0.01, 0.3, 1.0} (``0.01`` here), ``gamma=0.55``.

    Args:
        optimizer (torch.optim.Optimizer): the inner optimizer, already built.
        eta (float, default 0.01, >= 0): initial noise variance :math:`\eta`.
        gamma (float, default 0.55, >= 0): decay exponent of the variance.
        seed (int or None, default None, in [0, 2**64 - 1]): seed of the noise.

    State: none per parameter; the group keys above.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.zeros(3))
        >>> opt = optimlab.GradientNoise(torch.optim.SGD([w], lr=1.0), eta=0.0, seed=0)
        >>> w.sum().backward(); opt.step(); w.detach(), w.grad
        (tensor([-1., -1., -1.]), tensor([1., 1., 1.]))

    References:
        Neelakantan, Vilnis, Le, Sutskever, Kaiser, Kurach & Martens, "Adding Gradient Noise
        Improves Learning for Very Deep Networks", 2015, arXiv:1511.06807.
    """

    _owner = "GradientNoise"
    _counters = ("noise_step",)

    def __init__(self, optimizer: torch.optim.Optimizer, eta: float = 0.01, gamma: float = 0.55,
                 seed: int | None = None) -> None:
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self._check_group({"noise_eta": eta, "noise_gamma": gamma, "noise_seed": seed})
        super().__init__(optimizer, {"noise_eta": eta, "noise_gamma": gamma, "noise_seed": seed, "noise_step": 0})

    def _check_group(self, group: dict) -> None:
        owner = self._owner
        check_range(owner, "eta", group["noise_eta"], 0.0)
        check_range(owner, "gamma", group["noise_gamma"], 0.0)
        check_int(owner, "seed", group["noise_seed"], 0)
        if group["noise_seed"] >= 2**_SEED_BITS:
            raise ValueError(f"{owner}: seed must be < 2**{_SEED_BITS}, got {group['noise_seed']!r}")

    def _noisy(self, g: Tensor, sigma, seed: int, stream: int, step) -> Tensor:
        """``g + sigma z``, a new tensor laid out like ``g`` (TensorIterator follows the first input)."""
        if g.is_sparse:
            raise RuntimeError(f"{self._owner} does not support sparse gradients")
        if g.is_complex():  # real and imaginary parts each get their own draw
            return torch.view_as_complex(self._noisy(torch.view_as_real(g), sigma, seed, stream, step))
        z = gaussian_noise(g, seed, stream, step)
        if hasattr(g, "device_mesh") and hasattr(g, "to_local"):  # DTensor: noise for the local shard
            from torch.distributed.tensor import DTensor

            z = DTensor.from_local(z, g.device_mesh, g.placements, run_check=False, shape=g.shape,
                                   stride=g.stride())
        return g + z.to(g.dtype) * sigma

    @step_context
    def step(self, closure: Callable[[], Any] | None = None):
        """Add the noise, run the inner step, restore the user's gradients."""
        return self._step_impl(closure)

    def _step_impl(self, closure: Callable[[], Any] | None = None):
        loss = call_closure(closure)
        swapped: list[tuple[Tensor, Tensor]] = []
        stream = 0
        try:
            for group in self._groups():
                count = group["noise_step"]
                traced = tensor_mode(group)
                t = count if traced else int(count)
                var = noise_variance(group["noise_eta"], group["noise_gamma"], t)
                sigma = torch.sqrt(var) if isinstance(var, Tensor) else math.sqrt(var)
                for p in group["params"]:
                    if p.grad is not None:
                        g = p.grad
                        noisy = self._noisy(g, sigma, group["noise_seed"], stream, t)
                        swapped.append((p, g))
                        p.grad = noisy
                    stream += 1
            run_inner_step(self.optimizer, None)
        finally:
            for p, g in swapped:
                p.grad = g
        for group in self.param_groups:
            group["noise_step"].add_(1)
        return loss
