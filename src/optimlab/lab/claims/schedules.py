"""Claim 11: learning-rate schedules (cyclical, SGDR, one-cycle) help SGDM, against a constant rate tuned alike.

Every arm (constant, cyclic, SGDR, one-cycle) is SGDM tuned with the same protocol and budget over its
(peak) learning rate and momentum; the schedules' shapes are fixed relative to the peak: cyclic
triangular between peak/10 and the peak with 3 cycles (Smith), SGDR cosine restarts every third of the
run down to peak/100, one-cycle to the peak and down (Smith & Topin).  The LR range test of SGDM is run
and shown (its suggested rate is the figure's reference), but every arm searches the same range.
Effects at the end of training: test score (mean of the schedules - constant) and training loss
(constant - mean of the schedules).  Workloads: MNIST-1D MLP; a user's problem alone.
"""

from __future__ import annotations

import numpy as np

from .adam_sgdm import tuning_text
from .base import Claim, describe, final_loss, test_score, tune, workloads
from .figs import band, new_figure, save
from .verdict import Verdict, paired_effect

PROBLEMS = ("mnist1d_mlp",)
SCHEDULES = ("cyclic", "sgdr", "onecycle")


def schedule_fn(name: str, steps: int):
    """``peak lr -> schedule dict`` of arm ``name`` for a run of ``steps`` steps (None: constant)."""
    if name == "constant":
        return None

    def make(lr):
        if name == "cyclic":
            return {"name": "cyclic", "kwargs": {"base_lr": lr / 10, "max_lr": lr, "step_size_up": max(1, steps // 6)}}
        if name == "sgdr":
            return {"name": "sgdr", "kwargs": {"base_lr": lr, "T_0": max(1, steps // 3), "eta_min": lr / 100}}
        return {"name": "onecycle", "kwargs": {"max_lr": lr, "total_steps": steps}}

    return make


class Claim11(Claim):
    id = 11
    title = "Learning-rate scheduling helps SGDM"
    words = ("SGD with one fixed rate is too slow when it is small and ends badly when it is large: cyclical LR, SGDR and "
             "one-cycle, with bounds from the LR range test.")
    user_applicable = True
    changes = ("v2: the constant arm is tuned exactly like the schedules (same budget over peak lr and momentum) "
               "instead of taking the range test's suggestion; judged at the end of training on MNIST-1D")

    def __init__(self):
        self._range: dict = {}

    def _arms(self, ctx):
        return {w: {k: tune(ctx, w.problem, "sgdm", problem_kwargs=w.pkw, schedule=schedule_fn(k, w.steps),
                            probes=("lr",), probe_every=max(1, w.steps // 100), **w.run())
                    for k in ("constant",) + SCHEDULES} for w in workloads(ctx, PROBLEMS)}

    def range_test(self, ctx, w) -> dict:
        """SGDM's LR range test on the workload (shown for reference; skipped in tiny mode)."""
        key = (ctx.mode.name, w)
        if ctx.mode.name == "tiny":
            return {"suggestions": {}, "lrs": [], "loss": []}
        if key not in self._range:
            from ..compare import lr_find

            res, sugg = lr_find(w.problem, "sgdm", seed=ctx.mode.tune_seeds[0], problem_kwargs=ctx.pkw(**w.pkw),
                                start_lr=1e-4, end_lr=10.0, num_steps=100)
            self._range[key] = {"suggestions": sugg, "lrs": list(res.lrs), "loss": list(res.smoothed_losses)}
        return self._range[key]

    def plan(self, ctx):
        return [s for per in self._arms(ctx).values() for t in per.values() for s in t.all_specs]

    def analyze(self, ctx):
        effects, details = [], {}
        a = self._arms(ctx)
        for w, per in a.items():
            runs = {k: ctx.all(t.specs) for k, t in per.items()}
            test = {k: [test_score(r) for r in rs] for k, rs in runs.items()}
            loss = {k: [final_loss(r) for r in rs] for k, rs in runs.items()}

            def avg(d, i):
                vals = [d[s][i] for s in SCHEDULES]
                return None if any(v is None for v in vals) else float(np.mean(vals))

            n = len(test["constant"])
            effects.append(paired_effect(f"{w.label}: test score, mean of the 3 schedules - constant",
                                         [avg(test, i) for i in range(n)], test["constant"], units="test score",
                                         margin=0.005))
            effects.append(paired_effect(f"{w.label}: final training loss, constant - mean of the 3 schedules",
                                         loss["constant"], [avg(loss, i) for i in range(n)], units="loss", margin=0.005))
            details[w.label] = {"test_score_at_end": test, "final_train_loss": loss,
                                "per schedule": {s: paired_effect(f"test score, {s} - constant", test[s], test["constant"],
                                                                  margin=0.005).to_dict() for s in SCHEDULES},
                                "range test suggestions": self.range_test(ctx, w)["suggestions"]}
        return Verdict.from_effects(self, effects, details=details, settings={
            "problems": [w.label for w in a], "optimizer": "sgdm", "arms": ["constant", *SCHEDULES],
            "tuning": tuning_text(ctx) + " (the lr is the schedule's peak)",
            "shapes": "cyclic: triangular peak/10..peak, 3 cycles; sgdr: restarts every third, down to peak/100; "
                      "onecycle: max_lr = peak",
            "chosen": {w.label: describe(per) for w, per in a.items()},
            "steps": {w.label: w.steps for w in a}, "margin": "0.005 test score; 0.005 loss"})

    def figures(self, ctx, verdict, out_dir):
        a = self._arms(ctx)
        fig, axes = new_figure(3 * len(a))
        for j, (w, per) in enumerate(a.items()):
            rt = self.range_test(ctx, w)
            ax = axes[3 * j]
            ax.plot(rt["lrs"], rt["loss"])
            for k, v in rt["suggestions"].items():
                if v:
                    ax.axvline(v, color="k", ls=":", lw=0.8)
            ax.set_xscale("log")
            ax.set_title(f"{w.label}: LR range test (SGDM; dotted: suggestions)", fontsize=8)
            for k, t in per.items():
                rs = ctx.all(t.specs)
                axes[3 * j + 1].plot(rs[0].probes.get("step", []), rs[0].probes.get("lr", []), label=k)
                band(axes[3 * j + 2], [r.train_loss for r in rs], k, k=10, log=True)
            axes[3 * j + 1].set_title("tuned schedules")
            axes[3 * j + 1].legend(fontsize=7)
            axes[3 * j + 2].set_title("training loss")
            axes[3 * j + 2].legend(fontsize=7)
        return [save(fig, out_dir / "claim11_schedules.png")]
