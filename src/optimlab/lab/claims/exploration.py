"""Claims 12 (gradient noise helps a deep narrow network train) and 13 (curriculum: easy first)."""

from __future__ import annotations

from ..spec import RunSpec
from .base import Claim, metric, pick
from .figs import band, new_figure, save, strip
from .verdict import Verdict, paired_effect

NOISE = {"eta": 0.3, "gamma": 0.55}  # Neelakantan et al.'s sigma_t^2 = eta/(1+t)^gamma, eta from their grid {0.01, 0.3, 1}
TARGET = 1.5  # training loss (chance level on 10 digits is ln 10 = 2.30)


class Claim12(Claim):
    id = 12
    title = "Gradient noise helps a deep, narrow network train"
    words = "More exploration: gradient noise (Neelakantan et al., 2015): g <- g + N(0, sigma_t^2), sigma_t = c/(1+t)^gamma."

    def _specs(self, ctx):
        steps = pick(ctx.mode, tiny=30, quick=600, full=1500)
        seeds = pick(ctx.mode, tiny=2, quick=8, full=20)
        common = dict(problem="deep_mlp", lr=0.01, steps=steps, eval_every=max(1, steps // 5), problem_kwargs=ctx.pkw(),
                      target_loss=TARGET)
        return {"sgdm": [RunSpec(optimizer="sgdm", seed=s, **common) for s in range(seeds)],
                "noisy_sgdm": [RunSpec(optimizer="noisy_sgdm", seed=s, optimizer_kwargs=dict(NOISE), **common)
                               for s in range(seeds)]}

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def analyze(self, ctx):
        runs = {k: ctx.all(v) for k, v in self._specs(ctx).items()}
        reached = {k: [1.0 if r.summary.get("steps_to_target") is not None else 0.0 for r in rs] for k, rs in runs.items()}
        loss = {k: [r.summary.get("final_train_loss") if r.status == "ok" else None for r in rs] for k, rs in runs.items()}
        effects = [paired_effect(f"fraction of seeds reaching training loss {TARGET:g}, noise - no noise",
                                 reached["noisy_sgdm"], reached["sgdm"], units="fraction")]
        spec = self._specs(ctx)["sgdm"][0]
        return Verdict.from_effects(self, effects, details={"reached": reached, "final_train_loss": loss,
                                                            "secondary": paired_effect(
                                                                "final training loss, no noise - noise", loss["sgdm"],
                                                                loss["noisy_sgdm"], units="loss").to_dict()},
                                    settings={"problem": f"deep_mlp ({'16 x 24' if ctx.mode.size == 'default' else '6 x 16'}"
                                              " ReLU, no normalisation)", "optimizer": "sgdm, lr 0.01, momentum 0.9",
                                              "noise": NOISE, "target": TARGET, "steps": spec.steps,
                                              "seeds": len(reached["sgdm"]), "pairing": "same seed = same init and batches"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(2)
        runs = {k: ctx.all(v) for k, v in self._specs(ctx).items()}
        for k, rs in runs.items():
            for j, r in enumerate(rs):
                axes[0].plot(r.train_loss, lw=0.5, alpha=0.6, color="C0" if k == "sgdm" else "C1", label=k if j == 0 else None)
        axes[0].axhline(TARGET, color="k", ls=":")
        axes[0].set_title("deep narrow MLP: every seed")
        axes[0].set_xlabel("step")
        axes[0].legend()
        strip(axes[1], {k: [r.summary.get("final_train_loss") for r in rs] for k, rs in runs.items()}, "final training loss")
        return [save(fig, out_dir / "claim12_noise.png")]


ORDERS = ("easy", "random", "hard")


class Claim13(Claim):
    id = 13
    title = "Curriculum learning: easy examples first"
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
