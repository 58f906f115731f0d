"""Name -> optimizer factory, used by the lab and the command line.

Names are lower case.  ``create_optimizer(name, params, **kwargs)`` builds one; keyword arguments
go to the class (an unknown keyword raises the class's ``TypeError``).  Named variants
("nag", "sgdm", "amsgrad", ...) only change defaults; a keyword given by the user wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch.optim import Optimizer

__all__ = ["register", "create_optimizer", "available_optimizers", "optimizer_info", "OptimizerInfo"]


@dataclass(frozen=True)
class OptimizerInfo:
    """What the registry knows about a name: the class, the defaults it sets, its lecture team."""

    name: str
    cls: type
    defaults: dict
    team: str  # "sgd", "adam" or "both" (the lecture's summary table)
    summary: str

    def build(self, params, **kwargs: Any) -> Optimizer:
        return self.cls(params, **{**self.defaults, **kwargs})


_REGISTRY: dict[str, OptimizerInfo] = {}


def register(name: str, cls: type, *, team: str, summary: str, **defaults: Any) -> None:
    """Register ``name`` for ``cls`` with default keyword arguments ``defaults``."""
    if name != name.lower():
        raise ValueError(f"register: name must be lower case, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"register: name {name!r} is already registered")
    _REGISTRY[name] = OptimizerInfo(name, cls, dict(defaults), team, summary)


def _unknown(name: str) -> ValueError:
    known = ", ".join(available_optimizers())
    return ValueError(f"create_optimizer: unknown optimizer {name!r}; known optimizers: {known}")


# Wrapper prefixes ("lookahead_adam") are resolved by functions registered here:
# prefix -> builder(inner_name, params, **kwargs).
_PREFIXES: dict[str, Callable[..., Optimizer]] = {}


def register_prefix(prefix: str, builder: Callable[..., Optimizer]) -> None:
    """Register a wrapper spelled ``<prefix>_<inner name>`` (e.g. ``lookahead_adam``)."""
    _PREFIXES[prefix] = builder


def optimizer_info(name: str) -> OptimizerInfo:
    """The :class:`OptimizerInfo` of a registered name (``ValueError`` listing the known ones).

    >>> import optimlab
    >>> info = optimlab.optimizer_info("sgdm")
    >>> info.cls.__name__, info.defaults, info.team
    ('SGD', {'momentum': 0.9}, 'sgd')
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise _unknown(name)
    return _REGISTRY[name.lower()]


def create_optimizer(name: str, params, **kwargs: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` over ``params``.

    >>> import torch, optimlab
    >>> opt = optimlab.create_optimizer("nag", [torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    >>> type(opt).__name__, opt.defaults["momentum"], opt.defaults["nesterov"]
    ('SGD', 0.9, True)
    """
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.lower()
    if key in _REGISTRY:
        return _REGISTRY[key].build(params, **kwargs)
    for prefix, builder in _PREFIXES.items():
        if key.startswith(prefix + "_"):
            inner = key[len(prefix) + 1:]
            if inner in _REGISTRY or any(inner.startswith(p + "_") for p in _PREFIXES):
                return builder(inner, params, **kwargs)
    raise _unknown(name)


def available_optimizers() -> list[str]:
    """The registered names, sorted (wrapper prefixes accept any of them as ``<prefix>_<name>``).

    >>> import optimlab
    >>> {"sgd", "nag", "adam", "adamw"} <= set(optimlab.available_optimizers())
    True
    """
    return sorted(_REGISTRY)


def _register_builtins() -> None:
    from .adagrad import Adagrad
    from .adam import Adam, AdamW
    from .nadam import NAdam
    from .radam import RAdam
    from .rmsprop import RMSprop
    from .sgd import SGD, SGDW
    from .adabound import AdaBound, AMSBound
    from .lookahead import make_lookahead
    from .noise import make_noisy
    from .swats import SWATS

    register("sgd", SGD, team="sgd", summary="plain stochastic gradient descent")
    register("sgdm", SGD, team="sgd", summary="SGD with momentum 0.9", momentum=0.9)
    register("nag", SGD, team="sgd", summary="Nesterov accelerated gradient (momentum 0.9)", momentum=0.9, nesterov=True)
    register("sgdw", SGDW, team="sgd", summary="SGD with decoupled weight decay")
    register("sgdwm", SGDW, team="sgd", summary="SGDW with momentum 0.9", momentum=0.9)
    register("adam", Adam, team="adam", summary="Adam (Kingma & Ba)")
    register("amsgrad", Adam, team="adam", summary="Adam with AMSGrad's running maximum", amsgrad=True)
    register("adamw", AdamW, team="adam", summary="Adam with decoupled weight decay")
    register("adagrad", Adagrad, team="adam", summary="Adagrad (Duchi et al.)")
    register("rmsprop", RMSprop, team="adam", summary="RMSprop (Tieleman & Hinton)")
    register("nadam", NAdam, team="adam", summary="Adam with Nesterov momentum (Dozat)")
    register("radam", RAdam, team="adam", summary="rectified Adam (Liu et al.)")

    # issue 3: the lecture's optimizers torch.optim lacks, and the wrappers
    register("adabound", AdaBound, team="adam", summary="Adam with dynamic bounds towards an SGD rate (Luo et al.)")
    register("amsbound", AMSBound, team="adam", summary="AdaBound with AMSGrad's running maximum")
    register("swats", SWATS, team="both", summary="switch from Adam to SGD with momentum (Keskar & Socher)")
    register("lookahead", make_lookahead, team="both",
             summary="Lookahead(k=5, alpha=0.5) around inner= (default adam); also lookahead_<name>")
    register("noisy", make_noisy, team="both",
             summary="annealed gradient noise around inner= (default adam); also noisy_<name>")
    register_prefix("lookahead", lambda inner, params, **kw: make_lookahead(params, inner, **kw))
    register_prefix("noisy", lambda inner, params, **kw: make_noisy(params, inner, **kw))


_register_builtins()
