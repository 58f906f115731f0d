"""Claims 1-3: Adam vs SGDM (speed, generalization, stability) on the digits MLP and CNN, tuned fairly."""

from __future__ import annotations

import statistics

from .base import Claim, Context, final_loss, metric, pick, spike_count, steps_or_cap, tune
from .figs import band, new_figure, save, strip
from .verdict import Verdict, paired_effect

PROBLEMS = ("digits_mlp", "digits_cnn")
PAIR = ("adam", "sgdm")


def _setup(mode):
    return {
        "digits_mlp": dict(steps=pick(mode, tiny=20, quick=400, full=800), eval_every=pick(mode, tiny=10, quick=50, full=50)),
        "digits_cnn": dict(steps=pick(mode, tiny=15, quick=300, full=600), eval_every=pick(mode, tiny=5, quick=50, full=50)),
    }


def arms(ctx: Context, optimizers=PAIR, problems=PROBLEMS):
    """``{problem: {optimizer: Tuned}}`` for the fair Adam-vs-SGDM comparison (shared by claims 1-3, 8, 14, 15)."""
    setup = _setup(ctx.mode)
    return {p: {o: tune(ctx, p, o, **setup[p]) for o in optimizers} for p in problems}


class _AdamSGDM(Claim):
    def plan(self, ctx):
        return [s for per in arms(ctx).values() for t in per.values() for s in t.all_specs]

    def _runs(self, ctx):
        out = {}
        for p, per in arms(ctx).items():
            out[p] = {o: ctx.all(t.specs) or [] for o, t in per.items()}
        return out

    def settings(self, ctx):
        a = arms(ctx)
        return {"problems": list(PROBLEMS), "optimizers": list(PAIR), "seeds": ctx.mode.seeds,
                "tuning": f"{ctx.mode.trials} log-spaced lrs per optimizer in its typical range, tuning seeds "
                          f"{list(ctx.mode.tune_seeds)}, chosen on validation accuracy; comparison on fresh seeds",
                "chosen_lr": {p: {o: t.lr for o, t in per.items()} for p, per in a.items()},
                "lrs_tried": {p: {o: sorted({s.lr for s in t.tune_specs}) for o, t in per.items()} for p, per in a.items()},
                "steps": {p: v["steps"] for p, v in _setup(ctx.mode).items()}}

    def _curves(self, ctx, out_dir, name, key="train_loss_step", ylabel="training loss", k=10):
        runs = self._runs(ctx)
        fig, axes = new_figure(len(runs))
        for ax, (p, per) in zip(axes, runs.items()):
            for o, rs in per.items():
                if key == "train_loss_step":
                    band(ax, [r.train_loss for r in rs], o, k=k, log=True)
                else:
                    band(ax, [r.evals.get(key) for r in rs], o, x=rs[0].evals["step"] if rs else None)
            ax.set_title(p)
            ax.set_xlabel("step")
            ax.set_ylabel(ylabel)
            ax.legend()
        return save(fig, out_dir / name)


class Claim1(_AdamSGDM):
    id = 1
    title = "Adam trains faster than SGDM"
    words = "Adam: fast training ... SGDM: ... but slow."

    def analyze(self, ctx):
        effects, details = [], {}
        for p, per in self._runs(ctx).items():
            finals = {o: [final_loss(r) for r in rs] for o, rs in per.items()}
            meds = [statistics.median([v for v in f if v is not None]) for f in finals.values() if any(v is not None for v in f)]
            target = max(meds) if meds else float("inf")
            steps = {o: [steps_or_cap(r, target) for r in rs] for o, rs in per.items()}
            cap = _setup(ctx.mode)[p]["steps"]
            effects.append(paired_effect(f"{p}: steps to target, SGDM - Adam", steps["sgdm"], steps["adam"],
                                         units="steps", margin=0.05 * cap))
            details[p] = {"target_loss": target, "steps_to_target": steps, "final_train_loss": finals,
                          "censored_at": cap + 1}
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

    def analyze(self, ctx):
        effects, details = [], {}
        for p, per in self._runs(ctx).items():
            acc = {o: [metric(r, "test_acc_at_best") for r in rs] for o, rs in per.items()}
            gap = {o: [metric(r, "gap") for r in rs] for o, rs in per.items()}
            effects.append(paired_effect(f"{p}: test accuracy, SGDM - Adam", acc["sgdm"], acc["adam"],
                                         units="accuracy", margin=0.005))
            effects.append(paired_effect(f"{p}: generalization gap (val - train loss), Adam - SGDM", gap["adam"],
                                         gap["sgdm"], units="loss", margin=0.005))
            details[p] = {"test_acc_at_best_val": acc, "gap": gap}
        return Verdict.from_effects(self, effects, details=details, settings={
            **self.settings(ctx), "margin": "0.5 accuracy points; 0.005 loss for the gap"})

    def figures(self, ctx, verdict, out_dir):
        runs = self._runs(ctx)
        fig, axes = new_figure(2 * len(runs), w=3.2)
        for i, (p, per) in enumerate(runs.items()):
            strip(axes[2 * i], {o: [metric(r, "test_acc_at_best") for r in rs] for o, rs in per.items()}, "test accuracy")
            axes[2 * i].set_title(p)
            strip(axes[2 * i + 1], {o: [metric(r, "gap") for r in rs] for o, rs in per.items()}, "val - train loss")
            axes[2 * i + 1].set_title(p + " gap")
        return [save(fig, out_dir / "claim2_generalization.png"),
                self._curves(ctx, out_dir, "claim2_val_loss.png", key="val_loss", ylabel="validation loss")]


class Claim3(_AdamSGDM):
    id = 3
    title = "Adam is less stable than SGDM"
    words = "Adam: ... unstable. SGDM: stable."

    def analyze(self, ctx):
        effects, details = [], {}
        for p, per in self._runs(ctx).items():
            val = {o: [metric(r, "val_loss") for r in rs] for o, rs in per.items()}
            spikes = {o: [spike_count(r.train_loss) for r in rs] for o, rs in per.items()}
            effects.append(paired_effect(f"{p}: spread of final val loss over seeds (std), Adam - SGDM",
                                         val["adam"], val["sgdm"], units="loss", stat="std"))
            effects.append(paired_effect(f"{p}: loss spikes per run, Adam - SGDM", spikes["adam"], spikes["sgdm"],
                                         units="spikes", margin=0.5))
            details[p] = {"final_val_loss": val, "spikes": spikes}
        return Verdict.from_effects(self, effects, details=details, settings={
            **self.settings(ctx),
            "spike": "a step whose loss first exceeds 2x the median of the previous 20 steps, and that median by 5% "
                     "of the initial loss",
            "margin": "0.5 spikes per run; none for the spread"})

    def figures(self, ctx, verdict, out_dir):
        runs = self._runs(ctx)
        fig, axes = new_figure(len(runs))
        for ax, (p, per) in zip(axes, runs.items()):
            for o, rs in per.items():
                for j, r in enumerate(rs):
                    ax.plot(r.train_loss, lw=0.6, alpha=0.6, color="C0" if o == "adam" else "C1",
                            label=o if j == 0 else None)
            ax.set_yscale("log")
            ax.set_title(f"{p}: every seed")
            ax.set_xlabel("step")
            ax.legend()
        return [save(fig, out_dir / "claim3_seeds.png")]
