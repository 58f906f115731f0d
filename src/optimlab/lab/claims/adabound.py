"""Mechanism 5: AdaBound's clipped step sizes go from Adam-like (spread out) to SGD-like (one rate).

The bounds shrink towards ``final_lr`` by construction, so this cannot fail: a demonstration of the
mechanism, labelled shown / not shown, not counted as a reproduced claim.
"""

from __future__ import annotations

import math

import numpy as np

from ..spec import RunSpec
from .base import Claim, pick
from .figs import band, new_figure, save
from .probes import ADABOUND
from .verdict import Verdict, paired_effect


def _series(r, key):
    return np.array([np.nan if v is None else v for v in r.probes.get(key, [])], dtype=float)


class Claim5(Claim):
    id = 5
    title = "AdaBound behaves like Adam early and like SGD late"
    kind = "mechanism"
    changes = "v2: labelled a mechanism demonstration (the bounds shrink by construction), not a claim"
    words = "AdaBound: Clip(eta/(sqrt(v_t)+eps)) with bounds 0.1 -/+ 0.1/((1-beta2)t(+1)): Adam early, SGD late."

    def _specs(self, ctx):
        steps = pick(ctx.mode, tiny=30, quick=400, full=2000)
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
