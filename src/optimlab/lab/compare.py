"""Fair comparisons: the same tuning budget for every optimizer, learning rates chosen on validation.

Protocol (after Schmidt et al., 2021, "Descending through a Crowded Valley"): every optimizer gets
the same number of learning-rate trials (a log grid shared by all, explicit rates, or a grid
centred on its LR-range-test suggestion); each trial runs on the tuning seeds; the rate with the
best mean validation metric (the problem's ``select_metric``; a diverged or failed run counts as
the worst value) is chosen and then run on every seed.  The leaderboard reports, at the chosen
rate: final train loss, best validation metric, test metric at the best validation point,
generalization gap, steps to a common target loss, time per step and the spread over seeds.

``plan_comparison(...)`` turns the options into a :class:`ComparePlan` (checked before any run);
``run_comparison(plan, out)`` runs it and returns a :class:`Comparison` (data: results, chosen
rates, leaderboard rows); ``compare(problem, optimizers, out=..., **options)`` is both in one call.
Rendering is separate: :func:`optimlab.lab.report.write_report` reads the results folder.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..checks import check_choice, check_int
from .result import RunResult, score, steps_to_target, tail_loss
from .spec import RunSpec, grid, lr_grid, run_defaults
from .executors import Executor
from .store import atomic_write, ensure_writable_dir, folder_lock
from .sweep import check_specs, open_executor, run_sweep

__all__ = ["Comparison", "ComparePlan", "compare", "plan_comparison", "run_comparison", "lr_find", "leaderboard",
           "choose_lrs", "group_results", "problem_label"]

log = logging.getLogger(__name__)


# --- grouping and choosing -----------------------------------------------------------------------

def problem_label(spec: dict) -> str:
    """``"digits_mlp"`` or ``"digits_mlp(size=tiny)"``: a problem and its kwargs."""
    kw = spec.get("problem_kwargs") or {}
    if not kw:
        return spec["problem"]
    return spec["problem"] + "(" + ", ".join(f"{k}={v}" for k, v in sorted(kw.items())) + ")"


def group_results(results: Iterable[RunResult]) -> dict[str, dict[str, dict[float | None, list[RunResult]]]]:
    """``{problem label: {optimizer config: {lr: [results over seeds]}}}`` (steps and tags folded in the label)."""
    out: dict = {}
    for r in results:
        s = r.spec
        plabel = problem_label(s)
        if s.get("tag"):
            plabel += f" [{s['tag']}]"
        out.setdefault(plabel, {}).setdefault(RunSpec.from_dict(s).config_label(), {}) \
            .setdefault(s.get("lr"), []).append(r)
    for configs in out.values():
        for lrs in configs.values():
            for runs in lrs.values():
                runs.sort(key=lambda r: r.spec["seed"])
    return out


def _mean_score(runs: list[RunResult]) -> float:
    scores = [score(r) for r in runs]
    return -math.inf if any(s is None for s in scores) else statistics.fmean(scores)


def choose_lrs(results: Iterable[RunResult]) -> dict[tuple[str, str], float | None]:
    """``{(problem label, config): lr}`` with the best mean :func:`~optimlab.lab.result.score` over
    seeds (a diverged or failed seed makes a rate the worst; ties: the smaller lr)."""
    chosen = {}
    for plabel, configs in group_results(results).items():
        for config, by_lr in configs.items():
            rates = sorted(by_lr, key=lambda x: (x is None, x))
            chosen[(plabel, config)] = max(rates, key=lambda lr: _mean_score(by_lr[lr]))
    return chosen


# --- the leaderboard -----------------------------------------------------------------------------

def _stats(values: list) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


_ROW_STATS = (
    ("final_train_loss", lambda r: r.summary.get("final_train_loss")),
    ("best_value", lambda r: r.summary.get("best_value")),
    ("test_acc_at_best", lambda r: r.summary.get("test_acc_at_best")),
    ("gap", lambda r: r.summary.get("gap")),
    ("time_per_step_ms", lambda r: None if r.time_per_step is None else 1e3 * r.time_per_step),
)


def _common_target(picked: dict) -> float | None:
    """The worst mean final (tail) training loss among the optimizers: a loss they all reach."""
    finals = [_stats([tail_loss(r.train_loss) if r.status == "ok" else None for r in runs])[0]
              for _, runs in picked.values()]
    finals = [f for f in finals if f is not None]
    return max(finals) if finals else None


def _row(plabel: str, config: str, lr, runs: list[RunResult], lrs_tried, target: float | None) -> dict:
    ok = [r for r in runs if r.status == "ok"]
    s0 = runs[0].summary if runs else {}
    row = {"problem": plabel, "optimizer": config, "lr": lr, "seeds": len(runs),
           "diverged": sum(r.status == "diverged" for r in runs), "failed": sum(r.status == "failed" for r in runs),
           "select_metric": s0.get("select_metric"), "select_mode": s0.get("select_mode"),
           "lrs_tried": sorted(x for x in lrs_tried if x is not None)}
    for name, getter in _ROW_STATS:
        row[name], row[name + "_std"] = _stats([getter(r) for r in ok])
    if target is not None:
        reached = [h for h in (steps_to_target(r.train_loss, target) for r in ok) if h is not None]
        row["target_loss"] = target
        row["steps_to_target"] = statistics.median(reached) if reached else None
        row["reached_target"] = f"{len(reached)}/{len(runs)}"
    return row


def _rank(rows: list[dict]) -> None:
    """Rank rows within each problem by mean best value (best first; a row without one last)."""
    for plabel in dict.fromkeys(r["problem"] for r in rows):
        prow = [r for r in rows if r["problem"] == plabel]
        sign = 1.0 if prow[0]["select_mode"] == "max" else -1.0
        prow.sort(key=lambda r: -math.inf if r["best_value"] is None else sign * r["best_value"], reverse=True)
        for i, r in enumerate(prow, 1):
            r["rank"] = i


def leaderboard(results: Iterable[RunResult], chosen: dict | None = None,
                target_loss: dict | float | None = None) -> list[dict]:
    """One row per (problem, optimizer config) at its chosen lr, ranked within each problem.

    ``target_loss`` (per problem label, or one number): the loss for ``steps_to_target``; by default
    the worst mean final train loss among the optimizers of that problem (a loss they all reach).
    """
    results = list(results)
    chosen = {**choose_lrs(results), **(chosen or {})}
    rows = []
    for plabel, configs in group_results(results).items():
        picked = {}
        for config, by_lr in configs.items():
            lr = chosen[(plabel, config)]
            picked[config] = (lr, by_lr.get(lr, []))
        target = target_loss.get(plabel) if isinstance(target_loss, dict) else target_loss
        if target is None:
            target = _common_target(picked)
        rows += [_row(plabel, config, lr, runs, configs[config], target) for config, (lr, runs) in picked.items()]
    _rank(rows)
    rows.sort(key=lambda r: (r["problem"], r["rank"]))
    return rows


# --- the LR range test on a problem --------------------------------------------------------------

def lr_find(problem: str, optimizer: str, *, seed: int = 0, problem_kwargs: dict | None = None,
            optimizer_kwargs: dict | None = None, start_lr: float = 1e-6, end_lr: float = 10.0,
            num_steps: int = 100, mode: str = "exp"):
    """The LR range test of ``optimizer`` on ``problem`` (training batches, seed ``seed``).

    Returns ``(result, suggestions)``: the :class:`optimlab.LRRangeResult` and a dict with the
    ``valley``, ``steepest`` and ``min_div10`` suggestions (a suggestion that cannot be computed is None).
    The steps are the runner's :func:`~optimlab.lab.runner.train_step`.
    """
    import optimlab
    from .problems import make_problem
    from .runner import build_optimizers, seed_everything, train_step

    seed_everything(seed)
    pkw = dict(problem_kwargs or {})
    prob = make_problem(problem, seed, **pkw)
    if len(prob.parameter_sets()) != 1 or prob.train_step is not None:
        raise ValueError(f"lr_find: problem must train one parameter set with one optimizer, got {problem!r}")
    opts = build_optimizers(RunSpec(problem=problem, optimizer=optimizer, optimizer_kwargs=dict(optimizer_kwargs or {}),
                                    problem_kwargs=pkw, seed=seed), prob)
    counter = [0]

    def step_fn():
        step = counter[0]
        counter[0] += 1
        return train_step(prob, opts, prob.next_batch(step), step)

    res = optimlab.lr_range_test(step_fn, opts[0], prob.model, start_lr=start_lr, end_lr=end_lr,
                                 num_steps=num_steps, mode=mode)
    sugg = {}
    for name, fn in (("valley", optimlab.suggest_lr_valley), ("steepest", optimlab.suggest_lr_steepest),
                     ("min_div10", optimlab.suggest_lr_min_div10)):
        try:
            sugg[name] = float(fn(res))
        except ValueError:
            sugg[name] = None
    return res, sugg


def _range_test_lrs(problem: str, optimizer: str, trials: int, problem_kwargs: dict, optimizer_kwargs: dict,
                    seed: int) -> list[float]:
    """A log grid of ``trials`` rates over one decade either side of the range test's valley suggestion."""
    _, sugg = lr_find(problem, optimizer, seed=seed, problem_kwargs=problem_kwargs, optimizer_kwargs=optimizer_kwargs)
    lr = sugg["valley"] or sugg["min_div10"]
    if lr is None:
        raise ValueError(f"compare: lr_method 'range_test' found no suggestion for {optimizer!r} on {problem!r}")
    return lr_grid(trials, lr / 10, lr * 10) if trials > 1 else [float(f"{lr:.3g}")]


