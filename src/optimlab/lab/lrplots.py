"""Plots of the learning-rate tools: a schedule preview and the LR range-test curve.

matplotlib is imported inside the functions (the ``optimlab[lab]`` extra).  Figures are built
with ``matplotlib.figure.Figure`` and the Agg canvas: no pyplot state, no window, the global
backend is left alone.  Each function returns the Figure and saves it when ``path`` is given.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

__all__ = ["plot_schedule", "plot_lr_range"]

log = logging.getLogger(__name__)


def _figure(ax):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def plot_schedule(lr_schedule: Any, steps: int, momentum: Any = None, path: Optional[str] = None, ax: Any = None):
    """Preview ``lr_schedule`` (and ``momentum``, on a second axis) over steps ``0 .. steps-1``.

    Args:
        lr_schedule: an ``optimlab.schedules`` schedule (any ``f(step) -> float``).
        steps (int, >= 1): number of steps shown.
        momentum: optional momentum / beta1 schedule, drawn dashed on a right-hand axis.
        path: where to save the figure (any format matplotlib knows), or None.
        ax: an existing Axes to draw into, or None for a new figure.
    Returns:
        the matplotlib Figure.
    """
    from ..checks import check_int

    check_int("plot_schedule", "steps", steps, 1)
    fig, ax = _figure(ax)
    xs = list(range(steps))
    ax.plot(xs, [lr_schedule(t) for t in xs], color="C0", label="lr")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title(type(lr_schedule).__name__)
    if momentum is not None:
        ax2 = ax.twinx()
        ax2.plot(xs, [momentum(t) for t in xs], color="C1", linestyle="--", label="momentum")
        ax2.set_ylabel("momentum / beta1")
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], loc="best")
    if path is not None:
        fig.savefig(path)
    return fig


def plot_lr_range(result: Any, suggestions: bool = True, path: Optional[str] = None, ax: Any = None):
    """The LR range-test curve: raw loss (faint), smoothed loss, and the suggestions marked.

    Suggestions that cannot be made for this result (too few points ...) are skipped with a log
    message.  The x axis is logarithmic for an ``"exp"`` sweep.

    Returns:
        the matplotlib Figure.
    """
    from ..lr_range import (LRRangeResult, suggest_clr_bounds, suggest_lr_min_div10, suggest_lr_steepest,
                            suggest_lr_valley)

    if not isinstance(result, LRRangeResult):
        raise ValueError(f"plot_lr_range: result must be an LRRangeResult, got {type(result).__name__}")
    fig, ax = _figure(ax)
    ax.plot(result.lrs, result.losses, color="C0", alpha=0.3, label="loss")
    ax.plot(result.lrs, result.smoothed_losses, color="C0", label="smoothed loss")
    if result.mode == "exp":
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("validation loss" if result.validation else "training loss")
    ax.set_title(f"LR range test ({result.stop_reason})")
    if suggestions:
        marks = [("steepest", suggest_lr_steepest, "C1"), ("valley", suggest_lr_valley, "C2"),
                 ("min/10", suggest_lr_min_div10, "C3")]
        for name, f, color in marks:
            try:
                lr = f(result)
            except ValueError as err:
                log.info("plot_lr_range: no %s suggestion: %s", name, err)
                continue
            ax.axvline(lr, color=color, linestyle="--", label=f"{name}: {lr:.3g}")
        try:
            lo, hi = suggest_clr_bounds(result)
            ax.axvspan(lo, hi, color="C4", alpha=0.12, label=f"CLR bounds: {lo:.3g} - {hi:.3g}")
        except ValueError as err:
            log.info("plot_lr_range: no CLR bounds: %s", err)
    ax.legend(loc="best", fontsize="small")
    if path is not None:
        fig.savefig(path)
    return fig
