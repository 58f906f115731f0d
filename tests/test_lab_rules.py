"""One place per rule: each rule of the lab is written once and every user of it goes through that one."""

import ast
import importlib
import math
import statistics
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("typer")

from typer.testing import CliRunner  # noqa: E402

from optimlab.cli import app  # noqa: E402
from optimlab.lab import (  # noqa: E402
    RunSpec, compare, lr_find, make_problem, problem_info, result, run, run_defaults, tail_loss,
)
compare_mod = importlib.import_module("optimlab.lab.compare")  # the package's `compare` is the function
from optimlab.lab import runner as runner_mod  # noqa: E402
from optimlab.lab.report import COLUMNS  # noqa: E402

LAB = Path(__file__).resolve().parents[1] / "src" / "optimlab" / "lab"


def defined_functions(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef):
                out.setdefault(node.name, []).append(str(p.relative_to(root)))
    return out


def test_each_result_rule_is_defined_once_in_result_py():
    defs = defined_functions(LAB)
    for name in ("score", "tail_loss", "steps_to_target", "summarize", "run_defaults"):
        assert len(defs.get(name, [])) == 1, (name, defs.get(name))
    for gone in ("_score", "_tail"):  # the second copies that compare.py kept
        assert gone not in defs, (gone, defs[gone])
    assert defs["score"] == ["result.py"] and defs["tail_loss"] == ["result.py"]
    from optimlab.lab.claims import base

    from optimlab.lab.claims import tuning

    assert base.score is result.score and compare_mod.score is result.score and tuning.score is result.score


def no_train_loss_problem(seed, size="tiny"):
    """The quadratic, evaluated without a train_loss: the summary falls back on the per-step losses."""
    p = make_problem("quadratic", seed, size=size)
    evaluate = p.evaluate
    p.evaluate = lambda model: {"log10_loss": evaluate(model)["log10_loss"]}
    p.select_metric = "log10_loss"
    return p


def test_final_train_loss_tail_is_the_same_rule_in_runs_and_leaderboards():
    res = run(RunSpec(problem="test_lab_rules:no_train_loss_problem", optimizer="sgd", lr=0.01, steps=30,
                      eval_every=10))
    assert res.status == "ok"
    assert res.summary["final_train_loss"] == statistics.fmean(res.train_loss[-10:]) == tail_loss(res.train_loss)
    assert tail_loss(list(range(400))) == statistics.fmean(range(380, 400))  # 5% of the steps once past 200


def test_run_defaults_are_shared_by_run_and_compare(tmp_path):
    info = problem_info("rosenbrock")
    d = run_defaults("rosenbrock", size="tiny")
    assert d == {"steps": info.tiny_steps, "eval_every": min(info.eval_every, info.tiny_steps),
                 "problem_kwargs": {"size": "tiny"}, "probes": ("params",)}
    assert "tiny_steps" not in (LAB.parent / "cli.py").read_text()
    runner = CliRunner()
    res = runner.invoke(app, ["run", "-p", "rosenbrock", "-o", "adam", "--lr", "0.05", "--size", "tiny",
                              "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["compare", "-p", "rosenbrock", "--optimizers", "adam", "--lrs", "0.05", "--seeds", "1",
                              "--size", "tiny", "--no-report", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("runs/*"))) == 1  # the comparison's run is the run command's run


def test_runs_and_the_range_test_step_through_one_train_step(monkeypatch):
    calls = []
    real = runner_mod.train_step

    def counting(problem, optimizers, batch, step):
        calls.append(step)
        return real(problem, optimizers, batch, step)

    monkeypatch.setattr(runner_mod, "train_step", counting)
    res, _ = lr_find("quadratic", "sgd", problem_kwargs={"size": "tiny"}, num_steps=12)
    assert calls == list(range(len(calls))) and 0 < len(res.lrs) <= len(calls) <= 12
    calls.clear()
    run(RunSpec(problem="quadratic", optimizer="sgd", lr=0.01, steps=7, eval_every=7, problem_kwargs={"size": "tiny"}))
    assert calls == list(range(7))


def test_table_columns_are_the_same_on_the_command_line_and_in_the_report(tmp_path):
    res = CliRunner().invoke(app, ["compare", "-p", "quadratic", "--optimizers", "sgdm,adam", "--lrs", "0.05",
                                   "--seeds", "1", "--size", "tiny", "--steps", "10", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    header = next(line for line in res.output.splitlines() if line.lstrip().startswith("#"))
    positions = [header.index(h) for _, h in COLUMNS]
    assert positions == sorted(positions)
    page = (tmp_path / "report" / "index.html").read_text()
    assert "".join(f"<th>{h}</th>" for _, h in COLUMNS) in page.replace("&amp;", "&")


def test_compare_returns_data_and_writes_no_report(tmp_path):
    comp = compare("quadratic", ["sgdm"], out=tmp_path, lrs=[0.05], seeds=1, size="tiny", steps=10)
    assert comp.rows and comp.chosen and not hasattr(comp, "report")
    assert not (tmp_path / "report").exists() and (tmp_path / "comparison.json").is_file()


def test_claims_probe_uses_adabounds_own_bounds(monkeypatch):
    from optimlab.lab.claims import probes

    import optimlab

    model = torch.nn.Linear(3, 1)
    opt = optimlab.create_optimizer("adabound", model.parameters(), lr=1e-3, final_lr=0.1, gamma=1e-3)
    model(torch.ones(2, 3)).sum().backward()
    opt.step()
    monkeypatch.setattr(probes, "rate_bounds", lambda final_lr, gamma, t: (0.25 * final_lr, 4.0 * final_lr))
    out = probes.adabound_step_sizes(1, model, opt)
    assert out["lower"] == 0.25 * out["final_lr"] and out["upper"] == 4.0 * out["final_lr"]
    monkeypatch.undo()
    from optimlab.optim.adabound import rate_bounds

    lo, hi = rate_bounds(out["final_lr"], 1e-3, 1.0)
    out = probes.adabound_step_sizes(1, model, opt)
    assert (out["lower"], out["upper"]) == (lo, hi) and math.isfinite(hi)


@pytest.mark.parametrize("module", ["runner", "compare", "report", "sweep", "store", "executors", "result", "spec",
                                    "ray_executor", "tracking", "progress"])
def test_lab_functions_are_short(module):
    """The loop, the comparison and the report read through named helpers (nanoGPT's loop is the model)."""
    tree = ast.parse((LAB / f"{module}.py").read_text())
    long = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 45}
    assert not long, long
