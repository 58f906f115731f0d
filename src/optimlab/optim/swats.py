"""SWATS (Keskar & Socher, 2017): Adam until the projected SGD rate has converged, then SGD with momentum."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from . import _ops as M
from ..checks import check_adam_args, check_choice, check_flags, check_int, check_range
from ._base import OptimizerBase, transform_grads, kernel_ok, tensor_mode
from . import _compiled
from ._common import ZeroScratch, advance, check_fused_args, collect_grads, hyper, new_step, opmath_rows, resolve_foreach
from ._docs import common_args

__all__ = ["SWATS", "swats_adam_update", "swats_sgd_update", "swats_step_size", "ADAM_PHASE", "SGD_PHASE"]

_log = logging.getLogger(__name__)

ADAM_PHASE = 0
SGD_PHASE = 1
SCRATCH_DTYPES = frozenset((torch.float32, torch.float64))


def _local(t: Tensor) -> Tensor:
    """A DTensor's local shard (the tensor itself otherwise)."""
    return t.to_local() if hasattr(t, "device_mesh") and hasattr(t, "to_local") else t


def _dot(x: Tensor, y: Tensor) -> Tensor:
    """sum(x * y) over this rank's elements (a 0-d tensor; a device reduction, no host sync)."""
    return torch.dot(_local(x).reshape(-1), _local(y).reshape(-1))


def swats_step_size(*, step, lr, beta1, beta2) -> dict:
    """The Adam phase's per-step scalar ``c = lr sqrt(1 - beta2^k) / (1 - beta1^k)``."""
    return {"c": lr * M.bias_correction_sqrt(beta2, step) / M.bias_correction(beta1, step)}


def swats_adam_update(p, g, m, v, *, c, beta1, beta2, eps: float, weight_decay, maximize: bool):
    """Adam phase of one tensor: Adam's step and the two sums of the projection; returns
    ``(u^T u, u^T g)`` (0-d tensors, this rank's share for a DTensor).

    With ``u = m / (sqrt(v) + eps)`` and ``c = lr sqrt(1-beta2^t)/(1-beta1^t)``, Adam's step is
    ``p_k = -c u``, so ``p_k^T p_k = c^2 u^T u`` and ``-p_k^T g_k = c u^T g``.
    """
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.ema_(m, g, beta1)
    M.ema_sq_(v, g, beta2)
    u = m / M.add_scalar_(M.sqrt(v), eps)
    M.add_(p, u, -c)
    return _dot(u, u), _dot(u, g)


def swats_sgd_update(p, g, buf, *, rate, beta1, weight_decay, maximize: bool) -> None:
    """SGD phase (paper's form): ``b <- beta1 b + g``;  ``theta <- theta - (1 - beta1) rate b``.

    One tensor (``rate`` a float or a 0-d tensor) or lists (``rate`` one float per tensor).
    """
    g = M.regularized_gradient(p, g, 0.0, weight_decay, maximize=maximize)
    M.mul_(buf, beta1, constant=True)
    M.add_(buf, g)
    if isinstance(rate, list):
        M.add_(p, buf, [-(1.0 - beta1) * r for r in rate])
    else:
        M.add_(p, buf, -(1.0 - beta1) * rate)


