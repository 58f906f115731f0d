"""The plumbing every optimizer's ``step`` shares: collecting a group's tensors and state, reading
its hyperparameters, advancing step counters, and running one update rule per tensor or once over
lists (``foreach``).

``run_update`` calls the update rule with single tensors (the reference path) or with lists of
tensors (the ``foreach`` path), bucketed so that every call sees one device, one dtype and one step
count; the helpers in :mod:`optimlab.optim._ops` accept both forms.  In tensor mode (see
:mod:`optimlab.optim._base`) the step counts are tensors and the rule always runs per tensor.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

__all__ = [
    "collect_grads",
    "resolve_foreach",
    "run_update",
    "scalar",
    "hyper",
    "new_step",
    "advance",
    "check_fused_args",
    "ZeroScratch",
    "init_moments",
    "FUSED_DTYPES",
    "opmath_rows",
    "coefficients",
]

FUSED_DTYPES = frozenset((torch.float16, torch.bfloat16, torch.float32, torch.float64))


def collect_grads(owner: str, group: dict, params: list, grads: list, *, allow_sparse: bool = False) -> bool:
    """Append the parameters of ``group`` that have a gradient, and those gradients; return whether
    any gradient is sparse.

    Parameters whose ``grad`` is ``None`` are skipped entirely (no state is created, nothing
    changes).  Sparse gradients raise torch's message unless the optimizer supports them.
    """
    sparse = False
    for p in group["params"]:
        if p.grad is not None:
            if p.grad.is_sparse:
                if not allow_sparse:
                    raise RuntimeError(f"{owner} does not support sparse gradients, please consider SparseAdam instead")
                sparse = True
            params.append(p)
            grads.append(p.grad)
    return sparse


def resolve_foreach(foreach: bool | None, params: Sequence[Tensor]) -> bool:
    """``foreach=None`` picks the fastest path for the device, as torch does.

    On CPU the per-tensor path is faster than torch's ``_foreach_*`` kernels (which run one
    tensor at a time there and allocate more), so ``None`` means per-tensor on CPU and foreach
    when every tensor lives on an accelerator.
    """
    if foreach is not None:
        return bool(foreach)
    return bool(params) and params[0].device.type not in ("cpu", "meta")


def scalar(x: Any, tensor: bool) -> Any:
    """A hyperparameter as the step uses it: unchanged in tensor mode, else a Python float (a 1-element
    Tensor is read once per group, not per parameter)."""
    if tensor:
        return x
    if isinstance(x, Tensor):
        return float(x.item())
    return float(x)


def hyper(group: dict, tensor: bool, *names: str) -> list:
    """``[scalar(group[name], tensor) for name in names]``; ``"beta1"``/``"beta2"`` read ``betas``."""
    out = []
    for name in names:
        if name in ("beta1", "beta2"):
            out.append(scalar(group["betas"][name == "beta2"], tensor))
        else:
            out.append(scalar(group[name], tensor))
    return out


def new_step(p: Tensor, group: dict) -> Tensor:
    """A fresh step counter in torch's format: a 0-d float32 tensor, on the CPU, or on the
    parameter's device with ``capturable``."""
    device = p.device if group.get("capturable") else "cpu"
    return torch.zeros((), dtype=torch.float32, device=device)


_ONE = torch.tensor(1.0)


def advance(counters: list[Tensor], tensor: bool) -> list:
    """``step += 1`` for every counter of a group; return the new values: the tensors themselves in
    tensor mode, else Python floats.

    Eagerly one ``_foreach_add_`` for the whole group instead of one ``+= 1`` per parameter (each of
    those wraps the Python ``1`` in a tensor: ~2.5 us per parameter on CPU).
    """
    if tensor:
        for c in counters:
            c.add_(1)
        return counters
    if all(c.device.type == "cpu" and c.dtype == torch.float32 for c in counters):
        torch._foreach_add_(counters, _ONE, alpha=1.0)
    else:
        for c in counters:
            c += 1
    return [c.item() for c in counters]


_HALF = (torch.float16, torch.bfloat16)


def opmath_rows(rows: list[tuple]) -> tuple[list[tuple], Callable[[], None]]:
    """Rows whose parameter is float16/bfloat16, computed in float32 (as torch's fused kernels do):
    returns the rows with float32 copies of their half-precision tensors, and a function that
    writes the results back (parameter and state; never the gradient, at index 1).  In half
    precision ``eps`` underflows and squares lose their small values, so a rule evaluated in the
    parameter's dtype can divide by zero (torch's own per-tensor Adam gives NaN in float16)."""
    if not any(row[0].dtype in _HALF for row in rows):
        return rows, lambda: None
    work, back = [], []
    for row in rows:
        if row[0].dtype in _HALF:
            up = tuple(t.float() if isinstance(t, Tensor) and t.dtype in _HALF else t for t in row)
            back.append((row, up))
            work.append(up)
        else:
            work.append(row)

    def write_back() -> None:
        for row, up in back:
            for i, (t, u) in enumerate(zip(row, up)):
                if i != 1 and u is not t:
                    t.copy_(u)

    return work, write_back


def _scalar_dtype(t: Tensor) -> torch.dtype:
    """float64 for the scalar math of a tensor-mode step (a 0-d tensor: cheap), except where the
    device has none (MPS)."""
    return torch.float32 if t.device.type == "mps" else torch.float64


def _real(t: Tensor | None) -> Tensor | None:
    if t is not None and torch.is_complex(t):
        return torch.view_as_real(t)
    return t


