"""Claim 9 (NAG vs SGDM on an ill-conditioned quadratic, each tuned) and the tour of every optimizer on 2-D functions."""

from __future__ import annotations

import math

import numpy as np

from ..spec import RunSpec, lr_grid
from .base import Claim, Context, pick, steps_or_cap, tune, typical_lr
from .figs import band, new_figure, save
from .verdict import Verdict, paired_effect

COND = 100.0
TARGET = 1e-3  # suboptimality tolerance (the minimum is 0)
VARIANTS = {"deterministic": {"cond": COND}, "noisy": {"cond": COND, "noise": 0.01}}


class Claim9(Claim):
    id = 9
    title = "NAG beats SGDM on an ill-conditioned quadratic"
    words = "NAG: m_t = lambda m_{t-1} + eta grad L(theta_{t-1} - lambda m_{t-1}) (gradient at the look-ahead point)."
    changes = ("v2: (lr, momentum) tuned with the same budget for both on the speed to the target, instead of "
               "momentum fixed at 0.9; a noisy-gradient variant beside the deterministic one")

    def _steps(self, ctx):
        return pick(ctx.mode, tiny=60, quick=400, full=800)

    def _arms(self, ctx):
        steps = self._steps(ctx)

        def objective(r):
            return -float(steps_or_cap(r, TARGET))

        return {(v, o): tune(ctx, "quadratic", o, steps=steps, eval_every=max(1, steps // 20), problem_kwargs=kw,
                             objective=objective, target_loss=TARGET)
                for v, kw in VARIANTS.items() for o in ("sgdm", "nag")}

    def _traj(self, ctx):
        steps = pick(ctx.mode, tiny=60, quick=150, full=150)
        return {o: RunSpec(problem="quadratic", optimizer=o, lr=1.0 / 20, steps=steps, eval_every=steps, seed=0,
                           problem_kwargs=ctx.pkw(cond=20.0, dim=2), optimizer_kwargs={"momentum": 0.9},
                           probes=("params",)) for o in ("sgdm", "nag")}

    def plan(self, ctx):
        return [s for t in self._arms(ctx).values() for s in t.all_specs] + list(self._traj(ctx).values())

    def analyze(self, ctx):
        effects, details = [], {}
        arms = self._arms(ctx)
        for v in VARIANTS:
            steps = {o: [steps_or_cap(r, TARGET) for r in ctx.all(arms[(v, o)].specs)] for o in ("sgdm", "nag")}
            effects.append(paired_effect(f"{v} quadratic: steps to loss {TARGET:g}, SGDM - NAG (each tuned)",
                                         steps["sgdm"], steps["nag"], units="steps", margin=2.0))
            details[v] = steps
        return Verdict.from_effects(self, effects, details=details, settings={
            "problem": f"quadratic cond={COND:g}, dim {20 if ctx.mode.size == 'default' else 5}, random rotation and "
                       "start per seed; noisy: gradient noise 0.01",
            "optimizers": ["sgdm", "nag"], "tuning": f"{sum(ctx.mode.trials)} quasi-random (lr, momentum) trials each, "
                                                      f"3 tuning seeds, chosen on the steps to the target",
            "chosen": {f"{v}/{o}": t.describe() for (v, o), t in arms.items()},
            "steps": self._steps(ctx), "target": TARGET, "not reached": "steps + 1", "margin": "2 steps"})

    def figures(self, ctx, verdict, out_dir):
        fig, axes = new_figure(2)
        for (v, o), t in self._arms(ctx).items():
            rs = ctx.all(t.specs)
            band(axes[0], [r.evals.get("log10_loss") for r in rs], f"{o}, {v}", x=rs[0].evals["step"])
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("log10 suboptimality")
        axes[0].set_title(f"quadratic, cond {COND:g} (each tuned)")
        axes[0].legend(fontsize=8)
        ax = axes[1]
        for o, spec in self._traj(ctx).items():
            xy = np.array(ctx.get(spec).probes.get("params", []))
            if len(xy):
                ax.plot(xy[:, 0], xy[:, 1], ".-", ms=2, lw=0.8, label=o)
        ax.plot([0], [0], "k*")
        ax.set_title("2-D quadratic (cond 20), lr 1/L, momentum 0.9")
        ax.legend()
        return [save(fig, out_dir / "claim9_nag.png")]


def tour_optimizers() -> list[str]:
    """Every optimizer of the registry, with the wrappers spelled around one inner optimizer."""
    import optimlab

    names = [n for n in optimlab.available_optimizers() if n not in ("lookahead", "noisy")]
    return names + [w for w in ("lookahead_adam", "lookahead_sgdm", "noisy_adam")
                    if w.split("_")[0] in optimlab.available_optimizers()]


class Tour(Claim):
    """Not a claim: every optimizer's trajectory on Rosenbrock and Beale from the same start."""

    id = 0
    title = "Tour: every optimizer on Rosenbrock and Beale"
    words = "(no claim: a picture of every optimizer of the library from the same start)"
    kind = "picture"
    FUNCS = ("rosenbrock", "beale")

    def _specs(self, ctx: Context):
        steps = pick(ctx.mode, tiny=60, quick=300, full=1000)
        return {(fn, o): [RunSpec(problem=fn, optimizer=o, lr=lr, steps=steps, eval_every=steps // 10, seed=0,
                                  problem_kwargs=ctx.pkw(), probes=("params",), probe_every=max(1, steps // 100))
                          for lr in self._lrs(ctx, o)]
                for fn in self.FUNCS for o in tour_optimizers()}

    def _lrs(self, ctx, o):
        """A log grid from 1/100 of the optimizer's typical low rate (2-D functions have steep walls) to its high one."""
        low, high = typical_lr(o)
        return lr_grid(pick(ctx.mode, tiny=1, quick=3, full=7), low / 100, high)

    def plan(self, ctx):
        return [s for v in self._specs(ctx).values() for s in v]

    def _best(self, ctx):
        out = {}
        for key, specs in self._specs(ctx).items():
            rs = [r for r in ctx.all(specs) if r.status == "ok" and r.final.get("train_loss") is not None]
            out[key] = min(rs, key=lambda r: r.final["train_loss"]) if rs else None
        return out

    def analyze(self, ctx):
        best = self._best(ctx)
        details = {f"{fn}/{o}": ({"lr": r.spec["lr"], "final_loss": r.final["train_loss"],
                                  "dist_to_min": r.final.get("dist_to_min")} if r else None)
                   for (fn, o), r in best.items()}
        return Verdict(self.id, self.title, self.words, "n/a", n_seeds=1, details=details, kind="picture",
                       settings={"functions": list(self.FUNCS), "optimizers": tour_optimizers(),
                                 "lr": "best final loss over a log grid in each optimizer's typical range"},
                       rule="No verdict: a picture.")

    def figures(self, ctx, verdict, out_dir):
        from ..problems import make_problem

        best = self._best(ctx)
        fig, axes = new_figure(2, w=6.0, h=5.4)
        paths = []
        for ax, fn in zip(axes, self.FUNCS):
            prob = make_problem(fn, 0, **ctx.pkw())
            x0, x1, y0, y1 = prob.meta["bounds"]
            gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
            z = prob.meta["fn"](gx, gy)
            ax.contour(gx, gy, np.log10(z + 1e-3), levels=25, cmap="Greys", linewidths=0.5)
            for i, o in enumerate(tour_optimizers()):
                r = best.get((fn, o))
                if r is None or not r.probes.get("params"):
                    continue
                xy = np.array(r.probes["params"])
                xy = xy[np.all(np.isfinite(xy), axis=1)]
                ax.plot(xy[:, 0], xy[:, 1], lw=1.0, label=o, color=f"C{i % 10}", ls="-" if i < 10 else "--")
            for m in prob.meta["minima"]:
                ax.plot(*m, "r*", ms=10)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_title(f"{fn}: every optimizer from {tuple(round(v, 2) for v in prob.model.xy.tolist())}")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=9, fontsize=7)
        paths.append(save(fig, out_dir / "tour.png", rect=(0, 0.08, 1, 1)))
        if ctx.mode.name != "tiny":
            paths.append(self._animation(ctx, best, out_dir / "tour.gif"))
        return paths

    def _animation(self, ctx, best, path, frames: int = 40) -> str:
        """The same picture growing step by step (a small GIF; pillow comes with matplotlib)."""
        from matplotlib.animation import FuncAnimation, PillowWriter

        from ..problems import make_problem

        fig, axes = new_figure(2, w=5.0, h=4.2)
        lines = []
        for ax, fn in zip(axes, self.FUNCS):
            prob = make_problem(fn, 0, **ctx.pkw())
            x0, x1, y0, y1 = prob.meta["bounds"]
            gx, gy = np.meshgrid(np.linspace(x0, x1, 150), np.linspace(y0, y1, 150))
            ax.contour(gx, gy, np.log10(prob.meta["fn"](gx, gy) + 1e-3), levels=20, cmap="Greys", linewidths=0.5)
            for m in prob.meta["minima"]:
                ax.plot(*m, "r*", ms=9)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_title(fn)
            for i, o in enumerate(tour_optimizers()):
                r = best.get((fn, o))
                if r is None or not r.probes.get("params"):
                    continue
                xy = np.array(r.probes["params"])
                xy = xy[np.all(np.isfinite(xy), axis=1)]
                line, = ax.plot([], [], lw=1.0, color=f"C{i % 10}", ls="-" if i < 10 else "--", label=o)
                lines.append((line, xy))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=9, fontsize=6)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        n = max((len(xy) for _, xy in lines), default=1)

        def draw(k):
            upto = max(1, int(n * (k + 1) / frames))
            for line, xy in lines:
                line.set_data(xy[:upto, 0], xy[:upto, 1])
            return [ln for ln, _ in lines]

        anim = FuncAnimation(fig, draw, frames=frames, blit=False)
        anim.save(path, writer=PillowWriter(fps=8), dpi=60)
        import matplotlib.pyplot as plt
        plt.close(fig)
        return str(path)


def _finite(v):
    return v is not None and math.isfinite(v)
