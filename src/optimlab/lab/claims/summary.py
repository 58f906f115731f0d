"""Claims 14 (no universal optimizer: the ranking flips between tasks) and 15 (the summary table, measured)."""

from __future__ import annotations

import itertools
import statistics

import numpy as np

from .adam_sgdm import PROBLEMS as PAIR_PROBLEMS
from .adam_sgdm import arms as pair_arms
from .adam_sgdm import tuning_text
from .base import Claim, describe, final_loss, metric, pick, spike_count, steps_or_cap, test_score, tune, workloads
from .figs import new_figure, save
from .nag import tour_optimizers
from .tuning import KNOBS, base_name
from .verdict import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Effect, Verdict, holm, paired_effect

ADVICE = {"mnist1d_mlp": ("vision", "sgdm"), "mnist1d_cnn": ("vision", "sgdm"), "fashion_mnist": ("vision", "sgdm"),
          "wilson": ("construction", "sgdm"), "charlm": ("NLP", "adam"), "gan": ("GANs", "adam")}
RANK_PROBLEMS = ("mnist1d_mlp", "wilson", "gan", "mnist1d_cnn", "fashion_mnist", "charlm")
GAN_BETA1 = 0.5  # the usual beta1 of Adam for GANs (Radford et al., 2016)


def _rank_optimizers(ctx):
    return pick(ctx.mode, tiny=("sgdm", "adam"), quick=("sgdm", "adam"),
                full=("sgdm", "adam", "rmsprop"))


def _gan_fixed(optimizer: str) -> dict | None:
    """GANs: beta1 = 0.5 for the optimizers that have a beta1 (the Adam family; not SGDM or RMSprop)."""
    return {"beta1": GAN_BETA1} if any(k.name == "beta1" for k in KNOBS.get(base_name(optimizer), ())) else None


