"""Run the lecture's claims: plan every selected claim's runs, execute them as one resumable sweep, analyze.

``run_claims(only=None, mode="quick", out="optimlab-claims", workers=2, progress=True, problem=None)``
gathers the specs of the selected claims round by round (a claim may need results before it knows its next runs,
e.g. the chosen lr after tuning), runs the new ones with :func:`optimlab.lab.run_sweep` under one
results root ``out`` (identical specs requested by several claims run once; a killed run resumes
losing nothing), then analyzes each claim, draws its figures, and writes ``out/claims.json`` (also
kept as ``out/claims_<mode>.json``, so a quick and a full run in the same folder can be compared) and
``out/index.html``.  A claim whose planning, analysis or figures crash is recorded as an error entry;
the other claims are unaffected.

``problem="package.module:function"`` runs every claim that applies to a user's problem (Adam vs SGDM:
speed, generalization, stability; warm-up at high rates; Lookahead; decoupled weight decay; schedules;
the summary table) on that problem alone, with the same protocol; in ``tiny`` mode it is built with
``size="tiny"``.  ``data_dir`` is where Fashion-MNIST's IDX files (or other data) are (exported as
``OPTIMLAB_DATA_DIR`` for the worker processes).
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from pathlib import Path

from ...checks import check_choice, check_int
from ..executors import Executor
from ..store import atomic_write, is_done
from ..sweep import check_specs, open_executor, run_sweep
from .base import MODES, Claim, Context
from .verdict import ERROR, RULE, Verdict

__all__ = ["run_claims", "all_claims", "claim_ids", "parse_only"]

log = logging.getLogger(__name__)
MAX_ROUNDS = 10


def all_claims() -> list[Claim]:
    """Every claim, in the lecture's order (0 is the tour figure, without a verdict; 4, 5 and 16 are
    mechanism demonstrations, not counted as claims)."""
    from . import adabound, adam_sgdm, exploration, lookahead, nag, online, schedules, summary, swats, warmup, weight_decay

    return [nag.Tour(), adam_sgdm.Claim1(), adam_sgdm.Claim2(), adam_sgdm.Claim3(), online.Claim4(),
            adabound.Claim5(), swats.Claim6(), warmup.Claim7(), lookahead.Claim8(), nag.Claim9(),
            weight_decay.Claim10(), schedules.Claim11(), exploration.Claim12(), exploration.Claim13(),
            summary.Claim14(), summary.Claim15(), warmup.Mechanism16()]


def claim_ids() -> list[int]:
    return [c.id for c in all_claims()]


def parse_only(only) -> list[int] | None:
    """``None`` / ``"4,7"`` / ``[4, 7]`` -> sorted claim ids (ValueError naming the allowed ids)."""
    if only is None or only == "":
        return None
    ids = claim_ids()
    items = only.split(",") if isinstance(only, str) else list(only)
    out = []
    for it in items:
        try:
            v = int(str(it).strip())
        except ValueError:
            v = None
        if v not in ids:
            raise ValueError(f"run_claims: only must list claim numbers among {min(ids)}..{max(ids)} "
                             f"(0 = the tour figure), got {only!r}")
        out.append(v)
    return sorted(set(out))


def _error(claim: Claim, stage: str, tb: str) -> Verdict:
    log.warning("claim %d (%s) failed while %s:\n%s", claim.id, claim.title, stage, tb)
    return Verdict(claim.id, claim.title, claim.words, ERROR, error=f"{stage}: {tb}")


def user_claim_ids() -> list[int]:
    """The claims that also run on a user's problem."""
    return [c.id for c in all_claims() if c.user_applicable]


