"""Runs as Ray tasks, on a local Ray instance or a cluster (the ``optimlab[ray]`` extra).

``RayExecutor(address=None)`` connects to ``address`` (``"HOST:PORT"`` of a cluster's head, as
``ray start --head`` prints it), else to ``RAY_ADDRESS`` when set, else starts a local Ray instance
(bound to 127.0.0.1, without the dashboard, stopped again by :meth:`~RayExecutor.close`).  ``ray``
is imported only here, only when an executor is built.

Each run is one task returning its result; the driver writes the results folder, so the nodes need
optimlab installed but no shared disk (a ``package.module:function`` problem must be importable on
the nodes too).  A task asks for ``num_cpus=1`` and, when its problem asks for a GPU (a problem
registered with ``gpus=``, or a user factory with a ``gpus`` attribute), ``num_gpus``, so a mixed
cluster schedules GPU-sized problems on GPU nodes only.  A worker process that dies mid-run (killed,
out of memory, its node lost) is retried by Ray up to ``max_retries`` times; after that the run is
recorded as failed with Ray's error (and retried by the next sweep, as any failed run).  An
exception in the run itself is no crash: the run returns as ``"failed"`` with its traceback and is
not retried.  :meth:`~RayExecutor.cancel` (Ctrl-C) cancels every task in flight (``ray.cancel``,
forced) and disconnects at once.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from ..checks import check_int
from .executors import Executor, Outcome, WorkerLost, run_task, task_env
from .problems import import_dirs, problem_info
from .spec import RunSpec

__all__ = ["RayExecutor", "spec_resources"]

log = logging.getLogger(__name__)
_SLOTS_TTL = 2.0  # seconds between looks at the cluster's CPU count
_REMOTE = None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray executor needs ray: pip install 'optimlab[ray]'", name="ray") from None
    return ray


def spec_resources(spec: RunSpec) -> dict:
    """The Ray resources one run of ``spec`` asks for: one CPU, and the GPUs its problem asks for."""
    gpus = problem_info(spec.problem).gpus
    return {"num_cpus": 1, "num_gpus": gpus} if gpus else {"num_cpus": 1}


def _ray_task(spec_dict: dict, dirs: dict, env: dict) -> Outcome:
    import ray

    node = ray.get_runtime_context().get_node_id()[:8]
    return run_task(spec_dict, dirs, env, worker_prefix=f"node {node} ")


def _remote(ray):
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(_ray_task)
    return _REMOTE


class RayExecutor(Executor):
    """Each run a Ray task (see the module docstring).

    Args:
        address: the cluster's ``HOST:PORT`` (default: ``RAY_ADDRESS``, else a local instance).
        max_retries: how often Ray reruns a task whose worker died (>= 0, default 3).
        local_cpus: CPUs of a local instance (default: all of this machine's).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, max_retries: int = 3, local_cpus: int | None = None):
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"RayExecutor: address must be 'HOST:PORT' or None, got {address!r}")
        check_int("RayExecutor", "max_retries", max_retries, 0)
        if local_cpus is not None:
            check_int("RayExecutor", "local_cpus", local_cpus, 1)
        self.address = address.strip() if address else (os.environ.get("RAY_ADDRESS") or None)
        self.max_retries, self.local_cpus = max_retries, local_cpus
        self._ray = None
        self._owned = False  # whether this executor started ray.init (and shuts it down)
        self._live: set = set()
        self._slots: tuple[float, int] = (0.0, 1)
        self._warned: set = set()

    def describe(self) -> str:
        return f"ray at {self.address}" if self.address else "ray (local instance)"

    def _connect(self):
        if self._ray is not None:
            return self._ray
        if self.address is None and "ray" not in sys.modules:
            # a local instance listens on 127.0.0.1 only (Ray's switch for machines that are not cluster nodes)
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            if self.address is None:
                kwargs.update(address="local", include_dashboard=False, num_cpus=self.local_cpus)
            else:
                kwargs["address"] = self.address
            t0 = time.perf_counter()
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise ValueError(f"RayExecutor: cannot connect to the Ray cluster at {self.address!r} ({exc})") from None
            self._owned = True
            log.info("ray: connected (%s) in %.1f s: %s", self.describe(), time.perf_counter() - t0,
                     ray.cluster_resources())
        self._ray = ray
        return ray

    def slots(self) -> int:
        ray = self._connect()
        at, n = self._slots
        if time.monotonic() - at > _SLOTS_TTL:
            n = max(1, int(ray.cluster_resources().get("CPU", 1)))
            self._slots = (time.monotonic(), n)
        return n

    def submit(self, spec: RunSpec, progress: bool = False):
        ray = self._connect()
        options = {**spec_resources(spec), "max_retries": self.max_retries, "retry_exceptions": False,
                   "name": f"optimlab run {spec.key()}"}
        gpus = options.get("num_gpus", 0)
        if gpus and ray.cluster_resources().get("GPU", 0) < gpus and spec.problem not in self._warned:
            self._warned.add(spec.problem)
            log.warning("ray: runs of %s ask for %g GPU(s) and the cluster has %g: they wait for a GPU node",
                        spec.problem, gpus, ray.cluster_resources().get("GPU", 0))
        ref = _remote(ray).options(**options).remote(spec.to_dict(), import_dirs(), task_env())
        self._live.add(ref)
        return ref

    def wait(self, handles: list, timeout: float) -> list:
        ray = self._connect()
        ready, rest = ray.wait(handles, num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        return ready

    def outcome(self, handle) -> Outcome:
        ray = self._connect()
        self._live.discard(handle)
        try:
            return ray.get(handle)
        except ray.exceptions.RayTaskError as exc:  # the task itself raised (optimlab missing on a node...): no retry
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise WorkerLost(f"Ray: the task raised {last}") from exc
        except ray.exceptions.RayError as exc:  # its worker or node died, more often than the retries allow
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise WorkerLost(f"Ray: {type(exc).__name__} after {self.max_retries} retries: {first}") from exc

    def cancel(self) -> None:
        if self._ray is None:
            return
        for ref in list(self._live):
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # noqa: BLE001 - a task that finished meanwhile cannot be cancelled
                log.debug("ray.cancel: %s", exc)
        self._live.clear()
        self.close()

    def close(self) -> None:
        if self._ray is not None and self._owned:
            self._ray.shutdown()
        self._ray, self._owned = None, False
