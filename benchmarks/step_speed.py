"""Step time of each optimlab optimizer against torch.optim, printed as ratios measured in one run.

    python benchmarks/step_speed.py            # ~10M float32 parameters in 100 tensors
    python benchmarks/step_speed.py --quick    # 1M parameters, for a smoke test
    python benchmarks/step_speed.py --scale    # ours / torch's fused Adam at 1M, 10M, 100M parameters, 1 and 2 threads
    python benchmarks/step_speed.py --compile  # first-step cost: compiling the generated kernels, cold and warm cache

For every entry it times, interleaved round by round so that machine noise hits all variants
alike (median of the rounds):

* ours (default path) vs torch's default path for the same algorithm on this device,
* ours with ``foreach=True`` vs torch with ``foreach=True``,
* torch with ``fused=True`` where torch has a fused kernel,
* and every variant's ratio to torch's fused Adam (about 28 bytes moved per parameter: the bar
  for memory-bound optimizer steps).

Ratios < 1 mean ours is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

import optimlab


@dataclass
class Entry:
    """``ours(params, **kw)`` against ``theirs(params, **kw)`` (``theirs`` None: vs torch Adam)."""

    name: str
    ours: Callable[..., Any]
    theirs: Callable[..., Any] | None
    kwargs: dict = field(default_factory=dict)
    fused: bool = False  # torch has fused=True for this algorithm
    wraps: str | None = None  # for wrappers: registry name of the inner optimizer (overhead column)


def _o(name: str) -> Callable[..., Any]:
    return lambda params, **kw: optimlab.create_optimizer(name, params, **kw)


def _t(cls_name: str) -> Callable[..., Any]:
    return lambda params, **kw: getattr(torch.optim, cls_name)(params, **kw)


ENTRIES: list[Entry] = [
    Entry("sgd", _o("sgd"), _t("SGD"), {"lr": 1e-3}, fused=True),
    Entry("sgdm", _o("sgdm"), _t("SGD"), {"lr": 1e-3, "momentum": 0.9}, fused=True),
    Entry("nag", _o("nag"), _t("SGD"), {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, fused=True),
    Entry("adam", _o("adam"), _t("Adam"), {"lr": 1e-3}, fused=True),
    Entry("amsgrad", _o("amsgrad"), _t("Adam"), {"lr": 1e-3, "amsgrad": True}, fused=True),
    Entry("adamw", _o("adamw"), _t("AdamW"), {"lr": 1e-3}, fused=True),
]

# Entries whose optimizer is not registered yet (added by later work) are skipped with a note.
_OPTIONAL: list[Entry] = [
    Entry("adagrad", _o("adagrad"), _t("Adagrad"), {"lr": 1e-2}, fused=True),
    Entry("rmsprop", _o("rmsprop"), _t("RMSprop"), {"lr": 1e-2}),
    Entry("rmsprop_centered_mom", _o("rmsprop"), _t("RMSprop"), {"lr": 1e-2, "momentum": 0.9, "centered": True}),
    Entry("nadam", _o("nadam"), _t("NAdam"), {"lr": 2e-3}),
    Entry("radam", _o("radam"), _t("RAdam"), {"lr": 1e-3}),
    Entry("adabound", _o("adabound"), None, {"lr": 1e-3}),
    Entry("amsbound", _o("amsbound"), None, {"lr": 1e-3}),
    Entry("swats", _o("swats"), None, {"lr": 1e-3}),
    # constant benchmark gradients make SWATS switch to SGD within a few steps; switch_eps=0 keeps it in
    # its (more expensive) Adam phase, the worst case
    Entry("swats_adam_phase", _o("swats"), None, {"lr": 1e-3, "switch_eps": 0.0}),
    # the lecture's forms (against torch's Adam: torch has no such option)
    Entry("rmsprop_first_grad", _o("rmsprop"), None, {"lr": 1e-2, "init_square_avg": "first_grad"}),
    Entry("amsgrad_reddi", _o("amsgrad"), None, {"lr": 1e-3, "bias_correction": False}),
    Entry("nadam_constant", _o("nadam"), None, {"lr": 2e-3, "momentum_schedule": "constant"}),
    Entry("sgdwm", _o("sgdwm"), None, {"lr": 1e-3}),
    Entry("lookahead_adam", _o("lookahead_adam"), None, {"lr": 1e-3}, wraps="adam"),
    Entry("lookahead_radam", _o("lookahead_radam"), None, {"lr": 1e-3}, wraps="radam"),
    Entry("noisy_adam", _o("noisy_adam"), None, {"lr": 1e-3}, wraps="adam"),
]


def _params(n_tensors: int, numel: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ps = []
    for _ in range(n_tensors):
        p = torch.nn.Parameter(torch.randn(numel, generator=g))
        p.grad = torch.randn(numel, generator=g) * 1e-2
        ps.append(p)
    return ps


def _timer(make: Callable[[list], Any], params: list, kwargs: dict, steps: int) -> Callable[[], float]:
    opt = make(params, **kwargs)
    for _ in range(3):  # warm-up: state allocation, caches
        opt.step()

    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step()
        return (time.perf_counter() - t0) / steps

    return run


def measure(entries: list[Entry], n_tensors: int, numel: int, rounds: int, steps: int) -> list[dict]:
    rows = []
    params = _params(n_tensors, numel)
    fused_adam = _timer(_t("Adam"), params, {"lr": 1e-3, "fused": True}, steps)
    for e in entries:
        variants: dict[str, Callable[[], float]] = {}
        variants["ours"] = _timer(e.ours, params, e.kwargs, steps)
        variants["ours_foreach"] = _timer(e.ours, params, {**e.kwargs, "foreach": True}, steps) if e.wraps is None else None
        theirs = e.theirs or _t("Adam")
        theirs_kw = e.kwargs if e.theirs else {"lr": 1e-3}
        variants["torch"] = _timer(theirs, params, theirs_kw, steps)
        variants["torch_foreach"] = _timer(theirs, params, {**theirs_kw, "foreach": True}, steps)
        if e.fused and e.theirs is not None:
            variants["torch_fused"] = _timer(theirs, params, {**theirs_kw, "fused": True}, steps)
        if e.wraps:
            variants["inner"] = _timer(_o(e.wraps), params, e.kwargs, steps)
        variants["fused_adam"] = fused_adam
        variants = {k: v for k, v in variants.items() if v is not None}
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(rounds):
            for k, fn in variants.items():
                times[k].append(fn())
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"name": e.name, "vs": "torch." + (theirs(params[:1], **theirs_kw).__class__.__name__), **med})
        # keep the parameters finite across entries
        with torch.no_grad():
            for p in params:
                p.copy_(torch.nan_to_num(p).clamp_(-1e3, 1e3))
    return rows


def _fmt(rows: list[dict]) -> str:
    head = (f"{'optimizer':<22}{'vs':<15}{'ours ms':>9}{'torch ms':>9}{'ours/torch':>11}"
            f"{'fe/torch-fe':>12}{'ours/fusedAdam':>15}{'torch-fused/ours':>17}{'wrap/inner':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        fe = f"{r['ours_foreach'] / r['torch_foreach']:.2f}" if "ours_foreach" in r else "-"
        tf = f"{r['torch_fused'] / r['ours']:.2f}" if "torch_fused" in r else "-"
        wi = f"{r['ours'] / r['inner']:.2f}" if "inner" in r else "-"
        lines.append(
            f"{r['name']:<22}{r['vs']:<15}{r['ours'] * 1e3:>9.2f}{r['torch'] * 1e3:>9.2f}"
            f"{r['ours'] / r['torch']:>11.2f}{fe:>12}{r['ours'] / r['fused_adam']:>15.2f}{tf:>17}{wi:>11}"
        )
    return "\n".join(lines)


def first_step(e: Entry, n_tensors: int, numel: int) -> float:
    """Seconds of the first ``step()`` of ``e`` (state allocation, and building the generated kernel
    where the default path uses one) on ``n_tensors`` x ``numel`` parameters."""
    opt = e.ours(_params(n_tensors, numel), **e.kwargs)
    t0 = time.perf_counter()
    opt.step()
    return time.perf_counter() - t0


def _child(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], check=True, capture_output=True,
                         text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_report(entries: list[Entry], n_tensors: int, numel: int) -> str:
    """First-step time per optimizer in fresh processes: with an empty inductor cache (cold), then
    again with the cache the first process left (warm: a later run, another process), and a steady step."""
    head = f"{'optimizer':<22}{'first step, cold cache s':>26}{'first step, warm cache s':>26}{'steady step ms':>16}"
    lines = [head, "-" * len(head)]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        for e in entries:
            args = ["--first-step", e.name, "--numel", str(numel), "--tensors", str(n_tensors)]
            cold, warm = _child(args, env), _child(args, env)
            lines.append(f"{e.name:<22}{cold['first']:>26.2f}{warm['first']:>26.2f}{warm['steady'] * 1e3:>16.2f}")
    return "\n".join(lines)


def scale_rows(entries: list[Entry], sizes: list[int], rounds: int, steps: int) -> list[dict]:
    """ours (default path) / torch's fused Adam at each total size (100 tensors), in this process's
    thread count, interleaved round by round."""
    rows = []
    for total in sizes:
        params = _params(100, total // 100)
        fused_adam = _timer(_t("Adam"), params, {"lr": 1e-3, "fused": True}, steps)
        for e in entries:
            ours = _timer(e.ours, params, e.kwargs, steps)
            t_ours, t_ref = [], []
            for _ in range(rounds):
                t_ours.append(ours())
                t_ref.append(fused_adam())
            rows.append({"name": e.name, "total": total, "ours": statistics.median(t_ours),
                         "fused_adam": statistics.median(t_ref)})
            del ours
            with torch.no_grad():
                for p in params:
                    p.copy_(torch.nan_to_num(p).clamp_(-1e3, 1e3))
        del params, fused_adam
    return rows


def scale_report(entries: list[Entry], sizes: list[int], threads: list[int], rounds: int, steps: int) -> str:
    """The ratio to torch's fused Adam per size and thread count (each thread count in its own
    process: a generated CPU kernel keeps the thread count it was built for)."""
    table: dict[tuple, dict] = {}
    for t in threads:
        got = _child(["--scale-run", "--threads", str(t), "--sizes", ",".join(map(str, sizes)),
                      "--rounds", str(rounds), "--only", ",".join(e.name for e in entries)])
        for r in got["rows"]:
            table[(r["name"], r["total"], t)] = r
    cols = [(n, t) for n in sizes for t in threads]
    head = f"{'optimizer':<22}" + "".join(f"{f'{n / 1e6:g}M/{t}T':>12}" for n, t in cols)
    lines = ["ours / torch fused Adam (size / threads); torch fused Adam ms: " + ", ".join(
        f"{n / 1e6:g}M/{t}T {table[(entries[0].name, n, t)]['fused_adam'] * 1e3:.2f}" for n, t in cols),
        head, "-" * len(head)]
    for e in entries:
        lines.append(f"{e.name:<22}" + "".join(
            f"{table[(e.name, n, t)]['ours'] / table[(e.name, n, t)]['fused_adam']:>12.2f}" for n, t in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1M parameters, fewer rounds")
    ap.add_argument("--only", default="", help="comma-separated entry names")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--scale", action="store_true", help="ratios at --sizes and --threads instead of the main table")
    ap.add_argument("--sizes", default="1000000,10000000,100000000", help="total parameters, comma-separated")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated (--scale)")
    ap.add_argument("--compile", action="store_true", help="first-step (compile) cost per optimizer, cold and warm")
    ap.add_argument("--first-step", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scale-run", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--numel", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--tensors", type=int, default=100, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n_tensors, numel = 100, (10_000 if args.quick else 100_000)
    rounds = args.rounds or (3 if args.quick else 7)
    steps = 5 if args.quick else 10
    entries = list(ENTRIES)
    for e in _OPTIONAL:
        if _available(e):
            entries.append(e)
        else:
            print(f"(skipping {e.name}: not registered)", file=sys.stderr)
    if args.only:
        wanted = args.only.split(",")
        entries = [e for e in entries if e.name in wanted]
    torch.manual_seed(0)
    if args.first_step:  # child of --compile
        e = next(e for e in entries if e.name == args.first_step)
        first = first_step(e, args.tensors, args.numel)
        steady = _timer(e.ours, _params(args.tensors, args.numel), e.kwargs, 5)()
        print(json.dumps({"first": first, "steady": steady}))
        return 0
    if args.scale_run:  # child of --scale
        torch.set_num_threads(int(args.threads))
        print(json.dumps({"rows": scale_rows(entries, [int(x) for x in args.sizes.split(",")], rounds, 3)}))
        return 0
    if args.scale:
        print(f"torch {torch.__version__}, 100 tensors, median of {args.rounds or 3} rounds x 3 steps")
        print(scale_report(entries, [int(x) for x in args.sizes.split(",")], [int(x) for x in args.threads.split(",")],
                           args.rounds or 3, 3))
        return 0
    if args.compile:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {n_tensors} tensors x {numel} float32")
        print(compile_report(entries, n_tensors, numel))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{n_tensors} tensors x {numel} float32 = {n_tensors * numel / 1e6:.1f}M parameters, "
          f"median of {rounds} rounds x {steps} steps")
    rows = measure(entries, n_tensors, numel, rounds, steps)
    print(_fmt(rows))
    return 0


def _available(e: Entry) -> bool:
    try:
        e.ours([torch.nn.Parameter(torch.zeros(1))], **e.kwargs)
        return True
    except ValueError as err:
        if "unknown optimizer" in str(err):
            return False
        raise


if __name__ == "__main__":
    raise SystemExit(main())
