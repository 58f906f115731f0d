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
import re
from pathlib import Path

from .compare import choose_lrs, group_results, leaderboard
from .store import atomic_write, load_results

__all__ = ["write_report"]

log = logging.getLogger(__name__)

_COLS = [("rank", "#"), ("optimizer", "optimizer"), ("lr", "chosen lr"), ("best_value", "best val"),
         ("test_acc_at_best", "test acc @ best val"), ("final_train_loss", "final train loss"), ("gap", "gen. gap"),
         ("steps_to_target", "steps to target"), ("time_per_step_ms", "ms / step"), ("diverged", "diverged")]


def _fmt(v, std=None):
    if v is None:
        return "–"
    if isinstance(v, float):
        s = f"{v:.4g}"
        if std:
            s += f" ± {std:.2g}"
        return s
    return html.escape(str(v))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80] or "problem"


def _load_chosen(root: Path) -> dict:
    p = root / "comparison.json"
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
        return {(c["problem"], c["optimizer"]): c["lr"] for c in data.get("chosen", [])}
    except (ValueError, KeyError):
        log.warning("report: ignoring unreadable %s", p)
        return {}


def write_report(root: str | Path, *, title: str | None = None) -> Path:
    """Write ``root/report/`` from the finished runs under ``root``; return the path of index.html."""
    from . import plots

    root = Path(root)
    results = list(load_results(root).values())
    if not results:
        raise ValueError(f"write_report: root must contain finished runs under runs/, got {str(root)!r}")
    out = root / "report"
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    chosen = {**choose_lrs(results), **_load_chosen(root)}
    rows = leaderboard(results, chosen)
    groups = group_results(results)
    manifest: dict[str, list[str]] = {}
    curves: dict = {}
    sections = []
    from .problems import make_problem

    for plabel, configs in groups.items():
        slug = _slug(plabel)
        figs = []
        best = {cfg: by_lr.get(chosen.get((plabel, cfg)), []) for cfg, by_lr in configs.items()}
        labelled = {f"{cfg} lr={chosen.get((plabel, cfg)):g}" if chosen.get((plabel, cfg)) is not None else cfg: runs
                    for cfg, runs in best.items()}
        any_run = next(r for by_lr in configs.values() for runs in by_lr.values() for r in runs)
        metric, mode = any_run.summary.get("select_metric", "train_loss"), any_run.summary.get("select_mode", "min")

        def fig(name, fn, *args, **kw):
            path = figdir / f"{slug}_{name}.png"
            try:
                fn(*args, path=path, **kw)
                figs.append(f"figures/{path.name}")
            except Exception:  # noqa: BLE001 - one bad figure must not lose the report
                log.exception("report: figure %s failed", path.name)

        fig("train_loss", plots.plot_curves, labelled, "train_loss_step", title=f"{plabel}: training loss (chosen lr)")
        fig(metric if metric != "train_loss" else "eval_train_loss", plots.plot_curves, labelled, metric, title=f"{plabel}: {metric} (chosen lr)")
        if metric != "val_loss" and any("val_loss" in r.evals for runs in best.values() for r in runs):
            fig("val_loss", plots.plot_curves, labelled, "val_loss", title=f"{plabel}: validation loss (chosen lr)")
        if any(len(by_lr) > 1 for by_lr in configs.values()):
            fig("lr_sensitivity", plots.plot_lr_sensitivity, configs, mode=mode, metric=metric,
                chosen={cfg: chosen.get((plabel, cfg)) for cfg in configs}, title=plabel)
        first = {lab: runs[0] for lab, runs in labelled.items() if runs and runs[0].probes.get("params")}
        if first:
            spec = any_run.spec
            try:
                meta = make_problem(spec["problem"], spec["seed"], **spec.get("problem_kwargs", {})).meta
            except Exception:  # noqa: BLE001
                meta = {}
            if meta.get("kind") == "2d":
                fig("trajectories", plots.plot_trajectories, first, meta, title=f"{plabel}: paths (seed {spec['seed']})")
            elif meta.get("kind") == "online":
                fig("x_t", plots.plot_probe, labelled, "params", title=f"{plabel}: x_t (optimum -1)", ylabel="x_t")
        manifest[plabel] = figs
        curves[plabel] = {lab: [{"seed": r.spec["seed"], "status": r.status, "train_loss": r.train_loss,
                                 "evals": r.evals} for r in runs] for lab, runs in labelled.items()}
        sections.append(_section(plabel, [r for r in rows if r["problem"] == plabel], figs, metric, mode, configs))

    _write_csv(out / "leaderboard.csv", rows)
    _write_csv(out / "runs.csv", [_run_row(r) for r in results])
    atomic_write(out / "leaderboard.json", json.dumps(rows, indent=2))
    atomic_write(out / "curves.json", json.dumps(curves))
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=2))
    title = title or f"optimlab report: {', '.join(groups)}"
    page = _PAGE.format(title=html.escape(title), when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
                        n=len(results), root=html.escape(str(root)), body="\n".join(sections))
    atomic_write(out / "index.html", page)
    log.info("report written to %s", out / "index.html")
    return out / "index.html"


def _section(plabel, rows, figs, metric, mode, configs) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in _COLS)
    body = []
    for r in rows:
        cells = []
        for key, _ in _COLS:
            v = r.get(key)
            cells.append(f"<td>{_fmt(v, r.get(key + '_std'))}</td>")
        cls = ' class="win"' if r.get("rank") == 1 else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
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