# --- the plan ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComparePlan:
    """What a comparison runs: every optimizer's rates, the seeds (tuning and all), and the spec fields
    every run shares (``steps``, ``eval_every``, ``problem_kwargs``, ``schedule``, ``probes``, ``target_loss``)."""

    problem: str
    optimizers: tuple
    rates: dict  # optimizer -> [lr]
    seeds: tuple
    tune_seeds: tuple
    optimizer_kwargs: dict  # optimizer -> kwargs
    common: dict
    lr_method: str

    def config(self, optimizer: str) -> str:
        return RunSpec(problem=self.problem, optimizer=optimizer, optimizer_kwargs=self.optimizer_kwargs.get(optimizer, {}),
                       schedule=self.common["schedule"]).config_label()

    def tuning_specs(self) -> list[RunSpec]:
        """Every optimizer at each of its rates on the tuning seeds."""
        return grid(self.problem, self.optimizers, self.rates, self.tune_seeds,
                    optimizer_kwargs=self.optimizer_kwargs, **self.common)

    def final_specs(self, chosen: dict) -> list[RunSpec]:
        """Every optimizer at its chosen rate on every seed (none when tuning used every seed)."""
        if len(self.tune_seeds) == len(self.seeds):
            return []
        out = []
        for o in self.optimizers:
            lr = next(v for (_, c), v in chosen.items() if c == self.config(o))
            out += grid(self.problem, [o], [lr], self.seeds, optimizer_kwargs=self.optimizer_kwargs, **self.common)
        return out

    def settings(self) -> dict:
        return {"problem": self.problem, "optimizers": list(self.optimizers), "lrs": self.rates,
                "seeds": list(self.seeds), "tune_seeds": list(self.tune_seeds), "steps": self.common["steps"],
                "eval_every": self.common["eval_every"], "problem_kwargs": self.common["problem_kwargs"],
                "optimizer_kwargs": self.optimizer_kwargs, "schedule": self.common["schedule"],
                "lr_method": self.lr_method}


