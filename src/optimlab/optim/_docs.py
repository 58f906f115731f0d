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

_FUSED = r"""        fused (bool or None, default None): the single-pass kernels.  {kernel_text}Other inputs
            (and ``fused=False``) take the reference rule.  Fast kernels run only on inputs where
            they are tested equal to the reference rule: plain tensors (not DTensor or another
            subclass) of a dtype they handle, with parameter, gradient and state of the same size
            laid out alike, in eager mode (not capturable, differentiable or under
            ``torch.compile``).  The generated kernel (``optimlab.optim._compiled``) is built by
            ``torch.compile`` from the same update function the reference rule runs (C++ on CPU,
            Triton on CUDA) for contiguous rows; by default (``None``) only for groups of at least
            2**20 elements, where it pays for its first-step compilation (cached on disk across
            processes), always with ``True``.  Where no kernel can be built (no C++ compiler), the
            reference rule runs and one line is logged.  ``True`` raises where torch's would
            (parameters that are not floating-point CPU tensors); not with ``foreach=True``.
"""

_TORCH_KERNEL = r"""On CPU with ``foreach`` unset, torch's fused kernel
            ``torch.{kernel}`` (the one behind torch's own ``fused=True``, one pass per tensor;
            torch's default on CPU is the slower per-tensor loop) runs where it implements the
            group's options ({options}).  """

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
    """The shared argument text: ``maximize``/``foreach``, then ``capturable`` and ``differentiable``
    for the optimizers that take them, and ``fused`` (with torch's fused kernel ``fused_kernel``, if any)."""
    out = _FOREACH
    if capturable:
        out += _CAPTURABLE
    if differentiable:
        out += _DIFFERENTIABLE
    kernel_text = _TORCH_KERNEL.format(kernel=fused_kernel, options=fused_options) if fused_kernel else ""
    return out + _FUSED.format(kernel_text=kernel_text) + _TAIL
