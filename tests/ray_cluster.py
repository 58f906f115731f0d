"""A real two-node Ray cluster on this machine, on the loopback interface, for the Ray executor's tests.

The head: ``ray start --head --node-ip-address 127.0.0.1 --port P --num-cpus 1 --include-dashboard false``
with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's switch for a single machine: it keeps 127.0.0.1
as the node's address and binds its servers there; without it Ray replaces a loopback address by the
machine's outward one).  The second node: ``ray start --address [::ffff:127.0.0.1]:P --num-cpus 1
--num-gpus 1`` (127.0.0.1 written as an IPv4-mapped IPv6 address, the form `ray start` does not
rewrite for a joining node; its one GPU is declared, not detected, so GPU-sized runs have a node to go
to).  Both run with token authentication (a fresh token, given to the cluster's processes and to
its drivers in their environment).  All traffic stays on 127.0.0.1.  Drivers connect with ``--address 127.0.0.1:P`` and the same
switch in their environment.

Every process the cluster consists of is in the process group of the ``ray start`` that started it
(``start_new_session``: the groups are the test's own), and its command line names the cluster's
temp folder; :meth:`Cluster.stop` kills exactly those processes by id.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LOCAL_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: str) -> list[str] | None:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cmdline(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Cluster:
    def __init__(self):
        self.temp = tempfile.mkdtemp(prefix="olray", dir="/tmp")  # short: Ray's socket paths live under it
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.groups: list[int] = []
        # token authentication, the token known to the cluster's processes and its drivers only
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}

    def _ray_start(self, args: list[str], env: dict) -> None:
        p = subprocess.Popen([str(BIN / "ray"), "start", *args, "--disable-usage-stats"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.groups.append(p.pid)
        out, _ = p.communicate(timeout=90)
        if p.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out}")

    def start(self) -> "Cluster":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        base = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
        base.update(self.auth)
        self._ray_start(["--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port), "--num-cpus", "1",
                         "--include-dashboard", "false", "--temp-dir", self.temp,
                         "--ray-client-server-port", str(free_port())], {**base, **LOCAL_ONLY})
        self._ray_start(["--address", f"[::ffff:127.0.0.1]:{self.port}", "--num-cpus", "1", "--num-gpus", "1"],
                        {**base, "RAY_USAGE_STATS_ENABLED": "0"})

    def pids(self) -> list[str]:
        """Live processes of the cluster: in the groups of the `ray start`s, naming its temp folder, or
        started by one of those (Ray's task workers start their own sessions, as children of a raylet)."""
        procs = {d: st for d in os.listdir("/proc") if d.isdigit() and (st := _stat(d)) is not None and st[0] != "Z"}
        ours = {d for d, st in procs.items() if int(st[2]) in self.groups or self.temp in _cmdline(d)}
        while True:
            more = {d for d, st in procs.items() if st[1] in ours} - ours
            if not more:
                return sorted(ours)
            ours |= more

    def task_workers(self) -> dict[int, str]:
        """``{pid: run key}`` of the cluster's workers running a run now (Ray titles a worker after its
        task, which the executor names ``optimlab run <key>``)."""
        titles = {int(p): _cmdline(p) for p in self.pids()}
        return {p: t.split()[2] for p, t in titles.items() if t.startswith("ray::optimlab run ")}

    def stop(self) -> None:
        for _ in range(3):
            pids = self.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        if not self.pids():
            shutil.rmtree(self.temp, ignore_errors=True)  # the session's logs and sockets

    def env(self, **extra) -> dict:
        """The environment of a driver process of this cluster."""
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        return {**env, **LOCAL_ONLY, **self.auth, **extra}


def nodes_of(progress_events: list[dict]) -> set[str]:
    """The Ray node ids (8 hex digits) named on the finish lines of a progress log."""
    return {e["worker"].split()[1] for e in progress_events if e["event"] == "finish"}


if __name__ == "__main__":  # a manual check: start, print, stop
    c = Cluster().start()
    print(json.dumps({"address": c.address, "pids": c.pids()}))
    c.stop()
    print("left:", c.pids())
