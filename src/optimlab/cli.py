"""The ``optimlab`` command: a thin Typer skin over the public lab functions.

Commands: ``list``, ``run``, ``compare``, ``lr-find``, ``schedule``, ``report``, ``claims`` (``--help`` on each).
Bad options print one line ``Error: ...`` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="optimlab: measure deep-learning optimizers on built-in or your own problems.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DEFAULT_OUT = Path("optimlab-results")
OUT_HELP = "results directory (created if needed)"


def _errors(fn):
    """Turn library errors into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(f"Error: {msg}", err=True)
            raise typer.Exit(2)

    return wrapper


def _parse_kv(items: List[str], owner: str) -> dict:
    """``["a=1", "b=[0.9, 0.99]", "c=text"]`` -> dict (values parsed as JSON when they parse)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{owner} must look like key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except ValueError:
            out[k.strip()] = v
    return out


def _schedule(text: Optional[str], kw: List[str]) -> Optional[dict]:
    if not text:
        if kw:
            raise ValueError("--schedule-kw needs --schedule NAME")
        return None
    text = text.strip()
    if text.startswith("{"):
        sched = json.loads(text)
    else:
        sched = {"name": text, "kwargs": _parse_kv(kw, "--schedule-kw")}
    from optimlab.schedules import from_dict

    from_dict(sched)  # validate now: a bad schedule is an option error, not 40 failed runs
    return sched


def _csv(text: Optional[str], cast=str) -> list:
    if text is None:
        return []
    try:
        return [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list, got {text!r}") from None


def _print_rows(rows: list) -> None:
    cols = [("rank", "#"), ("optimizer", "optimizer"), ("lr", "lr"), ("best_value", "best val"),
            ("test_acc_at_best", "test@best"), ("final_train_loss", "train loss"), ("gap", "gap"),
            ("steps_to_target", "steps→target"), ("time_per_step_ms", "ms/step"), ("diverged", "div")]

    def f(v):
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    problem = None
    for r in rows:
        if r["problem"] != problem:
            problem = r["problem"]
            typer.echo(f"\n{problem}  (chosen on {r['select_metric']}, {r['select_mode']})")
            typer.echo("  ".join(f"{h:>12}" for _, h in cols))
        typer.echo("  ".join(f"{f(r.get(k)):>12}" for k, _ in cols))


@app.command("list")
@_errors
def list_cmd(what: str = typer.Argument("all", help="optimizers, problems, schedules or all")):
    """List the optimizers, problems and schedules by name."""
    if what not in ("all", "optimizers", "problems", "schedules"):
        raise ValueError(f"list: what must be one of all, optimizers, problems, schedules, got {what!r}")
    import optimlab

    if what in ("all", "optimizers"):
        typer.echo("optimizers:")
        for name in optimlab.available_optimizers():
            info = optimlab.optimizer_info(name)
            typer.echo(f"  {name:14s} [{info.team}] {info.summary}")
        typer.echo("  (wrappers: lookahead_<name>, noisy_<name> where registered)")
    if what in ("all", "problems"):
        from optimlab.lab import available_problems, problem_info

        typer.echo("problems:")
        for name in available_problems():
            info = problem_info(name)
            typer.echo(f"  {name:14s} [{info.family}] {info.summary} (default {info.default_steps} steps)")
    if what in ("all", "schedules"):
        from optimlab.schedules import available_schedules

        typer.echo("schedules:")
        typer.echo("  " + ", ".join(available_schedules()))


@app.command()
@_errors
def run(
    problem: str = typer.Option(..., "--problem", "-p", help="problem name or package.module:function"),
    optimizer: str = typer.Option(..., "--optimizer", "-o", help="optimizer name (optimlab list optimizers)"),
    lr: Optional[float] = typer.Option(None, help="learning rate (default: the optimizer's)"),
    steps: Optional[int] = typer.Option(None, help="steps (default: the problem's)"),
    eval_every: Optional[int] = typer.Option(None, help="evaluation interval (default: the problem's)"),
    seed: int = typer.Option(0, help="seed"),
    size: str = typer.Option("default", help="problem size: default or tiny"),
    opt_kw: List[str] = typer.Option([], "--opt-kw", help="optimizer keyword key=value (repeatable)"),
    problem_kw: List[str] = typer.Option([], "--problem-kw", help="problem keyword key=value (repeatable)"),
    schedule: Optional[str] = typer.Option(None, help='lr schedule name, or JSON {"name": ..., "kwargs": ...}'),
    schedule_kw: List[str] = typer.Option([], "--schedule-kw", help="schedule keyword key=value (repeatable)"),
    spec_file: Optional[Path] = typer.Option(None, "--spec", help="a run spec JSON file (overrides the options)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
):
    """Run one spec and store it under OUT/runs/<key>/."""
    from optimlab.lab import RunSpec, problem_info, run_dir, run_sweep

    if spec_file is not None:
        spec = RunSpec.from_json(Path(spec_file).read_text())
    else:
        info = problem_info(problem)
        pkw = _parse_kv(problem_kw, "--problem-kw")
        if size != "default":
            pkw["size"] = size
        st = steps if steps is not None else (info.tiny_steps if size == "tiny" else info.default_steps)
        spec = RunSpec(problem=problem, optimizer=optimizer, lr=lr, steps=st,
                       eval_every=eval_every if eval_every is not None else max(1, min(info.eval_every, st)), seed=seed,
                       optimizer_kwargs=_parse_kv(opt_kw, "--opt-kw"), problem_kwargs=pkw,
                       schedule=_schedule(schedule, schedule_kw), probes=("params",) if info.trajectory else ())
    res = run_sweep([spec], out)[spec.key()]
    typer.echo(f"{spec.problem} / {spec.optimizer} lr={spec.lr} seed={spec.seed}: {res.status}"
               + (f" at step {res.diverged_step}" if res.diverged_step is not None else ""))
    for k, v in sorted(res.final.items()):
        typer.echo(f"  {k:16s} {v:.5g}")
    typer.echo(f"results: {run_dir(out, spec)}")
    if res.status == "failed":
        typer.echo("Error: the run failed: " + (res.error or "").strip().splitlines()[-1], err=True)
        raise typer.Exit(1)


@app.command()
@_errors
def compare(
    problem: str = typer.Option(..., "--problem", "-p", help="problem name or package.module:function"),
    optimizers: str = typer.Option("sgdm,adam", help="comma-separated optimizer names"),
    lrs: Optional[str] = typer.Option(None, help="comma-separated learning rates for all (else a tuning grid)"),
    trials: int = typer.Option(4, help="learning-rate trials per optimizer (same budget for all)"),
    lr_min: float = typer.Option(1e-4, help="low end of the lr grid"),
    lr_max: float = typer.Option(1.0, help="high end of the lr grid"),
    lr_method: str = typer.Option("grid", help="grid or range_test (grid around the range test's suggestion)"),
    seeds: int = typer.Option(3, help="number of seeds"),
    tune_seeds: Optional[int] = typer.Option(None, help="seeds used while tuning (default: all)"),
    steps: Optional[int] = typer.Option(None, help="steps per run (default: the problem's)"),
    eval_every: Optional[int] = typer.Option(None, help="evaluation interval (default: the problem's)"),
    size: str = typer.Option("default", help="problem size: default or tiny"),
    problem_kw: List[str] = typer.Option([], "--problem-kw", help="problem keyword key=value (repeatable)"),
    opt_kw: List[str] = typer.Option([], "--opt-kw",
                                     help="optimizer keyword [name:]key=value; without name: all (repeatable)"),
    schedule: Optional[str] = typer.Option(None, help='lr schedule name, or JSON {"name": ..., "kwargs": ...}'),
    schedule_kw: List[str] = typer.Option([], "--schedule-kw", help="schedule keyword key=value (repeatable)"),
    workers: int = typer.Option(1, help="worker processes"),
    report: bool = typer.Option(True, help="write OUT/report/index.html"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
):
    """Compare optimizers on a problem with the same tuning budget; write results and the report."""
    from optimlab.lab import compare as lab_compare

    names = _csv(optimizers)
    okw: dict = {n: {} for n in names}
    for item in opt_kw:
        head, _, rest = item.partition("=")
        if ":" in head:
            name, key = head.split(":", 1)
            if name not in okw:
                raise ValueError(f"--opt-kw names optimizer {name!r}, which is not in --optimizers")
            okw[name].update(_parse_kv([f"{key}={rest}"], "--opt-kw"))
        else:
            for n in names:
                okw[n].update(_parse_kv([item], "--opt-kw"))
    comp = lab_compare(problem, names, out=out, lrs=_csv(lrs, float) or None, trials=trials,
                       lr_range=(lr_min, lr_max), lr_method=lr_method, seeds=seeds, tune_seeds=tune_seeds, steps=steps,
                       eval_every=eval_every, size=size, problem_kwargs=_parse_kv(problem_kw, "--problem-kw"),
                       optimizer_kwargs={k: v for k, v in okw.items() if v}, schedule=_schedule(schedule, schedule_kw),
                       workers=workers, progress=True, report=report)
    _print_rows(comp.rows)
    if comp.report is not None:
        typer.echo(f"\nreport: {comp.report}")


@app.command("lr-find")
@_errors
def lr_find(
    problem: str = typer.Option(..., "--problem", "-p", help="problem name or package.module:function"),
    optimizer: str = typer.Option("sgdm", "--optimizer", "-o", help="optimizer name"),
    start_lr: float = typer.Option(1e-6, help="first learning rate"),
    end_lr: float = typer.Option(10.0, help="last learning rate"),
    num_steps: int = typer.Option(100, help="steps of the sweep"),
    mode: str = typer.Option("exp", help="exp or linear"),
    seed: int = typer.Option(0, help="seed"),
    size: str = typer.Option("default", help="problem size: default or tiny"),
    opt_kw: List[str] = typer.Option([], "--opt-kw", help="optimizer keyword key=value (repeatable)"),
    problem_kw: List[str] = typer.Option([], "--problem-kw", help="problem keyword key=value (repeatable)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
):
    """LR range test on a problem: writes the plot and the data, prints suggestions."""
    from optimlab.lab import lr_find as lab_lr_find
    from optimlab.lab.lrplots import plot_lr_range

    pkw = _parse_kv(problem_kw, "--problem-kw")
    if size != "default":
        pkw["size"] = size
    res, sugg = lab_lr_find(problem, optimizer, seed=seed, problem_kwargs=pkw,
                            optimizer_kwargs=_parse_kv(opt_kw, "--opt-kw"), start_lr=start_lr, end_lr=end_lr,
                            num_steps=num_steps, mode=mode)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"lr_find_{problem.replace(':', '_').replace('.', '_')}_{optimizer}"
    plot_lr_range(res, suggestions=True, path=out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps({"result": res.to_dict(), "suggestions": sugg}, indent=2))
    typer.echo(f"{problem} / {optimizer}: {len(res.lrs)} steps, stopped: {res.stop_reason}")
    for k, v in sugg.items():
        typer.echo(f"  {k:10s} {'-' if v is None else f'{v:.3g}'}")
    typer.echo(f"plot: {out / (stem + '.png')}")


@app.command()
@_errors
def schedule(
    name: str = typer.Argument(..., help="schedule name (optimlab list schedules) or JSON {name, kwargs}"),
    kw: List[str] = typer.Option([], "--kw", help="schedule keyword key=value (repeatable)"),
    steps: int = typer.Option(1000, help="steps to preview"),
    momentum: Optional[str] = typer.Option(None, help='momentum schedule as JSON {"name": ..., "kwargs": ...}'),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
):
    """Preview a schedule as a plot (OUT/schedule_<name>.png)."""
    from optimlab.lab.lrplots import plot_schedule
    from optimlab.schedules import from_dict

    if steps < 1:
        raise ValueError(f"schedule: steps must be >= 1, got {steps}")
    sched = from_dict(_schedule(name, kw))
    mom = from_dict(json.loads(momentum)) if momentum else None
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"schedule_{sched.name}.png"
    plot_schedule(sched, steps, momentum=mom, path=path)
    marks = sorted({0, steps // 4, steps // 2, 3 * steps // 4, steps - 1})
    typer.echo(f"{sched.name}: " + ", ".join(f"step {s}: {sched(s):.4g}" for s in marks))
    typer.echo(f"plot: {path}")


@app.command()
@_errors
def report(results_dir: Path = typer.Argument(DEFAULT_OUT, help="a results directory (with runs/)")):
    """Rebuild the HTML report of a results directory."""
    from optimlab.lab import write_report

    path = write_report(results_dir)
    typer.echo(f"report: {path}")


@app.command()
@_errors
def claims(
    only: Optional[str] = typer.Option(None, "--only", help="claim numbers, e.g. 4,7 (0 = the tour figure); default all"),
    quick: bool = typer.Option(False, "--quick", help="fewer seeds and steps: every claim in minutes on 2 cores"),
    tiny: bool = typer.Option(False, "--tiny", hidden=True, help="tiny problems, 2 seeds (tests)"),
    problem: Optional[str] = typer.Option(None, "--problem", "-p",
                                          help="your problem package.module:function: run the claims that apply to it"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder with the data files (Fashion-MNIST's IDX "
                                            "files); default: OPTIMLAB_DATA_DIR, then Debian's install folder"),
    workers: int = typer.Option(2, "--workers", help="worker processes"),
    out: Path = typer.Option(Path("optimlab-claims"), "--out", help=OUT_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    markdown: bool = typer.Option(False, "--markdown", help="print the verdict table of OUT/claims.json and stop"),
    readme: Optional[Path] = typer.Option(None, "--readme", help="with --markdown: write the table into this README "
                                          "between its claims-table markers"),
):
    """Measure the lecture's claims (full mode by default; --quick for the short version) and write the report."""
    from optimlab.lab.claims import markdown_table, run_claims, update_readme
    from optimlab.lab.claims.report import other_mode, previous_verdicts

    if markdown:
        path = out / "claims.json"
        if not path.is_file():
            raise FileNotFoundError(f"claims: --markdown needs {path}; run `optimlab claims --out {out}` first")
        data = json.loads(path.read_text())
        other = other_mode(out, data) if not data.get("problem") else None
        previous = previous_verdicts() if not data.get("problem") else None
        if readme is not None:
            typer.echo(f"updated: {update_readme(readme, data, other, previous)}")
        else:
            typer.echo(markdown_table(data, other, previous), nl=False)
        return
    if quick and tiny:
        raise ValueError("claims: --quick and --tiny are exclusive, got both")
    data = run_claims(only=only, mode="tiny" if tiny else "quick" if quick else "full", out=out, workers=workers,
                      progress=progress, problem=problem, data_dir=data_dir)
    for c in data["claims"]:
        if c["verdict"] != "n/a":
            tag = " (mechanism)" if c.get("kind") == "mechanism" else ""
            typer.echo(f"{c['claim_id']:>2}  {c['verdict']:<15} {c['title']}{tag}")
    typer.echo(f"{data['runs']} runs, {data['wall_time_s']:.0f} s; report: {data['report']}")


def main() -> None:
    """Console-script entry point."""
    import os
    import sys

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if os.getcwd() not in sys.path:  # like ``python -m``: "my_model:build" finds ./my_model.py
        sys.path.insert(0, os.getcwd())
    app()


if __name__ == "__main__":
    main()
