"""Claim 10: decoupled weight decay has a wider good region over lr x decay than L2 (Loshchilov & Hutter, Fig. 2).

The heat map of Loshchilov & Hutter ("Decoupled Weight Decay Regularization", ICLR 2019, Fig. 2): test
accuracy over a grid of learning rates x decay factors, for the L2 form and the decoupled form.  The
paper normalises the decoupled decay by the run length, ``lambda = w sqrt(b / (B T))`` (batch ``b``,
training set ``B``, ``T`` epochs), and its decoupled decay is not multiplied by the learning rate:
``theta <- theta - lambda theta`` per step.  torch's AdamW (and our SGDW) multiply it by the lr, so the
decoupled arm passes ``weight_decay = lambda / lr`` (the per-step decay is ``lambda`` whatever the lr),
with ``w`` in [1e-3, 0.3].  The L2 arm adds ``c theta`` to the gradient with the L2 factor ``c`` in
[1e-5, 3e-3].  Each decay axis spans the same 2.5 decades, from a decay too weak to matter into the
too-strong range, in its own units (L2 factors and normalized decays are not the same quantity: with
Adam, ``c theta`` is divided by the adaptive denominator).  Where decay is decoupled the good region
should be a wide rectangle; with L2 a narrow diagonal (the best decay depends on the lr).

Per seed: the good region is the fraction of cells within ``TOLERANCE`` of that seed's best cell (of both
arms); the effects are the width (decoupled - L2) and the best cell (decoupled - L2, with a
non-inferiority margin).  Workloads: MNIST-1D MLP (overfits: decay matters); a user's problem alone.
Pairs: (Adam, AdamW); full adds (SGDM, SGDWM).
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import RunSpec, lr_grid
from .base import Claim, pick, test_score, typical_lr, workloads
from .figs import new_figure, save
from .verdict import Verdict, paired_effect

PROBLEMS = ("mnist1d_mlp",)
TOLERANCE = 0.01  # a cell is "good" if its test score is within 1 point of the seed's best cell
BEST_MARGIN = 0.005  # non-inferiority margin for "its best is at least as good"
WIDTH_MARGIN = 0.05
DECOUPLED_W = (1e-3, 0.3)  # normalized decay w: per-step decay w sqrt(b / (B T))
L2_FACTOR = (1e-5, 3e-3)  # L2 factor c: gradient + c theta


def _pairs(ctx):
    return pick(ctx.mode, tiny=(("adam", "adamw"),), quick=(("adam", "adamw"),),
                full=(("adam", "adamw"), ("sgdm", "sgdwm")))


class Claim10(Claim):
    id = 10
    title = "Decoupled weight decay: a wider good region, a best at least as good"
    words = "L2 regularization or weight decay? Decoupled weight decay keeps gamma*theta out of m_t and v_t (AdamW, SGDW)."
    user_applicable = True
    changes = ("v2: the lr x decay heat map of Loshchilov & Hutter's Fig. 2 with the decoupled decay normalised as in "
               "the paper (per-step decay w sqrt(b/(BT)), not multiplied by the lr) and each decay axis spanning 2.5 "
               "decades into the too-strong range, on MNIST-1D where decay matters, instead of decay tied to the lr "
               "over a range too weak to matter")

    def _cfg(self, ctx):
        """(number of lrs, seeds, normalized decays)."""
        n = pick(ctx.mode, tiny=2, quick=3, full=5)
        seeds = pick(ctx.mode, tiny=2, quick=3, full=5)
        return n, seeds, pick(ctx.mode, tiny=2, quick=4, full=5)

    def _scale(self, w, ctx) -> float:
        """sqrt(b / (B T)) for the workload (1 / sqrt(steps) when the problem does not say its sizes)."""
        from ..problems import make_problem

        cache = self.__dict__.setdefault("_scales", {})
        key = (w, ctx.mode.name)
        if key not in cache:
            cache[key] = make_problem(w.problem, 0, **ctx.pkw(**w.pkw)).meta
        meta = cache[key]
        b, big = meta.get("batch_size"), meta.get("n_train")
        if not b or not big:
            return 1.0 / math.sqrt(w.steps)
        epochs = w.steps * b / big
        return math.sqrt(b / (big * epochs))

    def _specs(self, ctx):
        n, seeds, n_decay = self._cfg(ctx)
        out = {}
        for w in workloads(ctx, PROBLEMS):
            scale = self._scale(w, ctx)
            for l2, dec in _pairs(ctx):
                lrs = lr_grid(n, *typical_lr(l2))
                for o in (l2, dec):
                    for lr in lrs:
                        for wn in lr_grid(n_decay, *(DECOUPLED_W if o == dec else L2_FACTOR)):
                            wd = wn * scale / lr if o == dec else wn
                            out[(w, o, lr, wn)] = [RunSpec(problem=w.problem, optimizer=o, lr=lr, seed=s,
                                                           problem_kwargs=ctx.pkw(**w.pkw),
                                                           optimizer_kwargs={"weight_decay": float(f"{wd:.4g}")},
                                                           **w.run()) for s in range(seeds)]
        return out

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def _cube(self, ctx, w, o):
        """lrs, normalized decays, array seeds x lr x decay of the test score at the end (diverged: nan)."""
        specs = self._specs(ctx)
        keys = [k for k in specs if k[0] == w and k[1] == o]
        lrs, wns = sorted({k[2] for k in keys}), sorted({k[3] for k in keys})
        a = np.array([[[np.nan if test_score(r) is None else test_score(r) for r in ctx.all(specs[(w, o, lr, wn)])]
                       for wn in wns] for lr in lrs], dtype=float)
        return lrs, wns, np.moveaxis(a, 2, 0)

    def analyze(self, ctx):
        effects, details = [], {}
        for w in workloads(ctx, PROBLEMS):
            for l2, dec in _pairs(ctx):
                _, _, A = self._cube(ctx, w, l2)
                _, _, B = self._cube(ctx, w, dec)
                A, B = np.nan_to_num(A, nan=-np.inf), np.nan_to_num(B, nan=-np.inf)
                best = np.maximum(A.max(axis=(1, 2)), B.max(axis=(1, 2)))[:, None, None]
                width_a = (A >= best - TOLERANCE).mean(axis=(1, 2))
                width_b = (B >= best - TOLERANCE).mean(axis=(1, 2))
                effects.append(paired_effect(f"{w.label}: good-region width (cells within {TOLERANCE:g} of the seed's "
                                             f"best), {dec} - {l2}", list(width_b), list(width_a),
                                             units="fraction of grid", margin=WIDTH_MARGIN))
                effects.append(paired_effect(f"{w.label}: best cell, {dec} - {l2} + {BEST_MARGIN:g} (non-inferiority)",
                                             list(B.max(axis=(1, 2)) + BEST_MARGIN), list(A.max(axis=(1, 2))),
                                             units="test score"))
                details[f"{w.label}/{l2}_mean_test"] = np.where(np.isfinite(A), A, np.nan).mean(0).tolist()
                details[f"{w.label}/{dec}_mean_test"] = np.where(np.isfinite(B), B, np.nan).mean(0).tolist()
        n, seeds, n_decay = self._cfg(ctx)
        return Verdict.from_effects(self, effects, details=details, settings={
            "problems": [w.label for w in workloads(ctx, PROBLEMS)], "pairs (L2, decoupled)": [list(p) for p in _pairs(ctx)],
            "seeds": seeds, "lrs": {p[0]: lr_grid(n, *typical_lr(p[0])) for p in _pairs(ctx)},
            "normalized decays w (decoupled)": lr_grid(n_decay, *DECOUPLED_W), "L2 factors c": lr_grid(n_decay, *L2_FACTOR),
            "steps": {w.label: w.steps for w in workloads(ctx, PROBLEMS)},
            "decoupled": "per-step decay lambda = w sqrt(b/(B T)) (torch weight_decay = lambda / lr)",
            "L2": "gradient + c theta",
            "metric": "test score at the end of training (diverged run: never good)",
            "good cell": f"test score >= the seed's best cell of the pair - {TOLERANCE:g}",
            "margin": f"width: {WIDTH_MARGIN:g}; best: non-inferiority by {BEST_MARGIN:g} (added to the effect)"})

    def figures(self, ctx, verdict, out_dir):
        ws = workloads(ctx, PROBLEMS)
        names = [(w, o) for w in ws for p in _pairs(ctx) for o in p]
        fig, axes = new_figure(len(names), w=3.6, h=3.3)
        for ax, (w, o) in zip(axes, names):
            lrs, wns, A = self._cube(ctx, w, o)
            m = np.nanmean(A, axis=0)
            top = float(np.nanmax(m)) if np.isfinite(m).any() else 1.0
            im = ax.imshow(m, origin="lower", cmap="viridis", vmin=top - 0.2, vmax=top, aspect="auto")
            ax.set_xticks(range(len(wns)))
            ax.set_xticklabels([f"{v:.0e}" for v in wns], fontsize=6, rotation=45)
            ax.set_yticks(range(len(lrs)))
            ax.set_yticklabels([f"{v:.0e}" for v in lrs], fontsize=6)
            ax.set_xlabel("normalized decay w" if o in [p[1] for p in _pairs(ctx)] else "L2 factor c")
            ax.set_ylabel("learning rate")
            ax.set_title(f"{w.label} {o}: test score", fontsize=8)
            for (y, x), v in np.ndenumerate(m):
                ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
            fig.colorbar(im, ax=ax, fraction=0.046)
        return [save(fig, out_dir / "claim10_weight_decay.png")]
