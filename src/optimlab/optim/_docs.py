"""Argument text shared by every optimizer's docstring (written once, composed)."""

_FOREACH = r"""
        maximize (bool, default False): maximise the objective (the gradient's sign is flipped
            out of place; ``p.grad`` is never written).
        foreach (bool or None, default None): ``True`` runs the update once over lists of
            tensors with ``torch._foreach_*`` kernels, ``False`` runs it per tensor (the readable
            reference).  ``None`` picks per-tensor on CPU (faster there) and foreach when every
            parameter is on an accelerator.  Both paths run the same update function.
"""

_FUSED = r"""        fused (bool or None, default None): run torch's fused CPU kernel (``torch.{kernel}``,
            one pass over memory per tensor, the kernel behind torch's own ``fused=True``).
            ``None`` uses it on CPU when ``foreach`` is None, the kernel implements the group's
            options ({options}) and every parameter is a real floating-point CPU tensor with a
            dense gradient; otherwise the per-tensor reference runs.  The tests hold it to the
            reference path.  ``True`` requires it; ``False`` never uses it; not with
            ``foreach=True``.  (torch's default on CPU is the slower per-tensor loop.)
"""

_TAIL = r"""
    Every hyperparameter may differ per param group.  Parameters whose ``grad`` is ``None`` are
    skipped (no state, no change).  Complex parameters are updated as torch does: real and
    imaginary parts are treated as independent real parameters (``torch.view_as_real``).
    A Tensor ``lr`` is accepted and read once per group per step.  Unknown keyword arguments
    raise ``TypeError``; out-of-range values raise ``ValueError`` naming the argument, the
    allowed range and the value.
"""

COMMON_ARGS = _FOREACH + _TAIL


def common_args(fused_kernel: str, fused_options: str) -> str:
    """COMMON_ARGS with the ``fused`` argument of an optimizer that has a torch fused kernel."""
    return _FOREACH + _FUSED.format(kernel=fused_kernel, options=fused_options) + _TAIL
