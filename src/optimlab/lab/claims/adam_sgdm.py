"""Claims 1-3: Adam vs SGDM (speed, generalization, stability), both tuned with the same protocol.

Workloads: quick: MNIST-1D MLP (published baselines leave room for generalization gaps) and Wilson et
al.'s construction (where adaptive methods are proven to generalize worse); full adds the MNIST-1D
CNN, Fashion-MNIST and the char-level Transformer.  On a user's problem: that problem alone.
"""

from __future__ import annotations

import statistics

from .base import Claim, Context, describe, final_loss, metric, spike_count, steps_or_cap, test_score, tune, workloads
from .figs import band, new_figure, save, strip
from .verdict import Verdict, paired_effect

PROBLEMS = ("mnist1d_mlp", "wilson", "mnist1d_cnn", "fashion_mnist", "charlm")
PAIR = ("adam", "sgdm")


def arms(ctx: Context, optimizers=PAIR, problems=PROBLEMS) -> dict:
    """``{workload: {optimizer: Tuned}}``: the tuned Adam-vs-SGDM arms (shared by claims 1-3, 6, 14, 15)."""
    return {w: {o: tune(ctx, w.problem, o, problem_kwargs=w.pkw, **w.run()) for o in optimizers}
            for w in workloads(ctx, problems)}


def tuning_text(ctx: Context) -> str:
    n1, n2 = ctx.mode.trials
    return (f"{n1}+{n2} quasi-random trials per optimizer over lr and its usual knobs (momentum; beta1, beta2, eps), "
            f"stage 2 extends the lr range by a decade when stage 1's best is on its edge; tuning seeds "
            f"{list(ctx.mode.tune_seeds)}, chosen on the validation metric at the end of training; comparison on "
            f"fresh seeds 0..{ctx.mode.seeds - 1}; the data split is the same for all seeds")


class _AdamSGDM(Claim):
    user_applicable = True

    def plan(self, ctx):
        return [s for per in arms(ctx).values() for t in per.values() for s in t.all_specs]

    def _runs(self, ctx):
        return {w: {o: ctx.all(t.specs) or [] for o, t in per.items()} for w, per in arms(ctx).items()}

    def settings(self, ctx):
        a = arms(ctx)
        return {"problems": [w.label for w in a], "optimizers": list(PAIR), "seeds": ctx.mode.seeds,
                "tuning": tuning_text(ctx),
                "chosen": {w.label: describe(per) for w, per in a.items()},
                "steps": {w.label: w.steps for w in a}}

    def _curves(self, ctx, out_dir, name, key="train_loss_step", ylabel="training loss", k=10):
        runs = self._runs(ctx)
        fig, axes = new_figure(len(runs))
        for ax, (w, per) in zip(axes, runs.items()):
            for o, rs in per.items():
                if key == "train_loss_step":
                    band(ax, [r.train_loss for r in rs], o, k=k, log=True)
                else:
                    band(ax, [r.evals.get(key) for r in rs], o, x=rs[0].evals["step"] if rs else None)
            ax.set_title(w.label)
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.legend()
        return save(fig, out_dir / name)


class Claim1(_AdamSGDM):
    id = 1
    title = "Adam trains faster than SGDM"
    words = "Adam: fast training ... SGDM: ... but slow."
    changes = ("v2: MNIST-1D and Wilson's construction (full: + MNIST-1D CNN, Fashion-MNIST, char-LM) instead of "
               "digits; lr, momentum/betas/eps tuned with 3 tuning seeds; t intervals with Holm's correction")

    def analyze(self, ctx):
        effects, details = [], {}
        for w, per in self._runs(ctx).items():
            finals = {o: [final_loss(r) for r in rs] for o, rs in per.items()}
            meds = [statistics.median([v for v in f if v is not None]) for f in finals.values() if any(v is not None for v in f)]
            target = max(meds) if meds else float("inf")
            steps = {o: [steps_or_cap(r, target) for r in rs] for o, rs in per.items()}
            effects.append(paired_effect(f"{w.label}: steps to target, SGDM - Adam", steps["sgdm"], steps["adam"],
                                         units="steps", margin=0.05 * w.steps))
            details[w.label] = {"target_loss": target, "steps_to_target": steps, "final_train_loss": finals,
                                "censored_at": w.steps + 1}
        return Verdict.from_effects(self, effects, details=details, settings={
            **self.settings(ctx), "target": "the larger of the two optimizers' median final training loss "
                                            "(a loss both reach); running mean of 10 steps; not reached = steps + 1",
            "margin": "5% of the run length"})

    def figures(self, ctx, verdict, out_dir):
        return [self._curves(ctx, out_dir, "claim1_loss.png")]


