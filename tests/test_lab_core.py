"""The lab's core: specs, problems, runs (determinism, divergence, failures, files), probes."""

import json
import math
import subprocess
import sys

import pytest
import torch

pytest.importorskip("sklearn")

from optimlab.lab import (  # noqa: E402
    RunSpec, available_problems, grid, lr_grid, make_problem, problem_info, run, run_sweep,
)

# a learning rate per family that makes every problem learn within its tiny step count
_TINY_LR = {"2d": 0.05, "quadratic": 0.05, "online": 0.1, "gan": 5e-3}


def tiny(problem, optimizer="adam", lr=None, **kw):
    info = problem_info(problem)
    kw.setdefault("steps", info.tiny_steps)
    kw.setdefault("eval_every", max(1, kw["steps"] // 3))
    pkw = {"size": "tiny", **kw.pop("problem_kwargs", {})}
    return RunSpec(problem=problem, optimizer=optimizer, lr=lr if lr is not None else _TINY_LR.get(info.family, 1e-2),
                   problem_kwargs=pkw, **kw)


def test_spec_json_round_trip_and_key():
    spec = RunSpec(problem="digits_mlp", optimizer="adamw", lr=3e-3, steps=7, eval_every=2, seed=4,
                   optimizer_kwargs={"betas": (0.9, 0.99), "weight_decay": 0.01}, problem_kwargs={"size": "tiny"},
                   schedule={"name": "cosine", "kwargs": {"base_lr": 0.1, "T_max": 7}}, probes=["lr", "grad_norm"],
                   probe_every=3, target_loss=0.5, tag="claim-x")
    back = RunSpec.from_json(spec.to_json())
    assert back == spec and back.key() == spec.key()
    assert json.loads(spec.to_json())["optimizer_kwargs"]["betas"] == [0.9, 0.99]
    assert spec.replace(seed=5).key() != spec.key()
    assert len({spec, back}) == 1


@pytest.mark.parametrize("d, pattern", [
    ({"problem": "x", "optimizer": "adam", "colour": 1}, "unknown key.*'colour'"),
    ({"problem": "x"}, "missing key.*'optimizer'"),
    ({"problem": "x", "optimizer": "adam", "steps": 0}, r"RunSpec: steps must be .*>= 1, got 0"),
    ({"problem": "x", "optimizer": "adam", "lr": -1.0}, r"RunSpec: lr must be >= 0, got -1.0"),
    ({"problem": "x", "optimizer": "adam", "optimizer_kwargs": {"lr": 1.0}}, "lr field"),
    ({"problem": "x", "optimizer": "adam", "probes": ["nonsense"]}, "probes must be among"),
    ({"problem": "x", "optimizer": "adam", "schedule": {"kwargs": {}}}, "schedule must be None or"),
])
def test_spec_errors(d, pattern):
    with pytest.raises(ValueError, match=pattern):
        RunSpec.from_dict(d)


def test_grid_and_lr_grid():
    assert lr_grid(5, 1e-4, 1.0) == [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    specs = grid("quadratic", ["sgdm", "adam"], {"sgdm": [0.1, 0.01], "adam": [0.01]}, [0, 1], steps=5, eval_every=5)
    assert len(specs) == 6 and len({s.key() for s in specs}) == 6
    with pytest.raises(ValueError, match="lr_grid: trials must be"):
        lr_grid(0)


@pytest.mark.parametrize("problem", ["digits_cnn", "sequence", "gan", "curriculum"])
def test_run_is_deterministic(problem):
    a, b = run(tiny(problem, steps=12, eval_every=4)), run(tiny(problem, steps=12, eval_every=4))
    assert a.status == "ok"
    assert a.train_loss == b.train_loss and a.evals == b.evals
    c = run(tiny(problem, steps=12, eval_every=4, seed=1))
    assert c.train_loss != a.train_loss


@pytest.mark.parametrize("problem", sorted(available_problems()))
def test_each_problem_trains(problem):
    info = problem_info(problem)
    steps = info.tiny_steps
    kw = {"optimizer_kwargs": {"betas": [0.5, 0.999]}, "lr": 3e-3} if problem == "gan" else {}
    res = run(tiny(problem, steps=steps, eval_every=steps, **kw))
    assert res.status == "ok", res.error
    assert len(res.train_loss) == steps and res.evals["step"] == [0, steps]
    key = "swd" if problem == "gan" else "train_loss"
    first, last = res.evals[key]
    assert last < first, (problem, first, last)
    if info.family in ("vision", "noise", "curriculum", "sequence"):
        assert {"val_loss", "val_acc", "test_loss", "test_acc", "gap"} <= set(res.final)
        assert res.final["gap"] == pytest.approx(res.final["val_loss"] - res.final["train_loss"])


def test_divergence_is_recorded(tmp_path):
    spec = RunSpec(problem="quadratic", optimizer="sgd", lr=10.0, steps=200, eval_every=50,
                   problem_kwargs={"size": "tiny"})
    res = run(spec, tmp_path / "r")
    assert res.status == "diverged"
    assert 0 < res.diverged_step < 200 and res.steps_done == res.diverged_step + 1
    assert not math.isfinite(res.train_loss[-1]) and all(math.isfinite(v) for v in res.train_loss[:-1])
    assert json.loads((tmp_path / "r" / "result.json").read_text())["status"] == "diverged"


def test_failure_is_recorded_and_sweep_goes_on(tmp_path):
    bad = tiny("rosenbrock", probes=("math:sqrt",))  # sqrt(step, model, opt): a TypeError inside the run
    good = tiny("rosenbrock")
    results = run_sweep([bad, good], tmp_path)
    assert results[bad.key()].status == "failed" and "TypeError" in results[bad.key()].error
    assert results[good.key()].status == "ok"


def test_run_directory_files(tmp_path):
    spec = tiny("digits_logreg", steps=20, eval_every=5)
    res = run(spec, tmp_path / "run")
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["metrics.jsonl", "result.json", "spec.json"]
    assert RunSpec.from_json((tmp_path / "run" / "spec.json").read_text()) == spec
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["loss"] for x in lines if "loss" in x] == res.train_loss
    assert [x["step"] for x in lines if "eval" in x] == [0, 5, 10, 15, 20]
    assert res.summary["best_step"] in res.evals["step"] and res.summary["test_acc_at_best"] is not None


def test_probes_record_trajectories():
    res = run(tiny("rosenbrock", steps=30, probes=("params", "lr"), problem_kwargs={"jitter": 0.0}))
    pts = res.probes["params"]
    assert res.probes["step"] == list(range(31)) and len(pts) == 31
    assert pts[0] == pytest.approx([-1.5, 2.0]) and pts[-1] != pts[0]
    assert res.probes["lr"] == [0.05] * 31
    reddi = run(tiny("reddi", steps=90, probes=("params",), probe_every=3))
    xs = [p[0] for p in reddi.probes["params"]]
    assert len(xs) == 31 and all(-1.0 <= x <= 1.0 for x in xs)


def test_curriculum_orders_by_difficulty():
    easy = make_problem("curriculum", seed=0, size="tiny", order="easy", start_frac=0.2)
    hard = make_problem("curriculum", seed=0, size="tiny", order="hard", start_frac=0.2)
    xtr, _ = easy.meta["train"]
    diff = easy.difficulty
    assert diff.shape == (len(xtr),)

    def mean_difficulty(problem):
        x, _ = problem.next_batch(0)
        idx = torch.cdist(x, xtr).argmin(1)
        return diff[idx].mean().item()

    q20, q80 = diff.quantile(0.2).item(), diff.quantile(0.8).item()
    assert mean_difficulty(easy) <= q20 + 1e-6 and mean_difficulty(hard) >= q80 - 1e-6
    with pytest.raises(ValueError, match="order must be one of"):
        make_problem("curriculum", order="sideways")


def test_problem_errors():
    with pytest.raises(ValueError, match="make_problem: problem must be one of"):
        make_problem("nope")
    with pytest.raises(ValueError, match=r"quadratic: cond must be >= 1, got 0.5"):
        make_problem("quadratic", cond=0.5)
    with pytest.raises(TypeError, match="quadratic"):
        make_problem("quadratic", colour=1)


def test_schedule_in_spec_drives_the_lr():
    pytest.importorskip("optimlab.schedules")
    spec = tiny("quadratic", steps=10, probes=("lr",),
                schedule={"name": "cosine", "kwargs": {"base_lr": 0.1, "T_max": 10}})
    lrs = run(spec).probes["lr"]
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.05) and lrs[10] == pytest.approx(0.0, abs=1e-12)


def test_import_optimlab_does_not_import_lab_dependencies():
    # torch itself may import numpy and tqdm: count only what `import optimlab` adds after torch
    code = ("import sys, torch; before = set(sys.modules); import optimlab; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "bad = sorted(new & {'numpy', 'matplotlib', 'sklearn', 'typer', 'tqdm', 'click'}); "
            "bad += [m for m in ('matplotlib', 'sklearn', 'typer', 'optimlab.lab', 'optimlab.cli') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
