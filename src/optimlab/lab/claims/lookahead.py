"""Claim 8: Lookahead is more stable than its inner optimizer (spread over seeds, loss-vs-lr flatness)."""

from __future__ import annotations

import numpy as np

from ..spec import RunSpec, lr_grid
from .adam_sgdm import _setup
from .base import Claim, final_loss, metric, tune, typical_lr
from .figs import new_figure, save
from .verdict import Verdict, paired_effect

INNERS = ("adam", "sgdm")
PROBLEM = "digits_mlp"


class Claim8(Claim):
    id = 8
    title = "Lookahead is more stable than its inner optimizer"
    words = "Lookahead: the step back avoids too dangerous exploration and finds flatter minima; training is more stable."

    def _arms(self, ctx):
        s = _setup(ctx.mode)[PROBLEM]
        out = {}
        for inner in INNERS:
            lrs = lr_grid(max(2, ctx.mode.trials), *typical_lr(inner))
            for o in (inner, f"lookahead_{inner}"):
                t = tune(ctx, PROBLEM, o, lrs=lrs, **s)
                grid = {lr: [RunSpec(problem=PROBLEM, optimizer=o, lr=lr, seed=i, problem_kwargs=ctx.pkw(), **s)
                             for i in range(ctx.mode.seeds)] for lr in lrs}
                out[o] = (t, grid)
        return out

    def plan(self, ctx):
        return [s for t, grid in self._arms(ctx).values() for s in t.all_specs + [x for v in grid.values() for x in v]]

    def analyze(self, ctx):
        arms = self._arms(ctx)
        effects, details = [], {}
        for inner in INNERS:
            la = f"lookahead_{inner}"
            val = {o: [metric(r, "val_loss") for r in ctx.all(arms[o][0].specs)] for o in (inner, la)}
            rough = {}
            for o in (inner, la):
                grid = arms[o][1]
                curves = np.array([[final_loss(r) for r in ctx.all(grid[lr])] for lr in sorted(grid)], dtype=float)
                rough[o] = list(np.nanmean(np.abs(np.diff(curves, axis=0)), axis=0))  # per seed
                details[f"final_loss_vs_lr/{o}"] = {f"{lr:g}": list(c) for lr, c in zip(sorted(grid), curves)}
            effects.append(paired_effect(f"spread of final val loss over seeds (std), {inner} - {la}", val[inner],
                                         val[la], units="loss", stat="std"))
            effects.append(paired_effect(f"loss change between neighbouring lrs, {inner} - {la}", rough[inner],
                                         rough[la], units="loss", margin=0.01))
            details[f"val_loss_at_chosen_lr/{inner}"] = val
        return Verdict.from_effects(self, effects, details=details, settings={
            "problem": PROBLEM, "inner optimizers": list(INNERS), "lookahead": "k=5, alpha=0.5 (registry defaults)",
            "chosen_lr": {o: t.lr for o, (t, _) in arms.items()}, "steps": _setup(ctx.mode)[PROBLEM]["steps"],
            "lr grid": {o: sorted(g) for o, (_, g) in arms.items()},
            "flatness": "mean |final loss(lr_i+1) - final loss(lr_i)| over the grid, per seed; diverged = initial loss",
            "margin": "0.01 loss for flatness; none for the spread"})

    def figures(self, ctx, verdict, out_dir):
        arms = self._arms(ctx)
        fig, axes = new_figure(len(INNERS))
        for ax, inner in zip(axes, INNERS):
            for o in (inner, f"lookahead_{inner}"):
                grid = arms[o][1]
                lrs = sorted(grid)
                c = np.array([[final_loss(r) for r in ctx.all(grid[lr])] for lr in lrs], dtype=float)
                m, s = np.nanmean(c, axis=1), np.nanstd(c, axis=1)
                ax.errorbar(lrs, m, yerr=s, fmt="o-", capsize=3, label=o)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("learning rate")
            ax.set_ylabel("final training loss (mean ± std over seeds)")
            ax.set_title(f"{PROBLEM}: {inner} vs Lookahead")
            ax.legend()
        return [save(fig, out_dir / "claim8_lookahead.png")]
