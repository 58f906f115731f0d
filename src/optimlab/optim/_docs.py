"""Argument text shared by every optimizer's docstring (written once, composed)."""

COMMON_ARGS = r"""
        maximize (bool, default False): maximise the objective (the gradient's sign is flipped
            out of place; ``p.grad`` is never written).
        foreach (bool or None, default None): ``True`` runs the update once over lists of
            tensors with ``torch._foreach_*`` kernels, ``False`` runs it per tensor (the readable
            reference).  ``None`` picks per-tensor on CPU (faster there) and foreach when every
            parameter is on an accelerator.  Both paths run the same update function.

    Every hyperparameter may differ per param group.  Parameters whose ``grad`` is ``None`` are
    skipped (no state, no change).  Complex parameters are updated as torch does: real and
    imaginary parts are treated as independent real parameters (``torch.view_as_real``).
    A Tensor ``lr`` is accepted and read once per group per step.  Unknown keyword arguments
    raise ``TypeError``; out-of-range values raise ``ValueError`` naming the argument, the
    allowed range and the value.
"""
