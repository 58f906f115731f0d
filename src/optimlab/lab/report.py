"""A static HTML report of a results directory: leaderboards, PNG figures, and the data as CSV/JSON.

``write_report(root)`` reads every finished run under ``root/runs`` (and ``root/comparison.json``
for the chosen learning rates, if a comparison wrote one) and writes ``root/report/``::

    index.html            leaderboard per problem, chosen lrs, figures, divergence notes
    figures/*.png         per problem: train loss (per step), the selection metric and validation loss
                          with seed bands, lr sensitivity, and trajectories (2-D problems) or x_t (Reddi)
    leaderboard.csv/.json the rows of the leaderboards
    runs.csv              one row per run (key, optimizer, lr, seed, status, summary numbers)
    curves.json           the curves behind the figures (chosen lr, every seed)
    manifest.json         the figure files, by problem
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import json
import logging
import math
import re
from pathlib import Path

from .compare import choose_lrs, group_results, leaderboard
from .problems import available_problems, make_problem, problem_info
from .store import atomic_write, folder_lock, load_results

__all__ = ["write_report", "COLUMNS", "format_cell", "text_table"]

log = logging.getLogger(__name__)

# The leaderboard's columns, in the HTML report and on the command line: (row key, header).
COLUMNS = (("rank", "#"), ("optimizer", "optimizer"), ("lr", "chosen lr"), ("best_value", "best val"),
           ("test_acc_at_best", "test acc @ best val"), ("final_train_loss", "final train loss"), ("gap", "gen. gap"),
           ("steps_to_target", "steps to target"), ("time_per_step_ms", "ms / step"), ("diverged", "diverged"))


def format_cell(v, std=None) -> str:
    """A leaderboard value as text: ``-`` for none, 4 significant digits (``± std`` to 2) for floats."""
    if v is None:
        return "-"
    if isinstance(v, float):
        s = f"{v:.4g}"
        if std:
            s += f" ± {std:.2g}"
        return s
    return str(v)


def text_table(rows: list[dict]) -> str:
    """The leaderboards as plain text (one block per problem, the :data:`COLUMNS`), for a terminal."""
    lines = []
    for plabel in dict.fromkeys(r["problem"] for r in rows):
        prow = [r for r in rows if r["problem"] == plabel]
        cells = [[h for _, h in COLUMNS]] + [[format_cell(r.get(k), r.get(k + "_std")) for k, _ in COLUMNS]
                                             for r in prow]
        widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
        lines += ["", f"{plabel}  (chosen on {prow[0]['select_metric']}, {prow[0]['select_mode']})"]
        lines += ["  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                  for row in cells]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "problem"


def _load_chosen(root: Path) -> dict:
    """The chosen rates a comparison saved in ``root/comparison.json`` (malformed entries are ignored)."""
    p = root / "comparison.json"
    if not p.is_file():
        return {}
    try:
        entries = json.loads(p.read_text()).get("chosen", [])
        out = {}
        for c in entries:
            lr = c["lr"]
            if not isinstance(c["problem"], str) or not isinstance(c["optimizer"], str) or not (
                    lr is None or (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr))):
                raise ValueError(f"bad entry {c!r}")
            out[(c["problem"], c["optimizer"])] = lr
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("report: ignoring unreadable %s (%s)", p, exc)
        return {}


def _problem_meta(spec: dict) -> dict:
    """Facts for drawing a built-in 2-D or online problem (its function, bounds, minima).

    Only for a name registered in this process: a results folder is data from anyone, and a
    ``"package.module:function"`` named in it is never imported or called."""
    name = spec["problem"]
    if name not in available_problems() or problem_info(name).family not in ("2d", "online"):
        return {}
    try:
        return make_problem(name, spec["seed"], **spec.get("problem_kwargs", {})).meta
    except Exception:  # noqa: BLE001 - a figure is not worth failing the report
        log.warning("report: cannot rebuild problem %s for its figure", name)
        return {}


def _labelled(plabel: str, configs: dict, chosen: dict) -> dict:
    """``{"adam lr=0.01": [runs at the chosen lr over seeds]}`` for one problem."""
    out = {}
    for cfg, by_lr in configs.items():
        lr = chosen.get((plabel, cfg))
        out[f"{cfg} lr={lr:g}" if lr is not None else cfg] = by_lr.get(lr, [])
    return out


def _figures(plabel: str, configs: dict, chosen: dict, labelled: dict, figdir: Path) -> list[str]:
    """Draw one problem's figures into ``figdir``; return their paths relative to the report."""
    from . import plots

    slug, figs = _slug(plabel), []
    metric, mode = _select(configs)

    def fig(name, fn, *args, **kw):
        path = figdir / f"{slug}_{name}.png"
        try:
            fn(*args, path=path, **kw)
            figs.append(f"figures/{path.name}")
        except Exception:  # noqa: BLE001 - one bad figure must not lose the report
            log.exception("report: figure %s failed", path.name)

    fig("train_loss", plots.plot_curves, labelled, "train_loss_step", title=f"{plabel}: training loss (chosen lr)")
    fig(metric if metric != "train_loss" else "eval_train_loss", plots.plot_curves, labelled, metric,
        title=f"{plabel}: {metric} (chosen lr)")
    if metric != "val_loss" and any("val_loss" in r.evals for runs in labelled.values() for r in runs):
        fig("val_loss", plots.plot_curves, labelled, "val_loss", title=f"{plabel}: validation loss (chosen lr)")
    if any(len(by_lr) > 1 for by_lr in configs.values()):
        fig("lr_sensitivity", plots.plot_lr_sensitivity, configs, mode=mode, metric=metric,
            chosen={cfg: chosen.get((plabel, cfg)) for cfg in configs}, title=plabel)
    first = {lab: runs[0] for lab, runs in labelled.items() if runs and runs[0].probes.get("params")}
    if first:
        spec = _any_run(configs).spec
        meta = _problem_meta(spec)
        if meta.get("kind") == "2d":
            fig("trajectories", plots.plot_trajectories, first, meta, title=f"{plabel}: paths (seed {spec['seed']})")
        elif meta.get("kind") == "online":
            fig("x_t", plots.plot_probe, labelled, "params", title=f"{plabel}: x_t (optimum -1)", ylabel="x_t")
    return figs


