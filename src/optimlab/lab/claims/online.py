"""Mechanism 4: Adam can fail to converge on Reddi et al.'s online problem; AMSGrad and AMSBound converge.

A constructed counterexample, valid at its beta2 = 1/(1 + C^2): a demonstration of the mechanism, labelled
shown / not shown, not counted as a reproduced claim.
"""

from __future__ import annotations

from ..spec import RunSpec
from .base import Claim, pick
from .figs import band, new_figure, save
from .verdict import Verdict, paired_effect

C = 3.0
BETAS = [0.0, 1.0 / (1.0 + C * C)]  # the paper's setting for the counterexample: beta1 = 0, beta2 = 1/(1+C^2)
ARMS = ("adam", "amsgrad", "amsbound")


class Claim4(Claim):
    id = 4
    title = "Adam can fail to converge; AMSGrad and AMSBound converge"
    kind = "mechanism"
    changes = "v2: labelled a mechanism demonstration (a construction valid only at its beta2), not a claim"
    words = ("Adam: ... possibly non-convergent. AMSGrad (Reddi et al.): v_t = max(v_{t-1}, v_t) reduces the "
             "influence of non-informative gradients; AMSBound likewise.")

    def _specs(self, ctx, variant):
        steps = pick(ctx.mode, tiny=300, quick=2000, full=10000)
        seeds = range(ctx.mode.seeds) if variant == "stochastic" else [0]
        return {o: [RunSpec(problem="reddi", optimizer=o, lr=0.01, steps=steps, eval_every=max(1, steps // 50), seed=s,
                            optimizer_kwargs={"betas": BETAS}, problem_kwargs=ctx.pkw(C=C, variant=variant))
                    for s in seeds] for o in ARMS}

    def plan(self, ctx):
        return [s for v in ("stochastic", "online") for specs in self._specs(ctx, v).values() for s in specs]

    def analyze(self, ctx):
        xs = {o: [r.final.get("x") if r.status == "ok" else None for r in ctx.all(specs)]
              for o, specs in self._specs(ctx, "stochastic").items()}
        online = {o: ctx.all(specs)[0].final.get("x") for o, specs in self._specs(ctx, "online").items()}
        zeros = [0.0] * len(xs["adam"])
        effects = [
            paired_effect("final x of Adam (optimum -1; > 0 is the wrong half)", xs["adam"], zeros, units="x",
                          margin=0.1),
            paired_effect("final x, Adam - AMSGrad", xs["adam"], xs["amsgrad"], units="x", margin=0.1),
            paired_effect("final x, Adam - AMSBound", xs["adam"], xs["amsbound"], units="x", margin=0.1),
        ]
        return Verdict.from_effects(self, effects, details={"final_x_stochastic": xs, "final_x_online": online},
                                    settings={"problem": f"reddi (C={C}), stochastic variant over seeds; online "
                                              "variant (deterministic, one run) shown too",
                                              "optimizers": list(ARMS), "lr": 0.01, "betas": BETAS,
                                              "steps": self._specs(ctx, "online")["adam"][0].steps,
                                              "margin": "0.1 in x"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(2)
        for ax, v in zip(axes, ("online", "stochastic")):
            for o, specs in self._specs(ctx, v).items():
                rs = ctx.all(specs)
                band(ax, [r.evals.get("x") for r in rs], o, x=rs[0].evals["step"])
            ax.axhline(-1, color="k", lw=0.6, ls=":")
            ax.set_ylim(-1.1, 1.1)
            ax.set_title(f"Reddi et al. ({v}): x_t, optimum -1")
            ax.set_xlabel("step")
            ax.set_ylabel("x_t")
            ax.legend()
        return [save(fig, out_dir / "claim4_reddi.png")]
