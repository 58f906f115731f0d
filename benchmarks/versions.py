"""The default step of two versions of optimlab, interleaved in ONE process (machine noise hits both
alike), as ratios to torch's fused Adam and new / old.

    git worktree add /tmp/old a2d9ddd
    python benchmarks/versions.py /tmp/old/src      # the old version's src/ folder

The old package is copied to a temporary folder under another name (``optimlab_old``; its own
imports are relative) and imported beside the installed one.  10M float32 parameters in 100
tensors, median of ``--rounds`` rounds of 10 steps.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

import optimlab as new
from step_speed import _timer  # benchmarks/ is the script's folder: sys.path[0]

CASES = {
    "sgd": lambda M, ps: M.SGD(ps, lr=1e-3),
    "sgdm": lambda M, ps: M.SGD(ps, lr=1e-3, momentum=0.9),
    "nag": lambda M, ps: M.SGD(ps, lr=1e-3, momentum=0.9, nesterov=True),
    "adam": lambda M, ps: M.Adam(ps, lr=1e-3),
    "amsgrad": lambda M, ps: M.Adam(ps, lr=1e-3, amsgrad=True),
    "adamw": lambda M, ps: M.AdamW(ps, lr=1e-3),
    "adagrad": lambda M, ps: M.Adagrad(ps, lr=1e-2),
    "rmsprop": lambda M, ps: M.RMSprop(ps, lr=1e-2),
    "nadam": lambda M, ps: M.NAdam(ps, lr=2e-3),
    "radam": lambda M, ps: M.RAdam(ps, lr=1e-3),
    "adabound": lambda M, ps: M.AdaBound(ps, lr=1e-3),
    "amsbound": lambda M, ps: M.AdaBound(ps, lr=1e-3, amsbound=True),
    "swats_adam_phase": lambda M, ps: M.SWATS(ps, lr=1e-3, switch_eps=0.0),
    "lookahead_adam": lambda M, ps: M.Lookahead(M.Adam(ps, lr=1e-3)),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old_src", help="the old version's src/ folder (holding optimlab/)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--only", default="", help="comma-separated case names")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(Path(args.old_src) / "optimlab", tmp / "optimlab_old")
    sys.path.insert(0, str(tmp))
    old = importlib.import_module("optimlab_old")
    g = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(100_000, generator=g)) for _ in range(100)]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * 1e-2
    fused_adam = _timer(torch.optim.Adam, ps, {"lr": 1e-3, "fused": True}, 10)
    cases = {k: v for k, v in CASES.items() if not args.only or k in args.only.split(",")}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, 100 x 100000 float32, "
          f"median of {args.rounds} rounds x 10 steps")
    print(f"{'optimizer':<18}{'old/fusedAdam':>15}{'new/fusedAdam':>15}{'new/old':>9}")
    for name, make in cases.items():
        try:
            variants = {"old": _timer(lambda p: make(old, p), ps, {}, 10), "new": _timer(lambda p: make(new, p), ps, {}, 10),
                        "fa": fused_adam}
        except (AttributeError, TypeError, ValueError) as exc:  # the old version lacks it
            print(f"{name:<18}  (skipped: {exc})")
            continue
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, fn in variants.items():
                times[k].append(fn())
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name:<18}{m['old'] / m['fa']:>15.2f}{m['new'] / m['fa']:>15.2f}{m['new'] / m['old']:>9.2f}")
        with torch.no_grad():
            for p in ps:
                p.copy_(torch.nan_to_num(p).clamp_(-1e3, 1e3))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
