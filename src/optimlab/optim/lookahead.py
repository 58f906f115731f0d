"""Lookahead (Zhang et al., 2019): k steps forward with any optimizer, one step back to slow weights."""

from __future__ import annotations

from typing import Any, Callable

import torch

from . import _ops as M
from ..checks import check_choice, check_int, check_range
from ._base import run_inner_step, step_context, tensor_mode
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
    While ``torch.compile`` traces the step, the sync is written with ``torch.where`` on the
    counter (one graph whatever the step), which costs those passes at every step.

    **Sharing.**  ``self.param_groups`` *is* ``optimizer.param_groups`` and ``self.state`` *is*
    ``optimizer.state`` (the same objects, see :mod:`optimlab.optim._wrapper`), so a torch
    scheduler, ``GradScaler`` (it unscales the shared grads and calls this ``step``, or skips it
    on inf), ``zero_grad``, step hooks and ``add_param_group`` (on either object) all work
    through the wrapper, and the state_dict is torch's flat format (ZeRO, distributed
    checkpoints).  ``k``, ``alpha``, ``pullback`` and the step counter live in each group as
    ``lookahead_k``, ``lookahead_alpha``, ``lookahead_pullback``, ``lookahead_step`` (a 0-d int64
    tensor), so they can differ per group, are checked when a group is added, are saved in the
    state_dict and apply to groups added later.

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

    State per parameter (this wrapper's, beside the inner optimizer's in the same dict):
    ``lookahead_slow`` (:math:`\phi`, like the parameter), ``lookahead_slow_momentum`` (only with
    "pullback").

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
    _counters = ("lookahead_step",)

    def __init__(self, optimizer: torch.optim.Optimizer, k: int = 5, alpha: float = 0.5,
                 pullback: str = "keep") -> None:
        self._check_group({"lookahead_k": k, "lookahead_alpha": alpha, "lookahead_pullback": pullback})
        super().__init__(optimizer, {"lookahead_k": k, "lookahead_alpha": alpha,
                                     "lookahead_pullback": pullback, "lookahead_step": 0})

    def _check_group(self, group: dict) -> None:
        owner = self._owner
        check_int(owner, "k", group["lookahead_k"], 1)
        check_range(owner, "alpha", group["lookahead_alpha"], 0.0, 1.0, low_closed=False)
        check_choice(owner, "pullback", group["lookahead_pullback"], ("keep", "reset", "pullback"))

    @step_context
    def step(self, closure: Callable[[], Any] | None = None):
        """One inner step; every ``k``-th step of a group, the slow-weight sync of that group."""
        return self._step_impl(closure)

    def _step_impl(self, closure: Callable[[], Any] | None = None):
        groups = self._groups()
        # phi_0 = theta_0: the pre-step values of parameters that have no slow weights yet (stored
        # after the inner step, so that the inner optimizer creates its state first)
        fresh = {}
        for group in groups:
            for p in group["params"]:
                if "lookahead_slow" not in self.state.get(p, ()) and (
                        p.grad is not None or (closure is not None and p.requires_grad)):
                    fresh[p] = p.detach().clone(memory_format=torch.preserve_format)
        loss = run_inner_step(self.optimizer, closure)
        for p, value in fresh.items():
            if p.grad is not None:
                self.state[p]["lookahead_slow"] = value
        for group in groups:
            count = group["lookahead_step"]
            count.add_(1)
            if tensor_mode(group):
                self._sync(group, count % group["lookahead_k"] == 0)
            elif int(count) % group["lookahead_k"] == 0:
                self._sync(group, True)
        return loss

    @torch.no_grad()
    def _sync(self, group: dict, when) -> None:
        """phi <- phi + alpha (theta - phi); theta <- phi (and the inner momentum), where ``when``
        holds: a Python bool (eager), or a bool tensor (traced: both sides computed, one kept)."""
        params = [p for p in group["params"] if "lookahead_slow" in self.state.get(p, ())]
        if not params:
            return
        alpha = group["lookahead_alpha"]
        slow = [self.state[p]["lookahead_slow"] for p in params]
        if isinstance(when, torch.Tensor):
            for p, s in zip(params, slow):
                s.copy_(torch.where(when, s.lerp(p, alpha), s))
                p.copy_(torch.where(when, s, p))
        else:
            M.lerp_(slow, params, alpha)
            M.copy_(params, slow)
        mode = group["lookahead_pullback"]
        if mode == "keep":
            return
        for p in params:
            inner = self.state[p]
            key = next((k for k in _MOMENTUM_KEYS if isinstance(inner.get(k), torch.Tensor)), None)
            if key is None:
                continue
            buf = inner[key]
            if mode == "reset":
                new = torch.zeros_like(buf)
            else:
                if "lookahead_slow_momentum" not in inner:
                    inner["lookahead_slow_momentum"] = torch.zeros_like(buf)
                new = buf.lerp(inner["lookahead_slow_momentum"], 1.0 - alpha)  # alpha b + (1 - alpha) b_slow
            if isinstance(when, torch.Tensor):
                new = torch.where(when, new, buf)
            buf.copy_(new)
            if mode == "pullback":  # b_slow <- b (where the sync happened)
                slow_m = inner["lookahead_slow_momentum"]
                slow_m.copy_(torch.where(when, buf, slow_m) if isinstance(when, torch.Tensor) else buf)
