"""Every claim's experiment at tiny size: a verdict with all fields, figures on disk, a complete report, resumable."""

import json
from pathlib import Path

import pytest

from optimlab.lab.claims import all_claims, markdown_table, parse_only, run_claims
from optimlab.lab.claims.verdict import NOT_SHOWN, SHOWN, VERDICTS

FIELDS = {"claim_id", "title", "words", "verdict", "effect", "interval", "n_seeds", "settings", "rule", "details",
          "effects", "figures", "error", "kind", "changes"}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    # one worker: the runs execute in this process (tiny runs take milliseconds; worker start-up takes seconds)
    return out, run_claims(mode="tiny", out=out, workers=1, progress=False)


def test_every_claim_has_a_complete_verdict(tiny):
    out, data = tiny
    by_id = {c["claim_id"]: c for c in data["claims"]}
    assert sorted(by_id) == list(range(17))
    for cid, c in by_id.items():
        assert set(c) == FIELDS
        assert c["error"] is None, (cid, c["error"])
        if cid == 0:
            assert c["verdict"] == "n/a" and c["kind"] == "picture"
            continue
        if cid in (4, 5, 16):  # mechanism demonstrations: shown / not shown, never "reproduced"
            assert c["kind"] == "mechanism" and c["verdict"] in (SHOWN, NOT_SHOWN, "inconclusive")
        else:
            assert c["kind"] == "claim" and c["verdict"] in VERDICTS and c["changes"]
        assert c["effect"]["name"] and "units" in c["effect"]
        assert set(c["interval"]) == {"low", "high", "level"}
        assert c["n_seeds"] >= 1 and c["settings"] and c["details"] and c["rule"]
        assert c["effects"] and all(e["verdict"] in VERDICTS for e in c["effects"])


def test_claims_json_and_report_with_every_figure(tiny):
    out, data = tiny
    on_disk = json.loads((out / "claims.json").read_text())
    assert on_disk["claims"] == data["claims"]
    html = (out / "index.html").read_text()
    assert html.index("Verdict rule") < html.index("<section")  # the table comes first
    for c in data["claims"]:
        assert c["figures"], c["claim_id"]
        for f in c["figures"]:
            assert (out / f).is_file() and (out / f).stat().st_size > 1000
            assert f"src='{f}'" in html
    md = markdown_table(data)
    assert md.count("\n| ") == 2 + 16 and "tiny" in md and "Mechanism demonstrations" in md
    claims_part = md.split("Mechanism demonstrations")[0]
    assert "| 4 |" not in claims_part and "| 16 |" in md


def test_resume_runs_nothing_twice(tiny):
    out, data = tiny
    again = run_claims(only="4,9", mode="tiny", out=out, workers=1, progress=False)
    assert again["runs_this_call"] == 0
    old = {c["claim_id"]: c["verdict"] for c in data["claims"]}
    assert {c["claim_id"]: c["verdict"] for c in again["claims"]} == {4: old[4], 9: old[9]}


def test_a_crashing_claim_is_an_error_entry_and_the_others_survive(tiny, monkeypatch):
    out, _ = tiny
    from optimlab.lab.claims import nag

    def boom(self, ctx):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(nag.Claim9, "analyze", boom)
    data = run_claims(only=[4, 9], mode="tiny", out=out, workers=1, progress=False)
    by_id = {c["claim_id"]: c for c in data["claims"]}
    assert by_id[9]["verdict"] == "error" and "synthetic failure" in by_id[9]["error"]
    assert by_id[4]["verdict"] in VERDICTS
    assert "synthetic failure" in (out / "index.html").read_text()


def test_bad_options():
    assert parse_only("4, 7") == [4, 7] and parse_only(None) is None
    with pytest.raises(ValueError, match=r"run_claims: only must list claim numbers among 0\.\.16 .*got '4,x'"):
        parse_only("4,x")
    with pytest.raises(ValueError, match="run_claims: mode must be one of"):
        run_claims(mode="huge", out=Path("unused"))
    assert len(all_claims()) == 17
    with pytest.raises(ValueError, match="run_claims: problem must look like 'package.module:function'"):
        run_claims(problem="nocolon", out=Path("unused"))
    with pytest.raises(ValueError, match=r"run_claims: with problem=, only may list .*got '4'"):
        run_claims(problem="optimlab.lab.problems.wilson:make_wilson", only="4", out=Path("unused"))
    with pytest.raises(ValueError, match="run_claims: data_dir must be an existing folder"):
        run_claims(data_dir="/no/such/folder", out=Path("unused"))