def swats_traced_update(p, g, m, v, buf, phase, sgd_lr, switch_lr, *, step, lr, beta1, beta2, eps: float,
                        weight_decay, maximize: bool):
    """Both phases of one tensor, where the phase is not read back to the host (a compiled step):
    Adam's and SGD's updates are computed and ``phase`` selects one; returns the Adam projections."""
    p0 = p.clone()
    uu, ug = swats_adam_update(p, g, m, v, **swats_step_size(step=step, lr=lr, beta1=beta1, beta2=beta2),
                               beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, maximize=maximize)
    in_sgd = phase > 0.5
    adam_p = p.clone()
    p.copy_(p0)
    old_buf = buf.clone()
    rate = sgd_lr * torch.where(switch_lr > 0, lr / torch.where(switch_lr > 0, switch_lr, 1.0), 1.0)
    swats_sgd_update(p, g, buf, rate=rate, beta1=beta1, weight_decay=weight_decay, maximize=maximize)
    p.copy_(torch.where(in_sgd, p, adam_p))
    buf.copy_(torch.where(in_sgd, buf, old_buf))
    return uu, ug




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

    **One switching rule, computed on the device.**  The projections are reductions, and the
    criterion, the granularity, the fallback rate and the switch itself are tensor operations over
    all parameters at once.  In eager mode one ``.tolist()`` per step reads the phases and whether
    anything switched (the only host synchronisation besides a Tensor ``lr``), so that each
    parameter runs only its own phase's update.  While ``torch.compile`` traces the step, nothing
    is read back: both phases' updates are computed and ``torch.where`` keeps the right one, which
    makes the compiled step one graph whatever the phase, at the cost of both updates per step.

    **The same state keys in both phases.**  The Adam moments and the momentum buffer all exist
    from a parameter's first step and are kept after the switch (three buffers like the
    parameter, as AMSGrad keeps), so the state never changes shape.  What relies on it: a
    compiled step, and ``torch.distributed.checkpoint``, which loads a checkpoint into the state of
    a fresh optimizer after one zero step (an Adam-phase template): with the moments freed at the
    switch, a checkpoint taken after the switch could not be loaded by ``dcp.load`` (missing keys)
    nor by ``set_optimizer_state_dict(..., broadcast_from_rank0=True)`` (the buffer came back as a
    plain tensor beside DTensor parameters).

    **Sharded parameters: the same decision on every rank.**  The projections are sums over a
    tensor's elements.  For a DTensor parameter (FSDP2's ``fully_shard``) each rank sums its shard
    and the sums are all-reduced over the mesh dimensions the tensor is sharded on, so every rank
    sees the whole tensor's :math:`p_k^Tp_k`, :math:`p_k^Tg_k`, criterion and rate.  When each
    rank owns whole parameters (``ZeroRedundancyOptimizer``), pass ``process_group``: the
    "model"-granularity decision (any tensor's criterion) and the fallback rate (the median of
    the positive estimates) are then reduced over that group, so all ranks switch at the same step
    with the same rates as one process would.  ZeRO's own ``process_group=`` keyword is ZeRO's,
    so hand SWATS's through ``functools.partial``::

        ZeroRedundancyOptimizer(model.parameters(), lr=1e-3,
                                optimizer_class=functools.partial(SWATS, process_group=group))

    Without it each rank decides from the parameters it owns, and the ranks switch at different
    steps (``tests/test_distributed.py`` builds such a case, and checks both settings against one
    process).

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

    The phase, the switch step and the rates are saved in the state_dict, so a checkpoint taken
    after the switch resumes in SGD.  Read them with :attr:`phase`,
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
        process_group (ProcessGroup or None, default None): reduce the switching decision over
            this group (each rank owning some whole parameters, as under ZeRO); see above.
    """ + common_args("_fused_adam_", "float32/float64 parameters; the kernel computes the Adam phase's "
                      "step into a zeroed buffer, from which the projections are read", capturable=False,
                      differentiable=False) + r"""

    State per parameter: ``step`` and ``phase`` (0-d float32 tensors: 0 Adam, 1 SGD), ``proj_lr``
    (:math:`\gamma_k`), ``proj_lr_avg`` (:math:`\lambda_k`), ``sgd_lr`` (:math:`\Lambda`, 0 before the
    switch), ``switch_lr`` (the ``lr`` at the switch) and ``switch_step`` (0 before the switch), all
    0-d tensors; ``exp_avg`` and ``exp_avg_sq`` (the Adam phase's moments, kept unchanged after
    the switch) and ``momentum_buffer`` (zero until the switch), like the parameter.

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
    _scalar_state = ("step", "phase", "switch_step")

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0.0,
        *,
        switch_eps: float = 1e-9,
        switch_granularity: str = "model",
        switch_at: int | None = None,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        process_group: Any = None,
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
        self.process_group = process_group
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("process_group", None)  # torch pickles defaults, state and groups only

    # ----------------------------------------------------------------------------- reading the phase
    def _states(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and "phase" in self.state[p]:
                    yield p, self.state[p]

    @property
    def phase(self) -> str:
        """"adam" (also before the first step), "sgd", or "mixed" (per-tensor switching, or params added later)."""
        phases = {int(st["phase"]) for _, st in self._states()}
        if phases == {SGD_PHASE}:
            return "sgd"
        return "mixed" if len(phases) > 1 else "adam"

    @property
    def switch_step(self) -> int | None:
        """The first step at which a tensor switched to SGD (None before any switch)."""
        steps = [int(st["switch_step"]) for _, st in self._states() if int(st["phase"]) == SGD_PHASE]
        return min(steps) if steps else None

    def sgd_lrs(self) -> list[float | None]:
        """The estimated SGD rate :math:`\\Lambda` of every parameter (param_groups order), None in Adam phase."""
        return [float(self.state[p]["sgd_lr"]) if int(self.state[p].get("phase", 0)) == SGD_PHASE else None
                for group in self.param_groups for p in group["params"]]

    def switch_to_sgd(self) -> None:
        """Switch every Adam-phase parameter that has state to SGD now, with its current estimate."""
        entries = []
        for group in self.param_groups:
            beta2 = float(group["betas"][1])
            lr = float(group["lr"])
            for p in group["params"]:
                st = self.state.get(p, {})
                if "phase" in st and int(st["phase"]) == ADAM_PHASE:
                    est = st["proj_lr_avg"] / M.bias_correction(beta2, float(st["step"]))
                    entries.append((p, est, lr))
        if entries:
            ps = [p for p, _, _ in entries]
            rates = torch.stack([r.to(torch.float64) for _, r, _ in entries])
            self._switch_now(ps, torch.ones(len(ps), dtype=torch.bool), rates, [lr for _, _, lr in entries],
                             traced=False)
            self._log_switch(ps, "forced by switch_to_sgd()")

    # ----------------------------------------------------------------------------- step
    def _init_group(self, group, params, grads, steps) -> bool:
        """Collect the group's parameters with a gradient; create their state on the first step,
        both phases' buffers (the state never changes shape; a checkpoint of optimlab 0.1, which
        freed the moments at the switch, gets the missing buffers as zeros)."""
        collect_grads(self._owner, group, params, grads)
        for p in params:
            st = self.state[p]
            if "step" not in st:
                real = p.real.dtype if torch.is_complex(p) else p.dtype
                st["step"] = new_step(p, group)
                st["phase"] = torch.zeros((), dtype=torch.float32, device=st["step"].device)
                st["switch_step"] = torch.zeros((), dtype=torch.float32, device=st["step"].device)
                for key in ("proj_lr", "proj_lr_avg", "sgd_lr", "switch_lr"):
                    st[key] = torch.zeros((), dtype=real, device=p.device)
            for key in ("exp_avg", "exp_avg_sq", "momentum_buffer"):
                if key not in st:
                    st[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            steps.append(st["step"])
        return bool(params)

    def _step_impl(self, grad_transform=None) -> None:
        """One step of every group (the closure, if any, has been evaluated by ``step``)."""
        pending = []  # (group, params, estimates) of every group, for the switch decision
        for group in self.param_groups:
            params, grads, steps = [], [], []
            traced = tensor_mode(group)
            if not self._init_group(group, params, grads, steps):
                continue
            transform_grads(grad_transform, group, params, grads)
            values = advance(steps, traced)
            lr, beta1, beta2, weight_decay = hyper(group, traced, "lr", "beta1", "beta2", "weight_decay")
            rule = dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=weight_decay,
                        maximize=group["maximize"])
            states = [self.state[p] for p in params]
            if traced:
                rows, write_back = opmath_rows([_real_rows(p, g, st) + (_real(st["momentum_buffer"]),)
                                                for p, g, st in zip(params, grads, states)])
                dots = [swats_traced_update(*row, st["phase"], st["sgd_lr"], st["switch_lr"],
                                            step=k.to(torch.float64, copy=True), **rule)
                        for row, st, k in zip(rows, states, values)]
                write_back()
                in_adam = torch.stack([st["phase"] < 0.5 for st in states])
            else:
                in_adam_list = [x < 0.5 for x in torch.stack([st["phase"] for st in states]).tolist()]
                dots = self._eager_updates(group, params, grads, states, values, in_adam_list, rule)
                in_adam = torch.tensor(in_adam_list)
            est = self._estimate(group, params, states, dots, values, lr, beta1, beta2, in_adam)
            pending.append((group, params, est, lr))
        if pending:
            self._decide(pending, traced=tensor_mode(pending[0][0]))

    def _eager_updates(self, group, params, grads, states, steps, in_adam, rule):
        """Each parameter's own phase (known on the host); returns the Adam projections (0 for SGD)."""
        sgd_rows, rates, adam_idx = [], [], []
        lr, beta1 = rule["lr"], rule["beta1"]
        for i, (p, g, st) in enumerate(zip(params, grads, states)):
            if in_adam[i]:
                adam_idx.append(i)
            else:
                switch_lr = float(st["switch_lr"])
                sgd_rows.append((p, g, st["momentum_buffer"]))
                rates.append(float(st["sgd_lr"]) * (lr / switch_lr if switch_lr > 0 else 1.0))
        if sgd_rows:
            hyper_sgd = dict(beta1=beta1, weight_decay=rule["weight_decay"], maximize=rule["maximize"])
            rows = [tuple(torch.view_as_real(t) if torch.is_complex(t) else t for t in row) for row in sgd_rows]
            rows, write_back = opmath_rows(rows)
            if resolve_foreach(group["foreach"], [r[0] for r in rows]):
                cols = [list(c) for c in zip(*rows)]
                swats_sgd_update(*cols, rate=rates, **hyper_sgd)
            else:
                for row, rate in zip(rows, rates):
                    swats_sgd_update(*row, rate=rate, **hyper_sgd)
            write_back()
        zero = torch.zeros((), dtype=torch.float64)
        dots = [(zero, zero)] * len(params)
        if not adam_idx:
            return dots
        ps = [params[i] for i in adam_idx]
        rows = [_real_rows(params[i], grads[i], states[i]) for i in adam_idx]
        ks = [steps[i] for i in adam_idx]
        found = None
        if kernel_ok(group, rows, "_fused_adam_", SCRATCH_DTYPES, owner=self._owner):
            found = self._fused_adam_steps(rows, [states[i]["step"] for i in adam_idx], ks, rule)
        elif _compiled.use_compiled(group, rows, False):
            found = self._generated_adam(rows, ks, rule)
        if found is None:
            rows, write_back = opmath_rows(rows)
            if resolve_foreach(group["foreach"], ps):
                found = self._foreach_adam(rows, ks, rule)
            else:
                adam_rule = {k: v for k, v in rule.items() if k != "lr"}
                found = [swats_adam_update(*row, **swats_step_size(step=k, lr=rule["lr"], beta1=rule["beta1"],
                                                                   beta2=rule["beta2"]), **adam_rule)
                         for row, k in zip(rows, ks)]
            write_back()
        for i, d in zip(adam_idx, found):
            dots[i] = d
        return dots

    @staticmethod
    def _generated_adam(rows, ks, rule) -> list | None:
        """The Adam phase through the kernel generated from :func:`swats_adam_update` for the rows
        it takes (the per-tensor rule for the others); None when no kernel can be built."""
        ok, rest = _compiled.split_rows(rows)
        coefs = [swats_step_size(step=k, lr=rule["lr"], beta1=rule["beta1"], beta2=rule["beta2"]) for k in ks]
        adam_rule = {k: v for k, v in rule.items() if k != "lr"}
        got = _compiled.run_compiled(swats_adam_update, [rows[i] for i in ok], [coefs[i] for i in ok], adam_rule)
        if got is None:
            return None
        found = [None] * len(rows)
        for i, d in zip(ok, got):
            found[i] = d
        if rest:
            others, write_back = opmath_rows([rows[i] for i in rest])
            for i, row in zip(rest, others):
                found[i] = swats_adam_update(*row, **coefs[i], **adam_rule)
            write_back()
        return found

    @staticmethod
    def _foreach_adam(rows, ks, rule):
        """The Adam phase over lists (bucketed by step, as run_update does)."""
        out = {}
        by_step = {}
        for j, (row, k) in enumerate(zip(rows, ks)):
            by_step.setdefault(k, []).append(j)
        for k, idx in by_step.items():
            p, g, m, v = ([rows[j][c] for j in idx] for c in range(4))
            g = M.regularized_gradient(p, g, 0.0, rule["weight_decay"], maximize=rule["maximize"])
            M.ema_(m, g, rule["beta1"])
            M.ema_sq_(v, g, rule["beta2"])
            c = swats_step_size(step=k, lr=rule["lr"], beta1=rule["beta1"], beta2=rule["beta2"])["c"]
            u = torch._foreach_div(m, M.add_scalar_(M.sqrt(v), rule["eps"]))
            M.add_(p, u, -c)
            for j, a, b in zip(idx, u, g):
                out[j] = (_dot(a, a), _dot(a, b))
        return [out[j] for j in range(len(rows))]

    @staticmethod
    def _fused_adam_steps(rows, counters, steps, rule) -> list:
        """The Adam phase with torch's fused Adam kernel writing Adam's step into a zeroed buffer.

        ``d = 0 - c u`` is the step :math:`p_k` itself (no cancellation, unlike differencing the
        parameters), then ``theta += d`` and the two projections from ``d``:
        ``u^T u = d^T d / c^2`` and ``u^T g = -d^T g / c``.  The kernel's ``eps`` is
        ``eps / sqrt(1 - beta2^k)`` so that it lands where the paper puts it (on ``sqrt(a_k)``),
        and L2 decay is folded into the gradient first (the kernel would decay the buffer).
        """
        beta1, beta2, wd, maximize, lr = rule["beta1"], rule["beta2"], rule["weight_decay"], rule["maximize"], rule["lr"]
        scratch = ZeroScratch([row[0] for row in rows])
        out = []
        for (p, g, m, v), counter, k in zip(rows, counters, steps):
            if wd != 0:  # the kernel negates g under maximize; the reference decays after negating
                g = g.add(p, alpha=-wd if maximize else wd)
            d = scratch.zeros_like(p) if p.is_contiguous() else torch.zeros_like(p)
            torch._fused_adam_([d], [g], [m], [v], [], [counter], lr=lr,
                               beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=rule["eps"] / M.bias_correction_sqrt(beta2, k), amsgrad=False, maximize=maximize)
            p.add_(d)
            c = swats_step_size(step=k, lr=lr, beta1=beta1, beta2=beta2)["c"]
            if c == 0:
                zero = torch.zeros((), dtype=torch.float64)
                out.append((zero, zero))
                continue
            flat = d.reshape(-1)
            out.append((torch.dot(flat, flat) / (c * c), torch.dot(flat, g.reshape(-1)) / (c if maximize else -c)))
        return out

    def _estimate(self, group, params, states, dots, steps, lr, beta1, beta2, in_adam) -> tuple:
        """The rate estimate and the criterion of every parameter of a group (tensor operations):
        gamma_k = c^2 uu / (c ug), lambda_k, Lambda_k = lambda_k / (1 - beta2^k) (states updated for
        the Adam-phase tensors); returns ``(criterion, Lambda)`` as bool/float64 vectors."""
        device = params[0].device
        acc = torch.float32 if device.type == "mps" else torch.float64
        sums = torch.stack([torch.stack((a.to(acc), b.to(acc))) for a, b in dots]).to(device)
        sums = self._reduce_sharded(params, sums)
        k = torch.stack([s.to(acc) for s in steps]).to(device) if isinstance(steps[0], Tensor) else \
            torch.tensor(steps, dtype=acc, device=device)
        c = lr * torch.sqrt(1.0 - beta2**k) / (1.0 - beta1**k)
        uu, ug = sums[:, 0], sums[:, 1]
        in_adam = in_adam.to(device)
        valid = (ug != 0) & (c != 0) & in_adam
        gamma = torch.where(valid, c * uu / torch.where(valid, ug, 1.0), 0.0)
        lam_old = torch.stack([st["proj_lr_avg"] for st in states]).to(acc)
        lam = torch.where(valid, beta2 * lam_old + (1 - beta2) * gamma, lam_old)
        torch._foreach_copy_([st["proj_lr_avg"] for st in states], list(lam.unbind()))
        gamma_old = torch.stack([st["proj_lr"] for st in states]).to(acc)
        torch._foreach_copy_([st["proj_lr"] for st in states], list(torch.where(in_adam, gamma, gamma_old).unbind()))
        rate = lam / (1.0 - beta2**k)
        crit = valid & (k > 1) & ((rate - gamma).abs() < group["switch_eps"]) & (rate > 0)
        if group["switch_at"] is not None:
            crit = crit | (in_adam & (k >= group["switch_at"]))  # forced (see switch_at)
        return crit, rate, in_adam

    def _reduce_sharded(self, params, sums: Tensor) -> Tensor:
        """All-reduce the per-tensor sums of DTensor parameters over the mesh dims they are sharded on."""
        sharded = [i for i, p in enumerate(params) if hasattr(p, "device_mesh") and hasattr(p, "placements")]
        if not sharded:
            return sums
        import torch.distributed as dist

        mesh = params[sharded[0]].device_mesh
        dims = sorted({d for i in sharded for d, pl in enumerate(params[i].placements) if pl.is_shard()})
        part = sums[sharded].contiguous()
        for d in dims:
            dist.all_reduce(part, group=mesh.get_group(d))
        sums = sums.clone()
        sums[sharded] = part
        return sums

    def _decide(self, pending: list, traced: bool) -> None:
        """Which Adam-phase tensors switch now (granularity, and ``process_group``), then switch them."""
        crit = torch.cat([est[0].cpu() for _, _, est, _ in pending])
        rate = torch.cat([est[1].cpu() for _, _, est, _ in pending])
        in_adam = torch.cat([est[2].cpu() for _, _, est, _ in pending])
        model = torch.cat([torch.full((len(ps),), g["switch_granularity"] == "model") for g, ps, _, _ in pending])
        fired = (crit & model).any()
        if self.process_group is not None and not traced:
            import torch.distributed as dist

            flag = fired.to(torch.int64).reshape(1)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.process_group)
            fired = flag[0] > 0
        switch = in_adam & (crit | (model & fired))
        if not traced and not bool(switch.any()):
            return
        params = [p for _, ps, _, _ in pending for p in ps]
        lrs = [lr for g, ps, _, lr in pending for _ in ps]
        self._switch_now(params, switch, rate, lrs, traced=traced)
        if not traced:
            chosen = [p for p, s in zip(params, switch.tolist()) if s]
            self._log_switch(chosen, "criterion" if not (model & fired).any() else "criterion, whole model")

    def _fallback_rate(self, switch: Tensor, rate: Tensor, traced: bool):
        """The median of the positive estimates of the tensors switching now (over ``process_group``
        too), for a tensor whose own estimate is not positive; NaN when there is none."""
        positive = switch & (rate > 0) & torch.isfinite(rate)
        if self.process_group is not None and not traced:
            import torch.distributed as dist

            gathered = [None] * dist.get_world_size(self.process_group)
            dist.all_gather_object(gathered, rate[positive].tolist(), group=self.process_group)
            values = sorted(v for part in gathered for v in part)
            return torch.tensor(values[len(values) // 2] if values else float("nan"), dtype=rate.dtype)
        ordered = torch.sort(torch.where(positive, rate, float("inf"))).values
        n = positive.sum()
        middle = ordered.index_select(0, torch.div(n, 2, rounding_mode="floor").clamp(max=len(rate) - 1).reshape(1))
        return torch.where(n > 0, middle[0], torch.tensor(float("nan"), dtype=rate.dtype))

    def _switch_now(self, params, switch: Tensor, rate: Tensor, lrs: list, traced: bool) -> None:
        """Set the SGD phase, rate, lr and step of the switching tensors (a tensor whose own estimate
        is not positive takes the fallback; none at all: its group's lr)."""
        fallback = self._fallback_rate(switch, rate, traced)
        good = (rate > 0) & torch.isfinite(rate)
        for i, p in enumerate(params):
            st = self.state[p]
            lr = lrs[i]
            chosen = torch.where(good[i], rate[i], torch.where(torch.isnan(fallback), torch.as_tensor(lr, dtype=rate.dtype), fallback))
            if traced:
                s = switch[i].to(st["phase"].device)
                st["sgd_lr"].copy_(torch.where(s, chosen.to(st["sgd_lr"]), st["sgd_lr"]))
                st["switch_lr"].copy_(torch.where(s, torch.as_tensor(lr).to(st["switch_lr"]), st["switch_lr"]))
                st["switch_step"].copy_(torch.where(s, st["step"].to(st["switch_step"]), st["switch_step"]))
                st["phase"].copy_(torch.where(s, 1.0, st["phase"]))
                continue
            if not bool(switch[i]):
                continue
            st["phase"].fill_(SGD_PHASE)
            st["switch_step"].copy_(st["step"])
            st["sgd_lr"].fill_(float(chosen))
            st["switch_lr"].fill_(float(lr))
            st["momentum_buffer"].zero_()

    def _log_switch(self, params, reason: str) -> None:
        if not params:
            return
        rates = [float(self.state[p]["sgd_lr"]) for p in params]
        if any(r <= 0 for r in rates):
            _log.warning("SWATS: no positive SGD rate estimate at the switch; using each group's lr")
        _log.info("SWATS: switched %d tensor(s) from Adam to SGD at step %d (%s); SGD rates %s",
                  len(params), int(self.state[params[0]]["switch_step"]), reason,
                  ", ".join(f"{r:.4g}" for r in rates[:8]) + (" ..." if len(rates) > 8 else ""))


def _real(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if torch.is_complex(t) else t


def _real_rows(p, g, st):
    """(p, g, exp_avg, exp_avg_sq) of a parameter, complex tensors viewed as real pairs."""
    return tuple(_real(t) for t in (p, g, st["exp_avg"], st["exp_avg_sq"]))
