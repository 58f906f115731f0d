"""Harness overhead: a lab run against a hand-written torch loop doing the same training.

Same problem (model, batches and loss from ``make_problem``), optimizer, seed, thread count and
evaluation points; the hand loop keeps nothing but the final loss.  Both are timed end to end
(problem build, optimizer, training, evaluations), interleaved, ``--repeats`` times.  Printed: the
median of the paired ratios (lab / hand of each round; the headline, robust to load drifting on a
shared machine) and the ratio of the fastest times.  The lab run writes its run directory (spec, metrics.jsonl, result.json)
as it does in a sweep.  The two final losses are checked to be identical (same work).

    python benchmarks/lab_overhead.py                      # digits_mlp, adam, 800 steps
    python benchmarks/lab_overhead.py --problem digits_cnn --steps 600
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import optimlab
from optimlab.lab import RunSpec, make_problem, problem_info, run
from optimlab.lab.runner import seed_everything


def hand_loop(problem: str, optimizer: str, lr: float, steps: int, eval_every: int, seed: int) -> float:
    seed_everything(seed)
    p = make_problem(problem, seed)
    model = p.model
    opt = optimlab.create_optimizer(optimizer, model.parameters(), lr=lr)
    with torch.no_grad():
        p.evaluate(model)
    loss = None
    for step in range(steps):
        x, y = p.next_batch(step)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            with torch.no_grad():
                p.evaluate(model)
    return loss.item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problem", default="digits_mlp")
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    info = problem_info(args.problem)
    steps = args.steps or info.default_steps
    eval_every = args.eval_every or info.eval_every
    torch.set_num_threads(1)  # the lab's run() uses 1 thread; so does the hand loop
    spec = RunSpec(problem=args.problem, optimizer=args.optimizer, lr=args.lr, steps=steps, eval_every=eval_every,
                   seed=args.seed)
    lab_times, hand_times = [], []
    run(spec)  # warm-up (imports, allocator)
    hand_loop(args.problem, args.optimizer, args.lr, steps, eval_every, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t0 = time.perf_counter()
            res = run(spec, f"{tmp}/run{i}")
            lab_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            final = hand_loop(args.problem, args.optimizer, args.lr, steps, eval_every, args.seed)
            hand_times.append(time.perf_counter() - t0)
    assert res.status == "ok" and res.train_loss[-1] == final, "the lab and the hand loop must do the same work"
    lab, hand = statistics.median(lab_times), statistics.median(hand_times)
    paired = statistics.median(a / b for a, b in zip(lab_times, hand_times))
    print(f"problem={args.problem} optimizer={args.optimizer} lr={args.lr} steps={steps} eval_every={eval_every} "
          f"threads=1 repeats={args.repeats}")
    print(f"hand-written loop: median {hand:.3f} s ({1e3 * hand / steps:.3f} ms/step)")
    print(f"lab run():         median {lab:.3f} s ({1e3 * lab / steps:.3f} ms/step)")
    print(f"fastest: hand {min(hand_times):.3f} s, lab {min(lab_times):.3f} s, ratio {min(lab_times) / min(hand_times):.3f}")
    print(f"overhead ratio lab/hand (median of paired ratios) = {paired:.3f}  ({100 * (paired - 1):+.1f}%)")


if __name__ == "__main__":
    main()