def test_cli_claims(tiny):
    from typer.testing import CliRunner

    from optimlab.cli import app

    out, _ = tiny
    r = CliRunner().invoke(app, ["claims", "--tiny", "--only", "4", "--out", str(out), "--no-progress", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "report:" in r.output and " 4  " in r.output
    r = CliRunner().invoke(app, ["claims", "--markdown", "--out", str(out)])
    assert r.exit_code == 0 and "| 4 |" in r.output
    r = CliRunner().invoke(app, ["claims", "--only", "99", "--tiny", "--out", str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output and "only must list claim numbers" in r.output


def test_readme_table_is_generated_between_markers(tiny, tmp_path):
    from typer.testing import CliRunner

    from optimlab.cli import app
    from optimlab.lab.claims.report import README_END, README_START

    out, data = tiny
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_START}\nold table\n{README_END}\ntail\n")
    r = CliRunner().invoke(app, ["claims", "--markdown", "--out", str(out), "--readme", str(readme)])
    assert r.exit_code == 0, r.output
    text = readme.read_text()
    assert "old table" not in text and text.endswith(f"{README_END}\ntail\n")
    from optimlab.lab.claims.report import other_mode, previous_verdicts

    data = json.loads((out / "claims.json").read_text())
    assert markdown_table(data, other_mode(out, data), previous_verdicts()) in text
    readme.write_text("no markers")
    r = CliRunner().invoke(app, ["claims", "--markdown", "--out", str(out), "--readme", str(readme)])
    assert r.exit_code == 2 and "update_readme: readme must contain the markers" in r.output


def test_readme_columns_quick_full_and_changed(tiny):
    from optimlab.lab.claims.report import previous_verdicts

    out, data = tiny
    other = dict(data, mode="quick", claims=[dict(c, verdict="inconclusive") if c["claim_id"] == 9 else c
                                             for c in data["claims"]])
    prev = previous_verdicts()
    md = markdown_table(data, other, prev)
    row9 = next(line for line in md.splitlines() if line.startswith("| 9 |"))
    assert ("yes" in row9) == (data["claims"][9]["verdict"] == "inconclusive")
    row1 = next(line for line in md.splitlines() if line.startswith("| 1 |"))
    assert "| yes |" in row1
    was = prev["verdicts"]["2"]["verdict"]
    now = next(c for c in data["claims"] if c["claim_id"] == 2)["verdict"]
    row2 = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    assert (f"{was} → {now}" in row2) == (was != now) and ("| no |" in row2) == (was == now)


def test_claims_on_a_user_problem(tmp_path, monkeypatch):
    """The lecture's advice checked on the example model: only the claims that apply, with their settings."""
    from typer.testing import CliRunner

    from optimlab.cli import app

    monkeypatch.syspath_prepend(str(EXAMPLES))
    out = tmp_path / "mine"
    r = CliRunner().invoke(app, ["claims", "--tiny", "--problem", "my_model:build", "--out", str(out), "--no-progress",
                                 "--workers", "1"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "claims.json").read_text())
    assert data["problem"] == "my_model:build"
    ids = sorted(c["claim_id"] for c in data["claims"])
    assert ids == [1, 2, 3, 7, 8, 10, 11, 15]
    for c in data["claims"]:
        assert c["error"] is None, (c["claim_id"], c["error"])
        assert "my_model:build" in json.dumps(c["settings"]) and c["verdict"] in VERDICTS
    r = CliRunner().invoke(app, ["claims", "--markdown", "--out", str(out)])
    assert r.exit_code == 0 and "on `my_model:build`" in r.output
    r = CliRunner().invoke(app, ["claims", "--tiny", "--problem", "no_such_module:build", "--out", str(out)])
    assert r.exit_code == 2 and "cannot import module" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_every_claim_plans_valid_runs_in_every_mode(mode, tmp_path):
    """Planning (no runs): every claim's first round of specs passes the sweep's checks in quick and
    full mode (full mode's extra arms, such as RMSprop on the GAN, are not run by the tiny tests)."""
    from optimlab.lab.claims.base import Context
    from optimlab.lab.claims.runner import MODES, all_claims
    from optimlab.lab.sweep import check_specs

    ctx = Context(MODES[mode], {}, tmp_path, None)
    for claim in all_claims():
        specs = claim.plan(ctx)
        check_specs(specs)
        assert all(s.optimizer for s in specs), claim.id
