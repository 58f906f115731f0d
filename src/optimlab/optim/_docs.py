"""Argument text shared by every optimizer's docstring (written once, composed)."""

_FOREACH = r"""
        maximize (bool, default False): maximise the objective (the gradient's sign is flipped
            out of place; ``p.grad`` is never written).
        foreach (bool or None, default None): ``True`` runs the update once over lists of
            tensors with ``torch._foreach_*`` kernels, ``False`` runs it per tensor (the readable
            reference).  ``None`` picks per-tensor on CPU (faster there) and foreach when every
            parameter is on an accelerator.  Both paths run the same update function.
"""

_CAPTURABLE = r"""        capturable (bool, default False): torch's meaning: the step counts live on the parameters'
            device and the step reads nothing back to the host (CUDA graphs, ``torch.compile``).
            The per-tensor rule runs with its scalars as tensors.  (torch refuses it on CPU; here
            it is allowed and gives the same numbers as the default, to float64 scalar rounding.)
"""

_DIFFERENTIABLE = r"""        differentiable (bool, default False): torch's meaning: the step runs with autograd on, so
            a loss after the step can be differentiated through it with respect to the
            hyperparameters (Tensor ``lr``, ``betas``, ``weight_decay``), the state and the
            (non-leaf) parameters; the per-tensor rule runs.  Not with ``fused=True`` or
            ``foreach=True``.
"""

_FUSED = r"""        fused (bool or None, default None): run torch's fused CPU kernel (``torch.{kernel}``,
            one pass over memory per tensor, the kernel behind torch's own ``fused=True``).
            ``None`` uses it on CPU when ``foreach`` is None and the kernel implements the
            group's options ({options}), but only on inputs where it is tested equal to the
            reference rule: plain CPU tensors (not DTensor or another subclass) of a dtype it
            handles, with parameter, gradient and state of the same size laid out alike (both
            contiguous, or identical strides as with channels_last), in eager mode (not
            capturable, differentiable or under ``torch.compile``).  Everything else takes the
            reference rule.  ``True`` raises where torch's would (parameters that are not
            floating-point CPU tensors) and otherwise falls back to the reference rule on such
            inputs, saying so once in the log; ``False`` never uses it; not with ``foreach=True``.
            (torch's default on CPU is the slower per-tensor loop.)
"""

_TAIL = r"""
    Every hyperparameter may differ per param group.  Parameters whose ``grad`` is ``None`` are
    skipped (no state, no change).  Complex parameters are updated as torch does: real and
    imaginary parts are treated as independent real parameters (``torch.view_as_real``).
    Parameters of any memory layout work (the reference rule is elementwise over logical
    elements); float16/bfloat16 parameters are updated in float32 on the reference rule (as
    torch's fused kernels do; in half precision ``eps`` underflows).  A Tensor ``lr`` (and Tensor
    ``betas``) are accepted: read once per group per step in eager mode, kept as tensors in tensor
    mode (``capturable``, ``differentiable``, ``torch.compile``), so a scheduler changing them
    causes no recompilation.  ``torch.compile(opt.step)`` gives one graph with no recompilation
    from step to step.  A checkpoint whose state does not fit the parameters raises
    ``ValueError`` naming the parameter and leaves the optimizer as it was; step counts saved as
    Python numbers (older torch checkpoints) load.  Unknown keyword arguments raise
    ``TypeError``; out-of-range values raise ``ValueError`` naming the argument, the allowed
    range and the value.
"""


def common_args(fused_kernel: str | None = None, fused_options: str = "", *, capturable: bool = True,
                differentiable: bool = True) -> str:
    """The shared argument text: ``maximize``/``foreach``, then ``capturable``, ``differentiable`` and
    ``fused`` (with torch's fused kernel ``fused_kernel``) for the optimizers that take them."""
    out = _FOREACH
    if capturable:
        out += _CAPTURABLE
    if differentiable:
        out += _DIFFERENTIABLE
    if fused_kernel is not None:
        out += _FUSED.format(kernel=fused_kernel, options=fused_options)
    return out + _TAIL
