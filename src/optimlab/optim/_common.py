"""The plumbing every optimizer's ``step`` shares: closures, gathering a group's tensors,
complex parameters, and running one update rule per tensor or once over lists (``foreach``).

An optimizer's ``step`` reads like this::

    loss = call_closure(closure)
    for group in self.param_groups:
        params, grads = params_with_grad(self, group)
        rows = [(p, g, state["exp_avg"], ...) for p, g in zip(params, grads)]
        run_update(adam_update, rows, steps, foreach=resolve_foreach(group["foreach"], params), **hyper)

``run_update`` calls the update rule with single tensors (reference path) or with lists of
tensors (``foreach`` path), bucketed so that every call sees one device, one dtype and one step
count; the helpers in :mod:`optimlab.optim._moments` accept both forms.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

__all__ = [
    "call_closure",
    "params_with_grad",
    "resolve_foreach",
    "run_update",
    "lr_value",
    "step_tensor",
    "fill_group_defaults",
    "check_fused_args",
    "use_fused",
    "ZeroScratch",
    "moment_rows",
]


def call_closure(closure: Callable[[], Any] | None) -> Any:
    """Re-evaluate the model under ``enable_grad`` (``step`` itself runs under ``no_grad``)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def params_with_grad(owner: str, group: dict, *, allow_sparse: bool = False) -> tuple[list[Tensor], list[Tensor]]:
    """The parameters of ``group`` that have a gradient, and those gradients.

    Parameters whose ``grad`` is ``None`` are skipped entirely (no state is created, nothing
    changes).  Sparse gradients raise torch's message unless the optimizer supports them.
    """
    params = [p for p in group["params"] if p.grad is not None]
    grads = [p.grad for p in params]
    if not allow_sparse and any(g.is_sparse for g in grads):
        raise RuntimeError(f"{owner} does not support sparse gradients, please consider SparseAdam instead")
    return params, grads


def resolve_foreach(foreach: bool | None, params: Sequence[Tensor]) -> bool:
    """``foreach=None`` picks the fastest path for the device, as torch does.

    On CPU the per-tensor path is faster than torch's ``_foreach_*`` kernels (which run one
    tensor at a time there and allocate more), so ``None`` means per-tensor on CPU and foreach
    when every tensor lives on an accelerator.
    """
    if foreach is not None:
        return bool(foreach)
    # The choice only affects speed (run_update buckets by device anyway), so the first
    # parameter's device decides.
    return bool(params) and params[0].device.type not in ("cpu", "meta")


def lr_value(lr: float | Tensor) -> float:
    """The learning rate as a Python float (a Tensor ``lr`` is read once per group, not per tensor)."""
    if isinstance(lr, Tensor):
        return float(lr.item())
    return float(lr)


def step_tensor() -> Tensor:
    """A fresh step counter in torch's format: a 0-d float32 CPU tensor (state_dict compatible)."""
    return torch.tensor(0.0, dtype=torch.float32)


def _real(t: Tensor | None) -> Tensor | None:
    if t is not None and torch.is_complex(t):
        return torch.view_as_real(t)
    return t


def run_update(
    update: Callable[..., None],
    rows: Iterable[tuple[Tensor | None, ...]],
    *,
    foreach: bool,
    steps: Sequence[float] | None = None,
    **hyper: Any,
) -> None:
    """Apply ``update(*row, [step=...], **hyper)`` to every row of tensors.

    ``rows`` holds one tuple per parameter: ``(param, grad, state tensors...)``; a ``None``
    state entry is passed through as ``None`` (a column is either ``None`` in every row or in
    none: callers build rows from per-group options, e.g. ``max_exp_avg_sq`` only with amsgrad).  Complex tensors are viewed as real pairs, as
    ``torch.optim`` does, so every update rule acts on the real and imaginary parts
    independently.  With ``foreach`` the rows are bucketed by (device, dtype, step) and each
    bucket is passed as lists.
    """
    rows = list(rows)
    if any(row[0].is_complex() for row in rows):
        rows = [tuple(_real(t) for t in row) for row in rows]
    if steps is None:
        if not foreach:
            for row in rows:
                update(*row, **hyper)
            return
        keyed = [(row, None) for row in rows]
    else:
        if not foreach:
            for row, s in zip(rows, steps):
                update(*row, step=s, **hyper)
            return
        keyed = list(zip(rows, steps))
    if not rows:
        return
    # The common case, one bucket (one device, dtype, step and None pattern), without per-row keys.
    first = rows[0]
    nones = tuple(t is None for t in first)
    s0 = keyed[0][1]
    if all(s == s0 for _, s in keyed) and len({(row[0].device, row[0].dtype) for row in rows}) == 1:
        cols = [None if none else [row[i] for row in rows] for i, none in enumerate(nones)]
        if s0 is None:
            update(*cols, **hyper)
        else:
            update(*cols, step=s0, **hyper)
        return
    buckets: dict[tuple, list[tuple]] = defaultdict(list)
    for row, s in keyed:
        buckets[(row[0].device, row[0].dtype, s)].append(row)
    for (_, _, s), bucket in buckets.items():
        cols = [None if none else [row[i] for row in bucket] for i, none in enumerate(nones)]
        if s is None:
            update(*cols, **hyper)
        else:
            update(*cols, step=s, **hyper)


