"""The optimlab command through Typer's test runner, on tiny problems."""

import json

import pytest

pytest.importorskip("typer")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from typer.testing import CliRunner  # noqa: E402

from optimlab.cli import app  # noqa: E402

runner = CliRunner()
COMMANDS = ["list", "run", "compare", "lr-find", "schedule", "report"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command):
    res = invoke(command, "--help")
    assert res.exit_code == 0 and "Usage" in res.output


def test_list_names_optimizers_problems_schedules():
    res = invoke("list")
    assert res.exit_code == 0
    for name in ("sgdm", "adam", "digits_mlp", "rosenbrock", "gan", "sequence"):
        assert name in res.output
    assert invoke("list", "problems").output.count("\n") > 10


def test_run_writes_the_run_directory(tmp_path):
    res = invoke("run", "-p", "quadratic", "-o", "nag", "--lr", "0.01", "--size", "tiny", "--steps", "20",
                 "--opt-kw", "momentum=0.8", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    (result,) = tmp_path.glob("runs/*/result.json")
    data = json.loads(result.read_text())
    assert data["status"] == "ok" and data["spec"]["optimizer_kwargs"] == {"momentum": 0.8}
    assert len(data["train_loss"]) == 20


def test_compare_then_report(tmp_path):
    res = invoke("compare", "-p", "digits_logreg", "--optimizers", "sgdm,adam", "--lrs", "0.01,0.1", "--seeds", "1",
                 "--size", "tiny", "--steps", "20", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "sgdm" in res.output and "adam" in res.output and "report:" in res.output
    index = tmp_path / "report" / "index.html"
    index.unlink()
    res = invoke("report", tmp_path)
    assert res.exit_code == 0 and index.is_file()


def test_lr_find_and_schedule_write_plots(tmp_path):
    pytest.importorskip("optimlab.lab.lrplots")
    res = invoke("lr-find", "-p", "digits_mlp", "-o", "sgdm", "--size", "tiny", "--num-steps", "30", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "valley" in res.output and list(tmp_path.glob("lr_find_*.png"))
    data = json.loads(next(tmp_path.glob("lr_find_*.json")).read_text())
    assert len(data["result"]["lrs"]) <= 30
    res = invoke("schedule", "cosine", "--kw", "base_lr=0.1", "--kw", "T_max=50", "--steps", "50", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "schedule_cosine.png").stat().st_size > 1000


@pytest.mark.parametrize("args, needle", [
    (["run", "-p", "nope", "-o", "adam"], "problem must be one of"),
    (["run", "-p", "quadratic", "-o", "adamx", "--size", "tiny"], "unknown optimizer 'adamx'"),
    (["run", "-p", "quadratic", "-o", "adam", "--lr", "-1"], "lr must be >= 0"),
    (["run", "-p", "quadratic", "-o", "adam", "--size", "huge"], "size must be one of"),
    (["run", "-p", "quadratic", "-o", "adam", "--opt-kw", "colour"], "key=value"),
    (["compare", "-p", "quadratic", "--trials", "0"], "trials must be"),
    (["compare", "-p", "quadratic", "--lr-method", "guess"], "lr_method must be one of"),
    (["schedule", "nosuch"], "nosuch"),
    (["report", "/nonexistent/dir"], "write_report"),
    (["list", "colours"], "list: what must be one of"),
])
def test_bad_options_give_one_line_error(args, needle, tmp_path):
    res = invoke(*args, "--out", tmp_path) if args[0] in ("run", "compare", "schedule") else invoke(*args)
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    err = res.output.strip().splitlines()
    assert err[-1].startswith("Error:") and needle in err[-1], res.output