def _curves(labelled: dict) -> dict:
    return {lab: [{"seed": r.spec["seed"], "status": r.status, "train_loss": r.train_loss, "evals": r.evals}
                  for r in runs] for lab, runs in labelled.items()}


def _write_data(out: Path, rows: list, results: list, curves: dict, manifest: dict) -> None:
    _write_csv(out / "leaderboard.csv", rows)
    _write_csv(out / "runs.csv", [_run_row(r) for r in results])
    atomic_write(out / "leaderboard.json", json.dumps(rows, indent=2))
    atomic_write(out / "curves.json", json.dumps(curves))
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=2))


def write_report(root: str | Path, *, title: str | None = None) -> Path:
    """Write ``root/report/`` from the finished runs under ``root``; return the path of index.html.

    Reads data only (unreadable result files are skipped with a warning naming them); holds the
    folder's lock while writing, so concurrent comparisons on one folder do not interleave reports.
    """
    root = Path(root)
    results = list(load_results(root).values())
    if not results:
        raise ValueError(f"write_report: root must contain finished runs under runs/, got {str(root)!r}")
    out = root / "report"
    with folder_lock(root):
        (out / "figures").mkdir(parents=True, exist_ok=True)
        chosen = {**choose_lrs(results), **_load_chosen(root)}
        rows = leaderboard(results, chosen)
        manifest, curves, sections = {}, {}, []
        for plabel, configs in group_results(results).items():
            labelled = _labelled(plabel, configs, chosen)
            manifest[plabel] = _figures(plabel, configs, chosen, labelled, out / "figures")
            curves[plabel] = _curves(labelled)
            metric, mode = _select(configs)
            sections.append(_section(plabel, [r for r in rows if r["problem"] == plabel], manifest[plabel], metric, mode))
        _write_data(out, rows, results, curves, manifest)
        page = _PAGE.format(title=html.escape(title or f"optimlab report: {', '.join(manifest)}"),
                            when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), n=len(results),
                            root=html.escape(str(root)), body="\n".join(sections))
        atomic_write(out / "index.html", page)
    log.info("report written to %s", out / "index.html")
    return out / "index.html"


