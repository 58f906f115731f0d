"""What every optimlab optimizer shares: the step's grad mode, torch's flags (``foreach``,
``fused``, ``capturable``, ``differentiable``), checkpoint handling, and the dispatch between the
reference rule and a fast kernel.

An optimizer's step reads like torch's own (``OptimizerBase.step`` evaluates the closure and calls
``_step_impl``)::

    def _step_impl(self):
        for group in self.param_groups:
            params, grads, exp_avgs, ... = [], [], [], ...
            self._init_group(group, params, grads, exp_avgs, ...)   # state creation only
            ... one update rule over the rows ...

``_init_group`` only creates missing state and collects tensors (never advances a counter):
``torch.compile`` runs it eagerly once and traces the rest, as it does for torch's optimizers.

**Tensor mode.**  A group runs in tensor mode when ``capturable`` or ``differentiable`` is set or
``torch.compile`` is tracing the step: step counts, learning rates and other hyperparameters stay
tensors (no ``.item()``, no host synchronisation, no recompilation when they change; gradients flow
through them with ``differentiable``) and the per-tensor rule runs.  Otherwise (eager) they are
read once per group as Python floats, which is faster on CPU.

**Fast kernels.**  torch's fused CPU kernels (and any reformulation built on them) iterate over
memory, so they run only where that is provably the same as the reference: plain CPU tensors (not
DTensor or another subclass), dense gradients, a dtype the kernel handles correctly, parameter,
gradient and state of the same size laid out identically (both contiguous, or identical strides
over non-overlapping dense memory), eager mode.  Anything else takes the reference rule.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from ..checks import check_bool

__all__ = ["OptimizerBase", "AlwaysDecoupled", "step_context", "call_closure", "tensor_mode", "kernel_ok", "plain_rows_ok",
           "run_inner_step", "check_state_shapes", "transform_grads", "GradTransform"]

_PLAIN_PARAM = (Tensor, torch.nn.Parameter)


def step_context(step: Callable) -> Callable:
    """Run ``step`` with autograd recording only under ``differentiable=True`` (torch's rule).

    Under ``torch.compile`` the explicit graph breaks around the body make the optimizer's math one
    inference graph, as torch does for its own optimizers (see ``torch.optim.optimizer``).
    """

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        prev = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(bool(self.defaults.get("differentiable", False)))
            if torch.compiler.is_compiling():  # (eagerly, importing torch._dynamo would cost seconds)
                torch._dynamo.graph_break()
            result = step(self, *args, **kwargs)
        finally:
            if torch.compiler.is_compiling():
                torch._dynamo.graph_break()
            torch.set_grad_enabled(prev)
        return result  # outside the try: dynamo resumes after a graph break only there

    return wrapper


def call_closure(closure: Callable[[], Any] | None) -> Any:
    """Re-evaluate the model under ``enable_grad`` (``step`` itself runs under ``no_grad``)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def tensor_mode(group: dict) -> bool:
    """Whether this group's step keeps its scalars as tensors (see the module docstring)."""
    return bool(group.get("capturable") or group.get("differentiable") or torch.compiler.is_compiling())


def plain_rows_ok(rows: Iterable[Sequence[Tensor | None]], dtypes: frozenset) -> bool:
    """Whether a fast kernel that walks memory may process every row ``(param, grad, state...)``.

    Each row must be plain CPU tensors of one dtype in ``dtypes``, a dense (strided) gradient, and
    every tensor of the size of the parameter laid out like it: all contiguous, or identical
    strides over non-overlapping dense memory (channels_last, a transposed parameter with a
    transposed gradient).  An expanded gradient (stride 0), a sliced parameter, a DTensor, a
    sparse gradient or a state tensor of another shape all fail.
    """
    for row in rows:
        p = row[0]
        if type(p) not in _PLAIN_PARAM or not p.is_cpu or p.dtype not in dtypes:
            return False
        n, dtype, contiguous = p.numel(), p.dtype, p.is_contiguous()
        if not contiguous and not _dense(p):
            return False
        for t in row[1:]:
            if t is None:
                continue
            if type(t) not in _PLAIN_PARAM or t.layout is not torch.strided or t.dtype is not dtype or t.numel() != n:
                return False
            if contiguous:
                if not t.is_contiguous():
                    return False
            elif t.stride() != p.stride() or t.shape != p.shape:
                return False
    return True


def _dense(t: Tensor) -> bool:
    """Non-overlapping and dense: the elements fill ``numel`` consecutive memory slots."""
    dims = sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1)
    expected = 1
    for st, sz in dims:
        if st != expected:
            return False
        expected *= sz
    return True