def _seed_lists(seeds: int | list[int], tune_seeds: int | None) -> tuple[tuple, tuple]:
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError(f"compare: seeds must be >= 1, got {seeds!r}")
    if tune_seeds is not None:
        check_int("compare", "tune_seeds", tune_seeds, 1, len(seed_list))
    tune = seed_list[:tune_seeds] if tune_seeds else seed_list
    return tuple(seed_list), tuple(tune)


def plan_comparison(problem: str, optimizers: list[str], *, lrs: list[float] | None = None, trials: int = 4,
                    lr_range: tuple[float, float] = (1e-4, 1.0), lr_method: str = "grid", seeds: int | list[int] = 3,
                    tune_seeds: int | None = None, steps: int | None = None, eval_every: int | None = None,
                    size: str = "default", problem_kwargs: dict | None = None,
                    optimizer_kwargs: dict[str, dict] | None = None, schedule: dict | None = None,
                    target_loss: float | None = None) -> ComparePlan:
    """Check the options and decide what to run (``ValueError`` before any run; ``"range_test"`` runs
    each optimizer's LR range test to centre its grid).

    ``lrs``: explicit rates for all; else ``trials`` rates per optimizer, log-spaced in ``lr_range``
    (``lr_method="grid"``) or around the LR range test's suggestion (``"range_test"``).  ``seeds``: a
    count or a list; ``tune_seeds``: how many of them the tuning phase uses (default all).  ``steps``,
    ``eval_every``, ``size``: as :func:`~optimlab.lab.spec.run_defaults`.
    """
    if isinstance(optimizers, str) or not optimizers:
        raise ValueError(f"compare: optimizers must be a non-empty list of names, got {optimizers!r}")
    check_choice("compare", "lr_method", lr_method, ("grid", "range_test"))
    seed_list, tune = _seed_lists(seeds, tune_seeds)
    okw = dict(optimizer_kwargs or {})
    common = {**run_defaults(problem, size=size, steps=steps, eval_every=eval_every, problem_kwargs=problem_kwargs),
              "schedule": schedule, "target_loss": target_loss}
    check_specs([RunSpec(problem=problem, optimizer=o, optimizer_kwargs=okw.get(o, {}), seed=seed_list[0], **common)
                 for o in optimizers])
    if lrs is not None:
        rates = {o: [float(x) for x in lrs] for o in optimizers}
    elif lr_method == "grid":
        rates = {o: lr_grid(trials, *lr_range) for o in optimizers}
    else:
        rates = {o: _range_test_lrs(problem, o, trials, common["problem_kwargs"], okw.get(o, {}), seed_list[0])
                 for o in optimizers}
    return ComparePlan(problem, tuple(optimizers), rates, seed_list, tune, okw, common,
                       lr_method if lrs is None else "explicit")


