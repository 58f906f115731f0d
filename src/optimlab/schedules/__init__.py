"""Learning-rate (and momentum) schedules as pure functions of the step.

Every schedule is a small frozen dataclass: ``schedule(step) -> float`` returns an absolute
value for an int or float step >= 0, with no hidden state, so it can be previewed
(:func:`optimlab.lab.lrplots.plot_schedule`), composed (:class:`Warmup`, :class:`Sequence`) and
resumed from any step.  :class:`ScheduledLR` drives an optimizer from schedules.
``to_dict()`` / :func:`from_dict` / :func:`make_schedule` give the JSON form
``{"name": ..., "kwargs": {...}}`` the lab stores in run specs.

Step convention (torch's): step ``t`` is the value used by the ``(t + 1)``-th optimizer step,
i.e. the value after ``t`` calls of ``scheduler.step()``.

>>> from optimlab.schedules import make_schedule, from_dict
>>> s = make_schedule("warmup", schedule={"name": "cosine", "kwargs": {"base_lr": 0.1, "T_max": 90}},
...                   warmup_steps=10)
>>> from_dict(s.to_dict()) == s
True
"""

from ._base import Schedule, available_schedules, from_dict, make_schedule
from .adapter import ScheduledLR
from .basic import Constant, CosineAnnealing, ExponentialDecay, LinearWarmup, StepDecay, UntunedWarmup
from .compose import Sequence, Warmup
from .cyclic import SGDR, Cyclic, CyclicMomentum, OneCycle, OneCycleMomentum

__all__ = [
    "Schedule", "available_schedules", "make_schedule", "from_dict", "ScheduledLR",
    "Constant", "LinearWarmup", "UntunedWarmup", "StepDecay", "ExponentialDecay", "CosineAnnealing",
    "SGDR", "Cyclic", "CyclicMomentum", "OneCycle", "OneCycleMomentum", "Warmup", "Sequence",
]
