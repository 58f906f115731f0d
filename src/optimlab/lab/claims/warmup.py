"""Claim 7 (Adam needs warm-up, or RAdam, at high rates) and mechanism 16 (the early variance of Adam's rate).

Claim 7 matches the warm-up to RAdam's implicit one: Ma & Yarats (2019) show RAdam's rectification acts
like a linear warm-up over about ``2 / (1 - beta2)`` steps, so the warm-up arm uses exactly that
(``untuned_warmup``: linear over 2/(1-beta2) steps).  All arms use ``betas = (0.9, 0.99)`` so the warm-up
(200 steps) fits inside CPU-sized runs; Adam without warm-up, Adam with it and RAdam share one lr grid
reaching high rates, and the verdict compares the final training loss at the upper half of the grid
(a diverged run counts as its initial loss).  Workloads: MNIST-1D MLP; full adds the char-level
Transformer (where warm-up is standard practice); a user's problem alone.
"""

from __future__ import annotations

import numpy as np

from ..spec import RunSpec, lr_grid
from .base import Claim, final_loss, pick, workloads
from .figs import new_figure, save
from .probes import ADAPTIVE
from .verdict import Verdict, paired_effect

ARMS = ("adam", "adam+warmup", "radam")
BETAS = [0.9, 0.99]
PROBLEMS = ("mnist1d_mlp", "charlm")


def warmup_steps(beta2: float = BETAS[1]) -> int:
    """RAdam's implicit warm-up length, 2 / (1 - beta2) (Ma & Yarats)."""
    return int(round(2.0 / (1.0 - beta2)))


