"""Lookahead (Zhang et al., 2019): k steps forward with any optimizer, one step back to slow weights."""

from __future__ import annotations

from typing import Any, Callable

import torch

from . import _moments as M
from ..checks import check_choice, check_int, check_range
from ._wrapper import Wrapper

__all__ = ["Lookahead"]

_MOMENTUM_KEYS = ("momentum_buffer", "exp_avg")


class Lookahead(Wrapper):
    r"""Lookahead around any optimizer instance (``torch.optim``'s or ours).

    Symbols: :math:`k` = ``k``, :math:`\alpha` = ``alpha``, :math:`\phi` the slow weights,
    :math:`\theta` the fast weights (the parameters), Optim the inner optimizer.

    Update as implemented (the paper's Algorithm 1, the lecture's section 8)::

        phi_0 = theta_0                                  (copied at a parameter's first step)
        every step:  theta <- theta + Optim(...)         (the inner optimizer's step)
        every k-th step of the group:
            phi   <- phi + alpha (theta - phi)           (slow weights, in place: one lerp)
            theta <- phi                                 (fast weights restart from phi)
            inner momentum: "keep" | "reset" | "pullback" (see below)

    Between syncs a step costs the inner step plus a counter increment; the sync is two
    passes over the parameters every k steps (``torch._foreach_lerp_`` and ``_foreach_copy_``).

    **Sharing.**  ``self.param_groups`` *is* ``optimizer.param_groups`` (the same list), so a
    torch scheduler, ``GradScaler`` (it unscales the shared grads and calls this ``step``, or
    skips it on inf), ``zero_grad``, step hooks and ``add_param_group`` (on either object) all
    work through the wrapper.  ``k``, ``alpha``, ``pullback`` and the step counter live in each
    group as ``lookahead_k``, ``lookahead_alpha``, ``lookahead_pullback``, ``lookahead_step``,
    so they can differ per group, are saved in the state_dict and apply to groups added later.

    **Inner momentum after a sync** (``pullback``): ``"keep"`` (default, the paper's choice: the
    inner optimizer's state is left as it is), ``"reset"`` (the first-moment buffer,
    ``momentum_buffer`` or ``exp_avg``, is zeroed; Adam's second moment is kept), ``"pullback"``
    (the buffer is interpolated like the weights, ``b <- alpha b + (1-alpha) b_slow``,
    ``b_slow <- b``, with ``b_slow`` kept in this wrapper's state as ``slow_momentum``, zero at
    first; the rule of the widely used lookahead.pytorch implementation).

    Deviations: slow weights are created lazily, at a parameter's first step with a gradient
    (a parameter that never receives a gradient has no slow copy and is never touched); with a
    ``closure`` and no gradient before the step, the pre-step values of parameters without slow
    weights are snapshotted so that :math:`\phi_0=\theta_0` still holds.  The counter is per
    group and counts calls of ``step`` (a step skipped by ``GradScaler`` does not count).

    Paper's recommended defaults: ``k=5``, ``alpha=0.5`` (the paper also uses k=10, alpha=0.8).

    Args:
        optimizer (torch.optim.Optimizer): the inner ("fast") optimizer, already built.
        k (int, default 5, >= 1): inner steps per sync.
        alpha (float, default 0.5, in (0, 1]): slow-weight step size (1 = plain inner optimizer).
        pullback (str, default "keep"): "keep", "reset" or "pullback".

    State per parameter (this wrapper's): ``slow_param`` (:math:`\phi`, like the parameter),
    ``slow_momentum`` (only with "pullback").  The inner optimizer keeps its own state;
    ``state_dict()`` nests it (torch's format) under ``"inner_optimizer"``.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = optimlab.Lookahead(torch.optim.SGD([w], lr=0.1), k=2, alpha=0.5)
        >>> for _ in range(2):
        ...     opt.zero_grad(); w.pow(2).sum().backward(); opt.step()
        >>> w.detach()  # fast 1 -> 0.8 -> 0.64, then 1 + 0.5 (0.64 - 1)
        tensor([0.8200])

    References:
        Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
        NeurIPS 2019, arXiv:1907.08610.
    """

    _owner = "Lookahead"

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5,
                 pullback: str = "keep") -> None:
        owner = self._owner
        check_int(owner, "k", k, 1)
        check_range(owner, "alpha", alpha, 0.0, 1.0, low_closed=False)
        check_choice(owner, "pullback", pullback, ("keep", "reset", "pullback"))
        super().__init__(optimizer, {"lookahead_k": k, "lookahead_alpha": alpha,
                                     "lookahead_pullback": pullback, "lookahead_step": 0})

    def _n_params(self) -> int:
        return sum(len(g["params"]) for g in self.param_groups)

    def _start_slow(self, params) -> None:
        for p in params:
            self.state[p]["slow_param"] = p.detach().clone(memory_format=torch.preserve_format)

    def step(self, closure: Callable[[], Any] | None = None):
        """One inner step; every ``k``-th step of a group, the slow-weight sync of that group."""
        snapshot = {}
        if len(self.state) < self._n_params():  # some parameters have no slow weights yet
            for group in self.param_groups:
                new = [p for p in group["params"] if p not in self.state]
                self._start_slow(p for p in new if p.grad is not None)
                if closure is not None:
                    snapshot.update({p: p.detach().clone() for p in new if p.grad is None and p.requires_grad})
        loss = self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        for p, value in snapshot.items():
            if p.grad is not None:
                self.state[p]["slow_param"] = value
        for group in self._groups():
            group["lookahead_step"] += 1
            if group["lookahead_step"] % group["lookahead_k"] == 0:
                self._sync(group)
        return loss

    @torch.no_grad()
    def _sync(self, group: dict) -> None:
        params = [p for p in group["params"] if p in self.state]
        if not params:
            return
        alpha = group["lookahead_alpha"]
        slow = [self.state[p]["slow_param"] for p in params]
        M.lerp_(slow, params, alpha)
        M.copy_(params, slow)
        mode = group["lookahead_pullback"]
        if mode == "keep":
            return
        for p in params:
            inner = self.optimizer.state.get(p, {})
            key = next((k for k in _MOMENTUM_KEYS if isinstance(inner.get(k), torch.Tensor)), None)
            if key is None:
                continue
            buf = inner[key]
            if mode == "reset":
                buf.zero_()
            else:
                st = self.state[p]
                if "slow_momentum" not in st:
                    st["slow_momentum"] = torch.zeros_like(buf)
                buf.lerp_(st["slow_momentum"], 1.0 - alpha)  # b <- alpha b + (1 - alpha) b_slow
                st["slow_momentum"].copy_(buf)
