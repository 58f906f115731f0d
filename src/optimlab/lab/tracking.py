"""Record runs where practitioners look: MLflow and TensorBoard (the ``optimlab[track]`` extra).

``make_trackers(("mlflow", "tensorboard"), root, tracking_uri=None, experiment=None)`` builds the
sinks a sweep calls after it wrote each run (the driver logs from the returned results: workers never
talk to a tracking server).  Each run is logged once: at the end of a sweep, the finished runs of
its specs that a sink does not hold yet (finished before tracking was turned on, or by another
process) are logged too.  A sink that cannot log a run warns and goes on (the run is on disk; the
next sweep logs it); a sink that cannot start (no server at the URI) stops the sweep before any run.

* **MLflow** (``mlflow``): one MLflow run per optimlab run in experiment ``experiment`` (default:
  the results folder's name): params = the spec (nested keys dotted: ``optimizer_kwargs.betas``);
  metrics = ``loss`` per step (the mini-batch loss), every evaluation metric at its step, the
  summary as ``summary.<name>``, ``time_per_step`` and ``wall_time``; tags ``optimlab.key``,
  ``optimlab.status`` (MLflow status FAILED for a failed run, with ``optimlab.error``); artifacts
  ``spec.json`` and ``result.json`` (the run's report).  :meth:`MlflowTracker.log_report` adds a
  comparison's or the claims' HTML report as the artifacts of a run named ``report``.
  ``tracking_uri``: a server (``http://host:5000``) or any MLflow store URI; by default a local store
  in the results folder, ``sqlite:///<root>/mlruns/mlflow.db`` with artifacts in ``<root>/mlruns/``
  (open it with ``mlflow ui --backend-store-uri sqlite:///<root>/mlruns/mlflow.db``).
* **TensorBoard** (``tensorboard``): event files per run in ``<root>/tensorboard/<key>/`` (scalars
  ``loss``, ``eval/<metric>``, ``summary/<name>``; the spec as text and as hparams); open them with
  ``tensorboard --logdir <root>/tensorboard``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from ..checks import check_choice
from .result import RunResult

__all__ = ["make_trackers", "MlflowTracker", "TensorBoardTracker", "Tracker", "flat_params", "TRACKERS"]

log = logging.getLogger(__name__)
TRACKERS = ("mlflow", "tensorboard")
_NUMERIC = (int, float)


def flat_params(d: dict, prefix: str = "") -> dict[str, str]:
    """A spec dict flattened for a params table: nested dict keys dotted, other values as JSON text."""
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flat_params(v, name + "."))
        else:
            out[name] = v if isinstance(v, str) else json.dumps(v)
    return out


def _summary_numbers(r: RunResult) -> dict[str, float]:
    return {k: float(v) for k, v in r.summary.items() if isinstance(v, _NUMERIC) and not isinstance(v, bool)}


class Tracker:
    """A sink for finished runs."""

    name = "tracker"

    def has(self, key: str) -> bool:
        raise NotImplementedError

    def log_run(self, result: RunResult, run_dir: Path) -> None:
        raise NotImplementedError

    def log_run_safely(self, result: RunResult, run_dir: Path) -> bool:
        try:
            self.log_run(result, run_dir)
            return True
        except Exception as exc:  # noqa: BLE001 - the run is on disk; the next sweep logs it
            log.warning("%s: could not log run %s (%s: %s); the next sweep on this folder tries again",
                        self.name, result.key, type(exc).__name__, exc)
            return False

    def sync(self, results: dict[str, RunResult], root: Path) -> None:
        """Log the runs of ``results`` this sink does not hold yet."""
        for key, r in results.items():
            if not self.has(key):
                self.log_run_safely(r, Path(root) / "runs" / key)

    def close(self) -> None:
        pass


class MlflowTracker(Tracker):
    """Runs to MLflow (see the module docstring)."""

    name = "mlflow"

    def __init__(self, root: Path, tracking_uri: str | None = None, experiment: str | None = None):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ImportError("--track mlflow needs mlflow: pip install 'optimlab[track]'", name="mlflow") from None
        root = Path(root).resolve()
        artifacts = None
        if tracking_uri is None:
            store = root / "mlruns"
            store.mkdir(parents=True, exist_ok=True)
            tracking_uri = f"sqlite:///{store / 'mlflow.db'}"
            artifacts = (store / "artifacts").as_uri()
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # a missing server fails in seconds, not minutes
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # not a line per run on stdout
        self.uri, self.experiment = tracking_uri, experiment or root.name
        self.client = MlflowClient(tracking_uri=tracking_uri)
        try:
            exp = self.client.get_experiment_by_name(self.experiment)
            self.exp_id = exp.experiment_id if exp is not None else \
                self.client.create_experiment(self.experiment, artifact_location=artifacts)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the store is an option error
            raise ValueError(f"--track mlflow: cannot use the tracking URI {tracking_uri!r} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        self._logged = self._logged_keys()

    def _logged_keys(self) -> set:
        keys, token = set(), None
        while True:
            page = self.client.search_runs([self.exp_id], filter_string="tags.`optimlab.logged` = 'true'",
                                           max_results=1000, page_token=token)
            keys |= {r.data.tags.get("optimlab.key") for r in page}
            token = page.token
            if not token:
                return keys

    def has(self, key: str) -> bool:
        return key in self._logged

    def log_run(self, r: RunResult, run_dir: Path) -> None:
        from mlflow.entities import Metric, Param, RunTag

        s = r.spec
        tags = {"optimlab.key": r.key, "optimlab.status": r.status, "optimlab.problem": s["problem"],
                "optimlab.optimizer": s["optimizer"], "optimlab.select_metric": str(r.summary.get("select_metric", ""))}
        if r.error:
            tags["optimlab.error"] = r.error.strip().splitlines()[-1][:4000]
        name = f"{s['problem']}/{s['optimizer']} lr={s.get('lr')} seed={s.get('seed')}"
        run = self.client.create_run(self.exp_id, run_name=name, tags=tags)
        rid, now = run.info.run_id, int(time.time() * 1000)
        params = [Param(k, v[:6000]) for k, v in flat_params(s).items()]
        metrics = [Metric("loss", float(v), now, i) for i, v in enumerate(r.train_loss)]
        steps = r.evals.get("step", [])
        for k, vals in r.evals.items():
            if k != "step":
                metrics += [Metric(k, float(v), now, st) for st, v in zip(steps, vals) if isinstance(v, _NUMERIC)]
        metrics += [Metric(f"summary.{k}", v, now, r.steps_done) for k, v in _summary_numbers(r).items()]
        for k in ("time_per_step", "wall_time"):
            if getattr(r, k) is not None:
                metrics.append(Metric(k, float(getattr(r, k)), now, r.steps_done))
        for i in range(0, len(params), 100):
            self.client.log_batch(rid, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(rid, metrics=metrics[i:i + 1000])
        for f in ("spec.json", "result.json"):
            if (Path(run_dir) / f).is_file():
                self.client.log_artifact(rid, str(Path(run_dir) / f))
        self.client.log_batch(rid, tags=[RunTag("optimlab.logged", "true")])
        self.client.set_terminated(rid, "FAILED" if r.status == "failed" else "FINISHED")
        self._logged.add(r.key)

    def log_report(self, folder: str | Path, name: str = "report") -> str:
        """Log ``folder`` (an HTML report with its figures) as the artifacts of a run named ``name``; its run id."""
        run = self.client.create_run(self.exp_id, run_name=name, tags={"optimlab.kind": "report"})
        self.client.log_artifacts(run.info.run_id, str(folder), artifact_path="report")
        self.client.set_terminated(run.info.run_id, "FINISHED")
        return run.info.run_id


class TensorBoardTracker(Tracker):
    """Event files per run under ``root/tensorboard/<key>/`` (see the module docstring)."""

    name = "tensorboard"
    _DONE = ".optimlab-logged"  # written after the event file is closed: the run's events are complete

    def __init__(self, root: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        except ImportError:
            raise ImportError("--track tensorboard needs tensorboard: pip install 'optimlab[track]'",
                              name="tensorboard") from None
        self._writer_cls = SummaryWriter
        self.dir = Path(root) / "tensorboard"
        self.dir.mkdir(parents=True, exist_ok=True)

    def has(self, key: str) -> bool:
        return (self.dir / key / self._DONE).is_file()

    def log_run(self, r: RunResult, run_dir: Path) -> None:
        from torch.utils.tensorboard.summary import hparams

        d = self.dir / r.key
        if d.exists():
            shutil.rmtree(d)  # a run logged before (or cut short): its new result replaces it
        w = self._writer_cls(log_dir=str(d), max_queue=10_000, flush_secs=3600)
        try:
            for i, v in enumerate(r.train_loss):
                w.add_scalar("loss", float(v), i)
            steps = r.evals.get("step", [])
            for k, vals in r.evals.items():
                if k != "step":
                    for st, v in zip(steps, vals):
                        w.add_scalar(f"eval/{k}", float(v), st)
            summary = {f"summary/{k}": v for k, v in _summary_numbers(r).items()}
            for k, v in summary.items():
                w.add_scalar(k, v, r.steps_done)
            w.add_text("spec", "    " + json.dumps(r.spec, indent=1, sort_keys=True).replace("\n", "\n    "), 0)
            w.add_text("status", r.status + (f": {r.error.strip().splitlines()[-1]}" if r.error else ""), 0)
            for event in hparams({**flat_params(r.spec), "status": r.status}, summary):
                w.file_writer.add_summary(event)
        finally:
            w.close()
        (d / self._DONE).write_text(r.key)


def make_trackers(track, root: str | Path, *, tracking_uri: str | None = None,
                  experiment: str | None = None) -> list[Tracker]:
    """The sinks named in ``track`` (``"mlflow"``, ``"tensorboard"``; a list, or one name) for results
    folder ``root``.  ``tracking_uri`` and ``experiment`` are MLflow's (``ValueError`` without it)."""
    names = [track] if isinstance(track, str) else list(track or ())
    for n in names:
        check_choice("track", "track", n, TRACKERS)
    if (tracking_uri is not None or experiment is not None) and "mlflow" not in names:
        raise ValueError(f"track: tracking_uri and experiment are MLflow's, but track is {names!r} "
                         "(add 'mlflow')")
    out: list[Tracker] = []
    for n in dict.fromkeys(names):
        out.append(MlflowTracker(Path(root), tracking_uri, experiment) if n == "mlflow" else TensorBoardTracker(Path(root)))
    return out