def _any_run(configs: dict):
    return next(r for by_lr in configs.values() for runs in by_lr.values() for r in runs)


def _select(configs: dict) -> tuple[str, str]:
    """The problem's selection metric and direction, as its runs recorded them."""
    any_run = _any_run(configs)
    return any_run.summary.get("select_metric", "train_loss"), any_run.summary.get("select_mode", "min")


def _section(plabel, rows, figs, metric, mode) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in COLUMNS)
    body = []
    for r in rows:
        cells = "".join(f"<td>{html.escape(format_cell(r.get(key), r.get(key + '_std')))}</td>" for key, _ in COLUMNS)
        win = ' class="win"' if r.get("rank") == 1 else ""
        body.append(f"<tr{win}>{cells}</tr>")
    target = rows[0].get("target_loss") if rows else None
    tried = "; ".join(f"{html.escape(r['optimizer'])}: {', '.join(f'{x:g}' for x in r['lrs_tried'])}" for r in rows)
    notes = [f"Learning rates chosen on <b>{html.escape(str(metric))}</b> ({'higher' if mode == 'max' else 'lower'} "
             f"is better), mean over seeds; a diverged run counts as the worst. Values are mean ± std over seeds "
             f"at the chosen rate."]
    if target is not None:
        notes.append(f"Steps to target: first step where the 10-step mean training loss ≤ {target:.4g} "
                     "(the worst final loss among the optimizers), median over seeds.")
    notes.append(f"Rates tried: {tried}.")
    imgs = "".join(f'<figure><img src="{f}" alt="{html.escape(f)}"><figcaption>{html.escape(Path(f).stem)}'
                   f"</figcaption></figure>" for f in figs)
    return (f"<section><h2>{html.escape(plabel)}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
            f"</tbody></table><p class=note>{'<br>'.join(notes)}</p><div class=figs>{imgs}</div></section>")


def _run_row(r) -> dict:
    s = r.spec
    return {"key": r.key, "problem": s["problem"], "optimizer": s["optimizer"], "lr": s.get("lr"), "seed": s["seed"],
            "steps": s["steps"], "status": r.status, "diverged_step": r.diverged_step,
            "final_train_loss": r.summary.get("final_train_loss"), "best_value": r.summary.get("best_value"),
            "select_metric": r.summary.get("select_metric"), "test_acc_at_best": r.summary.get("test_acc_at_best"),
            "gap": r.summary.get("gap"), "time_per_step": r.time_per_step, "wall_time": r.wall_time}


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
    tmp.replace(path)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ border-bottom: 2px solid #ddd; padding-bottom: .2em; margin-top: 2em; }}
table {{ border-collapse: collapse; font-size: .9em; }}
th, td {{ padding: .35em .7em; border-bottom: 1px solid #e4e4e4; text-align: right; }}
th {{ background: #f4f4f4; }} td:nth-child(2), th:nth-child(2) {{ text-align: left; }}
tr.win td {{ background: #eaf7ea; font-weight: 600; }}
.note {{ color: #555; font-size: .85em; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 1em; }} figure {{ margin: 0; }}
figure img {{ max-width: 560px; border: 1px solid #eee; }} figcaption {{ font-size: .8em; color: #777; }}
</style></head><body>
<h1>{title}</h1>
<p class=note>{n} runs from <code>{root}</code>, generated {when}. Data: <a href="leaderboard.csv">leaderboard.csv</a>,
<a href="leaderboard.json">leaderboard.json</a>, <a href="runs.csv">runs.csv</a>, <a href="curves.json">curves.json</a>.</p>
{body}
</body></html>
"""
