"""Claim 8: Lookahead is more stable than its inner optimizer: robust at high learning rates.

Lookahead (k = 5, alpha = 0.5) and its inner optimizer (Adam, SGDM) run on one lr grid that reaches a
decade above the inner optimizer's usual range.  The step back matters where the inner optimizer is
pushed too far, so the verdict compares the final training loss over the upper half of the grid
(a diverged run counts as its initial loss): inner - Lookahead > 0.  The lower half is reported beside
it (Lookahead is slower there, by construction: it moves alpha of the inner optimizer's way).
"""

from __future__ import annotations

import numpy as np

from ..spec import RunSpec, lr_grid
from .base import Claim, final_loss, pick, typical_lr, workloads
from .figs import new_figure, save
from .verdict import Verdict, paired_effect

INNERS = ("adam", "sgdm")
PROBLEMS = ("mnist1d_mlp",)


class Claim8(Claim):
    id = 8
    title = "Lookahead is more stable than its inner optimizer (robust at high learning rates)"
    words = "Lookahead: the step back avoids too dangerous exploration and finds flatter minima; training is more stable."
    user_applicable = True
    changes = ("v2: robustness is measured where it matters, at high rates (final loss over the upper half of a grid "
               "reaching a decade above the usual range), instead of the roughness of the loss across all rates "
               "(which penalised Lookahead for being slower at low rates)")

    def _lrs(self, ctx, inner):
        low, high = typical_lr(inner)
        return lr_grid(pick(ctx.mode, tiny=2, quick=3, full=6), low * 3, high * 10)

    def _specs(self, ctx):
        out = {}
        for w in workloads(ctx, PROBLEMS):
            for inner in INNERS:
                for o in (inner, f"lookahead_{inner}"):
                    for lr in self._lrs(ctx, inner):
                        out[(w, o, lr)] = [RunSpec(problem=w.problem, optimizer=o, lr=lr, seed=s,
                                                   problem_kwargs=ctx.pkw(**w.pkw), **w.run())
                                           for s in range(ctx.mode.seeds)]
        return out

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def _per_seed(self, ctx, w, o, lrs):
        specs = self._specs(ctx)
        L = [[final_loss(r) for r in ctx.all(specs[(w, o, lr)])] for lr in lrs]
        return [float(np.mean(col)) if all(v is not None for v in col) else None for col in zip(*L)]

    def analyze(self, ctx):
        effects, details = [], {}
        for w in workloads(ctx, PROBLEMS):
            for inner in INNERS:
                lrs = self._lrs(ctx, inner)
                high, low = lrs[len(lrs) // 2:], lrs[:len(lrs) // 2]
                la = f"lookahead_{inner}"
                a, b = self._per_seed(ctx, w, inner, high), self._per_seed(ctx, w, la, high)
                effects.append(paired_effect(f"{w.label}: final loss at the high rates, {inner} - {la}", a, b,
                                             units="loss", margin=0.01))
                details[f"{w.label}/{inner}"] = {
                    "high lrs": high, "low lrs": low, "high": {inner: a, la: b},
                    "secondary (low rates)": paired_effect(
                        f"final loss at the low rates, {inner} - {la}", self._per_seed(ctx, w, inner, low),
                        self._per_seed(ctx, w, la, low), units="loss").to_dict() if low else None}
        return Verdict.from_effects(self, effects, details=details, settings={
            "problems": [w.label for w in workloads(ctx, PROBLEMS)], "inner optimizers": list(INNERS),
            "lookahead": "k=5, alpha=0.5 (registry defaults)", "lr grids": {i: self._lrs(ctx, i) for i in INNERS},
            "high rates": "the upper half of each grid", "seeds": ctx.mode.seeds,
            "diverged run": "counts as its initial loss", "margin": "0.01 loss"})

    def figures(self, ctx, verdict, out_dir):
        specs = self._specs(ctx)
        ws = workloads(ctx, PROBLEMS)
        fig, axes = new_figure(len(INNERS) * len(ws))
        for j, w in enumerate(ws):
            for i, inner in enumerate(INNERS):
                ax = axes[j * len(INNERS) + i]
                lrs = self._lrs(ctx, inner)
                for o in (inner, f"lookahead_{inner}"):
                    c = np.array([[final_loss(r) if final_loss(r) is not None else np.nan for r in ctx.all(specs[(w, o, lr)])]
                                  for lr in lrs], dtype=float)
                    ax.errorbar(lrs, np.nanmean(c, axis=1), yerr=np.nanstd(c, axis=1), fmt="o-", capsize=3, label=o)
                ax.axvline(lrs[len(lrs) // 2], color="k", ls=":", lw=0.8)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("learning rate (dotted: start of the high rates)")
                ax.set_ylabel("final training loss")
                ax.set_title(f"{w.label}: {inner} vs Lookahead", fontsize=9)
                ax.legend()
        return [save(fig, out_dir / "claim8_lookahead.png")]
