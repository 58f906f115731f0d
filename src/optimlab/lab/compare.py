"""Fair comparisons: the same tuning budget for every optimizer, learning rates chosen on validation.

Protocol (after Schmidt et al., 2021, "Descending through a Crowded Valley"): every optimizer gets
the same number of learning-rate trials (a log grid shared by all, explicit rates, or a grid
centred on its LR-range-test suggestion); each trial runs on the tuning seeds; the rate with the
best mean validation metric (the problem's ``select_metric``; a diverged or failed run counts as
the worst value) is chosen and then run on every seed.  The leaderboard reports, at the chosen
rate: final train loss, best validation metric, test metric at the best validation point,
generalization gap, steps to a common target loss, time per step and the spread over seeds.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..checks import check_choice, check_int
from .problems import problem_info
from .runner import RunResult, steps_to_target
from .spec import RunSpec, grid, lr_grid
from .store import atomic_write
from .sweep import run_sweep

__all__ = ["Comparison", "compare", "lr_find", "leaderboard", "choose_lrs", "group_results", "problem_label"]

log = logging.getLogger(__name__)


def problem_label(spec: dict) -> str:
    """``"digits_mlp"`` or ``"digits_mlp(size=tiny)"``: a problem and its kwargs."""
    kw = spec.get("problem_kwargs") or {}
    if not kw:
        return spec["problem"]
    return spec["problem"] + "(" + ", ".join(f"{k}={v}" for k, v in sorted(kw.items())) + ")"


def _config(spec: dict) -> str:
    return RunSpec.from_dict(spec).config_label()


def group_results(results: Iterable[RunResult]) -> dict[str, dict[str, dict[float | None, list[RunResult]]]]:
    """``{problem label: {optimizer config: {lr: [results over seeds]}}}`` (steps and tags folded in the label)."""
    out: dict = {}
    for r in results:
        s = r.spec
        plabel = problem_label(s)
        if s.get("tag"):
            plabel += f" [{s['tag']}]"
        out.setdefault(plabel, {}).setdefault(_config(s), {}).setdefault(s.get("lr"), []).append(r)
    for configs in out.values():
        for lrs in configs.values():
            for runs in lrs.values():
                runs.sort(key=lambda r: r.spec["seed"])
    return out


def _score(r: RunResult) -> float:
    """The selection value, oriented so that larger is better (-inf for diverged/failed runs)."""
    v = r.summary.get("best_value")
    if r.status != "ok" or v is None or not math.isfinite(v):
        return -math.inf
    return v if r.summary.get("select_mode") == "max" else -v


def choose_lrs(results: Iterable[RunResult]) -> dict[tuple[str, str], float | None]:
    """``{(problem label, config): lr}`` with the best mean selection score over seeds (ties: smaller lr)."""
    chosen = {}
    for plabel, configs in group_results(results).items():
        for config, by_lr in configs.items():
            def mean_score(lr):
                scores = [_score(r) for r in by_lr[lr]]
                return -math.inf if any(s == -math.inf for s in scores) else statistics.fmean(scores)
            chosen[(plabel, config)] = max(sorted(by_lr, key=lambda x: (x is None, x)), key=mean_score)
    return chosen


def _stats(values: list) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def leaderboard(results: Iterable[RunResult], chosen: dict | None = None,
                target_loss: dict | float | None = None) -> list[dict]:
    """One row per (problem, optimizer config) at its chosen lr, ranked within each problem.

    ``target_loss`` (per problem label, or one number): the loss for ``steps_to_target``; by default
    the worst mean final train loss among the optimizers of that problem (a loss they all reach).
    """
    results = list(results)
    groups = group_results(results)
    chosen = dict(chosen or {})
    auto = choose_lrs(results)
    rows = []
    for plabel, configs in groups.items():
        picked = {}
        for config, by_lr in configs.items():
            lr = chosen.get((plabel, config), auto[(plabel, config)])
            picked[config] = (lr, by_lr.get(lr, []))
        if isinstance(target_loss, dict):
            target = target_loss.get(plabel)
        else:
            target = target_loss
        if target is None:
            finals = [_stats([_tail(r) for r in runs])[0] for _, runs in picked.values()]
            finals = [f for f in finals if f is not None]
            target = max(finals) if finals else None
        for config, (lr, runs) in picked.items():
            ok = [r for r in runs if r.status == "ok"]
            s0 = runs[0].summary if runs else {}
            row = {"problem": plabel, "optimizer": config, "lr": lr, "seeds": len(runs),
                   "diverged": sum(r.status == "diverged" for r in runs),
                   "failed": sum(r.status == "failed" for r in runs),
                   "select_metric": s0.get("select_metric"), "select_mode": s0.get("select_mode"),
                   "lrs_tried": sorted(x for x in configs[config] if x is not None)}
            for name, getter in (("final_train_loss", lambda r: r.summary.get("final_train_loss")),
                                 ("best_value", lambda r: r.summary.get("best_value")),
                                 ("test_acc_at_best", lambda r: r.summary.get("test_acc_at_best")),
                                 ("gap", lambda r: r.summary.get("gap")),
                                 ("time_per_step_ms", lambda r: None if r.time_per_step is None else 1e3 * r.time_per_step)):
                row[name], row[name + "_std"] = _stats([getter(r) for r in ok])
            if target is not None:
                hits = [steps_to_target(r.train_loss, target) for r in ok]
                reached = [h for h in hits if h is not None]
                row["target_loss"] = target
                row["steps_to_target"] = statistics.median(reached) if reached else None
                row["reached_target"] = f"{len(reached)}/{len(runs)}"
            rows.append(row)
    for plabel in groups:
        prow = [r for r in rows if r["problem"] == plabel]
        sign = 1.0 if (prow and prow[0]["select_mode"] == "max") else -1.0
        prow.sort(key=lambda r: -math.inf if r["best_value"] is None else sign * r["best_value"], reverse=True)
        for i, r in enumerate(prow, 1):
            r["rank"] = i
    rows.sort(key=lambda r: (r["problem"], r["rank"]))
    return rows


def _tail(r: RunResult) -> float | None:
    if r.status != "ok" or not r.train_loss:
        return None
    tail = r.train_loss[-max(10, len(r.train_loss) // 20):]
    return statistics.fmean(tail)


@dataclass
class Comparison:
    """The outcome of :func:`compare`: specs run, results by key, chosen lrs, leaderboard, report path."""

    root: Path
    specs: list
    results: dict
    chosen: dict
    rows: list
    report: Path | None = None
    settings: dict = field(default_factory=dict)


def lr_find(problem: str, optimizer: str, *, seed: int = 0, problem_kwargs: dict | None = None,
            optimizer_kwargs: dict | None = None, start_lr: float = 1e-6, end_lr: float = 10.0,
            num_steps: int = 100, mode: str = "exp"):
    """The LR range test of ``optimizer`` on ``problem`` (training batches, seed ``seed``).

    Returns ``(result, suggestions)``: the :class:`optimlab.LRRangeResult` and a dict with the
    ``valley``, ``steepest`` and ``min_div10`` suggestions (a suggestion that cannot be computed is None).
    """
    import optimlab
    from .problems import make_problem
    from .runner import build_optimizers, seed_everything

    seed_everything(seed)
    pkw = dict(problem_kwargs or {})
    prob = make_problem(problem, seed, **pkw)
    if len(prob.parameter_sets()) != 1 or prob.train_step is not None:
        raise ValueError(f"lr_find: problem must train one parameter set with one optimizer, got {problem!r}")
    opt = build_optimizers(RunSpec(problem=problem, optimizer=optimizer, optimizer_kwargs=dict(optimizer_kwargs or {}),
                                   problem_kwargs=pkw, seed=seed), prob)[0]
    counter = [0]

    def step_fn():
        batch = prob.next_batch(counter[0])
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        loss = prob.loss_fn(prob.model, batch)
        loss.backward()
        opt.step()
        if prob.post_step is not None:
            with torch_no_grad():
                prob.post_step(prob.model)
        return loss.detach()

    res = optimlab.lr_range_test(step_fn, opt, prob.model, start_lr=start_lr, end_lr=end_lr,
                                 num_steps=num_steps, mode=mode)
    sugg = {}
    for name, fn in (("valley", optimlab.suggest_lr_valley), ("steepest", optimlab.suggest_lr_steepest),
                     ("min_div10", optimlab.suggest_lr_min_div10)):
        try:
            sugg[name] = float(fn(res))
        except ValueError:
            sugg[name] = None
    return res, sugg


def torch_no_grad():
    import torch

    return torch.no_grad()


def _range_test_lrs(problem: str, optimizer: str, trials: int, problem_kwargs: dict, optimizer_kwargs: dict,
                    seed: int) -> list[float]:
    """A log grid of ``trials`` rates over one decade either side of the range test's valley suggestion."""
    _, sugg = lr_find(problem, optimizer, seed=seed, problem_kwargs=problem_kwargs, optimizer_kwargs=optimizer_kwargs)
    lr = sugg["valley"] or sugg["min_div10"]
    if lr is None:
        raise ValueError(f"compare: lr_method 'range_test' found no suggestion for {optimizer!r} on {problem!r}")
    return lr_grid(trials, lr / 10, lr * 10) if trials > 1 else [float(f"{lr:.3g}")]


