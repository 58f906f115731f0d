"""Claim 11: learning-rate schedules (cyclical, SGDR, one-cycle; bounds from the LR range test) help SGDM."""

from __future__ import annotations

import statistics

import numpy as np

from ..spec import RunSpec
from .base import Claim, final_loss, metric, pick, steps_or_cap
from .figs import band, new_figure, save
from .verdict import Verdict, paired_effect

PROBLEM = "digits_mlp"
SCHEDULES = ("cyclic", "sgdr", "onecycle")


class Claim11(Claim):
    id = 11
    title = "Learning-rate scheduling helps SGDM"
    words = ("SGD with one fixed rate is too slow when it is small and ends badly when it is large: cyclical LR, SGDR and "
             "one-cycle, with bounds from the LR range test.")

    def __init__(self):
        self._bounds: dict = {}

    def bounds(self, ctx) -> dict:
        """The LR range test of SGDM on the problem (tuning seed) and the rates read off it (cached per mode)."""
        key = (ctx.mode.name, ctx.mode.size)
        if key not in self._bounds:
            import optimlab
            from ..compare import lr_find

            res, sugg = lr_find(PROBLEM, "sgdm", seed=ctx.mode.tune_seeds[0], problem_kwargs=ctx.pkw(),
                                start_lr=1e-4, end_lr=10.0, num_steps=100)
            base, top = optimlab.suggest_clr_bounds(res)
            const = sugg.get("valley") or sugg.get("min_div10") or top / 3
            self._bounds[key] = {"constant": float(f"{const:.3g}"), "base_lr": float(f"{base:.3g}"),
                                 "max_lr": float(f"{top:.3g}"), "suggestions": sugg,
                                 "curve": {"lrs": list(res.lrs), "loss": list(res.smoothed_losses)}}
        return self._bounds[key]

    def _specs(self, ctx):
        b = self.bounds(ctx)
        steps = pick(ctx.mode, tiny=20, quick=600, full=1200)
        base, top = b["base_lr"], b["max_lr"]
        scheds = {"constant": None,
                  "cyclic": {"name": "cyclic", "kwargs": {"base_lr": base, "max_lr": top, "step_size_up": max(1, steps // 6)}},
                  "sgdr": {"name": "sgdr", "kwargs": {"base_lr": top, "T_0": max(1, steps // 3), "eta_min": base}},
                  "onecycle": {"name": "onecycle", "kwargs": {"max_lr": top, "total_steps": steps}}}
        return {k: [RunSpec(problem=PROBLEM, optimizer="sgdm", lr=b["constant"] if s is None else top, steps=steps,
                            eval_every=max(1, steps // 12), seed=i, problem_kwargs=ctx.pkw(), schedule=s,
                            probes=("lr",), probe_every=max(1, steps // 100))
                    for i in range(ctx.mode.seeds)] for k, s in scheds.items()}

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def analyze(self, ctx):
        runs = {k: ctx.all(v) for k, v in self._specs(ctx).items()}
        acc = {k: [metric(r, "test_acc_at_best") for r in rs] for k, rs in runs.items()}
        meds = [statistics.median([f for f in (final_loss(r) for r in rs) if f is not None] or [float("inf")])
                for rs in runs.values()]
        target = max(meds)
        steps = {k: [steps_or_cap(r, target) for r in rs] for k, rs in runs.items()}
        n = len(acc["constant"])

        def avg(d, i):
            vals = [d[s][i] for s in SCHEDULES]
            return None if any(v is None for v in vals) else float(np.mean(vals))

        effects = [paired_effect("test accuracy, mean of the 3 schedules - constant", [avg(acc, i) for i in range(n)],
                                 acc["constant"], units="accuracy", margin=0.005),
                   paired_effect("steps to target, constant - mean of the 3 schedules", steps["constant"],
                                 [avg(steps, i) for i in range(n)], units="steps", margin=0.05 * self._specs(ctx)["constant"][0].steps)]
        per = {s: paired_effect(f"test accuracy, {s} - constant", acc[s], acc["constant"], units="accuracy",
                                margin=0.005).to_dict() for s in SCHEDULES}
        b = self.bounds(ctx)
        return Verdict.from_effects(self, effects, details={"test_acc_at_best_val": acc, "steps_to_target": steps,
                                                            "target_loss": target, "per_schedule": per}, settings={
            "problem": PROBLEM, "optimizer": "sgdm (momentum 0.9)", "range test": "100 steps, 1e-4 to 10, exp",
            "constant lr": b["constant"], "cyclic bounds (suggest_clr_bounds)": [b["base_lr"], b["max_lr"]],
            "schedules": {k: v[0].schedule for k, v in self._specs(ctx).items()},
            "steps": self._specs(ctx)["constant"][0].steps,
            "target": "the largest median final loss of the four arms (a loss all reach); not reached = steps + 1",
            "margin": "0.5 accuracy points; 5% of the run for steps"})

    def figures(self, ctx, verdict, out_dir):
        b = self.bounds(ctx)
        fig, axes = new_figure(3)
        axes[0].plot(b["curve"]["lrs"], b["curve"]["loss"])
        for k, ls in (("base_lr", ":"), ("max_lr", "--"), ("constant", "-")):
            axes[0].axvline(b[k], color="k", ls=ls, lw=0.8, label=f"{k} {b[k]:.3g}")
        axes[0].set_xscale("log")
        axes[0].set_title("LR range test (SGDM)")
        axes[0].set_xlabel("lr")
        axes[0].legend(fontsize=7)
        for k, v in self._specs(ctx).items():
            rs = ctx.all(v)
            axes[1].plot(rs[0].probes.get("step", []), rs[0].probes.get("lr", []), label=k)
            band(axes[2], [r.train_loss for r in rs], k, k=10, log=True)
        axes[1].set_title("schedules")
        axes[1].set_xlabel("step")
        axes[1].legend(fontsize=7)
        axes[2].set_title("training loss")
        axes[2].set_xlabel("step")
        axes[2].legend(fontsize=7)
        return [save(fig, out_dir / "claim11_schedules.png")]
