"""One adapter from schedules to a ``torch.optim.lr_scheduler.LRScheduler``."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence, Union

import torch
from torch.optim.lr_scheduler import LRScheduler

from ._base import Schedule

__all__ = ["ScheduledLR"]

_Sched = Union[Schedule, Sequence[Schedule]]


def _per_group(owner: str, arg: str, value: Any, n: int) -> list:
    if isinstance(value, Schedule):
        return [value] * n
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: {arg} must be one schedule or a list of {n} (one per param group), got {len(value)}")
        for i, s in enumerate(value):
            if not isinstance(s, Schedule):
                raise ValueError(f"{owner}: {arg}[{i}] must be a schedule, got {s!r}")
        return list(value)
    raise ValueError(f"{owner}: {arg} must be a schedule or a list of schedules, got {value!r}")


def _set(group: dict, key: str, value: float) -> None:
    if isinstance(group.get(key), torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


class ScheduledLR(LRScheduler):
    r"""Drive ``lr`` (and optionally momentum) of every param group from schedules.

    After ``k`` calls of :meth:`step` (one per optimisation step, after ``optimizer.step()``)
    each group has ``lr = lr_schedule(k)`` and, if given, momentum ``= momentum_schedule(k)``:
    written to ``group["momentum"]`` when the group has that key (SGD family), else to
    ``group["betas"][0]`` (Adam family).  Construction applies step 0.  The schedules give
    absolute values, so ``initial_lr``/``base_lrs`` play no role.

    ``state_dict()`` holds the step counter, the last values and the schedules as JSON-able
    dicts (no pickled objects: ``torch.load(weights_only=True)`` works).  ``load_state_dict``
    restores the counter and writes the values of that step back into the optimizer, so a resumed
    run continues on the same curve whatever the order of loading optimizer and scheduler.  A
    checkpoint saved with different schedules gives a ``UserWarning`` (the new ones are used).

    Works with any ``torch.optim.Optimizer`` (torch's, optimlab's, and wrappers that share the
    inner optimizer's ``param_groups``).

    Args:
        optimizer: the optimizer.
        lr (Schedule or list of Schedule): one schedule for all groups, or one per group.
        momentum (Schedule, list, or None): momentum / beta1 schedule(s); None leaves it alone.
        last_epoch (int, default -1): index of the last step taken; -1 starts a new run.

    >>> import torch, optimlab
    >>> from optimlab.schedules import Warmup, CosineAnnealing
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optimlab.ScheduledLR(opt, Warmup(CosineAnnealing(0.1, T_max=8), warmup_steps=2))
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
    >>> lrs
    [0.0, 0.05, 0.1, 0.0962]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: _Sched, momentum: Optional[_Sched] = None,
                 last_epoch: int = -1) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"ScheduledLR: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"ScheduledLR: last_epoch must be an integer >= -1, got {last_epoch!r}")
        n = len(optimizer.param_groups)
        self.lr_schedules = _per_group("ScheduledLR", "lr", lr, n)
        self.momentum_schedules = None if momentum is None else _per_group("ScheduledLR", "momentum", momentum, n)
        if self.momentum_schedules is not None:
            for i, g in enumerate(optimizer.param_groups):
                if "momentum" not in g and "betas" not in g:
                    raise ValueError(
                        f"ScheduledLR: momentum needs param_groups[{i}] to have 'momentum' or 'betas', "
                        f"got keys {sorted(k for k in g if k != 'params')}"
                    )
        for g in optimizer.param_groups:  # absolute schedules: torch's resume check needs the key only
            g.setdefault("initial_lr", g["lr"])
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [s(self.last_epoch) for s in self.lr_schedules]

    _get_closed_form_lr = get_lr

    def _apply_momentum(self) -> None:
        if self.momentum_schedules is None:
            return
        for g, s in zip(self.optimizer.param_groups, self.momentum_schedules):
            m = s(self.last_epoch)
            if "momentum" in g:
                _set(g, "momentum", m)
            else:
                g["betas"] = (m, *tuple(g["betas"])[1:])

    def get_last_momentum(self) -> Optional[list[float]]:
        """The momentum values written at the last step (None without momentum schedules)."""
        if self.momentum_schedules is None:
            return None
        return [s(self.last_epoch) for s in self.momentum_schedules]

    def step(self, epoch: Optional[int] = None) -> None:  # noqa: D102 - torch's semantics
        super().step(epoch)
        self._apply_momentum()

    def _schedule_dicts(self) -> dict:
        return {
            "lr": [s.to_dict() for s in self.lr_schedules],
            "momentum": None if self.momentum_schedules is None else [s.to_dict() for s in self.momentum_schedules],
        }

    def state_dict(self) -> dict[str, Any]:
        """Step counter, last lrs and the schedules as dicts (no pickled objects)."""
        return {
            "last_epoch": self.last_epoch,
            "_step_count": self._step_count,
            "_last_lr": [float(x) for x in self._last_lr],
            "schedules": self._schedule_dicts(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counter and write that step's values into the optimizer."""
        for key in ("last_epoch", "_step_count"):
            if key not in state_dict:
                raise ValueError(f"ScheduledLR: state_dict must contain {key!r}, got keys {sorted(state_dict)}")
        if state_dict.get("schedules", self._schedule_dicts()) != self._schedule_dicts():
            warnings.warn("ScheduledLR: the checkpoint was saved with different schedules; continuing with the "
                          "current ones", UserWarning, stacklevel=2)
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict["_step_count"])
        for g, s in zip(self.optimizer.param_groups, self.lr_schedules):
            _set(g, "lr", s(self.last_epoch))
        self._apply_momentum()
        self._last_lr = [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
                         for g in self.optimizer.param_groups]
