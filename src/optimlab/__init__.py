"""optimlab: deep-learning optimizers for PyTorch, learning-rate tools, and a lab that measures them.

The library needs only torch; the lab (``optimlab.lab``) and the command line (``optimlab.cli``)
need the ``optimlab[lab]`` extra and are not imported here.
"""

import logging as _logging

# --- optimizers (issue 2/3) ---
from .optim import (
    SGD,
    SGDW,
    Adam,
    AdamW,
    Adagrad,
    NAdam,
    RAdam,
    RMSprop,
    AdaBound,
    AMSBound,
    SWATS,
    Lookahead,
    GradientNoise,
    available_optimizers,
    create_optimizer,
    optimizer_info,
)

# --- learning-rate tools (issue 4) ---
from .schedules import (
    SGDR,
    Constant,
    CosineAnnealing,
    Cyclic,
    CyclicMomentum,
    ExponentialDecay,
    LinearWarmup,
    OneCycle,
    OneCycleMomentum,
    ScheduledLR,
    Sequence,
    StepDecay,
    UntunedWarmup,
    Warmup,
    available_schedules,
    make_schedule,
)
from .lr_range import (
    LRRangeResult,
    lr_range_test,
    lr_range_test_from_batches,
    suggest_clr_bounds,
    suggest_lr_min_div10,
    suggest_lr_steepest,
    suggest_lr_valley,
    supervised_step_fn,
)
from .curriculum import CurriculumSampler

__version__ = "0.1.0"

_logging.getLogger(__name__).addHandler(_logging.NullHandler())

__all__ = [
    "SGD", "SGDW", "Adam", "AdamW",
    "Adagrad", "RMSprop", "NAdam", "RAdam",
    "AdaBound", "AMSBound", "SWATS", "Lookahead", "GradientNoise",
    "create_optimizer", "available_optimizers", "optimizer_info",
    "__version__",
    # learning-rate tools (issue 4)
    "ScheduledLR", "available_schedules", "make_schedule",
    "Constant", "LinearWarmup", "UntunedWarmup", "StepDecay", "ExponentialDecay", "CosineAnnealing",
    "SGDR", "Cyclic", "CyclicMomentum", "OneCycle", "OneCycleMomentum", "Warmup", "Sequence",
    "lr_range_test", "lr_range_test_from_batches", "supervised_step_fn", "LRRangeResult",
    "suggest_lr_steepest", "suggest_lr_valley", "suggest_lr_min_div10", "suggest_clr_bounds",
    "CurriculumSampler",
]
