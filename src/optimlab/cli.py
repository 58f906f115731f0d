"""The ``optimlab`` command: a thin Typer skin over the public lab functions.

Commands: ``list``, ``run``, ``compare``, ``lr-find``, ``schedule``, ``report``, ``claims`` (``--help`` on each).
Each command checks its options and its output folder before any work, then calls one lab function.

Errors: a bad option, a refused value (``ValueError``), a missing or unwritable file prints one line
``Error: ...`` and exits with status 2; Ctrl-C prints one line and exits with 130 (finished runs
are kept; the same command resumes); anything else is a bug in optimlab: the traceback and an
invitation to report it, exit status 1.

The command never puts the working directory on ``sys.path``: only a ``package.module:function``
problem named with ``--problem`` (or in ``--spec``) may be imported from it, and only that module
(see :func:`optimlab.lab.problems.allow_import_from`).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(help="optimlab: measure deep-learning optimizers on built-in or your own problems.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DEFAULT_OUT = Path("optimlab-results")
OUT_HELP = "results directory (created if needed)"
PROGRESS_HELP = "show a progress bar on stderr (only on a terminal)"
RETRY_HELP = "rerun runs that failed before (default: yes; a failure may come from code fixed since)"
_PASS_THROUGH = (typer.Exit, typer.Abort, getattr(typer, "TyperException", typer.Exit))  # typer's own exits
_LAB_EXTRAS = {"numpy", "matplotlib", "sklearn", "typer", "tqdm", "filelock", "click"}
_OPTIONAL = {"ray", "mlflow", "tensorboard"}  # engines and sinks behind their own extras: the error names the extra
EXECUTOR_HELP = "where runs execute: local (this machine: --workers processes) or ray (Ray tasks)"
ADDRESS_HELP = "with --executor ray: the cluster's HOST:PORT (default: RAY_ADDRESS, else a local Ray instance)"
TRACK_HELP = "also record every run in mlflow or tensorboard (repeatable)"
TRACKING_URI_HELP = "with --track mlflow: a tracking server or store URI (default: sqlite store in OUT/mlruns/)"
EXPERIMENT_HELP = "with --track mlflow: the experiment's name (default: OUT's folder name)"


def _bug(exc: BaseException) -> None:
    import optimlab

    traceback.print_exception(exc, file=sys.stderr)
    typer.echo(f"\nThis is a bug in optimlab {optimlab.__version__}, not a problem with your command. Please report "
               "it to the optimlab developers with the command you ran and the traceback above.", err=True)


def _errors(fn):
    """User errors -> one line and exit 2; Ctrl-C -> one line and exit 130; our bugs -> traceback, exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _PASS_THROUGH:
            raise
        except KeyboardInterrupt as exc:
            typer.echo(f"Interrupted: {exc}" if str(exc) else "Interrupted.", err=True)
            raise typer.Exit(130)
        except (ValueError, OSError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            typer.echo(f"Error: {msg}", err=True)
            raise typer.Exit(2)
        except ImportError as exc:
            if (exc.name or "").split(".")[0] in _OPTIONAL:
                typer.echo(f"Error: {exc}", err=True)
                raise typer.Exit(2)
            if (exc.name or "").split(".")[0] not in _LAB_EXTRAS:
                _bug(exc)
                raise typer.Exit(1)
            typer.echo(f"Error: the lab needs {exc.name}: pip install 'optimlab[lab]'", err=True)
            raise typer.Exit(2)
        except Exception as exc:  # noqa: BLE001 - anything else is our bug: say so, with the traceback
            _bug(exc)
            raise typer.Exit(1)

    return wrapper


def _out_dir(out: Path, command: str) -> Path:
    """Check the output folder before any work (one line naming it if it is a file or unwritable)."""
    from optimlab.lab.store import ensure_writable_dir

    return ensure_writable_dir(out, command)


def _allow_user_problem(problem: Optional[str]) -> None:
    """A ``package.module:function`` problem the user names may be imported from the working directory."""
    if problem and ":" in problem:
        from optimlab.lab.problems import allow_import_from

        allow_import_from(problem, Path.cwd())


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


def _spec_from_options(problem, optimizer, *, lr, steps, eval_every, seed, size, opt_kw, problem_kw, schedule,
                       schedule_kw):
    from optimlab.lab import RunSpec, run_defaults

    if not problem or not optimizer:
        raise ValueError("run: --problem and --optimizer are required (or --spec FILE)")
    fields = run_defaults(problem, size=size or "default", steps=steps, eval_every=eval_every,
                          problem_kwargs=_parse_kv(problem_kw, "--problem-kw"))
    return RunSpec(problem=problem, optimizer=optimizer, lr=lr, seed=0 if seed is None else seed,
                   optimizer_kwargs=_parse_kv(opt_kw, "--opt-kw"), schedule=_schedule(schedule, schedule_kw), **fields)


def _spec_from_file(path: Path, others: dict):
    from optimlab.lab import RunSpec

    given = [name for name, v in others.items() if v not in (None, [])]
    if given:
        raise ValueError(f"run: --spec and {given[0]} are exclusive (the spec file holds every setting), got both")
    return RunSpec.from_json(Path(path).read_text())


@app.command()
@_errors
def run(
    problem: Optional[str] = typer.Option(None, "--problem", "-p", help="problem name or package.module:function"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", "-o", help="optimizer name (optimlab list optimizers)"),
    lr: Optional[float] = typer.Option(None, help="learning rate (default: the optimizer's)"),
    steps: Optional[int] = typer.Option(None, help="steps (default: the problem's)"),
    eval_every: Optional[int] = typer.Option(None, help="evaluation interval (default: the problem's)"),
    seed: Optional[int] = typer.Option(None, help="seed (default 0)"),
    size: Optional[str] = typer.Option(None, help="problem size: default or tiny"),
    opt_kw: List[str] = typer.Option([], "--opt-kw", help="optimizer keyword key=value (repeatable)"),
    problem_kw: List[str] = typer.Option([], "--problem-kw", help="problem keyword key=value (repeatable)"),
    schedule: Optional[str] = typer.Option(None, help='lr schedule name, or JSON {"name": ..., "kwargs": ...}'),
    schedule_kw: List[str] = typer.Option([], "--schedule-kw", help="schedule keyword key=value (repeatable)"),
    spec_file: Optional[Path] = typer.Option(None, "--spec", help="a run spec JSON file (instead of the options above)"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    retry_failed: bool = typer.Option(True, "--retry-failed/--no-retry-failed", help=RETRY_HELP),
):
    """Run one spec and store it under OUT/runs/<key>/ (a finished run is not redone)."""
    from optimlab.lab import run_dir, run_sweep

    out = _out_dir(out, "run")
    options = {"--problem": problem, "--optimizer": optimizer, "--lr": lr, "--steps": steps, "--eval-every": eval_every,
               "--seed": seed, "--size": size, "--opt-kw": opt_kw, "--problem-kw": problem_kw, "--schedule": schedule,
               "--schedule-kw": schedule_kw}
    if spec_file is not None:
        spec = _spec_from_file(spec_file, options)
    else:
        _allow_user_problem(problem)
        spec = _spec_from_options(problem, optimizer, lr=lr, steps=steps, eval_every=eval_every, seed=seed, size=size,
                                  opt_kw=opt_kw, problem_kw=problem_kw, schedule=schedule, schedule_kw=schedule_kw)
    _allow_user_problem(spec.problem)
    res = run_sweep([spec], out, progress=progress, retry_failed=retry_failed)[spec.key()]
    typer.echo(f"{spec.problem} / {spec.optimizer} lr={spec.lr} seed={spec.seed}: {res.status}"
               + (f" at step {res.diverged_step}" if res.diverged_step is not None else ""))
    for k, v in sorted(res.final.items()):
        typer.echo(f"  {k:16s} {v:.5g}")
    typer.echo(f"results: {run_dir(out, spec)}")
    if res.status == "failed":
        typer.echo("Error: the run failed: " + (res.error or "").strip().splitlines()[-1], err=True)
        raise typer.Exit(1)


def _optimizer_kwargs(names: list[str], items: List[str]) -> dict:
    """``--opt-kw [name:]key=value`` items -> ``{optimizer: kwargs}`` (without ``name:``, for all)."""
    okw: dict = {n: {} for n in names}
    for item in items:
        head, _, rest = item.partition("=")
        if ":" in head:
            name, key = head.split(":", 1)
            if name not in okw:
                raise ValueError(f"--opt-kw names optimizer {name!r}, which is not in --optimizers")
            okw[name].update(_parse_kv([f"{key}={rest}"], "--opt-kw"))
        else:
            for n in names:
                okw[n].update(_parse_kv([item], "--opt-kw"))
    return {k: v for k, v in okw.items() if v}


def _check_engine(executor: str, address: Optional[str], workers: int, track: List[str],
                  tracking_uri: Optional[str], experiment: Optional[str]) -> None:
    """The executor and tracking options, checked before any run (one line naming the conflict)."""
    from optimlab.checks import check_choice
    from optimlab.lab.executors import EXECUTORS
    from optimlab.lab.tracking import TRACKERS

    check_choice("--executor", "executor", executor, EXECUTORS)
    if address is not None and executor != "ray":
        raise ValueError(f"--address is for --executor ray, got --address {address} with --executor {executor}")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    for t in track:
        check_choice("--track", "track", t, TRACKERS)
    if tracking_uri is not None and "mlflow" not in track:
        raise ValueError("--tracking-uri needs --track mlflow")
    if experiment is not None and "mlflow" not in track:
        raise ValueError("--experiment needs --track mlflow")


def _check_failures(results: dict, out: Path) -> None:
    """Exit 1 when every run failed; warn (one line) when some did."""
    failed = [r for r in results.values() if r.status == "failed"]
    if not failed:
        return
    first = failed[0]
    where = out / "runs" / first.key / "result.json"
    last = (first.error or "").strip().splitlines()[-1:] or ["?"]
    if len(failed) == len(results):
        typer.echo(f"Error: all {len(failed)} runs failed; the first error ({where}): {last[0]}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Warning: {len(failed)} of {len(results)} runs failed; the first error ({where}): {last[0]}", err=True)


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
    workers: int = typer.Option(1, help="worker processes (--executor local)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    track: List[str] = typer.Option([], "--track", help=TRACK_HELP),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
    experiment: Optional[str] = typer.Option(None, "--experiment", help=EXPERIMENT_HELP),
    report: bool = typer.Option(True, help="write OUT/report/index.html"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help=OUT_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    retry_failed: bool = typer.Option(True, "--retry-failed/--no-retry-failed", help=RETRY_HELP),
):
    """Compare optimizers on a problem with the same tuning budget; write results and the report.

    Every option is checked (and every problem and optimizer keyword tried once) before any run;
    runs finished in OUT are reused, failed ones retried.
    """
    from optimlab.lab import plan_comparison, run_comparison, write_report
    from optimlab.lab.report import text_table

    out = _out_dir(out, "compare")
    _check_engine(executor, address, workers, track, tracking_uri, experiment)
    _allow_user_problem(problem)
    names = _csv(optimizers)
    plan = plan_comparison(problem, names, lrs=_csv(lrs, float) or None, trials=trials, lr_range=(lr_min, lr_max),
                           lr_method=lr_method, seeds=seeds, tune_seeds=tune_seeds, steps=steps, eval_every=eval_every,
                           size=size, problem_kwargs=_parse_kv(problem_kw, "--problem-kw"),
                           optimizer_kwargs=_optimizer_kwargs(names, opt_kw), schedule=_schedule(schedule, schedule_kw))
    comp = run_comparison(plan, out, workers=workers, executor=executor, address=address, progress=progress,
                          retry_failed=retry_failed, track=track, tracking_uri=tracking_uri, experiment=experiment)
    typer.echo(text_table(comp.rows))
    if report:
        index = write_report(out)
        typer.echo(f"\nreport: {index}")
        if "mlflow" in track:
            from optimlab.lab.tracking import MlflowTracker

            MlflowTracker(out, tracking_uri, experiment).log_report(index.parent, "report")
    _check_failures(comp.results, out)


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
    from optimlab.lab import RunSpec, check_specs, run_defaults
    from optimlab.lab import lr_find as lab_lr_find
    from optimlab.lab.lrplots import plot_lr_range

    out = _out_dir(out, "lr-find")
    _allow_user_problem(problem)
    pkw = run_defaults(problem, size=size, problem_kwargs=_parse_kv(problem_kw, "--problem-kw"))["problem_kwargs"]
    okw = _parse_kv(opt_kw, "--opt-kw")
    check_specs([RunSpec(problem=problem, optimizer=optimizer, seed=seed, problem_kwargs=pkw, optimizer_kwargs=okw)])
    res, sugg = lab_lr_find(problem, optimizer, seed=seed, problem_kwargs=pkw, optimizer_kwargs=okw, start_lr=start_lr,
                            end_lr=end_lr, num_steps=num_steps, mode=mode)
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

    out = _out_dir(out, "schedule")
    if steps < 1:
        raise ValueError(f"schedule: steps must be >= 1, got {steps}")
    sched = from_dict(_schedule(name, kw))
    mom = from_dict(json.loads(momentum)) if momentum else None
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
    workers: int = typer.Option(2, "--workers", help="worker processes (--executor local)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    track: List[str] = typer.Option([], "--track", help=TRACK_HELP),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
    experiment: Optional[str] = typer.Option(None, "--experiment", help=EXPERIMENT_HELP),
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
    _check_engine(executor, address, workers, track, tracking_uri, experiment)
    data = run_claims(only=only, mode="tiny" if tiny else "quick" if quick else "full", out=out, workers=workers,
                      progress=progress, problem=problem, data_dir=data_dir, executor=executor, address=address,
                      track=track, tracking_uri=tracking_uri, experiment=experiment)
    for c in data["claims"]:
        if c["verdict"] != "n/a":
            tag = " (mechanism)" if c.get("kind") == "mechanism" else ""
            typer.echo(f"{c['claim_id']:>2}  {c['verdict']:<15} {c['title']}{tag}")
    typer.echo(f"{data['runs']} runs, {data['wall_time_s']:.0f} s; report: {data['report']}")


def main() -> None:
    """Console-script entry point (it does not put the working directory on ``sys.path``)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    import os

    if sys.path and sys.path[0] in ("", os.getcwd()):  # ``python -m optimlab.cli`` adds it: take it out again
        del sys.path[0]
    main()