class Claim14(Claim):
    id = 14
    title = "No universal optimizer: the best one depends on the problem"
    words = ("Universal optimizer? No such thing: the best optimizer depends on the task. Advice: SGDM for computer "
             "vision; Adam for NLP, speech synthesis, GANs, reinforcement learning.")
    changes = ("v2: the rule asks for a rank reversal (A significantly beats B on one problem, B beats A on another; "
               "Holm over all pairwise comparisons), which can pass, instead of every optimizer beaten somewhere; GAN "
               "Adam-family arms use beta1 = 0.5; harder workloads; every arm tuned over lr and its knobs")

    def _arms(self, ctx):
        out = {}
        for w in workloads(ctx, RANK_PROBLEMS):
            out[w] = {o: tune(ctx, w.problem, o, problem_kwargs=w.pkw,
                              fixed=_gan_fixed(o) if w.problem == "gan" else None, **w.run())
                      for o in _rank_optimizers(ctx)}
        return out

    def plan(self, ctx):
        return [x for per in self._arms(ctx).values() for t in per.values() for x in t.all_specs]

    def _scores(self, ctx):
        return {w: {o: [test_score(r) for r in ctx.all(t.specs)] for o, t in per.items()}
                for w, per in self._arms(ctx).items()}

    def analyze(self, ctx):
        S = self._scores(ctx)
        opts = _rank_optimizers(ctx)
        pairs = {}
        for w, per in S.items():
            for a, b in itertools.combinations(opts, 2):
                pairs[(w, a, b)] = paired_effect(f"{w.label}: test score, {a} - {b}", per[a], per[b], units="test score")
        holm(list(pairs.values()))
        def beats(w, x, y) -> bool:
            """x significantly better than y on w (after Holm)."""
            if (w, x, y) in pairs:
                return pairs[(w, x, y)].verdict == REPRODUCED
            return pairs[(w, y, x)].verdict == NOT_REPRODUCED

        reversals = []
        for a, b in itertools.combinations(opts, 2):
            a_wins = [w.label for w in S if beats(w, a, b)]
            b_wins = [w.label for w in S if beats(w, b, a)]
            if a_wins and b_wins:
                reversals.append({"optimizers": [a, b], f"{a} better on": a_wins, f"{b} better on": b_wins})
        means = {w: {o: np.mean([v for v in vals if v is not None] or [-np.inf]) for o, vals in per.items()}
                 for w, per in S.items()}
        winners = {w.label: max(m, key=m.get) for w, m in means.items()}
        universal = [o for o in opts if all(winners[w.label] == o for w in S)]
        if reversals:
            verdict = REPRODUCED
        elif universal and len(S) > 1 and all(beats(w, universal[0], o) for w in S for o in opts if o != universal[0]):
            verdict = NOT_REPRODUCED  # one optimizer best everywhere, significantly
        else:
            verdict = INCONCLUSIVE
        head = (Effect(f"rank reversals found: {len(reversals)} (e.g. {reversals[0]['optimizers']})", float(len(reversals)),
                       None, None, units="reversals", n_seeds=ctx.mode.seeds, verdict=verdict, stat="fixed")
                if reversals else Effect("rank reversals found: 0", 0.0, None, None, units="reversals",
                                         n_seeds=ctx.mode.seeds, verdict=verdict, stat="fixed"))
        table = [{"problem": w.label, "family": ADVICE.get(w.problem, ("user", "?"))[0],
                  "lecture's advice": ADVICE.get(w.problem, ("", "?"))[1], "measured best": winners[w.label],
                  **{o: _fmt(S[w][o]) for o in opts}} for w in S]
        return Verdict.from_effects(self, [head] + list(pairs.values()), verdict=verdict, headline_first=True,
                                    correct=False, details={"table": table, "reversals": reversals, "winners": winners},
                                    settings={"problems": [w.label for w in S], "optimizers": list(opts),
                                              "seeds": ctx.mode.seeds, "tuning": tuning_text(ctx),
                                              "gan": f"Adam-family arms use beta1 = {GAN_BETA1}",
                                              "chosen": {w.label: describe(per) for w, per in self._arms(ctx).items()},
                                              "score": "test score at the end of training (accuracy; -test loss for the "
                                                       "char-LM; -sliced Wasserstein distance for the GAN)"},
                                    rule=("Every pair of optimizers is compared on every problem (paired t intervals, Holm "
                                          "over all these comparisons). Reproduced if the ranking flips: A significantly "
                                          "beats B on one problem and B significantly beats A on another. Not reproduced "
                                          "if one optimizer has the best mean on every problem and significantly beats "
                                          "every other there. Otherwise inconclusive."))

    def figures(self, ctx, verdict, out_dir):
        S = self._scores(ctx)
        fig, axes = new_figure(len(S), w=3.8)
        for ax, (w, per) in zip(axes, S.items()):
            names = list(per)
            m = [np.mean([v for v in per[o] if v is not None] or [np.nan]) for o in names]
            sd = [np.std([v for v in per[o] if v is not None] or [np.nan]) for o in names]
            ax.bar(range(len(names)), m, yerr=sd,
                   color=["C1" if o == ADVICE.get(w.problem, ("", ""))[1] else "C0" for o in names])
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, fontsize=8)
            finite = [x for x in np.array(m) - np.array(sd) if np.isfinite(x)]
            if finite:
                lo = min(finite)
                ax.set_ylim(lo - 0.1 * abs(lo) - 1e-3, None)
            ax.set_title(f"{w.label} (orange: lecture's advice)", fontsize=9)
            ax.set_ylabel("test score (larger is better)")
        return [save(fig, out_dir / "claim14_ranking.png")]


def _fmt(vals):
    v = [x for x in vals if x is not None]
    return f"{np.mean(v):.4g} ± {np.std(v):.2g}" if v else "diverged"


def _table_optimizers(ctx):
    return pick(ctx.mode, tiny=("sgdm", "adam", "adamw"),
                quick=("sgdm", "adam", "nag", "adamw", "radam"),
                full=tuple(tour_optimizers()))