def coefficients(fn: Callable[..., dict], steps: Sequence[Any], **args: Any) -> list[dict]:
    """``fn(step=s, **args)`` for every row's step: the per-step scalars of an update rule (bias
    corrections, rectification, bounds...), computed apart from the elementwise work.

    Python float steps (eager): once per distinct step, the rows sharing it share the dict (so
    :func:`run_update` hands them to the rule together).  Tensor steps (tensor mode): per row, on a
    float64 copy of the counter (a differentiable step's ops may save it, and it is advanced in
    place next step; in float32, 1 - beta2**t is off by ~1e-5 relative early on and RAdam's rho_t
    cancels to 1e-4).
    """
    if steps and isinstance(steps[0], Tensor):
        return [fn(step=s.to(dtype=_scalar_dtype(s), copy=True), **args) for s in steps]
    cache: dict[Any, dict] = {}
    out = []
    for s in steps:
        c = cache.get(s)
        if c is None:
            c = cache[s] = fn(step=s, **args)
        out.append(c)
    return out


_NO_COEFS: dict = {}


def run_update(
    update: Callable[..., None],
    rows: Iterable[tuple[Tensor | None, ...]],
    *,
    foreach: bool,
    coefs: Sequence[dict] | None = None,
    compiled: bool = False,
    **hyper: Any,
) -> None:
    """Apply ``update(*row, **coefs[i], **hyper)`` to every row of tensors.

    ``rows`` holds one tuple per parameter: ``(param, grad, state tensors...)``; a ``None``
    state entry is passed through as ``None`` (a column is either ``None`` in every row or in
    none).  ``coefs`` holds each row's per-step scalars (see :func:`coefficients`).  Complex
    tensors are viewed as real pairs, as ``torch.optim`` does, so every update rule acts on the real
    and imaginary parts independently; float16/bfloat16 rows are computed in float32
    (:func:`opmath_rows`).  With ``foreach`` the rows are bucketed by (device, dtype, coefficients)
    and each bucket is passed as lists; tensor coefficients (tensor mode) always run per tensor.
    With ``compiled`` (see :func:`optimlab.optim._compiled.use_compiled`) the rows run through the
    kernel generated from ``update``, or, if it cannot be built, the reference path.
    """
    rows = list(rows)
    if not rows:
        return
    if coefs is None:
        coefs = [_NO_COEFS] * len(rows)
    if any(row[0].is_complex() for row in rows):
        rows = [tuple(_real(t) for t in row) for row in rows]
    if compiled:
        from ._compiled import run_compiled, split_rows

        ok, rest = split_rows(rows)
        if run_compiled(update, [rows[i] for i in ok], [coefs[i] for i in ok], hyper) is not None:
            if not rest:
                return
            rows, coefs = [rows[i] for i in rest], [coefs[i] for i in rest]
    rows, write_back = opmath_rows(rows)
    if foreach and any(isinstance(v, Tensor) for v in coefs[0].values()):
        foreach = False
    if not foreach:
        for row, c in zip(rows, coefs):
            update(*row, **c, **hyper)
        write_back()
        return
    nones = tuple(t is None for t in rows[0])
    c0 = coefs[0]
    if all(c is c0 for c in coefs) and len({(row[0].device, row[0].dtype) for row in rows}) == 1:
        buckets = {None: (c0, rows)}  # the common case without per-row keys
    else:
        buckets = {}
        for row, c in zip(rows, coefs):
            buckets.setdefault((row[0].device, row[0].dtype, id(c)), (c, []))[1].append(row)
    for c, bucket in buckets.values():
        cols = [None if none else [row[i] for row in bucket] for i, none in enumerate(nones)]
        update(*cols, **c, **hyper)
    write_back()


def check_fused_args(owner: str, fused: Any, foreach: Any) -> None:
    """Constructor checks for ``fused``: a bool or None, not together with ``foreach=True``."""
    if fused is not None and not isinstance(fused, bool):
        raise ValueError(f"{owner}: fused must be True, False or None, got {fused!r}")
    if fused and foreach:
        raise ValueError(f"{owner}: fused=True and foreach=True are mutually exclusive, got both")


class ZeroScratch:
    """Zeroed buffers shaped like each (contiguous) parameter, carved from one allocation per dtype
    and reused tensor after tensor (for a fused kernel that writes a step into a buffer instead of
    ``p``)."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        self._flat: dict[tuple, Tensor] = {}
        for p in params:
            key = (p.device, p.dtype)
            if key not in self._flat or p.numel() > self._flat[key].numel():
                self._flat[key] = p.new_empty(p.numel())

    def zeros_like(self, p: Tensor) -> Tensor:
        """A zeroed contiguous tensor like ``p``; valid until the next call for the same dtype."""
        return self._flat[(p.device, p.dtype)][: p.numel()].view(p.shape).zero_()


def init_moments(state: dict, group: dict, params: Sequence[Tensor], ms: list, vs: list, vmaxs: list, steps: list,
                 *, max_sq: bool = False) -> None:
    """The Adam family's per-parameter state, in torch's names and format (an ``_init_group`` body).

    On a parameter's first step creates ``step`` (0-d float32, see :func:`new_step`), ``exp_avg`` and
    ``exp_avg_sq`` (and ``max_exp_avg_sq`` with ``max_sq``, also when turned on later), and appends
    them to the lists (``vmaxs`` gets ``None`` without ``max_sq``).  Never advances a counter.
    """
    for p in params:
        st = state[p]
        if "step" not in st:
            st["step"] = new_step(p, group)
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if max_sq and "max_exp_avg_sq" not in st:
            st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        steps.append(st["step"])
        ms.append(st["exp_avg"])
        vs.append(st["exp_avg_sq"])
        vmaxs.append(st["max_exp_avg_sq"] if max_sq else None)
