"""The claims report: one static HTML page (verdict table first, then a section per claim) and a Markdown table.

``write_claims_report(out, data)`` writes ``out/index.html`` from claims.json's data (figures are
PNG files under ``out/figures``); ``markdown_table(data)`` renders the verdict table for the README.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from ..store import atomic_write

__all__ = ["write_claims_report", "markdown_table", "update_readme", "format_effect", "format_interval",
           "README_START", "README_END", "previous_verdicts", "other_mode"]

README_START, README_END = "<!-- claims-table:start -->", "<!-- claims-table:end -->"

COLORS = {"reproduced": "#1a7f37", "not reproduced": "#b42318", "inconclusive": "#9a6700", "error": "#6e40c9",
          "n/a": "#57606a", "shown": "#1f6feb", "not shown": "#b42318"}


def _num(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, int):
        return str(v)
    a = abs(v)
    return f"{v:.3g}" if a == 0 or 1e-3 <= a < 1e4 else f"{v:.2e}"


def format_effect(e: dict) -> str:
    if not e or e.get("value") is None:
        return "–"
    return f"{_num(e['value'])} {e.get('units', '')}".strip()


def format_interval(i: dict) -> str:
    if not i or i.get("low") is None:
        return "–"
    return f"[{_num(i['low'])}, {_num(i['high'])}] ({100 * i.get('level', 0.95):.4g}%)"


def _verdict_rows(data: dict, kind: str | None = None) -> list[dict]:
    rows = [c for c in data.get("claims", []) if c.get("verdict") != "n/a" and c.get("kind", "claim") != "picture"]
    return rows if kind is None else [c for c in rows if c.get("kind", "claim") == kind]


def previous_verdicts() -> dict:
    """The verdicts of the README table before claims v2 (``previous_verdicts.json``, generated from it)."""
    return json.loads((Path(__file__).with_name("previous_verdicts.json")).read_text(encoding="utf-8"))


def other_mode(out: str | Path, data: dict) -> dict | None:
    """The claims.json data of the other mode (quick <-> full) kept in the same folder, if any."""
    other = {"quick": "full", "full": "quick"}.get(data.get("mode"))
    path = Path(out) / f"claims_{other}.json"
    if other is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _agree(c: dict, other: dict | None) -> str:
    if not other:
        return "–"
    o = {x["claim_id"]: x for x in other.get("claims", [])}.get(c["claim_id"])
    if o is None:
        return "–"
    return "yes" if o.get("verdict") == c.get("verdict") else f"no ({other.get('mode')}: {o.get('verdict')})"


def _changed(c: dict, previous: dict | None) -> str:
    if not previous:
        return "–"
    p = previous.get("verdicts", {}).get(str(c["claim_id"]))
    if p is None:
        return "new"
    was = p["verdict"]
    now = c.get("verdict")
    if c.get("kind", "claim") == "mechanism":
        was = {"reproduced": "shown", "not reproduced": "not shown"}.get(was, was)
    if was == now:
        return "no"
    return f"**{was} → {now}**: {c.get('changes') or 'see the claim'}"


def _header(data: dict) -> str:
    n1, n2 = (data.get("trials") or [None, None])[:2]
    who = f" on `{data['problem']}`" if data.get("problem") else ""
    return (f"Mode `{data.get('mode')}`{who}: {data.get('seeds')} seeds per arm, {n1}+{n2} tuning trials per arm on "
            f"{len(data.get('tune_seeds') or [])} tuning seeds, {data.get('runs')} runs, wall time "
            f"{_total(data) / 60:.1f} min with {data.get('workers')} workers (summed over resumed calls), "
            f"{data.get('created', '')}.")


def markdown_table(data: dict, other: dict | None = None, previous: dict | None = None) -> str:
    """The verdict tables as Markdown (generated from claims.json, for the README).

    ``other``: the other mode's claims.json data (the "quick = full" column); ``previous``: the verdicts
    before claims v2 (:func:`previous_verdicts`, the "changed" column).
    """
    lines = [_header(data), "",
             "| # | claim | verdict | parts R/N/I | deciding effect | interval | seeds | quick = full | changed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in _verdict_rows(data, "claim"):
        eff = c.get("effect") or {}
        lines.append(f"| {c['claim_id']} | {c['title']} | **{c['verdict']}** | {_parts(c)} | "
                     f"{eff.get('name', '–')}: {format_effect(eff)} | {format_interval(c.get('interval'))} | "
                     f"{c.get('n_seeds', 0)} | {_agree(c, other)} | {_changed(c, previous)} |")
    mech = _verdict_rows(data, "mechanism")
    if mech:
        lines += ["", "Mechanism demonstrations (they show how an optimizer works on a constructed case; not counted "
                  "as reproduced claims):", "",
                  "| # | demonstration | outcome | deciding effect | interval | seeds | quick = full | changed |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in mech:
            eff = c.get("effect") or {}
            lines.append(f"| {c['claim_id']} | {c['title']} | **{c['verdict']}** | {eff.get('name', '–')}: "
                         f"{format_effect(eff)} | {format_interval(c.get('interval'))} | {c.get('n_seeds', 0)} | "
                         f"{_agree(c, other)} | {_changed(c, previous)} |")
    errors = [c for c in data.get("claims", []) if c.get("verdict") == "error"]
    if errors:
        lines += ["", "Errors: " + ", ".join(str(c["claim_id"]) for c in errors) + " (see the report)."]
    return "\n".join(lines) + "\n"


def update_readme(readme: str | Path, data: dict, other: dict | None = None, previous: dict | None = None) -> Path:
    """Replace the text between ``README_START`` and ``README_END`` in ``readme`` by :func:`markdown_table`."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    i, j = text.find(README_START), text.find(README_END)
    if i < 0 or j < i:
        raise ValueError(f"update_readme: readme must contain the markers {README_START} and {README_END}, "
                         f"got {str(readme)!r} without them")
    new = text[:i + len(README_START)] + "\n" + markdown_table(data, other, previous) + text[j:]
    atomic_write(readme, new)
    return readme


