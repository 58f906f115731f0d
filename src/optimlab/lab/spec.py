"""Run specifications: a frozen, JSON round-trippable description of one training run.

A :class:`RunSpec` names everything that determines a run (problem and its kwargs, optimizer name,
learning rate and kwargs, optional schedules, steps, evaluation interval, seed, probes), so its
hash (:meth:`RunSpec.key`) identifies the run's results on disk.  :func:`grid` builds the usual
problem x optimizers x learning rates x seeds list; :func:`lr_grid` the log grid of a tuning budget;
:func:`run_defaults` the steps, evaluation interval and probes a problem gets unless told otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable

from ..checks import check_int, check_range
from .problems import problem_info

__all__ = ["RunSpec", "grid", "lr_grid", "run_defaults", "BUILTIN_PROBES"]

BUILTIN_PROBES = ("params", "lr", "grad_norm")


def _canon(obj: Any) -> Any:
    """JSON-able canonical form (tuples -> lists, keys sorted by json.dumps)."""
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"RunSpec: values must be finite numbers, got {obj!r}")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ValueError(f"RunSpec: values must be JSON numbers, strings, lists or dicts, got {obj!r}")


def _check_schedule(arg: str, sched: Any) -> None:
    if sched is None:
        return
    if not isinstance(sched, dict) or "name" not in sched or not set(sched) <= {"name", "kwargs"} \
            or not isinstance(sched.get("kwargs", {}), dict):
        raise ValueError(f"RunSpec: {arg} must be None or {{'name': str, 'kwargs': dict}}, got {sched!r}")


@dataclass(frozen=True, eq=True)
class RunSpec:
    """One run: ``problem`` trained by ``optimizer`` for ``steps`` steps from ``seed``.

    Fields (all JSON values):
        problem: a registered problem name or ``"package.module:function"``.
        optimizer: a name for :func:`optimlab.create_optimizer` (``"adam"``, ``"lookahead_sgdm"``...).
        lr: the learning rate (``None``: the optimizer's default).  Not repeated in ``optimizer_kwargs``.
        steps: optimisation steps (>= 1).
        eval_every: evaluate every this many steps (and at steps 0 and ``steps``).
        seed: seeds torch, numpy, python and the problem's data and initialisation.
        optimizer_kwargs, problem_kwargs: extra keyword arguments (``problem_kwargs={"size": "tiny"}``).
        schedule: ``{"name": ..., "kwargs": {...}}`` for ``optimlab.schedules.make_schedule`` driving
            the lr (absolute values), or ``None``; momentum_schedule likewise for momentum/beta1.
        probes: names of per-step probes: ``"params"`` (flattened parameters), ``"lr"``,
            ``"grad_norm"``, or ``"package.module:function"`` called as ``fn(step, model, optimizer) -> dict``.
        probe_every: record probes every this many steps (and at step 0).
        target_loss: if set, the result records the first step whose training loss is <= it.
        tag: a free label (part of the key: two tags never share results).
    """

    problem: str
    optimizer: str
    lr: float | None = None
    steps: int = 100
    eval_every: int = 10
    seed: int = 0
    optimizer_kwargs: dict = field(default_factory=dict)
    problem_kwargs: dict = field(default_factory=dict)
    schedule: dict | None = None
    momentum_schedule: dict | None = None
    probes: tuple = ()
    probe_every: int = 1
    target_loss: float | None = None
    tag: str = ""

    def __post_init__(self):
        for arg in ("problem", "optimizer", "tag"):
            v = getattr(self, arg)
            if not isinstance(v, str) or (arg != "tag" and not v):
                raise ValueError(f"RunSpec: {arg} must be a non-empty string, got {v!r}")
        if self.lr is not None:
            check_range("RunSpec", "lr", self.lr, 0.0)
        check_int("RunSpec", "steps", self.steps, 1)
        check_int("RunSpec", "eval_every", self.eval_every, 1)
        check_int("RunSpec", "seed", self.seed, 0)
        check_int("RunSpec", "probe_every", self.probe_every, 1)
        if self.target_loss is not None:
            check_range("RunSpec", "target_loss", self.target_loss)
        for arg in ("optimizer_kwargs", "problem_kwargs"):
            if not isinstance(getattr(self, arg), dict):
                raise ValueError(f"RunSpec: {arg} must be a dict, got {getattr(self, arg)!r}")
        if "lr" in self.optimizer_kwargs:
            raise ValueError("RunSpec: lr must be given as the lr field, not in optimizer_kwargs, "
                             f"got optimizer_kwargs={self.optimizer_kwargs!r}")
        _check_schedule("schedule", self.schedule)
        _check_schedule("momentum_schedule", self.momentum_schedule)
        probes = self.probes
        if isinstance(probes, str) or not all(isinstance(p, str) for p in probes):
            raise ValueError(f"RunSpec: probes must be a list of names, got {probes!r}")
        for p in probes:
            if p not in BUILTIN_PROBES and ":" not in p:
                raise ValueError(f"RunSpec: probes must be among {', '.join(BUILTIN_PROBES)} or "
                                 f"'package.module:function', got {p!r}")
        object.__setattr__(self, "probes", tuple(probes))
        for arg in ("optimizer_kwargs", "problem_kwargs", "schedule", "momentum_schedule"):
            object.__setattr__(self, arg, _canon(getattr(self, arg)))  # JSON form: tuples -> lists, finite

    # --- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["probes"] = list(self.probes)
        return _canon(d)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        if not isinstance(d, dict):
            raise ValueError(f"RunSpec: a spec must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"RunSpec: unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"known keys: {', '.join(sorted(known))}")
        missing = sorted({"problem", "optimizer"} - set(d))
        if missing:
            raise ValueError(f"RunSpec: missing key(s) {', '.join(map(repr, missing))}")
        d = dict(d)
        probes = d.get("probes", ())
        if not isinstance(probes, (list, tuple)):
            raise ValueError(f"RunSpec: probes must be a list of names, got {probes!r}")
        d["probes"] = tuple(probes)
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunSpec":
        return cls.from_dict(json.loads(text))

    def key(self) -> str:
        """A 16-hex-digit hash of the canonical JSON: the run's directory name and results key."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.key())

    def replace(self, **changes: Any) -> "RunSpec":
        return replace(self, **changes)

    def config_label(self) -> str:
        """The optimizer configuration without lr and seed: ``"adam"`` or ``"adam(weight_decay=0.01)"``."""
        label = self.optimizer
        if self.optimizer_kwargs:
            label += "(" + ", ".join(f"{k}={v}" for k, v in sorted(self.optimizer_kwargs.items())) + ")"
        if self.schedule:
            label += f"+{self.schedule['name']}"
        return label


def run_defaults(problem: str, *, size: str = "default", steps: int | None = None, eval_every: int | None = None,
                 problem_kwargs: dict | None = None) -> dict:
    """The :class:`RunSpec` fields of a run of ``problem`` that the user left unset (one rule for the
    command line and :func:`~optimlab.lab.compare`): ``problem_kwargs`` with ``size`` unless
    ``"default"``; ``steps``: the problem's tiny or default step count; ``eval_every``: the problem's
    interval, at most ``steps``; ``probes``: ``("params",)`` on problems whose trajectory is drawn.

    >>> run_defaults("rosenbrock", size="tiny")["problem_kwargs"], run_defaults("rosenbrock")["probes"]
    ({'size': 'tiny'}, ('params',))
    """
    info = problem_info(problem)
    pkw = dict(problem_kwargs or {})
    if size != "default":
        pkw["size"] = size
    steps = steps if steps is not None else (info.tiny_steps if size == "tiny" else info.default_steps)
    eval_every = eval_every if eval_every is not None else max(1, min(info.eval_every, steps))
    return {"steps": steps, "eval_every": eval_every, "problem_kwargs": pkw,
            "probes": ("params",) if info.trajectory else ()}


def lr_grid(trials: int, low: float = 1e-4, high: float = 1.0) -> list[float]:
    """``trials`` learning rates log-spaced in ``[low, high]`` (rounded to 3 significant digits)."""
    check_int("lr_grid", "trials", trials, 1)
    check_range("lr_grid", "low", low, 0.0, low_closed=False)
    check_range("lr_grid", "high", high, low)
    if trials == 1:
        return [float(f"{math.sqrt(low * high):.3g}")]
    a, b = math.log10(low), math.log10(high)
    return [float(f"{10 ** (a + (b - a) * i / (trials - 1)):.3g}") for i in range(trials)]


def grid(problem: str, optimizers: Iterable[str], lrs: Iterable[float | None] | dict, seeds: Iterable[int], *,
         steps: int, eval_every: int, problem_kwargs: dict | None = None,
         optimizer_kwargs: dict[str, dict] | None = None, schedule: dict | None = None,
         probes: Iterable[str] = (), **extra: Any) -> list[RunSpec]:
    """Specs for problem x optimizers x lrs x seeds.

    ``lrs`` is one list for every optimizer or a dict ``optimizer -> list``; ``optimizer_kwargs``
    maps an optimizer name to its extra kwargs; ``extra`` goes to every :class:`RunSpec`.
    """
    out = []
    for opt in optimizers:
        rates = lrs[opt] if isinstance(lrs, dict) else lrs
        for lr in rates:
            for seed in seeds:
                out.append(RunSpec(problem=problem, optimizer=opt, lr=None if lr is None else float(lr), steps=steps,
                                   eval_every=eval_every, seed=int(seed), problem_kwargs=dict(problem_kwargs or {}),
                                   optimizer_kwargs=dict((optimizer_kwargs or {}).get(opt, {})),
                                   schedule=schedule, probes=tuple(probes), **extra))
    return out