def kernel_ok(group: dict, rows: Sequence[Sequence[Tensor | None]], kernel: str, dtypes: frozenset,
              *, options_ok: bool = True, owner: str = "optimizer") -> bool:
    """Whether this group's step runs the fast kernel ``torch.<kernel>`` (see :func:`plain_rows_ok`).

    ``fused=None`` (the default) uses it when ``foreach`` is also None, the group is not in tensor
    mode, the kernel implements the group's options (``options_ok``) and every row qualifies;
    ``fused=False`` never.  ``fused=True`` raises ``RuntimeError`` where torch's ``fused=True``
    would (parameters that are not floating-point CPU tensors) or where the kernel cannot
    implement the group's options it
    returns False (the generated kernel of ``optimlab.optim._compiled`` or the reference rule runs);
    elsewhere, where a row does not qualify (a layout, a subclass,
    a dtype the kernel gets wrong), the reference rule runs instead and the reason is logged once.
    """
    fused = group.get("fused")
    if fused is False or (fused is None and group.get("foreach") is not None):
        return False
    reason = None
    if not hasattr(torch, kernel):
        reason = f"needs torch.{kernel}, which this torch ({torch.__version__}) lacks"
    elif tensor_mode(group):
        reason = "does not run with capturable, differentiable or under torch.compile"
    elif not options_ok:  # the generated kernel (or the reference rule) takes the group's options
        return False
    if reason is None:
        if plain_rows_ok(rows, dtypes):
            return True
        if not fused:
            return False
        if all(r[0].is_floating_point() and r[0].device.type == "cpu" for r in rows):
            _log_once(owner, f"{owner}: fused=True runs the generated kernel (or the reference rule) for this group: "
                             f"torch.{kernel} is used "
                             f"only on plain CPU tensors of dtype "
                             f"{', '.join(sorted(str(d).replace('torch.', '') for d in dtypes))} with parameter, "
                             f"gradient and state laid out alike")
            return False
        reason = "needs floating-point CPU parameters"
    if fused:
        raise RuntimeError(f"{owner}: fused=True {reason}")
    return False


_LOGGED: set[str] = set()