_ONE = torch.tensor(1.0)


def increment_steps(counters: list[Tensor]) -> list[float]:
    """``step += 1`` for every counter of a group, then their values as floats.

    One ``_foreach_add_`` for the whole group instead of one ``+= 1`` per parameter (each of
    those wraps the Python ``1`` in a tensor: ~2.5 us per parameter on CPU).  The counters are
    torch's 0-d float32 CPU tensors; others (a checkpoint from torch's ``capturable`` mode)
    take the per-tensor path.
    """
    if all(c.device.type == "cpu" and c.dtype == torch.float32 for c in counters):
        torch._foreach_add_(counters, _ONE, alpha=1.0)
    else:
        for c in counters:
            c += 1
    return [c.item() for c in counters]


def fill_group_defaults(param_groups: list[dict], **defaults: Any) -> None:
    """Give param groups unpickled from an older version the options added since (``__setstate__``)."""
    for group in param_groups:
        for key, value in defaults.items():
            group.setdefault(key, value)


_FUSED_DTYPES = frozenset((torch.float16, torch.bfloat16, torch.float32, torch.float64))


def check_fused_args(owner: str, fused: Any, foreach: Any, unsupported: dict[str, bool] | None = None) -> None:
    """Constructor checks for ``fused``: a bool or None, not together with ``foreach=True``, and
    ``fused=True`` only with options the kernel implements (``unsupported``: option -> is set)."""
    if fused is not None and not isinstance(fused, bool):
        raise ValueError(f"{owner}: fused must be True, False or None, got {fused!r}")
    if fused and foreach:
        raise ValueError(f"{owner}: fused=True and foreach=True are mutually exclusive, got both")
    for option, is_set in (unsupported or {}).items():
        if fused and is_set:
            raise ValueError(f"{owner}: fused=True does not support {option}; use fused=None or False")


def use_fused(owner: str, group: dict, params: Sequence[Tensor], grads: Sequence[Tensor], kernel: str,
              *, options_ok: bool = True) -> bool:
    """Whether this group's step runs torch's fused CPU kernel ``torch.<kernel>``.

    ``fused=None`` (the default) uses it when ``foreach`` is also None, the kernel exists in this
    torch, the group's options are ones it implements (``options_ok``) and every parameter is a
    real floating-point CPU tensor with a dense gradient; otherwise the per-tensor reference
    runs.  ``fused=True`` requires it (``RuntimeError`` saying why not); ``False`` never uses it.
    torch's own default on CPU is the per-tensor loop; its fused kernels are one pass over memory
    per tensor, and the tests hold them to the reference path.
    """
    fused = group.get("fused")
    if fused is False or (fused is None and group.get("foreach") is not None):
        return False
    reason = None
    if not hasattr(torch, kernel):
        reason = f"needs torch.{kernel}, which this torch ({torch.__version__}) lacks"
    elif not options_ok:
        reason = "does not support this group's options"
    elif not all(p.is_cpu and p.dtype in _FUSED_DTYPES for p in params):
        reason = "needs real floating-point CPU parameters (float16, bfloat16, float32, float64)"
    elif any(g.is_sparse for g in grads):
        reason = "does not support sparse gradients"
    if fused is None:
        return reason is None and group.get("foreach") is None
    if reason is not None:
        raise RuntimeError(f"{owner}: fused=True {reason}")
    return True


class ZeroScratch:
    """Zeroed buffers shaped like each parameter, carved from one allocation per dtype and reused
    tensor after tensor (for a fused kernel that writes a step into a buffer instead of ``p``)."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        self._flat: dict[tuple, Tensor] = {}
        for p in params:
            key = (p.device, p.dtype)
            if p.is_contiguous() and (key not in self._flat or p.numel() > self._flat[key].numel()):
                self._flat[key] = p.new_empty(p.numel())

    def zeros_like(self, p: Tensor) -> Tensor:
        """A zeroed tensor like ``p``; valid until the next call for the same dtype."""
        if p.is_contiguous():
            return self._flat[(p.device, p.dtype)][: p.numel()].view(p.shape).zero_()
        return torch.zeros_like(p, memory_format=torch.preserve_format)


def moment_rows(state: dict, params: Sequence[Tensor], grads: Sequence[Tensor], *, max_sq: bool = False
                ) -> tuple[list[tuple], list[float]]:
    """The Adam family's per-parameter state, in torch's names and format.

    On a parameter's first step creates ``step`` (0-d float32 CPU tensor), ``exp_avg`` and
    ``exp_avg_sq`` (and ``max_exp_avg_sq`` with ``max_sq``, also when turned on later), advances
    every step counter, and returns rows ``(p, g, exp_avg, exp_avg_sq, max_exp_avg_sq or None)``
    with the step values.  ``state`` is the optimizer's ``self.state``.
    """
    rows, counters = [], []
    for p, g in zip(params, grads):
        st = state[p]
        if "step" not in st:
            st["step"] = step_tensor()
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if max_sq and "max_exp_avg_sq" not in st:
            st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        counters.append(st["step"])
        rows.append((p, g, st["exp_avg"], st["exp_avg_sq"], st["max_exp_avg_sq"] if max_sq else None))
    return rows, increment_steps(counters)
