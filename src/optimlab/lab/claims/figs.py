"""Small matplotlib helpers shared by the claims' figures (Agg backend, PNG files)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

__all__ = ["new_figure", "save", "band", "strip", "smooth"]


def new_figure(ncols: int = 1, nrows: int = 1, w: float = 4.6, h: float = 3.4):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    return fig, axes.ravel()


def save(fig, path: Path, rect=None) -> str:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def smooth(y, k: int = 1):
    y = np.asarray(y, dtype=float)
    if k <= 1 or len(y) < k:
        return y
    c = np.cumsum(np.insert(np.where(np.isfinite(y), y, np.nan), 0, 0.0))
    out = (c[k:] - c[:-k]) / k
    return np.concatenate([y[:k - 1], out])


def band(ax, curves: list, label: str, *, x=None, k: int = 1, log: bool = False, color=None) -> None:
    """Median over seeds with the inter-quartile band; curves of different lengths are cut to the shortest."""
    curves = [np.asarray(c, dtype=float) for c in curves if c is not None and len(c)]
    if not curves:
        return
    n = min(len(c) for c in curves)
    y = np.vstack([smooth(c[:n], k) for c in curves])
    xs = np.arange(n) if x is None else np.asarray(x)[:n]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (every seed diverged): a gap
        med = np.nanmedian(y, axis=0)
        lo, hi = np.nanpercentile(y, 25, axis=0), np.nanpercentile(y, 75, axis=0)
    line, = ax.plot(xs, med, label=label, color=color, lw=1.4)
    ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
    if log:
        ax.set_yscale("log")


def strip(ax, groups: dict, ylabel: str) -> None:
    """Per-seed values of each arm as dots, with the mean as a bar."""
    for i, (name, vals) in enumerate(groups.items()):
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        if not vals:
            continue
        ax.scatter(np.full(len(vals), i) + np.linspace(-0.12, 0.12, len(vals)), vals, s=14, alpha=0.8)
        ax.hlines(np.mean(vals), i - 0.25, i + 0.25, color="k")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