class Claim7(Claim):
    id = 7
    title = "Adam needs warm-up (or RAdam) at a high learning rate"
    words = ("The gradient distribution is distorted in the first ~10 steps, so the adaptive learning rate is bad: "
             "keep the step size small at the beginning (linear warm-up), or RAdam.")
    user_applicable = True
    changes = ("v2: the warm-up lasts 2/(1-beta2) steps (RAdam's implicit warm-up, Ma & Yarats) instead of 10% of a "
               "short run, on MNIST-1D (full: + char-level Transformer); the early-variance picture is a separate "
               "mechanism demonstration (16)")

    def _lrs(self, ctx):
        return lr_grid(pick(ctx.mode, tiny=2, quick=4, full=4), 1e-3, 1e-1)

    def _specs(self, ctx):
        out = {}
        for w in workloads(ctx, PROBLEMS):
            for arm in ARMS:
                for lr in self._lrs(ctx):
                    sched = ({"name": "untuned_warmup", "kwargs": {"base_lr": lr, "beta2": BETAS[1]}}
                             if arm == "adam+warmup" else None)
                    out[(w, arm, lr)] = [RunSpec(problem=w.problem, optimizer=arm.split("+")[0], lr=lr, seed=s,
                                                 problem_kwargs=ctx.pkw(**w.pkw), optimizer_kwargs={"betas": BETAS},
                                                 schedule=sched, **w.run()) for s in range(ctx.mode.seeds)]
        return out

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def _losses(self, ctx):
        return {k: [final_loss(r) for r in ctx.all(v)] for k, v in self._specs(ctx).items()}

    def analyze(self, ctx):
        lrs = self._lrs(ctx)
        high = lrs[len(lrs) // 2:]
        L = self._losses(ctx)
        effects, details = [], {}
        for w in workloads(ctx, PROBLEMS):
            per = {arm: [float(np.mean([L[(w, arm, lr)][i] for lr in high])) if all(
                L[(w, arm, lr)][i] is not None for lr in high) else None for i in range(ctx.mode.seeds)] for arm in ARMS}
            effects.append(paired_effect(f"{w.label}: final loss at the high rates, Adam - Adam+warm-up",
                                         per["adam"], per["adam+warmup"], units="loss", margin=0.02))
            effects.append(paired_effect(f"{w.label}: final loss at the high rates, Adam - RAdam", per["adam"],
                                         per["radam"], units="loss", margin=0.02))
            details[w.label] = {f"{arm}@{lr:g}": L[(w, arm, lr)] for arm in ARMS for lr in lrs}
        return Verdict.from_effects(self, effects, details=details, settings={
            "problems": [w.label for w in workloads(ctx, PROBLEMS)], "arms": list(ARMS), "lrs": lrs, "high lrs": high,
            "betas": BETAS, "warm-up": f"linear over 2/(1-beta2) = {warmup_steps()} steps (untuned_warmup)",
            "steps": {w.label: w.steps for w in workloads(ctx, PROBLEMS)}, "seeds": ctx.mode.seeds,
            "diverged run": "counts as its initial loss", "margin": "0.02 loss"})

    def figures(self, ctx, verdict, out_dir):
        lrs = self._lrs(ctx)
        L = self._losses(ctx)
        ws = workloads(ctx, PROBLEMS)
        fig, axes = new_figure(len(ws))
        for ax, w in zip(axes, ws):
            for arm in ARMS:
                m = [np.mean([v for v in L[(w, arm, lr)] if v is not None] or [np.nan]) for lr in lrs]
                ax.plot(lrs, m, "o-", label=arm)
            ax.set_xscale("log")
            ax.set_xlabel("learning rate")
            ax.set_ylabel("final training loss (mean over seeds)")
            ax.set_title(f"{w.label}: warm-up {warmup_steps()} steps")
            ax.legend()
        return [save(fig, out_dir / "claim7_warmup.png")]


class Mechanism16(Claim):
    id = 16
    title = "Adam's adaptive rate varies most across seeds in its first steps"
    words = "The gradient distribution is distorted in the first ~10 steps, so the EMA of squared gradients is distorted."
    kind = "mechanism"
    changes = "v2: split from claim 7 and labelled a mechanism demonstration (RAdam's premise), not a claim"

    def _specs(self, ctx):
        steps = pick(ctx.mode, tiny=20, quick=100, full=200)
        return [RunSpec(problem="mnist1d_mlp", optimizer="adam", lr=1e-3, steps=steps, eval_every=steps, seed=s,
                        problem_kwargs=ctx.pkw(), probes=(ADAPTIVE,), probe_every=1)
                for s in range(max(3, ctx.mode.seeds))]

    def plan(self, ctx):
        return self._specs(ctx)

    def _rates(self, ctx):
        key = f"{ADAPTIVE}.log_rate"
        arrs = []
        for r in ctx.all(self._specs(ctx)):
            rows = [row for row in r.probes.get(key, []) if row is not None]
            if rows:
                arrs.append(np.array(rows, dtype=float))
        n = min(len(a) for a in arrs)
        return np.stack([a[:n] for a in arrs])  # seeds x steps x coords

    def analyze(self, ctx):
        x = self._rates(ctx)
        early, late = x[:, :5].mean(axis=(1, 2)), x[:, -5:].mean(axis=(1, 2))
        e = paired_effect("spread over seeds of the mean log10 adaptive rate, log10 sd(steps 1-5)/sd(last 5 steps)",
                          list(early), list(late), stat="spread")
        spec = self._specs(ctx)[0]
        return Verdict.from_effects(self, [e], details={"early": list(early), "late": list(late)}, settings={
            "problem": "mnist1d_mlp", "optimizer": "adam", "lr": spec.lr, "steps": spec.steps, "seeds": len(early),
            "rate": "log10 of 1/(sqrt(v_hat)+eps) on 32 fixed coordinates, averaged over them and over 5 steps",
            "interval": "Pitman-Morgan for the ratio of paired spreads"})

    def figures(self, ctx, verdict, out_dir):
        x = self._rates(ctx)
        fig, axes = new_figure(1)
        axes[0].plot(np.arange(1, x.shape[1] + 1), x.var(axis=0, ddof=1).mean(axis=1))
        axes[0].set_xscale("log")
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("variance over seeds of log10 adaptive rate")
        axes[0].set_title("Adam, MNIST-1D MLP")
        return [save(fig, out_dir / "mechanism16_early_variance.png")]