def run_claims(only=None, mode: str = "quick", out: str | Path = "optimlab-claims", workers: int = 2,
               progress: bool = True, report: bool = True, problem: str | None = None,
               data_dir: str | Path | None = None, executor: str | Executor | None = None,
               address: str | None = None, track: tuple | list = (), tracking_uri: str | None = None,
               experiment: str | None = None) -> dict:
    """Run the selected claims (all by default) in ``mode`` ("tiny", "quick" or "full"); return claims.json's data.

    ``problem``: a user's problem ``"package.module:function"``: run the claims that apply to it on it alone.
    ``executor``/``address``/``workers``: where the runs execute; ``track``/``tracking_uri``/``experiment``:
    where they are also recorded (as :func:`~optimlab.lab.sweep.run_sweep`; with ``"mlflow"`` the
    report is logged as the artifacts of a run named ``claims report``).
    """
    check_choice("run_claims", "mode", mode, tuple(MODES))
    check_int("run_claims", "workers", workers, 1)
    ids = parse_only(only)
    claims = [c for c in all_claims() if ids is None or c.id in ids]
    if problem is not None:
        from ..problems import problem_info

        if not isinstance(problem, str) or ":" not in problem:
            raise ValueError(f"run_claims: problem must look like 'package.module:function', got {problem!r}")
        problem_info(problem)  # imports it now: a bad path is an option error, not a crashed claim
        wrong = [c.id for c in claims if not c.user_applicable and ids is not None]
        if wrong:
            raise ValueError(f"run_claims: with problem=, only may list the claims that apply to a user's problem "
                             f"({', '.join(map(str, user_claim_ids()))}), got {only!r}")
        claims = [c for c in claims if c.user_applicable]
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise ValueError(f"run_claims: data_dir must be an existing folder, got {str(data_dir)!r}")
        os.environ["OPTIMLAB_DATA_DIR"] = str(Path(data_dir).resolve())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ctx = Context(MODES[mode], {}, out, problem)
    errors: dict[int, Verdict] = {}
    sweep = dict(progress=progress, check=False, track=track, tracking_uri=tracking_uri, experiment=experiment)
    with open_executor(executor, workers=workers, address=address) as ex:
        where = ex.describe()
        n_runs = _run_rounds(claims, ctx, errors, out, mode, dict(sweep, executor=ex))
    run_time = time.perf_counter() - t0
    verdicts = _analyze(claims, ctx, errors, out)
    wall = time.perf_counter() - t0
    data = {"mode": mode, "problem": problem, "seeds": ctx.mode.seeds, "trials": list(ctx.mode.trials),
            "tune_seeds": list(ctx.mode.tune_seeds), "workers": workers, "executor": where,
            "runs": len(ctx.results), "runs_this_call": n_runs, "run_wall_time_s": round(run_time, 1),
            "wall_time_s": round(wall, 1), "total_wall_time_s": round(_previous_total(out, mode, problem) + wall, 1),
            "rule": RULE,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"), "claims": [v.to_dict() for v in verdicts]}
    data = _clean(data)
    text = json.dumps(data, indent=1, allow_nan=False)
    atomic_write(out / "claims.json", text)
    if problem is None and ids is None:  # a complete run of the lecture's claims: kept per mode for the agreement column
        atomic_write(out / f"claims_{mode}.json", text)
    if report:
        from .report import write_claims_report
        data["report"] = str(write_claims_report(out, data))
        if "mlflow" in ([track] if isinstance(track, str) else list(track or ())):
            from ..tracking import MlflowTracker

            MlflowTracker(out, tracking_uri, experiment).log_report(Path(data["report"]).parent, "claims report")
    return data


def _run_rounds(claims: list[Claim], ctx: Context, errors: dict, out: Path, mode: str, sweep: dict) -> int:
    """Plan and run the claims' runs round by round until no claim asks for more; the runs done now."""
    n_runs = 0
    for rnd in range(MAX_ROUNDS):
        new = []
        for c in claims:
            if c.id in errors:
                continue
            try:
                specs = c.plan(ctx)
                todo = [s for s in specs if s.key() not in ctx.results]
                if todo:
                    check_specs(todo)
                new += todo
            except Exception:  # noqa: BLE001 - one claim's failure must not lose the others
                errors[c.id] = _error(c, "planning its runs", traceback.format_exc())
        new = list(dict.fromkeys(new))
        if not new:
            break
        log.info("claims (%s): round %d, %d runs", mode, rnd + 1, len(new))
        n_runs += sum(not is_done(out, s) for s in new)
        ctx.results.update(run_sweep(new, out, **sweep))
    return n_runs


def _analyze(claims: list[Claim], ctx: Context, errors: dict, out: Path) -> list[Verdict]:
    """Each claim's verdict and figures (a claim whose analysis or figures crash: an error entry / no figure)."""
    fig_dir = out / "figures"
    verdicts = []
    for c in claims:
        if c.id in errors:
            verdicts.append(errors[c.id])
            continue
        try:
            v = c.analyze(ctx)
        except Exception:  # noqa: BLE001
            verdicts.append(_error(c, "analyzing its results", traceback.format_exc()))
            continue
        try:
            v.figures = [str(Path(p).relative_to(out)) for p in c.figures(ctx, v, fig_dir)]
        except Exception:  # noqa: BLE001 - the verdict stands without its figure
            v.error = "drawing its figures: " + traceback.format_exc()
            log.warning("claim %d: figures failed:\n%s", c.id, v.error)
        verdicts.append(v)
    return verdicts


def _previous_total(out: Path, mode: str, problem: str | None = None) -> float:
    """Wall time of the earlier calls on this results root in this mode (a resumed run adds to it)."""
    try:
        prev = json.loads((out / "claims.json").read_text())
    except (OSError, ValueError):
        return 0.0
    if prev.get("mode") != mode or prev.get("problem") != problem:
        return 0.0
    return float(prev.get("total_wall_time_s", prev.get("wall_time_s", 0.0)) or 0.0)


def _clean(obj):
    """JSON-safe copy: numpy scalars -> Python, tuples/sets -> lists, non-finite floats -> None, keys -> str."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)
