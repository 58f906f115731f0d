"""Annealed Gaussian gradient noise (Neelakantan et al., 2015) around any optimizer."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..checks import check_int, check_range
from ._base import run_inner_step, tensor_mode
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
    k0, k1 = _keys(seed, stream)
    index, local = _element_index(g)
    if isinstance(step, Tensor):
        step_key = _mix32((step.to(torch.int64) & _M32) ^ k1).to(index.device)
    else:
        step_key = _mix32_int((int(step) & _M32) ^ k1)
    return _normal(index, k0, step_key, torch.float64 if local.dtype == torch.float64 else torch.float32)


def _keys(seed: int, stream: int) -> tuple[int, int]:
    """The two 32-bit keys of (seed, stream)."""
    s = seed & ((1 << _SEED_BITS) - 1)
    k0 = _mix32_int((s & _M32) ^ _mix32_int(stream * 2 + 1))
    k1 = _mix32_int((s >> 32) ^ _mix32_int(stream * 2 + 2) ^ 0x9E3779B9)
    return k0, k1


def _normal(index: Tensor, k0, step_key, dtype: torch.dtype) -> Tensor:
    """The normal draw of each element index (int64) under keys ``k0`` and ``step_key``."""
    h = _mix32((index & _M32) ^ k0)
    h = _mix32(h ^ (index >> 32) ^ step_key)
    u = (h.to(dtype) + 0.5) * (1.0 / 2**32)
    return torch.erfinv(u * 2.0 - 1.0) * math.sqrt(2.0)


def noise_add_update(out: Tensor, g: Tensor, *, k0, step_key, sigma) -> None:
    """``out = g + sigma z`` for a flat contiguous gradient (element index = position): the rule the
    generated kernel runs (``k0``/``step_key`` as exact float64 values of 32-bit keys)."""
    index = torch.arange(g.numel(), device=g.device)
    dtype = torch.float64 if g.dtype == torch.float64 else torch.float32
    z = _normal(index, k0.to(torch.int64), step_key.to(torch.int64), dtype)
    out.copy_(g + z.to(g.dtype) * sigma)


class GradientNoise(Wrapper):
    r"""Add annealed Gaussian noise to the gradients an inner optimizer sees.

    Symbols: :math:`\eta` = ``eta``, :math:`\gamma` = ``gamma``, :math:`t` = the group's
    ``noise_step`` (0 at the first step).

    Update as implemented (Neelakantan et al., eq. 1)::

        sigma_t^2 = eta / (1 + t)^gamma
        g~ = g + N(0, sigma_t^2)      (independently for every coordinate; real and imaginary
                                       parts of complex gradients each get variance sigma_t^2)
        inner.step() with g~ in place of g;  then p.grad is g again

    **The user's gradient is never written.**  An optimlab inner optimizer receives the noisy
    gradients ``g + noise`` (new tensors, laid out like ``g`` where ``g`` is dense) directly, in
    place of the ones it collected; any other optimizer (torch's) gets them in ``p.grad`` for its
    step, and the original tensor objects are put back in a ``finally`` block.  Either way, after
    ``step()`` (or an exception in it) ``p.grad`` is exactly what backward produced.

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

    Speed: the draw hashes every element (integer arithmetic and ``erfinv``), several passes in
    eager mode.  In eager mode, a group with at least 2**20 elements in plain contiguous
    gradients draws them in one pass through the kernel ``torch.compile`` generates from
    :func:`noise_add_update` (the same hash; equal to the eager draw up to ``erfinv``'s rounding,
    tested); where no kernel can be built the eager draw runs and one line is logged.

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

    @staticmethod
    def _generated(todo: list, sigma: float, seed: int, step: int) -> dict:
        """The noisy gradients of the plain contiguous ones through the kernel generated from
        :func:`noise_add_update` (eager mode, groups of at least 2**20 such elements); ``{}`` when
        not used or not available (the reference draw runs)."""
        from . import _compiled

        rows, index = [], []
        for i, (g, stream) in enumerate(todo):
            if not g.is_sparse and not g.is_complex() and _compiled.row_ok((g,)):
                rows.append((torch.empty_like(g), g, stream))
                index.append(i)
        if not rows or sum(r[1].numel() for r in rows) < _compiled.MIN_NUMEL or not _compiled.compiled_available():
            return {}
        coefs = []
        for _, _, stream in rows:
            k0, k1 = _keys(seed, stream)
            coefs.append({"k0": float(k0), "step_key": float(_mix32_int((int(step) & _M32) ^ k1))})
        if _compiled.run_compiled(noise_add_update, [r[:2] for r in rows], coefs, {"sigma": float(sigma)}) is None:
            return {}
        return {i: r[0] for i, r in zip(index, rows)}

    def _step_impl(self, grad_transform=None) -> None:
        groups = self._groups()
        streams = []  # the state_dict index of each group's first parameter
        n = 0
        for group in groups:
            streams.append(n)
            n += len(group["params"])

        def noisy(group: dict, params: list, grads: list) -> list:
            if grad_transform is not None:  # an outer wrapper's change comes first
                grads = grad_transform(group, params, grads)
            gi = next(i for i, g in enumerate(groups) if g is group)
            count = group["noise_step"]
            t = count if tensor_mode(group) else int(count)
            var = noise_variance(group["noise_eta"], group["noise_gamma"], t)
            sigma = torch.sqrt(var) if isinstance(var, Tensor) else math.sqrt(var)
            todo, k = [], 0
            for j, q in enumerate(group["params"]):  # params: the group's parameters with a gradient, in order
                if k < len(params) and q is params[k]:
                    todo.append((grads[k], streams[gi] + j))
                    k += 1
            fast = self._generated(todo, sigma, group["noise_seed"], t) if not tensor_mode(group) else {}
            return [fast[i] if i in fast else self._noisy(g, sigma, group["noise_seed"], stream, t)
                    for i, (g, stream) in enumerate(todo)]

        run_inner_step(self.optimizer, noisy)
        for group in groups:
            group["noise_step"].add_(1)