class Claim2(_AdamSGDM):
    id = 2
    title = "SGDM generalizes better than Adam"
    words = "Adam: ... large generalization gap. SGDM: ... small generalization gap."
    changes = ("v2: workloads with room for a generalization gap (MNIST-1D, Wilson's construction; full: + CNNs, "
               "char-LM), test metric at the end of training on a test split fixed across seeds, full tuning")

    def analyze(self, ctx):
        effects, details = [], {}
        for w, per in self._runs(ctx).items():
            test = {o: [test_score(r) for r in rs] for o, rs in per.items()}
            gap = {o: [metric(r, "gap") for r in rs] for o, rs in per.items()}
            effects.append(paired_effect(f"{w.label}: test metric, SGDM - Adam", test["sgdm"], test["adam"],
                                         units="test score", margin=0.005))
            effects.append(paired_effect(f"{w.label}: generalization gap (val - train loss), Adam - SGDM", gap["adam"],
                                         gap["sgdm"], units="loss", margin=0.005))
            details[w.label] = {"test_score_at_end": test, "gap": gap}
        return Verdict.from_effects(self, effects, details=details, settings={
            **self.settings(ctx), "test score": "the test counterpart of the validation metric at the end of training "
                                                "(accuracy; minus the loss for the char-LM)",
            "margin": "0.005 (half an accuracy point) for the test score; 0.005 loss for the gap"})

    def figures(self, ctx, verdict, out_dir):
        runs = self._runs(ctx)
        fig, axes = new_figure(2 * len(runs), w=3.2)
        for i, (w, per) in enumerate(runs.items()):
            strip(axes[2 * i], {o: [test_score(r) for r in rs] for o, rs in per.items()}, "test score")
            axes[2 * i].set_title(w.label, fontsize=8)
            strip(axes[2 * i + 1], {o: [metric(r, "gap") for r in rs] for o, rs in per.items()}, "val - train loss")
            axes[2 * i + 1].set_title(w.label + " gap", fontsize=8)
        return [save(fig, out_dir / "claim2_generalization.png"),
                self._curves(ctx, out_dir, "claim2_val_loss.png", key="val_loss", ylabel="validation loss")]


class Claim3(_AdamSGDM):
    id = 3
    title = "Adam is less stable than SGDM"
    words = "Adam: ... unstable. SGDM: stable."
    changes = ("v2: harder workloads; the spread over seeds is compared with the Pitman-Morgan interval for paired "
               "variances (its coverage is tested) instead of a bootstrap; Holm's correction across parts")

    def analyze(self, ctx):
        effects, details = [], {}
        for w, per in self._runs(ctx).items():
            test = {o: [test_score(r) for r in rs] for o, rs in per.items()}
            spikes = {o: [spike_count(r.train_loss) for r in rs] for o, rs in per.items()}
            effects.append(paired_effect(f"{w.label}: spread of the test score over seeds, log10 sd(Adam)/sd(SGDM)",
                                         test["adam"], test["sgdm"], stat="spread"))
            effects.append(paired_effect(f"{w.label}: loss spikes per run, Adam - SGDM", spikes["adam"], spikes["sgdm"],
                                         units="spikes", margin=0.5))
            details[w.label] = {"test_score_at_end": test, "spikes": spikes}
        return Verdict.from_effects(self, effects, details=details, settings={
            **self.settings(ctx),
            "spike": "a step whose loss first exceeds 2x the median of the previous 20 steps, and that median by 5% "
                     "of the initial loss",
            "margin": "0.5 spikes per run; none for the spread"})

    def figures(self, ctx, verdict, out_dir):
        runs = self._runs(ctx)
        fig, axes = new_figure(len(runs))
        for ax, (w, per) in zip(axes, runs.items()):
            for o, rs in per.items():
                for j, r in enumerate(rs):
                    ax.plot(r.train_loss, lw=0.6, alpha=0.6, color="C0" if o == "adam" else "C1",
                            label=o if j == 0 else None)
            ax.set_yscale("log")
            ax.set_title(f"{w.label}: every seed")
            ax.set_xlabel("step")
            ax.legend()
        return [save(fig, out_dir / "claim3_seeds.png")]