# --- running it ----------------------------------------------------------------------------------

@dataclass
class Comparison:
    """The outcome of a comparison: specs run, results by key, chosen lrs, leaderboard rows, settings."""

    root: Path
    specs: list
    results: dict
    chosen: dict
    rows: list
    settings: dict = field(default_factory=dict)


def _save_comparison(root: Path, plan: ComparePlan, specs: list[RunSpec], chosen: dict) -> None:
    data = {"settings": plan.settings(), "specs": [s.key() for s in specs],
            "chosen": [{"problem": p, "optimizer": c, "lr": v} for (p, c), v in chosen.items()]}
    with folder_lock(root):
        atomic_write(root / "comparison.json", json.dumps(data, indent=2))


def run_comparison(plan: ComparePlan, out: str | Path, *, workers: int = 1, executor: str | Executor | None = None,
                   address: str | None = None, progress: bool = False, retry_failed: bool = True,
                   track: tuple | list = (), tracking_uri: str | None = None,
                   experiment: str | None = None) -> Comparison:
    """Run ``plan`` under results folder ``out`` (tuning, choice, the chosen rates on every seed),
    reusing every finished run; save ``out/comparison.json``; return the data.  ``executor``,
    ``address``, ``workers``, ``retry_failed`` and ``track``/``tracking_uri``/``experiment``: as
    :func:`~optimlab.lab.sweep.run_sweep` (one executor serves both phases)."""
    root = ensure_writable_dir(out, "compare")
    specs = plan.tuning_specs()
    with open_executor(executor, workers=workers, address=address) as ex:
        sweep = dict(executor=ex, progress=progress, retry_failed=retry_failed, track=track,
                     tracking_uri=tracking_uri, experiment=experiment)
        results = run_sweep(specs, root, **sweep)
        chosen = choose_lrs(results.values())
        final = [s for s in plan.final_specs(chosen) if s.key() not in results]
        if final:
            results.update(run_sweep(final, root, **sweep))
            specs += final
    rows = leaderboard(results.values(), chosen)
    _save_comparison(root, plan, specs, chosen)
    return Comparison(root, specs, results, chosen, rows, plan.settings())


def compare(problem: str, optimizers: list[str], *, out: str | Path, workers: int = 1,
            executor: str | Executor | None = None, address: str | None = None, progress: bool = False,
            retry_failed: bool = True, track: tuple | list = (), tracking_uri: str | None = None,
            experiment: str | None = None, **options: Any) -> Comparison:
    """Compare ``optimizers`` on ``problem`` with the same lr-tuning budget; results go under ``out``.

    ``options`` are those of :func:`plan_comparison` (``lrs``, ``trials``, ``lr_range``, ``lr_method``,
    ``seeds``, ``tune_seeds``, ``steps``, ``eval_every``, ``size``, ``problem_kwargs``,
    ``optimizer_kwargs``, ``schedule``, ``target_loss``).  Returns a :class:`Comparison`; the HTML
    report is :func:`optimlab.lab.write_report(out) <optimlab.lab.report.write_report>`.  Where runs
    execute (``workers``, ``executor="local"|"ray"``, ``address``) and where they are recorded
    (``track``, ``tracking_uri``, ``experiment``): as :func:`~optimlab.lab.sweep.run_sweep`.
    """
    ensure_writable_dir(out, "compare")
    plan = plan_comparison(problem, optimizers, **options)
    return run_comparison(plan, out, workers=workers, executor=executor, address=address, progress=progress,
                          retry_failed=retry_failed, track=track, tracking_uri=tracking_uri, experiment=experiment)
