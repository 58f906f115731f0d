"""Annealed Gaussian gradient noise (Neelakantan et al., 2015) around any optimizer."""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from ..checks import check_int, check_range
from ._common import call_closure
from ._wrapper import Wrapper

__all__ = ["GradientNoise", "noise_variance"]


def noise_variance(eta: float, gamma: float, t: float) -> float:
    """sigma_t^2 = eta / (1 + t)^gamma (t counts steps from 0)."""
    return eta / (1.0 + t) ** gamma


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
    replaced by a new tensor ``g + noise`` (computed out of place); the original tensor object is
    put back in a ``finally`` block, so after ``step()`` (or an exception in it) ``p.grad`` is
    exactly what backward produced.

    **Reproducible.**  Noise is drawn from this wrapper's own ``torch.Generator`` (one per device),
    seeded with ``seed`` (or, with ``seed=None``, from torch's global RNG at construction, so
    ``torch.manual_seed`` fixes it).  The generators' states and ``noise_step`` are in the
    state_dict, so a resumed run draws the same noise as an uninterrupted one.  Draws follow
    param_groups order, parameter order.

    The lecture (section 12) writes :math:`\sigma_t = c/(1+t)^\gamma`; the paper anneals the
    variance, which is what is implemented (:math:`c = \sqrt\eta`, exponent :math:`\gamma/2`).
    ``eta``, ``gamma`` and ``noise_step`` live in each param group (``noise_eta``,
    ``noise_gamma``, ``noise_step``), shared with the inner optimizer's groups (see Lookahead).

    Deviations: with a ``closure``, the wrapper evaluates it once, adds the noise and calls the
    inner ``step()`` without the closure (an inner optimizer that re-evaluates the closure,
    such as L-BFGS, would otherwise see noise-free gradients).  Sparse gradients are rejected.
    ``maximize`` of the inner optimizer flips the noise too (same distribution).

    Paper's recommended defaults: ``eta`` in {0.01, 0.3, 1.0} (``0.01`` here), ``gamma=0.55``.

    Args:
        optimizer (torch.optim.Optimizer): the inner optimizer, already built.
        eta (float, default 0.01, >= 0): initial noise variance :math:`\eta`.
        gamma (float, default 0.55, >= 0): decay exponent of the variance.
        seed (int or None, default None, >= 0): seed of the noise generator.

    State: no per-parameter state; ``state_dict()["noise_rng"]`` holds the seed and the
    generator states; the inner optimizer's state_dict is nested under ``"inner_optimizer"``.

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

    def __init__(self, optimizer: torch.optim.Optimizer, eta: float = 0.01, gamma: float = 0.55,
                 seed: int | None = None) -> None:
        owner = self._owner
        check_range(owner, "eta", eta, 0.0)
        check_range(owner, "gamma", gamma, 0.0)
        if seed is not None:
            check_int(owner, "seed", seed, 0)
        else:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        super().__init__(optimizer, {"noise_eta": eta, "noise_gamma": gamma, "noise_step": 0})
        self._seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self._seed)
            self._generators[key] = gen
        return gen

    def _noisy(self, g: torch.Tensor, sigma: float) -> torch.Tensor:
        if g.is_sparse:
            raise RuntimeError(f"{self._owner} does not support sparse gradients")
        real = torch.view_as_real(g) if torch.is_complex(g) else g
        noise = torch.randn(real.shape, generator=self._generator(g.device), dtype=real.dtype, device=g.device)
        torch.add(real, noise, alpha=sigma, out=noise)  # g + sigma * z, out of place w.r.t. g
        return torch.view_as_complex(noise) if torch.is_complex(g) else noise

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """Add the noise, run the inner step, restore the user's gradients."""
        loss = call_closure(closure)
        swapped: list[tuple[torch.Tensor, torch.Tensor]] = []
        try:
            for group in self._groups():
                sigma = math.sqrt(noise_variance(group["noise_eta"], group["noise_gamma"], group["noise_step"]))
                for p in group["params"]:
                    if p.grad is not None:
                        g = p.grad
                        noisy = self._noisy(g, sigma)
                        swapped.append((p, g))
                        p.grad = noisy
            self.optimizer.step()
        finally:
            for p, g in swapped:
                p.grad = g
        for group in self.param_groups:
            group["noise_step"] += 1
        return loss

    def _extra_state(self) -> dict[str, Any]:
        return {"noise_rng": {"seed": self._seed,
                              "states": {k: g.get_state() for k, g in self._generators.items()}}}

    def _load_extra_state(self, state_dict: dict[str, Any]) -> None:
        rng = state_dict.get("noise_rng")
        if rng is None:
            raise ValueError(f"{self._owner}: state_dict has no 'noise_rng' entry")
        self._seed = int(rng["seed"])
        self._generators = {}
        for key, st in rng["states"].items():
            self._generator(torch.device(key)).set_state(st.clone())
