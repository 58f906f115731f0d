"""Claim 10: decoupled weight decay (AdamW, SGDW) has a wider good region over lr x weight decay than L2."""

from __future__ import annotations

import numpy as np

from ..spec import RunSpec, lr_grid
from .base import Claim, metric, pick, typical_lr
from .figs import new_figure, save
from .verdict import LEVEL, Effect, Verdict, bootstrap, decide

PROBLEM = "digits_mlp"
PAIRS = (("adam", "adamw"), ("sgdm", "sgdwm"))  # (L2 form, decoupled form)
TOLERANCE = 0.01  # a cell is "good" if its mean test accuracy is within 1 point of the best cell of the pair
BEST_MARGIN = 0.005  # non-inferiority margin for "its best is at least as good"
WIDTH_MARGIN = 0.05


class Claim10(Claim):
    id = 10
    title = "Decoupled weight decay: a wider good region, a best at least as good"
    words = "L2 regularization or weight decay? Decoupled weight decay keeps gamma*theta out of m_t and v_t (AdamW, SGDW)."

    def _cfg(self, ctx):
        n = pick(ctx.mode, tiny=2, quick=4, full=5)
        steps = pick(ctx.mode, tiny=20, quick=300, full=800)
        seeds = pick(ctx.mode, tiny=2, quick=3, full=6)
        return n, steps, seeds, lr_grid(n, 1e-4, 1.0)

    def _specs(self, ctx):
        n, steps, seeds, wds = self._cfg(ctx)
        out = {}
        for pair in PAIRS:
            lrs = lr_grid(n, *typical_lr(pair[0]))
            for o in pair:
                out[o] = {(lr, wd): [RunSpec(problem=PROBLEM, optimizer=o, lr=lr, steps=steps, eval_every=max(1, steps // 6),
                                             seed=s, problem_kwargs=ctx.pkw(), optimizer_kwargs={"weight_decay": wd})
                                     for s in range(seeds)] for lr in lrs for wd in wds}
        return out

    def plan(self, ctx):
        return [s for cells in self._specs(ctx).values() for v in cells.values() for s in v]

    def _cube(self, ctx, o):
        """lrs, wds, array seeds x lr x wd of test accuracy at the best validation point (diverged: 0)."""
        cells = self._specs(ctx)[o]
        lrs, wds = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
        a = np.array([[[metric(r, "test_acc_at_best") or 0.0 for r in ctx.all(cells[(lr, wd)])] for wd in wds]
                      for lr in lrs], dtype=float)
        return lrs, wds, np.moveaxis(a, 2, 0)

    def analyze(self, ctx):
        effects, details = [], {}
        for l2, dec in PAIRS:
            _, _, A = self._cube(ctx, l2)
            _, _, B = self._cube(ctx, dec)

            def width(idx, A=A, B=B):
                ma, mb = A[idx].mean(0), B[idx].mean(0)
                best = max(ma.max(), mb.max())
                return float((mb >= best - TOLERANCE).mean() - (ma >= best - TOLERANCE).mean())

            def best(idx, A=A, B=B):
                return float(B[idx].mean(0).max() - A[idx].mean(0).max() + BEST_MARGIN)

            for name, fn, units, margin in (
                    (f"good-region width (cells within {TOLERANCE:g} of the best), {dec} - {l2}", width, "fraction of grid",
                     WIDTH_MARGIN),
                    (f"best test accuracy, {dec} - {l2}, + {BEST_MARGIN:g} non-inferiority margin", best, "accuracy", 0.0)):
                v, lo, hi = bootstrap(fn, A.shape[0])
                effects.append(Effect(name, v, lo, hi, LEVEL, units, margin, A.shape[0], decide(v, lo, hi, margin, A.shape[0])))
            details[f"{l2}_mean_test_acc"] = A.mean(0).tolist()
            details[f"{dec}_mean_test_acc"] = B.mean(0).tolist()
        n, steps, seeds, wds = self._cfg(ctx)
        return Verdict.from_effects(self, effects, details=details, settings={
            "problem": PROBLEM, "pairs (L2, decoupled)": [list(p) for p in PAIRS], "steps": steps, "seeds": seeds,
            "lrs": {p[0]: lr_grid(n, *typical_lr(p[0])) for p in PAIRS}, "weight decays": wds,
            "metric": "test accuracy at the best validation point (diverged run: 0)",
            "good cell": f"mean test accuracy >= best cell of the pair - {TOLERANCE:g}",
            "decoupled form": "theta <- theta (1 - lr * wd) (torch's AdamW convention)",
            "margin": f"width: {WIDTH_MARGIN:g}; best: non-inferiority by {BEST_MARGIN:g} (added to the effect)"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(4, w=3.6, h=3.3)
        for i, o in enumerate([o for p in PAIRS for o in p]):
            lrs, wds, A = self._cube(ctx, o)
            m = A.mean(0)
            ax = axes[i]
            im = ax.imshow(m, origin="lower", cmap="viridis", vmin=max(0.0, float(np.nanmax(m)) - 0.2),
                           vmax=float(np.nanmax(m)), aspect="auto")
            ax.set_xticks(range(len(wds)))
            ax.set_xticklabels([f"{w:.0e}" for w in wds], fontsize=6, rotation=45)
            ax.set_yticks(range(len(lrs)))
            ax.set_yticklabels([f"{v:.0e}" for v in lrs], fontsize=6)
            ax.set_xlabel("weight decay")
            ax.set_ylabel("learning rate")
            ax.set_title(f"{o}: test accuracy", fontsize=9)
            for (y, x), v in np.ndenumerate(m):
                ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
            fig.colorbar(im, ax=ax, fraction=0.046)
        return [save(fig, out_dir / "claim10_weight_decay.png")]
