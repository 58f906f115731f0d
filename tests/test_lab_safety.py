"""A results folder is data from anyone; the working directory is not an import path."""

import json
import logging
import sys

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("typer")

from lab_helpers import run_cli, write_user_problem  # noqa: E402

from optimlab.lab import RunResult, RunSpec, compare, grid, load_callable, run_dir, run_sweep  # noqa: E402
from optimlab.lab import problems  # noqa: E402
from optimlab.lab.problems import allow_import_from  # noqa: E402

MARKER = "import pathlib\npathlib.Path(__file__).with_name('IMPORTED-' + __name__).write_text('x')\n"


def crafted_result(target, **spec_kw) -> RunResult:
    """A well-formed result of a spec naming ``logging:basicConfig`` with arguments that truncate ``target``."""
    spec = RunSpec(problem="logging:basicConfig", optimizer="adam", lr=0.1, steps=2, eval_every=1,
                   problem_kwargs={"filename": str(target), "filemode": "w", "force": True}, probes=("params",),
                   **spec_kw)
    return RunResult(spec=spec.to_dict(), key=spec.key(), status="ok", steps_done=2, train_loss=[1.0, 0.5],
                     evals={"step": [0, 1, 2], "train_loss": [1.0, 0.7, 0.5]},
                     probes={"step": [0, 1, 2], "params": [[0.0, 0.0], [0.1, 0.1], [0.2, 0.2]]},
                     final={"train_loss": 0.5},
                     summary={"select_metric": "train_loss", "select_mode": "min", "best_value": 0.5,
                              "best_step": 2, "final_train_loss": 0.5, "gap": None, "steps_to_target": None},
                     time_per_step=1e-3, wall_time=0.1)


def write_raw(folder, result: RunResult) -> None:
    d = folder / "runs" / result.key
    d.mkdir(parents=True)
    data = result.to_dict()
    data.pop("sources")  # as an older optimlab wrote it
    (d / "result.json").write_text(json.dumps(data))


def test_report_never_imports_or_calls_what_a_result_names(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    results = tmp_path / "results"
    write_raw(results, crafted_result(target))
    proc = run_cli(tmp_path, "report", results, cwd=tmp_path)
    assert target.read_text() == "keep me"
    assert proc.returncode == 0, proc.stderr
    assert (results / "report" / "index.html").is_file()
    assert "Traceback" not in proc.stderr


def test_a_result_of_another_spec_is_not_trusted_and_is_redone(tmp_path, caplog):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    spec = RunSpec(problem="quadratic", optimizer="sgdm", lr=0.1, steps=5, eval_every=5, problem_kwargs={"size": "tiny"})
    d = run_dir(tmp_path, spec)
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps(crafted_result(target).to_dict()))
    root_handlers = list(logging.getLogger().handlers)
    with caplog.at_level(logging.WARNING):
        comp = compare("quadratic", ["sgdm"], out=tmp_path, lrs=[0.1], seeds=1, size="tiny", steps=5, eval_every=5)
    assert target.read_text() == "keep me" and logging.getLogger().handlers == root_handlers
    assert str(d / "result.json") in caplog.text and "another spec" in caplog.text
    assert comp.results[spec.key()].spec == spec.to_dict() and comp.results[spec.key()].status == "ok"


def test_the_working_directory_is_not_an_import_path(tmp_path):
    results = tmp_path / "results"
    run_sweep(grid("rosenbrock", ["adam"], [0.05], [0], steps=10, eval_every=5, problem_kwargs={"size": "tiny"}),
              results)
    work = tmp_path / "work"
    work.mkdir()
    (work / "matplotlib.py").write_text(MARKER)
    (work / "sklearn.py").write_text(MARKER)
    proc = run_cli(tmp_path, "report", results, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert not list(work.glob("IMPORTED-*")), "a module of the working directory was imported"


def test_a_named_user_problem_imports_from_the_working_directory_and_nothing_else_does(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    write_user_problem(work, 1.0)
    (work / "matplotlib.py").write_text(MARKER)
    proc = run_cli(tmp_path, "compare", "-p", "userprob:build", "--optimizers", "sgd", "--lrs", "0.05",
                   "--seeds", "2", "--steps", "5", "--workers", "2", "--out", work / "out", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "out" / "report" / "index.html").is_file()  # the report imported the real matplotlib
    assert not list(work.glob("IMPORTED-*"))
    assert len(list((work / "out" / "runs").glob("*/result.json"))) == 2


def test_allow_import_from_is_for_that_module_and_that_import_only(tmp_path, monkeypatch):
    write_user_problem(tmp_path, 1.0, name="allowed_mod_i11")
    write_user_problem(tmp_path, 1.0, name="other_mod_i11")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(problems, "_IMPORT_DIRS", {})
    assert allow_import_from("allowed_mod_i11:build", tmp_path)
    assert not allow_import_from("missing_mod_i11:build", tmp_path)
    try:
        assert callable(load_callable("allowed_mod_i11:build"))
        assert str(tmp_path) not in sys.path and str(tmp_path.resolve()) not in sys.path
        with pytest.raises(ValueError, match="cannot import module 'other_mod_i11'"):
            load_callable("other_mod_i11:build")
    finally:
        sys.modules.pop("allowed_mod_i11", None)
