"""The base of optimizers that wrap another optimizer (Lookahead, gradient noise).

A wrapper is a ``torch.optim.Optimizer`` (schedulers, ``GradScaler``, Lightning and hooks check
for it) that **shares the inner optimizer's ``param_groups`` list and ``state`` dict**:

* a scheduler, a ``GradScaler`` or ``add_param_group`` acting on the wrapper acts on the inner
  optimizer, and the other way round;
* the wrapper's own hyperparameters live in the shared groups under prefixed keys
  (``lookahead_k``, ``noise_eta``, ...) so that they never collide with the inner optimizer's
  (RMSprop has an ``alpha``), are saved with the groups and apply to groups added later; its
  per-group counters are 0-d int64 tensors (``lookahead_step``, ``noise_step``), so that
  ``torch.compile`` does not recompile as they advance;
* its per-parameter state lives in the shared per-parameter dicts under prefixed keys
  (``lookahead_slow``), added only after the inner optimizer has created its own (torch's
  optimizers create state when a parameter's dict is empty).

So ``state_dict()`` is torch's flat format, exactly what a plain optimizer gives, and everything
that handles optimizer checkpoints handles a wrapper's: ``ZeroRedundancyOptimizer``'s
``consolidate_state_dict``, ``torch.distributed.checkpoint``'s ``get/set_optimizer_state_dict``,
Lightning and the Hugging Face ``Trainer``.  ``load_state_dict`` goes through the inner
optimizer's (its format conversions and checks run), runs the wrapper's load hooks, and also
reads checkpoints of optimlab 0.1 (the inner state nested under ``"inner_optimizer"``).

Two wrappers of the same kind cannot be nested (both would read and advance the same group keys);
different kinds compose (``Lookahead(GradientNoise(Adam))``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from ._base import check_state_shapes, step_context

__all__ = ["Wrapper", "counter"]


def counter(value: Any = 0) -> Tensor:
    """A per-group step counter: a 0-d int64 CPU tensor."""
    return torch.tensor(int(value), dtype=torch.int64)


class Wrapper(torch.optim.Optimizer):
    """Shares ``optimizer.param_groups`` and ``optimizer.state``; subclasses define ``step``,
    ``_own`` (group key -> default), ``_counters`` (group keys that are step counters) and
    ``_check_group`` (validates a group's wrapper keys)."""

    _owner = "Wrapper"
    _counters: tuple[str, ...] = ()

    def __init__(self, optimizer: torch.optim.Optimizer, own: dict[str, Any]) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{self._owner}: optimizer must be a torch.optim.Optimizer instance, "
                            f"got {type(optimizer).__name__}")
        inner = optimizer
        while isinstance(inner, Wrapper):
            if type(inner) is type(self):
                raise ValueError(f"{self._owner}: cannot wrap another {self._owner} ({optimizer!r}); both would share "
                                 f"the same group keys ({', '.join(own)})")
            inner = inner.optimizer
        self.optimizer = optimizer
        self._own = dict(own)
        self._adopting = True
        # torch's __init__ registers the hook dicts and patches step; it hands every inner group
        # to add_param_group, which (while adopting) only adds and checks the wrapper's keys.
        super().__init__(optimizer.param_groups, dict(own))
        self._adopting = False
        self.param_groups = optimizer.param_groups  # the same list object
        self.state = optimizer.state  # the same dict object
        # schedulers read ``defaults`` (OneCycleLR/CyclicLR look for "momentum" or "betas")
        self.defaults = {**optimizer.defaults, **self._own}

    # ------------------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group to the inner optimizer (which validates its own keys), with the wrapper's keys
        (given ones are checked, missing ones get the wrapper's values)."""
        if self._adopting:
            self._adopt(param_group)
            self.param_groups.append(param_group)
            return
        own = {k: param_group.pop(k) for k in list(param_group) if k in self._own}
        self._check_group({**self._own, **own})  # before the inner optimizer takes the group
        self.optimizer.add_param_group(param_group)
        self.param_groups[-1].update(own)
        self._adopt(self.param_groups[-1])

    def _adopt(self, group: dict) -> None:
        for key, value in self._own.items():
            if key not in group:
                group[key] = counter(value) if key in self._counters else value
            elif key in self._counters and not isinstance(group[key], Tensor):
                group[key] = counter(group[key])  # a checkpoint of optimlab 0.1 held ints
        self._check_group(group)

    def _groups(self) -> list[dict]:
        """The shared groups, with the wrapper's keys added to any group that was added to the
        inner optimizer directly (``inner.add_param_group``) after the wrapper was built."""
        for group in self.param_groups:
            if any(k not in group for k in self._own):
                self._adopt(group)
        return self.param_groups

    def _check_group(self, group: dict) -> None:
        """Raise ``ValueError`` for an invalid wrapper key in ``group`` (subclasses)."""

    @step_context
    def step(self, closure: Callable[[], Any] | None = None):
        """Evaluate the closure (once, under ``enable_grad``), then this wrapper's step."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step_impl()
        return loss

    def _step_impl(self, grad_transform=None) -> None:
        """This wrapper's step; ``grad_transform`` comes from an outer wrapper (see
        :func:`~optimlab.optim._base.run_inner_step`)."""
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    # ------------------------------------------------------------------------------ checkpoints
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a checkpoint of this wrapper (torch's flat format): through the inner optimizer's
        ``load_state_dict``, with this wrapper's load hooks around it.  A checkpoint that does not
        fit leaves both as they were."""
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = hook(self, state_dict)
            if result is not None:
                state_dict = result
        state_dict = _flatten_legacy(state_dict)
        inner = self.optimizer
        before = inner.state, inner.param_groups
        try:
            inner.load_state_dict(state_dict)
            self._share()
            check_state_shapes(self._owner, self)
        except Exception:
            inner.state, inner.param_groups = before
            self._share()
            raise
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    def _share(self) -> None:
        """Point at the inner optimizer's (new) groups and state, as every wrapper in the chain does."""
        if isinstance(self.optimizer, Wrapper):
            self.optimizer._share()
        self.param_groups = self.optimizer.param_groups
        self.state = self.optimizer.state
        for group in self.param_groups:
            self._adopt(group)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)

    def __repr__(self) -> str:
        return f"{self._owner}({self.optimizer!r})"


def _flatten_legacy(state_dict: dict[str, Any]) -> dict[str, Any]:
    """optimlab 0.1 saved ``{"state": wrapper state, "param_groups": ..., "inner_optimizer": inner
    state_dict}``; merge it into torch's flat format (wrapper keys renamed as now)."""
    if "inner_optimizer" not in state_dict:
        return state_dict
    inner = _flatten_legacy(state_dict["inner_optimizer"])
    merged = {k: dict(v) for k, v in inner["state"].items()}
    renames = {"slow_param": "lookahead_slow", "slow_momentum": "lookahead_slow_momentum"}
    for key, value in state_dict["state"].items():
        merged.setdefault(key, {}).update({renames.get(k, k): v for k, v in value.items()})
    return {"state": merged, "param_groups": state_dict["param_groups"]}
