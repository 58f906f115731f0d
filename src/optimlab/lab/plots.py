"""Figures for comparisons (matplotlib, imported lazily with the Agg backend).

Each function takes results (``RunResult``) grouped as ``{label: [runs over seeds]}`` or plain
lists, draws one figure, saves it to ``path`` (PNG) when given and returns the matplotlib Figure.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["plot_curves", "plot_lr_sensitivity", "plot_trajectories", "plot_probe", "pyplot"]


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under a running session
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        pyplot().close(fig)
    return fig


def _smooth(values, window):
    import numpy as np

    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) < window:
        return v
    c = np.cumsum(np.insert(np.nan_to_num(v, nan=np.inf), 0, 0.0))
    out = np.empty_like(v)
    out[window - 1:] = (c[window:] - c[:-window]) / window
    out[:window - 1] = [np.mean(v[:i + 1]) for i in range(window - 1)]
    return out


def plot_curves(groups: dict, metric: str, *, title: str = "", path=None, smooth: int | None = None,
                log_y: bool | None = None, ylabel: str | None = None):
    """Mean curve with a min-max band over seeds for each label; ``metric="train_loss_step"`` is
    the per-step mini-batch loss (smoothed over ``smooth`` steps), else an evaluation metric."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    positive = True
    for i, (label, runs) in enumerate(groups.items()):
        curves = []
        xs = None
        for r in runs:
            x, y = r.curve(metric)
            if not y:
                continue
            if metric == "train_loss_step":
                y = _smooth(y, smooth or max(1, len(y) // 50))
            curves.append(np.asarray(y, dtype=float))
            xs = x if xs is None or len(x) > len(xs) else xs
        if not curves:
            continue
        n = max(len(c) for c in curves)
        mat = np.full((len(curves), n), np.nan)
        for j, c in enumerate(curves):
            mat[j, :len(c)] = c
        mat[~np.isfinite(mat)] = np.nan
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, lo, hi = np.nanmean(mat, 0), np.nanmin(mat, 0), np.nanmax(mat, 0)
        xs = np.asarray(xs[:n])
        color = f"C{i % 10}"
        ax.plot(xs, mean, color=color, label=f"{label} (n={len(curves)})", lw=1.6)
        if len(curves) > 1:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)
        positive &= bool(np.nanmin(lo) > 0) if np.isfinite(np.nanmin(lo)) else True
    if log_y if log_y is not None else (positive and "loss" in metric):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or metric.replace("_step", " (per step)"))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_lr_sensitivity(by_config: dict, *, mode: str, metric: str, chosen: dict | None = None,
                        title: str = "", path=None):
    """Selection metric (mean over seeds, min-max bars) against the learning rate, per optimizer;
    diverged/failed trials are drawn as crosses at the bottom; the chosen rate is circled."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    all_vals = []
    for by_lr in by_config.values():
        for runs in by_lr.values():
            all_vals += [r.summary.get("best_value") for r in runs if r.status == "ok"
                         and r.summary.get("best_value") is not None]
    floor = (min(all_vals) if mode == "max" else max(all_vals)) if all_vals else 0.0
    for i, (config, by_lr) in enumerate(by_config.items()):
        color = f"C{i % 10}"
        lrs = sorted(lr for lr in by_lr if lr is not None)
        means, bad = [], []
        for lr in lrs:
            vals = [r.summary.get("best_value") for r in by_lr[lr]]
            if any(r.status != "ok" or v is None or not math.isfinite(v) for r, v in zip(by_lr[lr], vals)):
                bad.append(lr)
            good = [v for r, v in zip(by_lr[lr], vals) if r.status == "ok" and v is not None and math.isfinite(v)]
            means.append((lr, np.mean(good), np.min(good), np.max(good)) if good else None)
        pts = [m for m in means if m is not None]
        if pts:
            x, m, lo, hi = map(np.asarray, zip(*pts))
            ax.errorbar(x, m, yerr=[m - lo, hi - m], color=color, marker="o", ms=4, capsize=2, label=config)
        if bad:
            ax.scatter(bad, [floor] * len(bad), marker="x", color=color, s=40)
        if chosen and chosen.get(config) is not None:
            c = chosen[config]
            row = [p for p in pts if p[0] == c]
            if row:
                ax.scatter([c], [row[0][1]], s=160, facecolors="none", edgecolors=color, lw=2)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"best {metric} ({'higher' if mode == 'max' else 'lower'} is better)")
    ax.set_title(title + "  (x: diverged, circle: chosen)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_trajectories(runs: dict, meta: dict, *, title: str = "", path=None):
    """Parameter paths (the ``"params"`` probe) of 2-D problems over the contour of ``meta["fn"]``."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    x0, x1, y0, y1 = meta["bounds"]
    xs, ys = np.meshgrid(np.linspace(x0, x1, 240), np.linspace(y0, y1, 240))
    z = meta["fn"](xs, ys)
    z = np.log1p(z - np.min(z))
    ax.contourf(xs, ys, z, levels=30, cmap="Greys", alpha=0.55)
    ax.contour(xs, ys, z, levels=15, colors="k", linewidths=0.3, alpha=0.5)
    for i, (label, r) in enumerate(runs.items()):
        pts = np.asarray(r.probes.get("params", []), dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            continue
        ax.plot(pts[:, 0], pts[:, 1], color=f"C{i % 10}", lw=1.4, label=label)
        ax.scatter(pts[-1:, 0], pts[-1:, 1], color=f"C{i % 10}", s=25, zorder=5)
        ax.scatter(pts[:1, 0], pts[:1, 1], color="k", s=18, zorder=5)
    for m in meta.get("minima", []):
        ax.scatter([m[0]], [m[1]], marker="*", color="gold", edgecolors="k", s=160, zorder=6)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def plot_probe(groups: dict, name: str, *, index: int | None = 0, title: str = "", ylabel: str | None = None, path=None):
    """A probe (e.g. Reddi's x_t = ``params[0]``) against the step, one line per run."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, runs) in enumerate(groups.items()):
        for j, r in enumerate(runs):
            vals = r.probes.get(name, [])
            if index is not None:
                vals = [v[index] if isinstance(v, list) else v for v in vals]
            ax.plot(r.probes.get("step", []), vals, color=f"C{i % 10}", lw=1.2, alpha=0.8,
                    label=label if j == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or name)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
