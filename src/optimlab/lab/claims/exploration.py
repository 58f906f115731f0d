"""Claims 12 (gradient noise helps a deep narrow network train) and 13 (curriculum: easy first)."""

from __future__ import annotations

from ..spec import RunSpec
from .base import Claim, final_loss, metric, pick, test_score, tune, workload
from .tuning import Knob
from .figs import band, new_figure, save, strip
from .verdict import Verdict, paired_effect

NOISE_ETA = Knob("eta", 0.01, 1.0)  # Neelakantan et al.'s sigma_t^2 = eta/(1+t)^gamma, eta from their grid {0.01, 0.3, 1}
GAMMA = 0.55


class Claim12(Claim):
    id = 12
    title = "Gradient noise helps a deep, narrow network train"
    words = "More exploration: gradient noise (Neelakantan et al., 2015): g <- g + N(0, sigma_t^2), sigma_t = c/(1+t)^gamma."
    changes = ("v2: judged at the end of training (final training loss, diverged = initial loss; final test score) "
               "instead of a transient dip below a target; both arms tuned alike (lr, momentum; the noise scale eta "
               "is the noisy arm's own knob)")

    def _arms(self, ctx):
        w = workload(ctx, "deep_mlp")
        return w, {"sgdm": tune(ctx, w.problem, "sgdm", problem_kwargs=w.pkw, **w.run()),
                   "noisy_sgdm": tune(ctx, w.problem, "noisy_sgdm", problem_kwargs=w.pkw, fixed={"gamma": GAMMA},
                                      extra_knobs=(NOISE_ETA,), **w.run())}

    def plan(self, ctx):
        return [s for t in self._arms(ctx)[1].values() for s in t.all_specs]

    def analyze(self, ctx):
        w, arms = self._arms(ctx)
        runs = {k: ctx.all(t.specs) for k, t in arms.items()}
        loss = {k: [final_loss(r) for r in rs] for k, rs in runs.items()}
        test = {k: [test_score(r) for r in rs] for k, rs in runs.items()}
        effects = [paired_effect("final training loss, no noise - noise", loss["sgdm"], loss["noisy_sgdm"], units="loss",
                                 margin=0.01),
                   paired_effect("test score at the end, noise - no noise", test["noisy_sgdm"], test["sgdm"],
                                 units="test score", margin=0.005)]
        return Verdict.from_effects(self, effects, details={"final_train_loss": loss, "test_score_at_end": test},
                                    settings={"problem": f"deep_mlp ({'16 x 24' if ctx.mode.size == 'default' else '6 x 16'}"
                                              " ReLU, no normalisation, digits)", "steps": w.steps,
                                              "arms": {k: t.describe() for k, t in arms.items()},
                                              "noise": f"sigma_t^2 = eta/(1+t)^{GAMMA}, eta tuned in [0.01, 1]",
                                              "diverged run": "counts as its initial loss", "seeds": ctx.mode.seeds,
                                              "margin": "0.01 loss; 0.005 test score"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(2)
        runs = {k: ctx.all(t.specs) for k, t in self._arms(ctx)[1].items()}
        for k, rs in runs.items():
            for j, r in enumerate(rs):
                axes[0].plot(r.train_loss, lw=0.5, alpha=0.6, color="C0" if k == "sgdm" else "C1", label=k if j == 0 else None)
        axes[0].set_yscale("log")
        axes[0].set_title("deep narrow MLP: every seed (each arm tuned)")
        axes[0].set_xlabel("step")
        axes[0].legend()
        strip(axes[1], {k: [final_loss(r) for r in rs] for k, rs in runs.items()}, "final training loss")
        return [save(fig, out_dir / "claim12_noise.png")]


ORDERS = ("easy", "random", "hard")


class Claim13(Claim):
    id = 13
    title = "Curriculum learning: easy examples first"
    changes = "v2: the data (and the test split) are the same for every seed; t intervals with Holm's correction"
    words = "Curriculum learning (Bengio et al., ICML'09): train on easy data first, then hard data; may improve generalization."

    def _specs(self, ctx):
        steps = pick(ctx.mode, tiny=60, quick=800, full=1600)
        return {o: [RunSpec(problem="curriculum", optimizer="sgdm", lr=0.05, steps=steps, eval_every=max(1, steps // 16),
                            seed=s, problem_kwargs=ctx.pkw(order=o)) for s in range(ctx.mode.seeds)] for o in ORDERS}

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def analyze(self, ctx):
        acc = {o: [metric(r, "test_acc_at_best") for r in ctx.all(v)] for o, v in self._specs(ctx).items()}
        effects = [paired_effect("test accuracy, easy-first - random", acc["easy"], acc["random"], units="accuracy",
                                 margin=0.005),
                   paired_effect("test accuracy, easy-first - hard-first", acc["easy"], acc["hard"], units="accuracy",
                                 margin=0.005)]
        spec = self._specs(ctx)["easy"][0]
        return Verdict.from_effects(self, effects, details={"test_acc_at_best_val": acc}, settings={
            "problem": "curriculum (Gaussian classes, per-example noise = difficulty)", "orders": list(ORDERS),
            "pacing": "the problem's default (start with the easiest 20%, grow linearly)",
            "optimizer": "sgdm", "lr": spec.lr, "steps": spec.steps, "margin": "0.5 accuracy points"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(2)
        for o, v in self._specs(ctx).items():
            rs = ctx.all(v)
            band(axes[0], [r.evals.get("val_acc") for r in rs], o, x=rs[0].evals["step"])
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("validation accuracy")
        axes[0].legend()
        strip(axes[1], {o: [metric(r, "test_acc_at_best") for r in ctx.all(v)] for o, v in self._specs(ctx).items()},
              "test accuracy")
        return [save(fig, out_dir / "claim13_curriculum.png")]
