"""SWATS (Keskar & Socher, 2017): Adam until the projected SGD rate has converged, then SGD with momentum."""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_adam_args, check_choice, check_flags, check_int, check_range
from ._base import OptimizerBase, call_closure, kernel_ok
from ._common import ZeroScratch, check_fused_args, collect_grads, new_step, resolve_foreach, run_update, scalar
from ._docs import common_args

SCRATCH_DTYPES = frozenset((torch.float32, torch.float64))

__all__ = ["SWATS", "swats_adam_update", "swats_sgd_update", "ADAM_PHASE", "SGD_PHASE"]

_log = logging.getLogger(__name__)

ADAM_PHASE = 0
SGD_PHASE = 1


def _dot_(out, x, y):
    """out <- sum(x * y) per tensor (``out`` a 0-d tensor, or a list of them, of any dtype): a device
    reduction, no host synchronisation (SWATS's projections u^T u and u^T g)."""
    if isinstance(x, Tensor):
        return out.copy_(torch.dot(x.reshape(-1), y.reshape(-1)))
    for o, a, b in zip(out, x, y):
        o.copy_(torch.dot(a.reshape(-1), b.reshape(-1)))
    return out


def _quotient_(den, num):
    """den <- num / den (in place, reusing the denominator's memory)."""
    if isinstance(den, Tensor):
        return torch.div(num, den, out=den)
    torch._foreach_copy_(den, torch._foreach_div(num, den))
    return den


def swats_adam_update(
    p, g, uu, ug, m, v, *, step: float, lr: float, beta1: float, beta2: float, eps: float,
    weight_decay: float, maximize: bool,
) -> None:
    """Adam phase: one Adam step and the two reductions of the projection (no host sync).

    With ``u = m / (sqrt(v) + eps)`` and ``c = lr sqrt(1-beta2^t)/(1-beta1^t)``, Adam's step is
    ``p_k = -c u``; ``uu <- u^T u`` and ``ug <- u^T g`` (0-d outputs), so that
    ``p_k^T p_k = c^2 uu`` and ``-p_k^T g_k = c ug``.
    """
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    c = lr * M.bias_correction_sqrt(beta2, step) / M.bias_correction(beta1, step)
    u = _quotient_(M.add_scalar_(M.sqrt(v), eps), m)
    M.add_(p, u, -c)
    _dot_(uu, u, u)
    _dot_(ug, u, g)


def swats_sgd_update(p, g, buf, *, rate, beta1: float, weight_decay: float, maximize: bool) -> None:
    """SGD phase (paper's form): ``b <- beta1 b + g``;  ``theta <- theta - (1 - beta1) rate b``.

    ``rate`` is one float, or one per tensor in list form.
    """
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.mul_(buf, beta1, constant=True)
    M.add_(buf, g)
    if isinstance(rate, (int, float)):
        M.add_(p, buf, -(1.0 - beta1) * rate)
    else:
        M.add_(p, buf, [-(1.0 - beta1) * r for r in rate])


