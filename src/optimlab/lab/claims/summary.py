"""Claims 14 (no universal optimizer) and 15 (the lecture's summary table, measured for every optimizer)."""

from __future__ import annotations

import statistics

import numpy as np

from .adam_sgdm import _setup
from .base import Claim, final_loss, metric, pick, score, spike_count, steps_or_cap, tune
from .figs import new_figure, save
from .nag import tour_optimizers
from .verdict import REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, Effect, Verdict, paired_effect

ADVICE = {"digits_cnn": ("vision", "sgdm"), "sequence": ("NLP / sequences", "adam"), "gan": ("GANs", "adam")}
RANK_OPTIMIZERS = ("sgdm", "adam", "adamw", "radam", "rmsprop")


def _rank_setup(mode):
    s = dict(_setup(mode))
    s["sequence"] = dict(steps=pick(mode, tiny=15, quick=200, full=600), eval_every=pick(mode, tiny=5, quick=50, full=50))
    s["gan"] = dict(steps=pick(mode, tiny=20, quick=600, full=1500), eval_every=pick(mode, tiny=10, quick=100, full=100))
    return s


class Claim14(Claim):
    id = 14
    title = "No universal optimizer: the best one depends on the problem"
    words = ("Universal optimizer? No such thing: the best optimizer depends on the task. Advice: SGDM for computer "
             "vision; Adam for NLP, speech synthesis, GANs, reinforcement learning.")

    def _arms(self, ctx):
        s = _rank_setup(ctx.mode)
        return {p: {o: tune(ctx, p, o, **s[p]) for o in RANK_OPTIMIZERS} for p in ADVICE}

    def plan(self, ctx):
        return [x for per in self._arms(ctx).values() for t in per.values() for x in t.all_specs]

    def _scores(self, ctx):
        return {p: {o: [score(r) for r in ctx.all(t.specs)] for o, t in per.items()} for p, per in self._arms(ctx).items()}

    def analyze(self, ctx):
        S = self._scores(ctx)
        winners, gaps = {}, {}
        for p, per in S.items():
            means = {o: np.mean([v if v is not None else -np.inf for v in vals]) for o, vals in per.items()}
            w = max(means, key=means.get)
            winners[p] = w
            for o in per:
                if o != w:
                    gaps[(p, o)] = paired_effect(f"{p}: score of {w} - {o}", per[w], per[o], units="score")
        beaten = {o: [p for p in S if (p, o) in gaps and gaps[(p, o)].verdict == REPRODUCED] for o in RANK_OPTIMIZERS}
        universal = [o for o in RANK_OPTIMIZERS if all(winners[p] == o for p in S)
                     and all(g.verdict == REPRODUCED for (p, x), g in gaps.items())]
        if all(beaten[o] for o in RANK_OPTIMIZERS):
            verdict = REPRODUCED
        elif universal:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE

        def worst_gap(o):
            gs = [gaps[(p, o)] for p in S if (p, o) in gaps]
            return max(gs, key=lambda g: g.value if g.value is not None else -np.inf) if gs else None

        cand = min(RANK_OPTIMIZERS, key=lambda o: (worst_gap(o).value if worst_gap(o) and worst_gap(o).value is not None
                                                   else 0.0))
        g = worst_gap(cand)
        head = (Effect(f"closest to universal: {cand}; its largest shortfall ({g.name})", g.value, g.low, g.high,
                       g.level, g.units, 0.0, g.n_seeds, g.verdict) if g else
                Effect(f"{cand} wins on every problem", 0.0, None, None, n_seeds=ctx.mode.seeds, verdict=verdict))
        table = [{"problem": p, "family": ADVICE[p][0], "lecture's advice": ADVICE[p][1], "measured best": winners[p],
                  **{o: _fmt(S[p][o]) for o in RANK_OPTIMIZERS}} for p in S]
        return Verdict.from_effects(self, [head] + list(gaps.values()), verdict=verdict, headline_first=True, details={
            "table": table, "significantly beaten on": beaten, "winners": winners}, settings={
            "problems": list(S), "optimizers": list(RANK_OPTIMIZERS), "seeds": ctx.mode.seeds,
            "chosen_lr": {p: {o: t.lr for o, t in per.items()} for p, per in self._arms(ctx).items()},
            "steps": {p: v["steps"] for p, v in _rank_setup(ctx.mode).items() if p in S},
            "score": "the problem's validation metric at its best evaluation (val_acc; -swd for the GAN), larger is better",
            "tuning": "same lr budget per optimizer (tuning seeds), comparison on fresh seeds"}, rule=(
            "Reproduced if every optimizer is significantly beaten (paired bootstrap interval of winner - it above 0) "
            "on at least one problem; not reproduced if one optimizer wins every problem and significantly beats every "
            "other everywhere; otherwise inconclusive. Each gap below is decided by the common rule."))

    def figures(self, ctx, verdict, out_dir):
        S = self._scores(ctx)
        fig, axes = new_figure(len(S), w=3.8)
        for ax, (p, per) in zip(axes, S.items()):
            names = list(per)
            m = [np.mean([v for v in per[o] if v is not None] or [np.nan]) for o in names]
            sd = [np.std([v for v in per[o] if v is not None] or [np.nan]) for o in names]
            ax.bar(range(len(names)), m, yerr=sd, color=["C1" if o == ADVICE[p][1] else "C0" for o in names])
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, fontsize=8)
            lo = np.nanmin(np.array(m) - np.array(sd))
            ax.set_ylim(lo - 0.1 * abs(lo) - 1e-3, None)
            ax.set_title(f"{p} (orange: lecture's advice)", fontsize=9)
            ax.set_ylabel("score (larger is better)")
        return [save(fig, out_dir / "claim14_ranking.png")]


