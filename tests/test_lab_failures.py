"""Failures, bad input and errors: named, checked before any work, retried, one line for the user."""

import io
import json
import logging
import sys

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("typer")

from lab_helpers import run_cli, write_user_problem  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import optimlab.lab as lab  # noqa: E402
from optimlab.cli import app  # noqa: E402
from optimlab.lab import RunSpec, check_specs, grid, load_results, run, run_dir, run_sweep, write_report  # noqa: E402
from optimlab.lab import runner as runner_mod  # noqa: E402


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(res, needle):
    lines = res.output.strip().splitlines()
    assert "Traceback" not in res.output, res.output
    assert lines and lines[-1].startswith("Error:") and needle in lines[-1], res.output


# --- corrupt results -----------------------------------------------------------------------------

def test_corrupt_or_empty_result_is_named_treated_as_unfinished_and_redone(tmp_path, caplog):
    specs = grid("quadratic", ["sgdm"], [0.01, 0.1], [0], steps=6, eval_every=3, problem_kwargs={"size": "tiny"})
    first = run_sweep(specs, tmp_path)
    empty, cut = (run_dir(tmp_path, s) / "result.json" for s in specs)
    empty.write_text("")
    cut.write_text(cut.read_text()[:40])
    with caplog.at_level(logging.WARNING):
        assert load_results(tmp_path) == {}
        with pytest.raises(ValueError, match="must contain finished runs"):
            write_report(tmp_path)
    assert str(empty) in caplog.text and str(cut) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = run_sweep(specs, tmp_path)
    assert str(empty) in caplog.text and str(cut) in caplog.text
    for s in specs:
        assert again[s.key()].train_loss == first[s.key()].train_loss
        assert json.loads((run_dir(tmp_path, s) / "result.json").read_text())["status"] == "ok"


def test_report_skips_and_names_a_corrupt_result(tmp_path, caplog):
    specs = grid("quadratic", ["sgdm", "adam"], [0.05], [0], steps=6, eval_every=3, problem_kwargs={"size": "tiny"})
    run_sweep(specs, tmp_path)
    bad = run_dir(tmp_path, specs[0]) / "result.json"
    bad.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        res = invoke("report", tmp_path)
    assert res.exit_code == 0, res.output
    assert str(bad) in caplog.text
    assert "adam" in (tmp_path / "report" / "index.html").read_text()


# --- the output folder ---------------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Record calls of the lab functions that do work (the CLI imports them at call time)."""
    calls = []
    for name in ("lr_find", "run_comparison", "run_sweep"):
        monkeypatch.setattr(lab, name, lambda *a, _n=name, **k: calls.append(_n))
    return calls


@pytest.mark.parametrize("command", [
    ["compare", "-p", "quadratic", "--size", "tiny", "--lrs", "0.1", "--seeds", "1"],
    ["lr-find", "-p", "quadratic", "--size", "tiny", "--num-steps", "10"],
    ["run", "-p", "quadratic", "-o", "sgd", "--size", "tiny"],
    ["schedule", "cosine", "--kw", "base_lr=0.1", "--kw", "T_max=10", "--steps", "10"],
])
@pytest.mark.parametrize("kind", ["file", "below a file"])
def test_unusable_out_is_one_line_naming_it_before_any_work(tmp_path, command, kind, no_work):
    f = tmp_path / "taken"
    f.write_text("x")
    out = f if kind == "file" else f / "sub"
    res = invoke(*command, "--out", out)
    assert res.exit_code == 2
    one_error_line(res, str(out))
    assert no_work == []


@pytest.mark.skipif(sys.platform != "linux", reason="needs /proc")
def test_unwritable_out(tmp_path, no_work):
    res = invoke("compare", "-p", "quadratic", "--size", "tiny", "--out", "/proc/optimlab-out")
    assert res.exit_code == 2
    one_error_line(res, "/proc/optimlab-out")
    assert no_work == []


# --- bad problem and optimizer arguments ---------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["--size", "huge"], "size must be one of"),
    (["--size", "tiny", "--problem-kw", "bogus=1"], "bogus"),
    (["--size", "tiny", "--opt-kw", "colour=1"], "colour"),
    (["--size", "tiny", "--opt-kw", "momentum=-1"], "momentum"),
])
def test_bad_problem_or_optimizer_arguments_are_refused_before_any_run(tmp_path, args, needle):
    res = invoke("compare", "-p", "quadratic", "--optimizers", "sgdm", "--lrs", "0.1", "--seeds", "1", *args,
                 "--out", tmp_path)
    assert res.exit_code == 2
    one_error_line(res, needle)
    assert not list(tmp_path.glob("runs/*"))