class SWATS(OptimizerBase):
    __doc__ = r"""SWATS: switch from Adam to SGD with momentum once Adam's projected SGD rate has converged.

    Symbols: :math:`\alpha` = ``lr``, :math:`(\beta_1,\beta_2)` = ``betas``, :math:`\epsilon` =
    ``eps``, :math:`\varepsilon` = ``switch_eps``, :math:`k` = ``state["step"]``.

    Update as implemented (Keskar & Socher, Algorithm 1), per tensor (layer)::

        Adam phase:
          m_k = beta1 m + (1-beta1) g;   a_k = beta2 a + (1-beta2) g^2
          p_k = -alpha sqrt(1-beta2^k)/(1-beta1^k) * m_k / (sqrt(a_k) + eps);   theta <- theta + p_k
          if p_k^T g_k != 0:
              gamma_k  = p_k^T p_k / (-p_k^T g_k)                  (state "proj_lr")
              lambda_k = beta2 lambda_{k-1} + (1-beta2) gamma_k     (state "proj_lr_avg")
              switch if k > 1 and |lambda_k/(1-beta2^k) - gamma_k| < switch_eps and lambda_k/(1-beta2^k) > 0
          on switch: Lambda = lambda_k/(1-beta2^k) (state "sgd_lr"), phase = SGD from step k+1
        SGD phase:
          v_k = beta1 v_{k-1} + g_k  (state "momentum_buffer", zero at the switch)
          theta <- theta - (1-beta1) * Lambda * (lr / lr_at_switch) * v_k

    **Granularity.**  As in the paper, the rate and the criterion are per layer (here: per
    parameter tensor), and with ``switch_granularity="model"`` (default) the first time the
    criterion holds for any tensor, every Adam-phase tensor of every "model" group switches
    at once, each with its own :math:`\Lambda` (a tensor whose own estimate is not positive
    takes the median of the positive ones).  ``switch_granularity="tensor"`` switches each
    tensor on its own criterion.

    **Host synchronisation.**  The projections are device reductions; the criterion of all
    tensors is read to the host with one ``.tolist()`` per ``step`` (the only sync besides a
    Tensor ``lr``), and the estimated rates once more at the switch.

    **Forcing the switch.**  ``switch_at=K`` switches (with the current estimate) at step K if the
    criterion has not fired before; :meth:`switch_to_sgd` switches now.

    **What the paper's switch_eps does on our problems** (measured with the lab's problems,
    per-tensor criterion, 3 seeds each): on ``digits_mlp`` (mini-batches of 64, lr 1e-3 and 3e-3,
    600 steps) and on the noise-free ``quadratic`` (cond 100, dim 20, lr 1e-2 and 1e-1, 3000
    steps) the criterion with ``switch_eps=1e-9`` **never fired**.  The smallest
    :math:`|\Lambda_k-\gamma_k|` seen over all tensors and steps was 3e-6 to 4e-4 on digits
    (1e-4 to 1e-3 relative to :math:`\Lambda_k`) and 2e-7 to 2e-4 on the quadratic: the
    step-to-step fluctuation of :math:`\gamma_k` (mini-batch noise, and Adam's own oscillation)
    stays orders of magnitude above an absolute 1e-9 (only a constant gradient, as in a
    synthetic benchmark, makes it fire, at step 2).  So with the paper's default SWATS is
    Adam; pass ``switch_at`` (or call :meth:`switch_to_sgd`), or a ``switch_eps`` of about 1e-3
    relative to the expected rate, to actually get the SGD phase.

    The phase (``state["phase"]``: 0 Adam, 1 SGD), the switch step (``state["switch_step"]``) and
    the rate (``state["sgd_lr"]``, ``state["switch_lr"]``) are saved in the state_dict, so a
    checkpoint taken after the switch resumes in SGD.  Read them with :attr:`phase`,
    :attr:`switch_step` and :meth:`sgd_lrs`.  The switch is logged once (``logging.INFO``).

    Deviations: the paper's ``eps`` placement (added to :math:`\sqrt{a_k}`, not to the de-biased
    root as in ``torch.optim.Adam``); the switch also requires :math:`\Lambda>0` (a negative or
    zero rate would make SGD ascend or stop); after the switch the SGD rate follows ``lr``
    (multiplied by ``lr / lr_at_switch``) so one scheduler drives both phases; L2 weight decay
    enters the gradient in both phases (decoupled decay is not offered).

    Paper's recommended defaults: ``lr=1e-3``, ``betas=(0.9, 0.999)``, switch criterion
    :math:`\varepsilon=10^{-9}` (the defaults here).

    Args:
        params: iterable of parameters, named parameters or param-group dicts.
        lr (float or Tensor, default 1e-3, >= 0): Adam rate :math:`\alpha`.
        betas (tuple, default (0.9, 0.999), each in [0, 1)): Adam's EMAs; :math:`\beta_1` is also the
            SGD momentum and :math:`\beta_2` the EMA of the rate estimate.
        eps (float, default 1e-8, >= 0): Adam's :math:`\epsilon`.
        weight_decay (float, default 0, >= 0): L2 penalty added to the gradient.
        switch_eps (float, default 1e-9, >= 0): the criterion's tolerance :math:`\varepsilon`.
        switch_granularity (str, default "model"): "model" or "tensor" (see above).
        switch_at (int or None, default None, >= 1): force the switch at this step.
    """ + common_args("_fused_adam_", "float32/float64 parameters; the kernel computes the Adam phase's "
                      "step into a zeroed buffer, from which the projections are read") + r"""

    State per parameter: ``step``; ``phase``; Adam phase: ``exp_avg``, ``exp_avg_sq``,
    ``proj_lr`` (:math:`\gamma_k`), ``proj_lr_avg`` (:math:`\lambda_k`) as 0-d tensors; after the
    switch: ``momentum_buffer``, ``switch_step`` (int), ``sgd_lr`` (float :math:`\Lambda`),
    ``switch_lr`` (the ``lr`` at the switch); the Adam moments are freed.

    Example:
        >>> import torch, optimlab
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = optimlab.SWATS([w], lr=0.1, switch_at=2)
        >>> for _ in range(3):
        ...     opt.zero_grad(); w.pow(2).sum().backward(); opt.step()
        >>> opt.phase, opt.switch_step
        ('sgd', 2)

    References:
        Keskar & Socher, "Improving Generalization Performance by Switching from Adam to SGD",
        2017, arXiv:1712.07628.
    """

    _owner = "SWATS"
    _group_defaults = {"fused": None}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        switch_eps: float = 1e-9,
        switch_granularity: str = "model",
        switch_at: int | None = None,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        owner = self._owner
        betas = check_adam_args(owner, lr, betas, eps, weight_decay)
        check_range(owner, "switch_eps", switch_eps, 0.0)
        check_choice(owner, "switch_granularity", switch_granularity, ("model", "tensor"))
        if switch_at is not None:
            check_int(owner, "switch_at", switch_at, 1)
        check_flags(owner, foreach=foreach, maximize=maximize)
        check_fused_args(owner, fused, foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, switch_eps=switch_eps,
                        switch_granularity=switch_granularity, switch_at=switch_at, maximize=maximize,
                        foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    # ----------------------------------------------------------------------------- reading the phase
    def _states(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and "phase" in self.state[p]:
                    yield p, self.state[p]

    @property
    def phase(self) -> str:
        """"adam" (also before the first step), "sgd", or "mixed" (per-tensor switching, or params added later)."""
        phases = {st["phase"] for _, st in self._states()}
        if phases == {SGD_PHASE}:
            return "sgd"
        return "mixed" if len(phases) > 1 else "adam"

    @property
    def switch_step(self) -> int | None:
        """The first step at which a tensor switched to SGD (None before any switch)."""
        steps = [st["switch_step"] for _, st in self._states() if st["phase"] == SGD_PHASE]
        return min(steps) if steps else None

    def sgd_lrs(self) -> list[float | None]:
        """The estimated SGD rate :math:`\\Lambda` of every parameter (param_groups order), None in Adam phase."""
        return [self.state[p].get("sgd_lr") if p in self.state else None
                for group in self.param_groups for p in group["params"]]

    def switch_to_sgd(self) -> None:
        """Switch every Adam-phase parameter that has state to SGD now, with its current estimate."""
        for group in self.param_groups:
            ps = [p for p in group["params"] if p in self.state and self.state[p].get("phase") == ADAM_PHASE]
            if not ps:
                continue
            beta2 = group["betas"][1]
            lr = scalar(group["lr"], False)
            self._switch([(p, float(self.state[p]["proj_lr_avg"])
                           / M.bias_correction(beta2, float(self.state[p]["step"])), lr) for p in ps],
                         reason="forced by switch_to_sgd()")

    # ----------------------------------------------------------------------------- the switch
    def _switch(self, entries: list[tuple[Tensor, float, float]], reason: str) -> None:
        """Switch every ``(param, estimated rate, lr now)`` of ``entries`` to SGD (logged once)."""
        positive = sorted(r for _, r, _ in entries if r > 0 and math.isfinite(r))
        fallback = positive[len(positive) // 2] if positive else None
        if fallback is None:
            _log.warning("SWATS: no positive SGD rate estimate at the switch; using each group's lr")
        used = []
        for p, r, lr in entries:
            st = self.state[p]
            rate = r if (r > 0 and math.isfinite(r)) else (fallback if fallback is not None else lr)
            st["phase"] = SGD_PHASE
            st["switch_step"] = int(st["step"].item())
            st["sgd_lr"] = float(rate)
            st["switch_lr"] = float(lr)
            st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            del st["exp_avg"], st["exp_avg_sq"]
            used.append(rate)
        _log.info("SWATS: switched %d tensor(s) from Adam to SGD at step %d (%s); SGD rates %s",
                  len(entries), self.state[entries[0][0]]["switch_step"], reason,
                  ", ".join(f"{r:.4g}" for r in used[:8]) + (" ..." if len(used) > 8 else ""))

    # ----------------------------------------------------------------------------- step
    def _adam_phase(self, group: dict, params: list[Tensor], grads: list[Tensor], lr: float):
        """Run the Adam step of ``params``; return (criterion bool tensor, rate estimates)."""
        beta1, beta2 = group["betas"]
        device = params[0].device
        acc = torch.float32 if device.type == "mps" else torch.float64
        dots = torch.zeros(len(params), 2, dtype=acc, device=device)
        rows, steps = [], []
        for i, (p, g) in enumerate(zip(params, grads)):
            st = self.state[p]
            rows.append((p, g, dots[i, 0], dots[i, 1], st["exp_avg"], st["exp_avg_sq"]))
            steps.append(float(st["step"].item()))
        if kernel_ok(group, [r[:1] + r[4:] + (g,) for r, g in zip(rows, grads)], "_fused_adam_", SCRATCH_DTYPES,
                     owner=self._owner):
            self._fused_adam_steps(group, params, grads, lr, dots, steps)
        else:
            run_update(swats_adam_update, rows, steps=steps, foreach=resolve_foreach(group["foreach"], params),
                       lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                       maximize=group["maximize"])
        # gamma_k = c uu / ug, lambda_k, the criterion: a few vector ops for the whole group
        k = torch.tensor(steps, dtype=acc, device=device)
        c = torch.tensor([lr * M.bias_correction_sqrt(beta2, s) / M.bias_correction(beta1, s) for s in steps],
                         dtype=acc, device=device)
        uu, ug = dots[:, 0], dots[:, 1]
        valid = (ug != 0) & (c != 0)
        gamma = torch.where(valid, c * uu / torch.where(valid, ug, 1.0), 0.0)
        lams = [self.state[p]["proj_lr_avg"] for p in params]
        lam = torch.where(valid, beta2 * torch.stack(lams).to(acc) + (1 - beta2) * gamma, torch.stack(lams).to(acc))
        torch._foreach_copy_(lams, list(lam.unbind()))
        torch._foreach_copy_([self.state[p]["proj_lr"] for p in params], list(gamma.unbind()))
        rate = lam / (1.0 - beta2**k)
        crit = valid & (k > 1) & ((rate - gamma).abs() < group["switch_eps"]) & (rate > 0)
        if group["switch_at"] is not None:
            crit = crit | (k >= group["switch_at"])  # forced (see switch_at)
        return crit, rate

    def _fused_adam_steps(self, group: dict, params: list[Tensor], grads: list[Tensor], lr: float,
                          dots: Tensor, steps: list[float]) -> None:
        """The Adam phase with torch's fused Adam kernel writing Adam's step into a zeroed buffer.

        ``d = 0 - c u`` is the step :math:`p_k` itself (no cancellation, unlike differencing the
        parameters), then ``theta += d`` and the two projections from ``d``:
        ``u^T u = d^T d / c^2`` and ``u^T g = -d^T g / c``.  The kernel's ``eps`` is
        ``eps / sqrt(1 - beta2^k)`` so that it lands where the paper puts it (on ``sqrt(a_k)``),
        and L2 decay is folded into the gradient first (the kernel would decay the buffer).
        """
        beta1, beta2 = group["betas"]
        wd, maximize, eps = group["weight_decay"], group["maximize"], group["eps"]
        scratch = ZeroScratch(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            st, k = self.state[p], steps[i]
            if wd != 0:  # the kernel negates g under maximize; the reference decays after negating
                g = g.add(p, alpha=-wd if maximize else wd)
            d = scratch.zeros_like(p)
            torch._fused_adam_([d], [g], [st["exp_avg"]], [st["exp_avg_sq"]], [], [st["step"]], lr=lr,
                               beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=eps / M.bias_correction_sqrt(beta2, k), amsgrad=False, maximize=maximize)
            p.add_(d)
            c = lr * M.bias_correction_sqrt(beta2, k) / M.bias_correction(beta1, k)
            if c == 0:
                dots[i].zero_()
                continue
            flat = d.reshape(-1)
            dots[i, 0] = torch.dot(flat, flat) / (c * c)
            dots[i, 1] = torch.dot(flat, g.reshape(-1)) / (c if maximize else -c)

    def _step_impl(self, closure: Callable[[], Any] | None = None):
        loss = call_closure(closure)
        pending = []  # (group, adam params, criterion, rate estimates, lr)
        for group in self.param_groups:
            params, grads = [], []
            collect_grads(self._owner, group, params, grads)
            if not params:
                continue
            lr = scalar(group["lr"], False)
            beta_floats = tuple(scalar(b, False) for b in group["betas"])
            adam_p, adam_g, sgd_rows, rates = [], [], [], []
            for p, g in zip(params, grads):
                st = self.state[p]
                if len(st) == 0:
                    real = p.real.dtype if torch.is_complex(p) else p.dtype
                    st["step"] = new_step(p, group)
                    st["phase"] = ADAM_PHASE
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["proj_lr"] = torch.zeros((), dtype=real, device=p.device)
                    st["proj_lr_avg"] = torch.zeros((), dtype=real, device=p.device)
                st["step"] += 1
                if st["phase"] == SGD_PHASE:
                    scale = lr / st["switch_lr"] if st["switch_lr"] > 0 else 1.0
                    sgd_rows.append((p, g, st["momentum_buffer"]))
                    rates.append(st["sgd_lr"] * scale)
                else:
                    adam_p.append(p)
                    adam_g.append(g)
            if sgd_rows:
                self._sgd_phase(group, sgd_rows, rates)
            if adam_p:
                crit, est = self._adam_phase(group, adam_p, adam_g, lr)
                pending.append((group, adam_p, crit, est, lr))
        if pending:
            flags = torch.cat([c for _, _, c, _, _ in pending]).tolist()  # the one host sync per step
            if any(flags):
                self._apply_switches(pending, flags)
        return loss

    def _sgd_phase(self, group: dict, rows: list[tuple], rates: list[float]) -> None:
        beta1 = group["betas"][0]
        hyper = dict(beta1=beta1, weight_decay=group["weight_decay"], maximize=group["maximize"])
        rows = [tuple(torch.view_as_real(t) if torch.is_complex(t) else t for t in row) for row in rows]
        if resolve_foreach(group["foreach"], [r[0] for r in rows]):
            cols = [list(c) for c in zip(*rows)]
            swats_sgd_update(*cols, rate=rates, **hyper)
        else:
            for row, rate in zip(rows, rates):
                swats_sgd_update(*row, rate=rate, **hyper)

    def _apply_switches(self, pending: list, flags: list[bool]) -> None:
        model, model_fired, i = [], False, 0
        for group, params, _, est, lr in pending:
            mine = flags[i:i + len(params)]
            i += len(params)
            entries = [(p, r, lr) for p, r in zip(params, est.tolist())]
            if group["switch_granularity"] == "model":
                model += entries
                model_fired = model_fired or any(mine)
            elif any(mine):
                self._switch([e for e, f in zip(entries, mine) if f], reason="per-tensor criterion")
        if model_fired:
            self._switch(model, reason="criterion, whole model")
