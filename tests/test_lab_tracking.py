"""Runs recorded in MLflow (a real local server on SQLite, and the default store in the results folder)
and in TensorBoard event files, read back and compared with the results on disk."""

import json
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from lab_helpers import kill_family, write_user_problem  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from optimlab.cli import app  # noqa: E402
from optimlab.lab import RunSpec, grid, load_results, run_sweep  # noqa: E402
from optimlab.lab.problems import allow_import_from  # noqa: E402
from ray_cluster import free_port  # noqa: E402


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1, backed by SQLite; stopped by the ids of the processes it started."""
    d = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}", "--artifacts-destination",
                             str(d / "artifacts"), "--workers", "1"],
                            stdout=open(d / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("mlflow server did not start:\n" + (d / "server.log").read_text()[-3000:])
            time.sleep(0.25)
        yield uri
    finally:
        assert kill_family([proc.pid]) == [], "processes of the MLflow server outlived it"
        proc.wait()


def history(client, run_id, key) -> list:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def check_mlflow_run(client, mrun, res, run_dir):
    """An MLflow run against the result on disk: params, per-step loss, evaluations, summary, artifacts."""
    p, spec = mrun.data.params, res.spec
    assert (p["problem"], p["optimizer"], float(p["lr"]), int(p["seed"]), int(p["steps"])) == \
        (spec["problem"], spec["optimizer"], spec["lr"], spec["seed"], spec["steps"])
    for k, v in spec["problem_kwargs"].items():
        assert p[f"problem_kwargs.{k}"] == v
    rid = mrun.info.run_id
    assert history(client, rid, "loss") == res.train_loss
    for k, vals in res.evals.items():
        if k != "step":
            assert history(client, rid, k) == vals
            assert [m.step for m in sorted(client.get_metric_history(rid, k), key=lambda m: m.step)] == res.evals["step"]
    for k in ("best_value", "final_train_loss"):
        if res.summary.get(k) is not None:
            assert mrun.data.metrics[f"summary.{k}"] == res.summary[k]
    assert mrun.data.tags["optimlab.key"] == res.key and mrun.data.tags["optimlab.status"] == res.status
    assert sorted(a.path for a in client.list_artifacts(rid)) == ["result.json", "spec.json"]
    local = client.download_artifacts(rid, "result.json")
    assert open(local, "rb").read() == (run_dir / "result.json").read_bytes()


def test_cli_compare_logs_every_run_once_to_an_mlflow_server(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "cmp"
    args = ["compare", "-p", "quadratic", "--optimizers", "sgdm,adam", "--lrs", "0.05", "--seeds", "2", "--size",
            "tiny", "--steps", "25", "--eval-every", "5", "--out", str(out), "--no-progress"]
    res = CliRunner().invoke(app, [*args, "--no-report"])  # not tracked: the runs finish first
    assert res.exit_code == 0, res.output
    tracked = [*args, "--track", "mlflow", "--tracking-uri", mlflow_server, "--experiment", "cmp-test"]
    for extra in (["--no-report"], []):  # tracking turned on logs the finished runs; a second call logs none twice
        res = CliRunner().invoke(app, [*tracked, *extra])
        assert res.exit_code == 0, res.output
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("cmp-test")
    runs = client.search_runs([exp.experiment_id])
    reports = [r for r in runs if r.data.tags.get("optimlab.kind") == "report"]
    logged = [r for r in runs if "optimlab.key" in r.data.tags]
    results = load_results(out)
    assert sorted(r.data.tags["optimlab.key"] for r in logged) == sorted(results)  # once each
    for r in logged:
        assert r.info.status == "FINISHED"
        check_mlflow_run(client, r, results[r.data.tags["optimlab.key"]], out / "runs" / r.data.tags["optimlab.key"])
    assert len(reports) == 1  # the report, as artifacts
    files = {a.path for a in client.list_artifacts(reports[0].info.run_id, "report")}
    figures = {a.path for a in client.list_artifacts(reports[0].info.run_id, "report/figures")}
    assert "report/index.html" in files and any(f.endswith(".png") for f in figures), (files, figures)


def test_sweep_logs_to_the_default_store_and_tensorboard_as_runs_finish(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.syspath_prepend(str(tmp_path))
    write_user_problem(tmp_path, 0)  # a problem whose every step raises: a failed run
    allow_import_from("userprob:build", tmp_path)
    specs = grid("quadratic", ["sgdm", "nag"], [0.05], [0], steps=20, eval_every=5, problem_kwargs={"size": "tiny"})
    specs.append(RunSpec(problem="userprob:build", optimizer="sgd", lr=0.1, steps=4, eval_every=2))
    out = tmp_path / "out"
    results = run_sweep(specs, out, track=("mlflow", "tensorboard"))
    client = MlflowClient(f"sqlite:///{out / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("out")
    runs = {r.data.tags["optimlab.key"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == set(results)
    for key, res in results.items():
        check_mlflow_run(client, runs[key], res, out / "runs" / key)
        acc = EventAccumulator(str(out / "tensorboard" / key), size_guidance={"scalars": 0})
        acc.Reload()
        if not res.train_loss:  # the failed run: no step was taken
            assert res.status == "failed" and "loss" not in acc.Tags()["scalars"]
            continue
        loss = acc.Scalars("loss")
        assert [e.step for e in loss] == list(range(len(res.train_loss)))
        assert [e.value for e in loss] == pytest.approx(res.train_loss, rel=1e-6)  # float32 in event files
        for k, vals in res.evals.items():
            if k != "step":
                assert [(e.step, e.value) for e in acc.Scalars(f"eval/{k}")] == \
                    [(s, pytest.approx(v, rel=1e-6)) for s, v in zip(res.evals["step"], vals)]
    failed = [k for k, r in results.items() if r.status == "failed"]
    assert len(failed) == 1
    assert runs[failed[0]].info.status == "FAILED"
    assert "user code is broken" in runs[failed[0]].data.tags["optimlab.error"]
    assert (out / "mlruns" / "artifacts").is_dir() and json.loads(
        (out / "runs" / failed[0] / "result.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("args, needle", [
    (["--tracking-uri", "http://127.0.0.1:9"], "--tracking-uri needs --track mlflow"),
    (["--track", "wandb"], "track must be one of 'mlflow', 'tensorboard'"),
    (["--address", "127.0.0.1:1"], "--address is for --executor ray"),
    (["--executor", "dask"], "executor must be one of 'local', 'ray'"),
])
def test_engine_and_tracking_options_are_checked_before_any_run(tmp_path, args, needle):
    res = CliRunner().invoke(app, ["compare", "-p", "quadratic", "--size", "tiny", "--lrs", "0.1", "--seeds", "1",
                                   *args, "--out", str(tmp_path)])
    assert res.exit_code == 2 and needle in res.output.strip().splitlines()[-1], res.output
    assert not (tmp_path / "runs").exists()


def test_a_tracking_server_that_is_not_there_stops_the_sweep_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # (the default, 2 retries, takes seconds)
    port = free_port()  # nothing listens there
    res = CliRunner().invoke(app, ["compare", "-p", "quadratic", "--size", "tiny", "--lrs", "0.1", "--seeds", "1",
                                   "--track", "mlflow", "--tracking-uri", f"http://127.0.0.1:{port}",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 2 and f"127.0.0.1:{port}" in res.output.strip().splitlines()[-1], res.output
    assert not list(tmp_path.glob("runs/*/result.json"))


def test_missing_extras_are_named(tmp_path, monkeypatch):
    from optimlab.lab.ray_executor import RayExecutor
    from optimlab.lab.tracking import make_trackers

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(ImportError, match=r"pip install 'optimlab\[ray\]'"):
        RayExecutor().slots()
    with pytest.raises(ImportError, match=r"pip install 'optimlab\[track\]'"):
        make_trackers(["mlflow"], tmp_path)
    res = CliRunner().invoke(app, ["compare", "-p", "quadratic", "--size", "tiny", "--lrs", "0.1", "--seeds", "1",
                                   "--executor", "ray", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "optimlab[ray]" in res.output and "Traceback" not in res.output, res.output