def _log_once(key: str, message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        logging.getLogger("optimlab.optim").warning(message)


def _named(group: dict, i: int) -> str:
    names = group.get("param_names")
    return repr(names[i]) if names and i < len(names) else f"#{i}"


GradTransform = Callable[[dict, list, list], list]


def transform_grads(grad_transform: GradTransform | None, group: dict, params: list, grads: list) -> None:
    """Replace ``grads`` (in place) by ``grad_transform(group, params, grads)``: how a wrapper
    (gradient noise) changes the gradients an optimlab optimizer uses without writing ``p.grad``."""
    if grad_transform is not None:
        grads[:] = grad_transform(group, params, grads)


def run_inner_step(optimizer: torch.optim.Optimizer, grad_transform: GradTransform | None = None) -> None:
    """A wrapper's call of its inner optimizer's step (the wrapper has evaluated the closure).

    An optimlab optimizer or wrapper without step hooks of its own runs its step body directly,
    with ``grad_transform`` applied to each group's gradients after they are collected (no second
    set of graph breaks and no mutation of ``p.grad``, so ``torch.compile`` of the wrapper's step
    gives one graph).  Any other optimizer (torch's), or one with step hooks, runs ``step()`` as
    usual, its hooks included; a ``grad_transform`` is then applied by putting the transformed
    gradients in ``p.grad`` for the call and the originals back afterwards.
    """
    body = getattr(optimizer, "_step_impl", None)
    if body is not None and not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks:
        body(grad_transform)
        return
    if grad_transform is None:
        optimizer.step()
        return
    swapped = []
    try:
        for group in optimizer.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            new = grad_transform(group, params, [p.grad for p in params])
            for p, g in zip(params, new):
                swapped.append((p, p.grad))
                p.grad = g
        optimizer.step()
    finally:
        for p, g in swapped:
            p.grad = g


class OptimizerBase(torch.optim.Optimizer):
    """The ``torch.optim.Optimizer`` every optimlab optimizer subclasses.

    It adds, on top of torch's class: the group options torch's optimizers have (``foreach``,
    ``maximize``, ``capturable``, ``differentiable``) with their defaults for checkpoints saved
    before an option existed (``_group_defaults`` adds a class's own); step counts saved as Python
    numbers (older torch checkpoints) become tensors; and a checkpoint whose state does not fit the
    parameters (a resized layer) is refused with an error naming the parameter, leaving the
    optimizer as it was.
    """

    _owner = "Optimizer"
    _group_defaults: dict[str, Any] = {}
    _scalar_state: tuple[str, ...] = ("step",)  # per-parameter counters kept as 0-d tensors

    @step_context
    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step_impl()
        return loss

    def _step_impl(self, grad_transform: GradTransform | None = None) -> None:
        """One step of every group; ``grad_transform`` (see :func:`transform_grads`) is how a wrapper
        changes the gradients used."""
        raise NotImplementedError

    @classmethod
    def _check_common(cls, *, capturable: Any, differentiable: Any, fused: Any = None, foreach: Any = None) -> None:
        owner = cls._owner
        check_bool(owner, "capturable", capturable)
        check_bool(owner, "differentiable", differentiable)
        if differentiable and fused:
            raise ValueError(f"{owner}: fused=True and differentiable=True are mutually exclusive, got both")
        if differentiable and foreach:
            raise ValueError(f"{owner}: foreach=True and differentiable=True are mutually exclusive, got both "
                             f"(a differentiable step runs the per-tensor rule)")

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        defaults = {"foreach": None, "maximize": False, "differentiable": False, **self._group_defaults}
        for group in self.param_groups:
            for key, value in defaults.items():
                if key in self.defaults:  # only the options this class takes
                    group.setdefault(key, value)
        self._normalize_counters()
        self._check_state_shapes()

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's ``load_state_dict``; a checkpoint that does not fit leaves the optimizer unchanged."""
        before = self.state, self.param_groups
        try:
            super().load_state_dict(state_dict)
        except Exception:
            self.state, self.param_groups = before
            raise

    def _normalize_counters(self) -> None:
        """Per-parameter scalar state (``step``, and e.g. NAdam's ``mu_product``) in torch's format:
        a 0-d float32 tensor on the CPU, or on the parameter's device with ``capturable``.  A step
        count saved as a Python number (older torch checkpoints) becomes one, and a value that
        ``load_state_dict`` cast to the parameter's dtype and device is cast back (so a resumed run
        is bit-identical to an uninterrupted one)."""
        for group in self.param_groups:
            device = None
            for p in group["params"]:
                st = self.state.get(p)
                if not st:
                    continue
                device = torch.device(p.device if group.get("capturable") else "cpu")
                for key in self._scalar_state:
                    value = st.get(key)
                    if value is None:
                        continue
                    if not isinstance(value, Tensor):
                        st[key] = torch.tensor(float(value), dtype=torch.float32, device=device)
                    elif (value.dtype != torch.float32 or value.device != device) and not value.requires_grad:
                        st[key] = value.to(device=device, dtype=torch.float32)

    def _check_state_shapes(self) -> None:
        check_state_shapes(self._owner, self)


def check_state_shapes(owner: str, optimizer: torch.optim.Optimizer) -> None:
    """``ValueError`` naming the parameter if a state tensor (other than a 0-d scalar) does not have
    its parameter's shape (a checkpoint of another model, a resized layer)."""
    for gi, group in enumerate(optimizer.param_groups):
        for i, p in enumerate(group["params"]):
            for key, value in optimizer.state.get(p, {}).items():
                if isinstance(value, Tensor) and value.dim() > 0 and value.shape != p.shape:
                    raise ValueError(
                        f"{owner}: state {key!r} of parameter {_named(group, i)} of group {gi} has shape "
                        f"{list(value.shape)}, but the parameter has shape {list(p.shape)}; the checkpoint does "
                        f"not match this model")


class AlwaysDecoupled:
    """Mixin for AdamW and SGDW: every group decays decoupled, also after loading a checkpoint of the
    base class (or an older one) whose groups say ``decoupled_weight_decay=False`` or nothing, and
    a group added with ``decoupled_weight_decay`` other than True is refused."""

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True

    def add_param_group(self, param_group: dict) -> None:
        """torch's ``add_param_group``; the group always decays decoupled."""
        if param_group.get("decoupled_weight_decay", True) is not True:
            raise ValueError(f"{self._owner}: decoupled_weight_decay is always True, got "
                             f"{param_group['decoupled_weight_decay']!r}")
        super().add_param_group(param_group)
