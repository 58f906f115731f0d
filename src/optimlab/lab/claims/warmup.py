"""Claim 7: Adam needs warm-up; with warm-up, or RAdam, a high learning rate does no harm."""

from __future__ import annotations

import numpy as np

from ..spec import RunSpec
from .base import Claim, final_loss, pick
from .figs import new_figure, save
from .probes import ADAPTIVE
from .verdict import LEVEL, Effect, Verdict, bootstrap, decide, paired_effect

PROBLEM = "sequence"  # a tiny Transformer: the setting where warm-up is standard practice
ARMS = ("adam", "adam+warmup", "radam")


class Claim7(Claim):
    id = 7
    title = "Adam needs warm-up (or RAdam) at a high learning rate"
    words = ("The gradient distribution is distorted in the first ~10 steps, so the adaptive learning rate is bad: "
             "keep the step size small at the beginning (linear warm-up), or RAdam.")

    def _cfg(self, ctx):
        steps = pick(ctx.mode, tiny=20, quick=150, full=400)
        lrs = pick(ctx.mode, tiny=[1e-2, 1e-1], quick=[1e-2, 3e-2, 1e-1], full=[3e-3, 1e-2, 3e-2, 1e-1, 3e-1])
        seeds = pick(ctx.mode, tiny=2, quick=4, full=ctx.mode.seeds)
        return steps, lrs, seeds

    def _specs(self, ctx):
        steps, lrs, seeds = self._cfg(ctx)
        out = {}
        for arm in ARMS:
            for lr in lrs:
                sched = ({"name": "linear_warmup", "kwargs": {"base_lr": lr, "warmup_steps": max(1, steps // 10)}}
                         if arm == "adam+warmup" else None)
                probes = (ADAPTIVE,) if (arm == "adam" and lr == lrs[0]) else ()
                out[(arm, lr)] = [RunSpec(problem=PROBLEM, optimizer=arm.split("+")[0], lr=lr, steps=steps,
                                          eval_every=steps, seed=s, problem_kwargs=ctx.pkw(), schedule=sched,
                                          probes=probes, probe_every=1) for s in range(seeds)]
        return out

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def _losses(self, ctx):
        return {k: [final_loss(r) for r in ctx.all(v)] for k, v in self._specs(ctx).items()}

    def analyze(self, ctx):
        steps, lrs, seeds = self._cfg(ctx)
        high = lrs[len(lrs) // 2:]
        L = self._losses(ctx)
        per_seed = {arm: [float(np.mean([L[(arm, lr)][i] for lr in high])) for i in range(seeds)] for arm in ARMS}
        effects = [paired_effect("final loss at the high rates, Adam - Adam+warm-up", per_seed["adam"],
                                 per_seed["adam+warmup"], units="loss", margin=0.02),
                   paired_effect("final loss at the high rates, Adam - RAdam", per_seed["adam"], per_seed["radam"],
                                 units="loss", margin=0.02)]
        effects.append(self._variance_effect(ctx))
        return Verdict.from_effects(self, effects, details={"final_loss": {f"{a}@{lr:g}": v for (a, lr), v in L.items()},
                                                            "high_lrs": high},
                                    settings={"problem": f"{PROBLEM} (tiny Transformer)", "arms": list(ARMS), "lrs": lrs,
                                              "high lrs": "the upper half of the grid", "steps": steps,
                                              "warm-up": f"linear from 0 over {max(1, steps // 10)} steps",
                                              "diverged run": "counts as its initial loss", "seeds": seeds,
                                              "variance": "across seeds, of log10 of Adam's adaptive rate "
                                                          "1/(sqrt(v_hat)+eps) on 32 fixed coordinates, steps 1-5 vs "
                                                          "the last 5 steps", "margin": "0.02 loss; none for the variance"})

    def _rates(self, ctx):
        lrs = self._cfg(ctx)[1]
        rs = ctx.all(self._specs(ctx)[("adam", lrs[0])])
        key = f"{ADAPTIVE}.log_rate"
        arrs = []
        for r in rs:
            rows = [row for row in r.probes.get(key, []) if row is not None]
            if rows:
                arrs.append(np.array(rows, dtype=float))
        if not arrs:
            return None
        n = min(len(a) for a in arrs)
        return np.stack([a[:n] for a in arrs])  # seeds x steps x coords

    def _variance_effect(self, ctx) -> Effect:
        x = self._rates(ctx)
        name = "variance over seeds of Adam's log adaptive rate, steps 1-5 - last 5 steps"
        if x is None or x.shape[1] < 10:
            return Effect(name, None, None, None, n_seeds=0)

        def stat(idx):
            v = x[idx].var(axis=0, ddof=1).mean(axis=1)  # per step, mean over coordinates
            return float(v[:5].mean() - v[-5:].mean())

        value, low, high = bootstrap(stat, x.shape[0])
        return Effect(name, value, low, high, LEVEL, "decades^2", 0.0, x.shape[0], decide(value, low, high, 0.0, x.shape[0]))

    def figures(self, ctx, verdict, out_dir):
        steps, lrs, seeds = self._cfg(ctx)
        L = self._losses(ctx)
        fig, axes = new_figure(2)
        for arm in ARMS:
            m = [np.mean([v for v in L[(arm, lr)] if v is not None]) for lr in lrs]
            axes[0].plot(lrs, m, "o-", label=arm)
        axes[0].set_xscale("log")
        axes[0].set_xlabel("learning rate")
        axes[0].set_ylabel(f"final training loss (mean of {seeds} seeds)")
        axes[0].set_title(f"{PROBLEM}: final loss vs learning rate")
        axes[0].legend()
        x = self._rates(ctx)
        if x is not None:
            axes[1].plot(np.arange(1, x.shape[1] + 1), x.var(axis=0, ddof=1).mean(axis=1))
            axes[1].set_xscale("log")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("variance over seeds of log10 adaptive rate")
        axes[1].set_title(f"Adam, lr {lrs[0]:g}")
        return [save(fig, out_dir / "claim7_warmup.png")]