def _fmt(vals):
    v = [x for x in vals if x is not None]
    return f"{np.mean(v):.4g} ± {np.std(v):.2g}" if v else "diverged"


class Claim15(Claim):
    id = 15
    title = "The lecture's summary table, measured (SGDM vs Adam, and every optimizer)"
    words = ("SGDM: slow, better convergence, stable, smaller generalization gap. Adam: fast, possibly non-convergent, "
             "unstable, larger generalization gap.")
    PROBLEM = "digits_mlp"

    def _arms(self, ctx):
        s = _setup(ctx.mode)[self.PROBLEM]
        return {o: tune(ctx, self.PROBLEM, o, **s) for o in tour_optimizers()}

    def plan(self, ctx):
        return [x for t in self._arms(ctx).values() for x in t.all_specs]

    def analyze(self, ctx):
        runs = {o: ctx.all(t.specs) for o, t in self._arms(ctx).items()}
        finals = {o: [final_loss(r) for r in rs] for o, rs in runs.items()}
        meds = [statistics.median([f for f in v if f is not None]) for v in finals.values() if any(f is not None for f in v)]
        target = statistics.median(meds)
        steps = {o: [steps_or_cap(r, target) for r in rs] for o, rs in runs.items()}
        val = {o: [metric(r, "val_loss") for r in rs] for o, rs in runs.items()}
        gap = {o: [metric(r, "gap") for r in rs] for o, rs in runs.items()}
        spikes = {o: [spike_count(r.train_loss) for r in rs] for o, rs in runs.items()}
        acc = {o: [metric(r, "test_acc_at_best") for r in rs] for o, rs in runs.items()}
        cap = _setup(ctx.mode)[self.PROBLEM]["steps"]
        effects = [
            paired_effect("speed: steps to target, SGDM - Adam", steps["sgdm"], steps["adam"], units="steps", margin=0.05 * cap),
            paired_effect("convergence: final train loss, Adam - SGDM", finals["adam"], finals["sgdm"], units="loss",
                          margin=0.005),
            paired_effect("stability: std of final val loss over seeds, Adam - SGDM", val["adam"], val["sgdm"],
                          units="loss", stat="std"),
            paired_effect("generalization gap (val - train loss), Adam - SGDM", gap["adam"], gap["sgdm"], units="loss",
                          margin=0.005)]

        def m(v):
            v = [x for x in v if x is not None]
            return round(float(np.mean(v)), 4) if v else None

        def sd(v):
            v = [x for x in v if x is not None]
            return round(float(np.std(v, ddof=1)), 4) if len(v) > 1 else None

        from optimlab.optim.registry import optimizer_info
        table = []
        for o in runs:
            try:
                team = optimizer_info(o).team
            except ValueError:
                team = "both (wrapper)"
            table.append({"optimizer": o, "team": team, "lr": self._arms(ctx)[o].lr,
                          "speed: steps to target": m(steps[o]),
                          "reached": f"{sum(s <= cap for s in steps[o])}/{len(steps[o])}",
                          "convergence: final train loss": m(finals[o]), "stability: std val loss": sd(val[o]),
                          "spikes/run": m(spikes[o]), "gap": m(gap[o]), "test acc": m(acc[o])})
        return Verdict.from_effects(self, effects, details={"table": table, "target_loss": target}, settings={
            "problem": self.PROBLEM, "optimizers": list(runs), "steps": cap, "seeds": ctx.mode.seeds,
            "target": "median over optimizers of their median final training loss; not reached = steps + 1",
            "tuning": "same lr budget per optimizer (tuning seeds, validation accuracy), fresh seeds for the table",
            "margin": "5% of the run for speed; 0.005 loss for convergence and gap; none for stability"})

    def figures(self, ctx, verdict, out_dir):
        rows = verdict.details["table"]
        fig, axes = new_figure(2, w=5.5, h=4.2)
        for ax, (x, y) in zip(axes, (("speed: steps to target", "gap"),
                                     ("convergence: final train loss", "stability: std val loss"))):
            for r in rows:
                if r[x] is not None and r[y] is not None:
                    ax.scatter(r[x], r[y], color={"sgd": "C0", "adam": "C3"}.get(r["team"], "C2"))
                    ax.annotate(r["optimizer"], (r[x], r[y]), fontsize=6)
            ax.set_xlabel(x)
            ax.set_ylabel(y)
        axes[0].set_title("blue: team SGD, red: team Adam, green: both", fontsize=9)
        return [save(fig, out_dir / "claim15_summary.png")]
