"""Sweeps: pool == inline, resume after SIGKILL, comparisons, the report."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from optimlab.lab import (  # noqa: E402
    RunResult, RunSpec, choose_lrs, compare, grid, leaderboard, load_results, run, run_sweep, write_report,
)


def test_pool_results_equal_inline_results(tmp_path):
    specs = grid("digits_mlp", ["sgdm", "adam"], [0.05], [0], steps=15, eval_every=5,
                 problem_kwargs={"size": "tiny"})
    pooled = run_sweep(specs, tmp_path, workers=2)
    for s in specs:
        inline = run(s)  # inline, in this process (run() uses 1 thread, like a worker)
        assert pooled[s.key()].train_loss == inline.train_loss
        assert pooled[s.key()].evals == inline.evals


def test_sweep_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    root = tmp_path / "sweep"
    specs = grid("digits_mlp", ["sgd", "sgdm", "adam"], [0.01, 0.1], [0, 1], steps=300, eval_every=100)
    script = textwrap.dedent(f"""
        from optimlab.lab import grid, run_sweep
        specs = grid("digits_mlp", ["sgd", "sgdm", "adam"], [0.01, 0.1], [0, 1], steps=300, eval_every=100)
        run_sweep(specs, {str(root)!r}, workers=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 120
    done = []
    try:
        while time.time() < deadline:
            done = list(root.glob("runs/*/result.json"))
            if len(done) >= 2 or proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, at once, mid-flight
        proc.wait()
    finished_before = {p.parent.name: p.read_bytes() for p in root.glob("runs/*/result.json")}
    assert 2 <= len(finished_before), "the sweep should have finished a few runs before the kill"
    results = run_sweep(specs, root, workers=1)
    assert set(results) == {s.key() for s in specs} and len(results) == len(specs)
    assert sorted(p.name for p in (root / "runs").iterdir()) == sorted(s.key() for s in specs)
    for key, content in finished_before.items():  # finished runs were kept, not redone
        assert (root / "runs" / key / "result.json").read_bytes() == content
    for s in specs:
        lines = (root / "runs" / s.key() / "metrics.jsonl").read_text().splitlines()
        steps = [json.loads(x)["step"] for x in lines if '"loss"' in x]
        assert steps == list(range(300)), "a redone run has each step once"
        assert results[s.key()].status == "ok"
    assert not list(root.glob("runs/*/.*.tmp"))


def _fake(opt, lr, seed, value, status="ok", mode="max"):
    spec = RunSpec(problem="p", optimizer=opt, lr=lr, seed=seed, steps=10, eval_every=5)
    return RunResult(spec=spec.to_dict(), key=spec.key(), status=status, steps_done=10,
                     train_loss=[1.0] * 10, evals={"step": [0, 5, 10], "val_acc": [0.0, value, value]},
                     summary={"select_metric": "val_acc", "select_mode": mode, "best_value": value,
                              "final_train_loss": 1.0 - value, "gap": 0.1})


def test_lr_choice_uses_mean_over_seeds_and_counts_divergence_as_worst():
    results = [
        _fake("a", 0.1, 0, 0.9), _fake("a", 0.1, 1, 0.5),      # mean 0.7
        _fake("a", 0.01, 0, 0.8), _fake("a", 0.01, 1, 0.75),   # mean 0.775 -> chosen
        _fake("b", 1.0, 0, 0.99), _fake("b", 1.0, 1, 0.0, status="diverged"),
        _fake("b", 0.1, 0, 0.6), _fake("b", 0.1, 1, 0.6),      # chosen: 1.0 diverged once
    ]
    assert choose_lrs(results) == {("p", "a"): 0.01, ("p", "b"): 0.1}
    rows = leaderboard(results)
    assert [(r["optimizer"], r["rank"]) for r in rows] == [("a", 1), ("b", 2)]
    assert rows[0]["best_value"] == pytest.approx(0.775) and rows[0]["seeds"] == 2


def test_compare_writes_report_with_every_figure(tmp_path):
    comp = compare("digits_logreg", ["sgdm", "adam"], out=tmp_path, trials=2, lr_range=(1e-2, 1.0), seeds=2,
                   size="tiny", steps=30, eval_every=10)
    compare("rosenbrock", ["sgdm", "adam"], out=tmp_path, trials=2, lr_range=(1e-3, 1e-2), seeds=1, size="tiny")
    assert len(comp.results) == 2 * 2 * 2
    for (_, cfg), lr in comp.chosen.items():
        assert lr in comp.settings["lrs"][cfg]
    index = write_report(tmp_path)
    page = index.read_text()
    manifest = json.loads((index.parent / "manifest.json").read_text())
    assert set(manifest) == {"digits_logreg(size=tiny)", "rosenbrock(size=tiny)"}
    names = {Path(f).name.split("_size_tiny_")[1] for figs in manifest.values() for f in figs}
    assert {"train_loss.png", "val_acc.png", "val_loss.png", "lr_sensitivity.png", "trajectories.png"} <= names
    for figs in manifest.values():
        for f in figs:
            assert (index.parent / f).stat().st_size > 1000 and f'src="{f}"' in page
    csv_rows = (index.parent / "leaderboard.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 4
    runs_csv = (index.parent / "runs.csv").read_text().splitlines()
    assert len(runs_csv) == 1 + len(load_results(tmp_path))
    # a second compare call reruns nothing
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/result.json")}
    compare("digits_logreg", ["sgdm", "adam"], out=tmp_path, trials=2, lr_range=(1e-2, 1.0), seeds=2,
            size="tiny", steps=30, eval_every=10)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/result.json")} == before


def test_compare_tunes_on_fewer_seeds_then_runs_all(tmp_path):
    comp = compare("quadratic", ["sgdm", "nag"], out=tmp_path, trials=3, lr_range=(1e-3, 1e-1), seeds=3,
                   tune_seeds=1, size="tiny")
    # 2 optimizers x 3 lrs x 1 tuning seed + 2 optimizers x 2 more seeds at the chosen lr
    assert len(comp.results) == 6 + 4
    assert all(r["seeds"] == 3 for r in comp.rows)


def test_user_problem_by_import_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    spec = RunSpec(problem="my_model:build", optimizer="adam", lr=0.01, steps=60, eval_every=30,
                   problem_kwargs={"size": "tiny"})
    res = run(spec)
    assert res.status == "ok" and res.evals["train_loss"][-1] < res.evals["train_loss"][0]
    assert {"val_acc", "test_acc", "gap"} <= set(res.final)


def test_progress_log_has_a_line_per_event_and_the_bar_shows_the_counts(tmp_path, monkeypatch):
    import io

    from lab_helpers import write_user_problem

    from optimlab.lab.problems import allow_import_from
    from optimlab.lab.progress import read_progress_log

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    write_user_problem(tmp_path, 0)  # every step raises: a failed run
    allow_import_from("userprob:build", tmp_path)
    specs = grid("quadratic", ["sgdm", "adam", "nag"], [0.05], [0], steps=20, eval_every=10,
                 problem_kwargs={"size": "tiny"})
    specs.append(RunSpec(problem="userprob:build", optimizer="sgd", lr=0.1, steps=4, eval_every=2))
    out = tmp_path / "out"
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    results = run_sweep(specs, out, progress=True)
    monkeypatch.undo()
    events = read_progress_log(out)
    names = [e["event"] for e in events]
    assert names[0] == "sweep-start" and names[-1] == "sweep-end"
    assert (events[0]["total"], events[0]["todo"], events[0]["finished"]) == ("4", "4", "0")
    assert names.count("start") == 4 and names.count("finish") == 3 and names.count("fail") == 1
    for s in specs:  # each run: one start, then one finish or fail, naming its key
        mine = [e for e in events if e.get("key") == s.key()]
        assert [e["event"] for e in mine] == ["start", "fail" if s.problem.startswith("user") else "finish"]
        assert mine[1]["status"] == results[s.key()].status and float(mine[1]["secs"]) >= 0
        assert mine[1]["worker"].endswith(f":{os.getpid()}")  # inline: this process ran it
    fail = next(e for e in events if e["event"] == "fail")
    assert fail["error"] == "RuntimeError: user code is broken"
    times = [e["time"] for e in events]
    assert times == sorted(times)
    done = [e["done"] for e in events if e["event"] in ("finish", "fail")]
    assert done == ["1/4", "2/4", "3/4", "4/4"] and events[-2]["event"] == "worker" and events[-2]["runs"] == "4"
    assert [e["eta"] for e in events if e["event"] in ("finish", "fail")][-1] == "0s"
    assert events[-1]["ok"] == "3" and events[-1]["failed"] == "1"
    bar = term.getvalue()
    assert "4/4" in bar and "failed 1" in bar and "runs/min each" in bar
    run_sweep(specs, out, retry_failed=False)  # a resumed call with nothing to do logs that too
    again = read_progress_log(out)[len(events):]
    assert [e["event"] for e in again] == ["sweep-start", "sweep-end"] and again[0]["todo"] == "0"