def test_check_specs_names_unknown_keywords():
    s = RunSpec(problem="digits_mlp", optimizer="lookahead_adam", lr=0.01, problem_kwargs={"size": "tiny"})
    check_specs([s.replace(optimizer_kwargs={"k": 3, "betas": [0.9, 0.99]})])  # wrapper and inner keywords
    with pytest.raises(ValueError, match=r"lookahead_adam: unknown keyword argument\(s\) 'kk'"):
        check_specs([s.replace(optimizer_kwargs={"kk": 3})])
    with pytest.raises(ValueError, match="digits_mlp: .*'bogus'.*it takes"):
        check_specs([s.replace(problem_kwargs={"bogus": 1})])


# --- failed runs ---------------------------------------------------------------------------------

def test_failed_runs_are_retried_and_changed_code_is_not_mistaken_for_the_old(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = ["run", "-p", "userprob:build", "-o", "sgd", "--lr", "0.05", "--steps", "6", "--out", "out"]
    write_user_problem(work, 0)  # broken
    p = run_cli(tmp_path, *args, cwd=work)
    assert p.returncode == 1 and "user code is broken" in p.stderr
    (result,) = (work / "out").glob("runs/*/result.json")
    stamp = result.stat().st_mtime_ns
    p = run_cli(tmp_path, *args, "--no-retry-failed", cwd=work)  # same code, told not to retry: the record stands
    assert p.returncode == 1 and result.stat().st_mtime_ns == stamp
    write_user_problem(work, 1.0)  # fixed: retried by default
    p = run_cli(tmp_path, *args, "--no-progress", cwd=work)
    assert p.returncode == 0, p.stderr
    first = json.loads(result.read_text())
    assert first["status"] == "ok"
    write_user_problem(work, 2.0)  # changed code: redone, even though the run had succeeded
    p = run_cli(tmp_path, *args, "--no-retry-failed", cwd=work)
    assert p.returncode == 0, p.stderr
    second = json.loads(result.read_text())
    assert second["sources"] != first["sources"]
    assert second["train_loss"][0] == pytest.approx(2 * first["train_loss"][0])


def test_a_sweep_where_every_run_failed_exits_non_zero(tmp_path):
    write_user_problem(tmp_path, 0)
    p = run_cli(tmp_path, "compare", "-p", "userprob:build", "--optimizers", "sgd", "--lrs", "0.1", "--seeds", "2",
                "--steps", "4", "--no-report", "--out", "out", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1].startswith("Error: all 2 runs failed")
    assert "user code is broken" in p.stderr and "Traceback" not in p.stderr


# --- the run command and the error wrapper -------------------------------------------------------

def test_run_from_a_spec_file_needs_no_problem_option(tmp_path):
    spec = RunSpec(problem="quadratic", optimizer="nag", lr=0.01, steps=8, eval_every=4, problem_kwargs={"size": "tiny"})
    f = tmp_path / "s.json"
    f.write_text(spec.to_json())
    res = invoke("run", "--spec", f, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert (run_dir(tmp_path / "out", spec) / "result.json").is_file()
    res = invoke("run", "--spec", f, "-p", "rosenbrock", "--out", tmp_path / "out")
    assert res.exit_code == 2
    one_error_line(res, "--spec and --problem are exclusive")
    one_error_line(invoke("run", "--out", tmp_path / "out"), "--problem and --optimizer are required")


@pytest.mark.parametrize("exc", [TypeError("bad operand"), KeyError("missing"), AttributeError("no attr")])
def test_our_bugs_show_a_traceback_and_ask_for_a_report(monkeypatch, tmp_path, exc):
    def broken(*args, **kwargs):
        raise exc

    monkeypatch.setattr(lab, "run_sweep", broken)
    res = invoke("run", "-p", "quadratic", "-o", "sgd", "--size", "tiny", "--out", tmp_path)
    assert res.exit_code == 1
    assert "Traceback" in res.output and type(exc).__name__ in res.output
    assert "bug in optimlab" in res.output and "report" in res.output


# --- progress ------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_single_run_shows_a_step_bar_on_a_terminal_only(monkeypatch):
    bars = []
    real = runner_mod._step_bar
    monkeypatch.setattr(runner_mod, "_step_bar", lambda spec: bars.append(real(spec)) or bars[-1])
    spec = RunSpec(problem="quadratic", optimizer="sgd", lr=0.01, steps=30, eval_every=10, problem_kwargs={"size": "tiny"})
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    run(spec, progress=True)
    assert bars[-1].total == 30 and bars[-1].n == 30
    assert "0/30" in term.getvalue()
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    run(spec, progress=True)
    assert pipe.getvalue() == ""


def test_cli_run_progress_option(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(runner_mod, "_step_bar", lambda spec: calls.append(spec) or None)
    args = ["run", "-p", "quadratic", "-o", "sgd", "--size", "tiny", "--steps", "5"]
    assert invoke(*args, "--no-progress", "--out", tmp_path / "a").exit_code == 0 and calls == []
    assert invoke(*args, "--out", tmp_path / "b").exit_code == 0 and len(calls) == 1