def compare(problem: str, optimizers: list[str], *, out: str | Path, lrs: list[float] | None = None, trials: int = 4,
            lr_range: tuple[float, float] = (1e-4, 1.0), lr_method: str = "grid", seeds: int | list[int] = 3,
            tune_seeds: int | None = None, steps: int | None = None, eval_every: int | None = None,
            size: str = "default", problem_kwargs: dict | None = None,
            optimizer_kwargs: dict[str, dict] | None = None, schedule: dict | None = None, workers: int = 1,
            progress: bool = False, report: bool = True, target_loss: float | None = None) -> Comparison:
    """Compare ``optimizers`` on ``problem`` with the same lr-tuning budget; write results (and a report) under ``out``.

    ``lrs``: explicit rates for all; else ``trials`` rates per optimizer, log-spaced in ``lr_range``
    (``lr_method="grid"``) or around the LR range test's suggestion (``"range_test"``).  ``seeds``: a
    count or a list; ``tune_seeds``: how many of them the tuning phase uses (default all).
    """
    if isinstance(optimizers, str) or not optimizers:
        raise ValueError(f"compare: optimizers must be a non-empty list of names, got {optimizers!r}")
    check_choice("compare", "lr_method", lr_method, ("grid", "range_test"))
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError(f"compare: seeds must be >= 1, got {seeds!r}")
    if tune_seeds is not None:
        check_int("compare", "tune_seeds", tune_seeds, 1, len(seed_list))
    info = problem_info(problem)
    pkw = dict(problem_kwargs or {})
    if size != "default":
        pkw["size"] = size
    steps = steps if steps is not None else (info.tiny_steps if size == "tiny" else info.default_steps)
    eval_every = eval_every if eval_every is not None else max(1, min(info.eval_every, steps))
    okw = dict(optimizer_kwargs or {})
    if lrs is not None:
        per_opt = {o: [float(x) for x in lrs] for o in optimizers}
    elif lr_method == "grid":
        per_opt = {o: lr_grid(trials, *lr_range) for o in optimizers}
    else:
        per_opt = {o: _range_test_lrs(problem, o, trials, pkw, okw.get(o, {}), seed_list[0]) for o in optimizers}
    probes = ("params",) if info.trajectory else ()
    common = dict(steps=steps, eval_every=eval_every, problem_kwargs=pkw, optimizer_kwargs=okw,
                  schedule=schedule, probes=probes, target_loss=target_loss)
    tune = seed_list[:tune_seeds] if tune_seeds else seed_list
    root = Path(out)
    specs = grid(problem, optimizers, per_opt, tune, **common)
    results = run_sweep(specs, root, workers=workers, progress=progress)
    chosen = choose_lrs(results.values())
    if len(tune) < len(seed_list):
        final = []
        for o in optimizers:
            cfg = RunSpec(problem=problem, optimizer=o, optimizer_kwargs=okw.get(o, {}), schedule=schedule).config_label()
            lr = next(v for (p, c), v in chosen.items() if c == cfg)
            final += grid(problem, [o], [lr], seed_list, **common)
        results.update(run_sweep(final, root, workers=workers, progress=progress))
        specs += [s for s in final if s not in specs]
    rows = leaderboard(results.values(), chosen)
    settings = {"problem": problem, "optimizers": list(optimizers), "lrs": per_opt, "seeds": seed_list,
                "tune_seeds": tune, "steps": steps, "eval_every": eval_every, "problem_kwargs": pkw,
                "optimizer_kwargs": okw, "schedule": schedule, "lr_method": lr_method if lrs is None else "explicit"}
    atomic_write(root / "comparison.json", json.dumps(
        {"settings": settings, "specs": [s.key() for s in specs],
         "chosen": [{"problem": p, "optimizer": c, "lr": v} for (p, c), v in chosen.items()]}, indent=2))
    comp = Comparison(root, specs, results, chosen, rows, None, settings)
    if report:
        from .report import write_report
        comp.report = write_report(root)
    return comp
