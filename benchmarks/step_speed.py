"""Step time of each optimlab optimizer against torch.optim, printed as ratios measured in one run.

    python benchmarks/step_speed.py            # ~10M float32 parameters in 100 tensors
    python benchmarks/step_speed.py --quick    # 1M parameters, for a smoke test

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
import statistics
import sys
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
    Entry("lookahead_adam", _o("lookahead_adam"), None, {"lr": 1e-3}, wraps="adam"),
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1M parameters, fewer rounds")
    ap.add_argument("--only", default="", help="comma-separated entry names")
    ap.add_argument("--rounds", type=int, default=None)
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
        wanted = set(args.only.split(","))
        entries = [e for e in entries if e.name in wanted]
    torch.manual_seed(0)
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
