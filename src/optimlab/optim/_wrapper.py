"""The base of optimizers that wrap another optimizer (Lookahead, gradient noise).

A wrapper is a ``torch.optim.Optimizer`` (schedulers, ``GradScaler``, Lightning and hooks check
for it) whose ``param_groups`` **is the inner optimizer's list object**: a scheduler, a
``GradScaler`` or ``add_param_group`` acting on the wrapper acts on the inner optimizer, and the
other way round.  The wrapper's own hyperparameters live in the shared groups under prefixed
keys (``lookahead_k``, ``noise_eta``...) so that they never collide with the inner optimizer's
(RMSprop has an ``alpha``), are saved with the groups, and apply to groups added later.

``state_dict()`` is torch's format for the wrapper's own per-parameter state, plus the inner
optimizer's complete state_dict (torch's format too) under ``"inner_optimizer"``.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain
from typing import Any

import torch

__all__ = ["Wrapper"]


class Wrapper(torch.optim.Optimizer):
    """Shares ``optimizer.param_groups``; subclasses define ``step`` and ``_group_defaults``."""

    _owner = "Wrapper"

    def __init__(self, optimizer: torch.optim.Optimizer, group_defaults: dict[str, Any]) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"{self._owner}: optimizer must be a torch.optim.Optimizer instance, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self._adopting = True
        # torch's __init__ registers the hook dicts and patches step; it hands every inner group
        # to add_param_group, which (while adopting) only adds the wrapper's keys to it.
        self._own_defaults = dict(group_defaults)
        super().__init__(optimizer.param_groups, dict(group_defaults))
        self._adopting = False
        self.param_groups = optimizer.param_groups  # the same list object
        # schedulers read ``defaults`` (OneCycleLR/CyclicLR look for "momentum" or "betas")
        self.defaults = {**optimizer.defaults, **self._own_defaults}

    def add_param_group(self, param_group: dict) -> None:
        """Add a group to the inner optimizer (which validates it) and the wrapper's keys to it."""
        if not self._adopting:
            self.optimizer.add_param_group(param_group)
            self.param_groups = self.optimizer.param_groups
            param_group = self.param_groups[-1]
        for key, value in self._own_defaults.items():
            param_group.setdefault(key, value)
        if self._adopting:
            self.param_groups.append(param_group)

    def _groups(self) -> list[dict]:
        """The shared groups, with the wrapper's keys added to any group that was added to the
        inner optimizer directly (``inner.add_param_group``) after the wrapper was built."""
        for group in self.param_groups:
            if any(k not in group for k in self._own_defaults):
                for key, value in self._own_defaults.items():
                    group.setdefault(key, value)
        return self.param_groups

    # ------------------------------------------------------------------------------ state
    def _extra_state(self) -> dict[str, Any]:
        """Wrapper-wide state saved beside the per-parameter state (e.g. an RNG state)."""
        return {}

    def _load_extra_state(self, state_dict: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """torch's format for the wrapper's state, the inner optimizer's under ``"inner_optimizer"``."""
        own = super().state_dict()
        return {**own, "inner_optimizer": self.optimizer.state_dict(), **self._extra_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the inner optimizer's state (and the groups, hyperparameters included), then ours."""
        if "inner_optimizer" not in state_dict:
            raise ValueError(f"{self._owner}: state_dict has no 'inner_optimizer' entry; "
                             f"was it saved from a {self._owner}?")
        self.optimizer.load_state_dict(state_dict["inner_optimizer"])
        # torch's load_state_dict replaces the inner list: share the new one
        self.param_groups = self.optimizer.param_groups
        saved = state_dict["param_groups"]
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        self.state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            p = id_map[key]
            self.state[p] = {k: self._cast(p, v) for k, v in value.items()}
        self._load_extra_state(state_dict)

    @staticmethod
    def _cast(p: torch.Tensor, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or value.is_complex():
                return value.to(device=p.device, dtype=p.dtype, copy=True)
            return value.to(device=p.device, copy=True)
        return value

    def __repr__(self) -> str:
        return f"{self._owner}({self.optimizer!r})"
