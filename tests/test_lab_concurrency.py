"""Real processes: Ctrl-C during a pooled comparison, and two comparisons sharing one results folder."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("typer")
pytest.importorskip("filelock")

from lab_helpers import cli_env, family, interrupt, launcher, start_cli  # noqa: E402

from optimlab.lab import RunResult  # noqa: E402


def finished(root) -> dict:
    return {p.parent.name: p.read_bytes() for p in root.glob("runs/*/result.json")}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_ctrl_c_stops_a_pooled_compare_quickly_and_keeps_finished_runs(tmp_path):
    out = tmp_path / "out"
    proc = start_cli(tmp_path, "compare", "-p", "digits_mlp", "--optimizers", "sgdm,adam", "--lrs", "0.01,0.1",
                     "--seeds", "2", "--steps", "400", "--workers", "2", "--out", out)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not finished(out) and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None and finished(out), "the comparison should be running with a run finished"
    finally:
        stdout, stderr, took = interrupt(proc)
    assert proc.returncode == 130, stderr
    assert took < 5.0, f"took {took:.1f} s to stop"
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Interrupted: ") and "of 8 runs are finished" in lines[0], stderr
    assert "Traceback" not in stdout + stderr
    kept = finished(out)
    assert 1 <= len(kept) < 8
    for data in kept.values():
        assert RunResult.from_dict(json.loads(data)).status == "ok"
    deadline = time.time() + 5
    while family([proc.pid]) and time.time() < deadline:
        time.sleep(0.1)
    assert family([proc.pid]) == [], "workers outlived the interrupted comparison"


def test_two_compares_on_one_folder_share_the_work_safely(tmp_path):
    out = tmp_path / "out"
    args = ["compare", "-p", "digits_mlp", "--optimizers", "sgdm,adam", "--lrs", "0.05", "--seeds", "2",
            "--steps", "300", "--size", "tiny", "--no-report", "--out", str(out)]
    procs = [subprocess.Popen([sys.executable, str(launcher(tmp_path)), *args], cwd=tmp_path, env=cli_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outputs):
        assert p.returncode == 0, e
    assert outputs[0][0] == outputs[1][0] and "sgdm" in outputs[0][0]  # the same leaderboard from the same runs
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 4
    for d in runs:
        res = RunResult.from_dict(json.loads((d / "result.json").read_text()))
        assert res.status == "ok"
        lines = (d / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["step"] for x in lines if '"loss"' in x] == list(range(300)), "one writer per run"
    assert not list(out.glob("runs/*/.*.tmp"))


def test_a_ctrl_c_while_a_run_is_handed_to_the_pool_is_not_lost():
    """The pool hands a run over with SIGINT held, not ignored: a Ctrl-C that comes then is raised
    when the hand-over ends (an ignored one was lost, and the sweep ran to its end), and the
    handler and signal mask are restored."""
    from optimlab.lab.executors import sigint_held

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with sigint_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            reached = True  # the block is not interrupted
    assert reached
    assert signal.getsignal(signal.SIGINT) is before
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