def _cell(v) -> str:
    return _num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else ("–" if v is None else str(v))


def _total(data: dict) -> float:
    return float(data.get("total_wall_time_s", data.get("wall_time_s")) or 0.0)


def _parts(c: dict) -> str:
    """Counts of the parts' verdicts: reproduced / not reproduced / inconclusive."""
    vs = [e.get("verdict") for e in c.get("effects", [])]
    return "/".join(str(vs.count(v)) for v in ("reproduced", "not reproduced", "inconclusive"))


def _badge(v: str) -> str:
    return f'<span class="v" style="background:{COLORS.get(v, "#57606a")}">{html.escape(v)}</span>'


def _pre(obj) -> str:
    return "<pre>" + html.escape(json.dumps(obj, indent=1, default=str)) + "</pre>"


CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #d0d7de;padding:4px 8px;
vertical-align:top}th{background:#f6f8fa}.v{color:#fff;padding:2px 6px;border-radius:4px;white-space:nowrap}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:0.8em;max-height:30em}img{max-width:100%;
border:1px solid #d0d7de;margin:4px 0}section{border-top:2px solid #d0d7de;margin-top:2em}.w{color:#57606a;
font-style:italic}"""


def write_claims_report(out: str | Path, data: dict) -> Path:
    """Write ``out/index.html`` (figure paths in ``data`` are relative to ``out``); return its path."""
    out = Path(out)
    h = ["<!doctype html><html><head><meta charset='utf-8'><title>optimlab: the lecture's claims, measured</title>",
         f"<style>{CSS}</style></head><body>", "<h1>The lecture's claims, measured</h1>",
         f"<p>{html.escape(_header(data))}</p>",
         f"<p><b>Verdict rule.</b> {html.escape(data.get('rule', ''))}</p>",
         "<table><tr><th>#</th><th>claim</th><th>lecture's words</th><th>verdict</th><th>parts R/N/I</th>"
         "<th>deciding effect</th>"
         "<th>interval</th><th>seeds</th></tr>"]
    for c in _verdict_rows(data, "claim") + _verdict_rows(data, "mechanism"):
        eff = c.get("effect") or {}
        title = c["title"] + (" (mechanism demonstration, not counted)" if c.get("kind") == "mechanism" else "")
        h.append(f"<tr><td><a href='#c{c['claim_id']}'>{c['claim_id']}</a></td><td>{html.escape(title)}</td>"
                 f"<td class='w'>{html.escape(c.get('words', ''))}</td><td>{_badge(c['verdict'])}</td><td>{_parts(c)}</td>"
                 f"<td>{html.escape(eff.get('name', '–'))}: {format_effect(eff)}</td>"
                 f"<td>{format_interval(c.get('interval'))}</td><td>{c.get('n_seeds', 0)}</td></tr>")
    h.append("</table>")
    for c in data.get("claims", []):
        h.append(f"<section id='c{c['claim_id']}'><h2>{c['claim_id']}. {html.escape(c['title'])} "
                 f"{_badge(c['verdict'])}</h2><p class='w'>Lecture: {html.escape(c.get('words', ''))}</p>")
        if c.get("kind") == "mechanism":
            h.append("<p><b>Mechanism demonstration</b>: it shows how the method works on a constructed case and is "
                     "not counted as a reproduced claim.</p>")
        if c.get("changes"):
            h.append(f"<p><b>Changed in v2.</b> {html.escape(c['changes'])}</p>")
        if c.get("effects"):
            h.append("<table><tr><th>effect (positive supports the lecture)</th><th>value</th><th>interval</th>"
                     "<th>p</th><th>margin</th><th>seeds</th><th>verdict</th></tr>")
            for e in c["effects"]:
                h.append(f"<tr><td>{html.escape(e['name'])}</td><td>{format_effect(e)}</td>"
                         f"<td>{format_interval(e)}</td><td>{_num(e.get('p_value'))}</td><td>{_num(e.get('margin'))}</td>"
                         f"<td>{e.get('n_seeds')}</td><td>{_badge(e['verdict'])}</td></tr>")
            h.append("</table>")
        table = (c.get("details") or {}).get("table")
        if isinstance(table, list) and table and isinstance(table[0], dict):
            cols = list(table[0])
            h.append("<table><tr>" + "".join(f"<th>{html.escape(str(k))}</th>" for k in cols) + "</tr>")
            for row in table:
                h.append("<tr>" + "".join(f"<td>{html.escape(_cell(row.get(k)))}</td>" for k in cols) + "</tr>")
            h.append("</table>")
        for f in c.get("figures", []):
            h.append(f"<img src='{html.escape(f)}' alt='{html.escape(Path(f).name)}'>")
        if c.get("error"):
            h.append("<p><b>Error</b> (recorded, the other claims are unaffected):</p>" + _pre(c["error"]))
        h.append("<details open><summary>Settings</summary>" + _pre(c.get("settings", {})) + "</details>")
        h.append(f"<p><b>Rule.</b> {html.escape(c.get('rule', ''))}</p>")
        h.append("<details><summary>Numbers (per seed / per optimizer)</summary>" + _pre(c.get("details", {}))
                 + "</details></section>")
    h.append("</body></html>")
    path = out / "index.html"
    atomic_write(path, "\n".join(h))
    return path
