"""Claims 5 (AdaBound: Adam early, SGD late) and 6 (SWATS switches from Adam to SGDM), with state probes."""

from __future__ import annotations

import math

import numpy as np

from ..spec import RunSpec
from .adam_sgdm import _setup, arms
from .base import Claim, metric, pick
from .figs import band, new_figure, save, strip
from .probes import ADABOUND, SWATS
from .verdict import Verdict, paired_effect


def _series(r, key):
    return np.array([np.nan if v is None else v for v in r.probes.get(key, [])], dtype=float)


class Claim5(Claim):
    id = 5
    title = "AdaBound behaves like Adam early and like SGD late"
    words = "AdaBound: Clip(eta/(sqrt(v_t)+eps)) with bounds 0.1 -/+ 0.1/((1-beta2)t(+1)): Adam early, SGD late."

    def _specs(self, ctx):
        steps = pick(ctx.mode, tiny=30, quick=800, full=2000)
        return [RunSpec(problem="digits_mlp", optimizer="adabound", lr=1e-3, steps=steps, eval_every=max(1, steps // 8),
                        seed=s, problem_kwargs=ctx.pkw(), optimizer_kwargs={"final_lr": 0.1, "gamma": 1e-3},
                        probes=(ADABOUND,), probe_every=max(1, steps // 40)) for s in range(ctx.mode.seeds)]

    def plan(self, ctx):
        return self._specs(ctx)

    def _early_late(self, r, key):
        ys = _series(r, f"{ADABOUND}.{key}")
        ys = ys[1:]  # step 0 has no state
        ok = ys[np.isfinite(ys)]
        return (float(ok[0]), float(ok[-1])) if len(ok) >= 2 else (None, None)

    def analyze(self, ctx):
        rs = ctx.all(self._specs(ctx))
        spread = [self._early_late(r, "log_spread") for r in rs]
        med = [self._early_late(r, "q50") for r in rs]
        final_lr = 0.1
        dist = [(abs(math.log10(a / final_lr)), abs(math.log10(b / final_lr))) if a and b else (None, None) for a, b in med]
        effects = [
            paired_effect("spread of per-parameter step sizes, log10(q90/q10): first probe - last", [a for a, _ in spread],
                          [b for _, b in spread], units="decades", margin=0.1),
            paired_effect("|log10(median step size / final_lr)|: first probe - last", [a for a, _ in dist],
                          [b for _, b in dist], units="decades", margin=0.1),
        ]
        spec = self._specs(ctx)[0]
        return Verdict.from_effects(self, effects, details={"log_spread_first_last": spread, "median_first_last": med},
                                    settings={"problem": "digits_mlp", "optimizer": "adabound", "lr": spec.lr,
                                              "final_lr": final_lr, "gamma": 1e-3, "steps": spec.steps,
                                              "probe_every": spec.probe_every,
                                              "step size": "clip(lr sqrt(1-b2^t)/(1-b1^t) / (sqrt(v_t)+eps), lower, upper)",
                                              "margin": "0.1 decades"})

    def figures(self, ctx, verdict, out_dir):
        rs = ctx.all(self._specs(ctx))
        fig, axes = new_figure(2)
        r = rs[0]
        x = np.array(r.probes["step"])
        for key, ls in (("lower", "k--"), ("upper", "k--"), ("q10", "C0-"), ("q50", "C1-"), ("q90", "C0-"),
                        ("raw_q10", "C2:"), ("raw_q90", "C2:")):
            y = _series(r, f"{ADABOUND}.{key}")
            axes[0].plot(x[len(x) - len(y):], y, ls, lw=1, label=key)  # a key first seen after step 0 starts later
        axes[0].set_yscale("log")
        axes[0].set_title("bounds and step-size quantiles (seed 0)")
        axes[0].set_xlabel("step")
        axes[0].legend(fontsize=7)
        ys = [_series(r, f"{ADABOUND}.log_spread") for r in rs]
        n = min(len(y) for y in ys)
        band(axes[1], [y[len(y) - n:] for y in ys], "log10(q90/q10)", x=x[len(x) - n:])
        axes[1].set_title("spread of the step sizes over time")
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("decades")
        return [save(fig, out_dir / "claim5_adabound.png")]


class Claim6(Claim):
    id = 6
    title = "SWATS switches from Adam to SGDM"
    words = "SWATS: begin with Adam (fast), end with SGDM; when to switch and at what learning rate."

    def _specs(self, ctx, lr, **kw):
        s = _setup(ctx.mode)["digits_mlp"]
        return [RunSpec(problem="digits_mlp", optimizer="swats", lr=lr, seed=i, problem_kwargs=ctx.pkw(),
                        optimizer_kwargs=kw, probes=(SWATS,), probe_every=max(1, s["steps"] // 50), **s)
                for i in range(ctx.mode.seeds)]

    def plan(self, ctx):
        a = arms(ctx)["digits_mlp"]
        specs = [s for t in a.values() for s in t.all_specs]
        lr = a["adam"].lr
        if lr is not None:
            specs += self._specs(ctx, lr) + self._specs(ctx, lr, switch_eps=1e-4)
        return specs

    def _switch(self, r):
        ss = [v for v in r.probes.get(f"{SWATS}.switch_step", []) if v is not None]
        lrs = [v for v in r.probes.get(f"{SWATS}.sgd_lr", []) if v is not None]
        return (ss[-1] if ss else None), (lrs[-1] if lrs else None)

    def analyze(self, ctx):
        a = arms(ctx)["digits_mlp"]
        lr = a["adam"].lr
        arms_runs = {"swats": ctx.all(self._specs(ctx, lr)), "swats(switch_eps=1e-4)":
                     ctx.all(self._specs(ctx, lr, switch_eps=1e-4)), "adam": ctx.all(a["adam"].specs),
                     "sgdm": ctx.all(a["sgdm"].specs)}
        switched = [1.0 if self._switch(r)[0] is not None else 0.0 for r in arms_runs["swats"]]
        acc = {k: [metric(r, "test_acc_at_best") for r in v] for k, v in arms_runs.items()}
        effects = [
            paired_effect("fraction of seeds where SWATS (paper's switch_eps) switched, minus 1/2", switched,
                          [0.5] * len(switched), units="fraction", margin=0.0),
            paired_effect("test accuracy, SWATS - Adam", acc["swats"], acc["adam"], units="accuracy", margin=0.005),
        ]
        details = {"switch": {k: [self._switch(r) for r in v] for k, v in arms_runs.items() if k.startswith("swats")},
                   "test_acc_at_best_val": acc, "sgdm_lr": a["sgdm"].lr}
        return Verdict.from_effects(self, effects[:1], details={**details, "secondary": effects[1].to_dict()},
                                    settings={"problem": "digits_mlp", "lr": lr, "lr from": "Adam's tuned lr (claim 1)",
                                              "steps": _setup(ctx.mode)["digits_mlp"]["steps"],
                                              "arms": list(arms_runs), "verdict on": "whether it switches; the "
                                              "accuracy vs Adam and the switch_eps=1e-4 arm are reported beside it"})

    def figures(self, ctx, verdict, out_dir):
        a = arms(ctx)["digits_mlp"]
        lr = a["adam"].lr
        fig, axes = new_figure(2)
        runs = {"swats": ctx.all(self._specs(ctx, lr)), "swats eps=1e-4": ctx.all(self._specs(ctx, lr, switch_eps=1e-4)),
                "adam": ctx.all(a["adam"].specs), "sgdm": ctx.all(a["sgdm"].specs)}
        for k, rs in runs.items():
            band(axes[0], [r.train_loss for r in rs], k, k=10, log=True)
        for k in ("swats", "swats eps=1e-4"):
            for r in runs[k]:
                s, _ = self._switch(r)
                if s is not None:
                    axes[0].axvline(s, color="k", lw=0.5, ls=":")
        axes[0].set_title("training loss (dotted: switch steps)")
        axes[0].legend(fontsize=7)
        strip(axes[1], {k: [metric(r, "test_acc_at_best") for r in rs] for k, rs in runs.items()}, "test accuracy")
        return [save(fig, out_dir / "claim6_swats.png")]
