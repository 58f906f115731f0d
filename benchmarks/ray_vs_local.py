"""The same comparison on the local pool (2 workers) and on a 2-node local Ray cluster (1 CPU per node).

    python benchmarks/ray_vs_local.py [--address HOST:PORT] [--repeat N]

Prints the wall time of each (``--repeat`` times, alternating) and the overhead per run: the worker-seconds not spent inside runs,
``(wall x 2 - sum of the runs' wall times) / runs``.  Without ``--address`` it starts the cluster
the tests use (tests/ray_cluster.py: both nodes on 127.0.0.1) and stops it afterwards; its start-up
time is printed apart.  Each side starts from an empty results folder.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

COMPARE = dict(problem="mnist1d_mlp", optimizers=["sgdm", "adam"], trials=4, seeds=3)


def measure(executor, address, out, **kw):
    from optimlab.lab import compare

    t0 = time.perf_counter()
    comp = compare(COMPARE["problem"], COMPARE["optimizers"], out=out, trials=COMPARE["trials"],
                   seeds=COMPARE["seeds"], executor=executor, address=address, **kw)
    wall = time.perf_counter() - t0
    inside = sum(r.wall_time for r in comp.results.values())
    return wall, inside, len(comp.results)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", default=None)
    ap.add_argument("--repeat", type=int, default=2, help="measurements of each, alternating")
    args = ap.parse_args()
    cluster = None
    if args.address is None:
        from ray_cluster import LOCAL_ONLY, Cluster

        t0 = time.perf_counter()
        cluster = Cluster().start()
        print(f"2-node Ray cluster started in {time.perf_counter() - t0:.1f} s")
        os.environ.update({**LOCAL_ONLY, **cluster.auth})
        args.address = cluster.address
    try:
        with tempfile.TemporaryDirectory() as d:
            rows = []
            for rep in range(args.repeat):  # alternate, so that a change of the machine's load hits both
                rows.append(("local pool, 2 workers", *measure("local", None, Path(d) / f"local{rep}", workers=2)))
                rows.append(("Ray, 2 nodes x 1 CPU", *measure("ray", args.address, Path(d) / f"ray{rep}")))
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"compare -p {COMPARE['problem']} --optimizers {','.join(COMPARE['optimizers'])} "
          f"--trials {COMPARE['trials']} --seeds {COMPARE['seeds']}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'executor':24s} {'runs':>5s} {'wall s':>8s} {'in runs s':>10s} {'overhead/run s':>15s}")
    for name, wall, inside, n in rows:
        print(f"{name:24s} {n:5d} {wall:8.1f} {inside:10.1f} {(2 * wall - inside) / n:15.2f}")


if __name__ == "__main__":
    main()