class Claim15(Claim):
    id = 15
    title = "The lecture's summary table, measured (SGDM vs Adam, and every optimizer)"
    words = ("SGDM: slow, better convergence, stable, smaller generalization gap. Adam: fast, possibly non-convergent, "
             "unstable, larger generalization gap.")
    user_applicable = True
    changes = "v2: MNIST-1D MLP instead of digits; every optimizer tuned over lr and its knobs; intervals with Holm"

    def _workload(self, ctx):
        return workloads(ctx, ("mnist1d_mlp",))[0]

    def _arms(self, ctx):
        w = self._workload(ctx)
        shared = pair_arms(ctx, problems=(w.problem,) if not ctx.user_problem else PAIR_PROBLEMS)[w]
        return w, {o: shared[o] if o in shared else tune(ctx, w.problem, o, problem_kwargs=w.pkw, **w.run())
                   for o in _table_optimizers(ctx)}

    def plan(self, ctx):
        return [x for t in self._arms(ctx)[1].values() for x in t.all_specs]

    def analyze(self, ctx):
        w, arms = self._arms(ctx)
        runs = {o: ctx.all(t.specs) for o, t in arms.items()}
        finals = {o: [final_loss(r) for r in rs] for o, rs in runs.items()}
        meds = [statistics.median([f for f in v if f is not None]) for v in finals.values() if any(f is not None for f in v)]
        target = statistics.median(meds)
        steps = {o: [steps_or_cap(r, target) for r in rs] for o, rs in runs.items()}
        test = {o: [test_score(r) for r in rs] for o, rs in runs.items()}
        gap = {o: [metric(r, "gap") for r in rs] for o, rs in runs.items()}
        spikes = {o: [spike_count(r.train_loss) for r in rs] for o, rs in runs.items()}
        effects = [
            paired_effect("speed: steps to target, SGDM - Adam", steps["sgdm"], steps["adam"], units="steps",
                          margin=0.05 * w.steps),
            paired_effect("convergence: final train loss, Adam - SGDM", finals["adam"], finals["sgdm"], units="loss",
                          margin=0.005),
            paired_effect("stability: spread of the test score over seeds, log10 sd(Adam)/sd(SGDM)", test["adam"],
                          test["sgdm"], stat="spread"),
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
            table.append({"optimizer": o, "team": team, "lr": arms[o].lr,
                          "speed: steps to target": m(steps[o]),
                          "reached": f"{sum(s <= w.steps for s in steps[o])}/{len(steps[o])}",
                          "convergence: final train loss": m(finals[o]), "stability: sd of test score": sd(test[o]),
                          "spikes/run": m(spikes[o]), "gap": m(gap[o]), "test score": m(test[o])})
        return Verdict.from_effects(self, effects, details={"table": table, "target_loss": target}, settings={
            "problem": w.label, "optimizers": list(runs), "steps": w.steps, "seeds": ctx.mode.seeds,
            "tuning": tuning_text(ctx), "chosen": describe(arms),
            "target": "median over optimizers of their median final training loss; not reached = steps + 1",
            "margin": "5% of the run for speed; 0.005 loss for convergence and gap; none for stability"})

    def figures(self, ctx, verdict, out_dir):
        rows = verdict.details["table"]
        fig, axes = new_figure(2, w=5.5, h=4.2)
        for ax, (x, y) in zip(axes, (("speed: steps to target", "gap"),
                                     ("convergence: final train loss", "stability: sd of test score"))):
            for r in rows:
                if r[x] is not None and r[y] is not None:
                    ax.scatter(r[x], r[y], color={"sgd": "C0", "adam": "C3"}.get(r["team"], "C2"))
                    ax.annotate(r["optimizer"], (r[x], r[y]), fontsize=6)
            ax.set_xlabel(x)
            ax.set_ylabel(y)
        axes[0].set_title("blue: team SGD, red: team Adam, green: both", fontsize=9)
        return [save(fig, out_dir / "claim15_summary.png")]
