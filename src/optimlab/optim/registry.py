"""Name -> optimizer, used by the lab and the command line.

Names are lower case.  ``create_optimizer(name, params, **kwargs)`` builds one; keyword arguments
go to the class (an unknown keyword raises the class's ``TypeError``).  Named variants
("nag", "sgdm", "amsgrad", ...) only change defaults; a keyword given by the user wins.

Wrappers are spelled as a prefix: ``"lookahead_radam"`` builds ``RAdam`` from the keywords it
takes and wraps the built optimizer in ``Lookahead`` with the keywords the wrapper takes
(``k``, ``alpha``, ``pullback``), as timm and pytorch-optimizer do.  ``"lookahead"`` alone takes
the inner name as ``inner=`` (default ``"adam"``).  Prefixes compose (``"noisy_lookahead_sgdm"``);
the same wrapper twice (``"lookahead_lookahead_adam"``) is refused, because both levels would
share one set of group keys.  The registry imports the wrapper classes; the wrappers know nothing
of the registry.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer

from .adabound import AdaBound, AMSBound
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .lookahead import Lookahead
from .nadam import NAdam
from .noise import GradientNoise
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD, SGDW
from .swats import SWATS

__all__ = ["register", "register_wrapper", "create_optimizer", "available_optimizers", "optimizer_info",
           "OptimizerInfo", "WrapperInfo"]


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


@dataclass(frozen=True)
class WrapperInfo:
    """A wrapper spelled ``<prefix>_<inner name>``: its class and the keywords that go to it."""

    name: str
    cls: type
    team: str
    summary: str
    default_inner: str = "adam"

    @property
    def options(self) -> tuple[str, ...]:
        """The wrapper's own keyword arguments (everything of ``cls.__init__`` after the optimizer)."""
        names = list(inspect.signature(self.cls.__init__).parameters)
        return tuple(names[2:])  # drop self, optimizer

    @property
    def defaults(self) -> dict:
        return {"inner": self.default_inner}


_REGISTRY: dict[str, OptimizerInfo] = {}
_WRAPPERS: dict[str, WrapperInfo] = {}


def register(name: str, cls: type, *, team: str, summary: str, **defaults: Any) -> None:
    """Register ``name`` for ``cls`` with default keyword arguments ``defaults``."""
    _check_new(name)
    _REGISTRY[name] = OptimizerInfo(name, cls, dict(defaults), team, summary)


def register_wrapper(name: str, cls: type, *, team: str, summary: str, default_inner: str = "adam") -> None:
    """Register the wrapper class ``cls(optimizer, **options)`` as ``name`` and prefix ``name_<inner>``."""
    _check_new(name)
    if "_" in name:
        raise ValueError(f"register_wrapper: a wrapper name must not contain '_', got {name!r}")
    _WRAPPERS[name] = WrapperInfo(name, cls, team, summary, default_inner)


def _check_new(name: str) -> None:
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"register: name must be a non-empty lower-case string, got {name!r}")
    if name in _REGISTRY or name in _WRAPPERS:
        raise ValueError(f"register: name {name!r} is already registered")


def _unknown(name: Any) -> ValueError:
    known = ", ".join(available_optimizers())
    return ValueError(f"create_optimizer: unknown optimizer {name!r}; known optimizers: {known} "
                      f"(wrappers also as <wrapper>_<name>: {', '.join(sorted(_WRAPPERS))})")


def optimizer_info(name: str) -> OptimizerInfo | WrapperInfo:
    """What the registry knows about ``name`` (``ValueError`` listing the known names).

    A prefixed name (``"lookahead_adam"``) gives the outermost wrapper's :class:`WrapperInfo`.

    >>> import optimlab
    >>> info = optimlab.optimizer_info("sgdm")
    >>> info.cls.__name__, info.defaults, info.team
    ('SGD', {'momentum': 0.9}, 'sgd')
    >>> optimlab.optimizer_info("lookahead_sgdm").options
    ('k', 'alpha', 'pullback')
    """
    chain, inner = _parse(name)
    if chain:
        return _WRAPPERS[chain[0]]
    return _REGISTRY[inner]


def _parse(name: Any) -> tuple[list[str], str]:
    """``"noisy_lookahead_sgdm"`` -> (["noisy", "lookahead"], "sgdm"); a bare wrapper name -> ([w], "")."""
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.lower()
    chain: list[str] = []
    while key not in _REGISTRY:
        if key in _WRAPPERS:
            return chain + [key], ""
        prefix, _, rest = key.partition("_")
        if prefix not in _WRAPPERS or not rest:
            raise _unknown(name)
        if prefix in chain:
            raise ValueError(f"create_optimizer: {name!r} nests {prefix!r} twice; the same wrapper cannot wrap "
                             f"itself (both would share the {prefix} group keys)")
        chain.append(prefix)
        key = rest
    return chain, key


def create_optimizer(name: str, params, **kwargs: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` over ``params``.

    Keywords a wrapper takes go to that wrapper; the rest go to the inner optimizer.

    >>> import torch, optimlab
    >>> opt = optimlab.create_optimizer("nag", [torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    >>> type(opt).__name__, opt.defaults["momentum"], opt.defaults["nesterov"]
    ('SGD', 0.9, True)
    >>> opt = optimlab.create_optimizer("lookahead_sgdm", [torch.nn.Parameter(torch.zeros(2))], lr=0.1, k=10)
    >>> type(opt).__name__, type(opt.optimizer).__name__, opt.param_groups[0]["lookahead_k"]
    ('Lookahead', 'SGD', 10)
    """
    chain, inner = _parse(name)
    if not inner:  # a bare wrapper name: inner= names the optimizer inside
        info = _WRAPPERS[chain[-1]]
        inner_name = kwargs.pop("inner", info.default_inner)
        if not isinstance(inner_name, str):
            raise ValueError(f"create_optimizer: inner must be an optimizer name, got {inner_name!r}")
        inner_chain, inner = _parse(inner_name)
        for w in inner_chain:
            if w in chain:
                raise ValueError(f"create_optimizer: {name!r} with inner={inner_name!r} nests {w!r} twice")
        chain = chain + inner_chain
        if not inner:
            raise _unknown(inner_name)
    elif "inner" in kwargs:
        raise ValueError(f"create_optimizer: {name!r} already names its inner optimizer ({inner!r}); inner= is "
                         f"only for a bare wrapper name such as 'lookahead', got inner={kwargs['inner']!r}")
    wrapper_kwargs = []
    for w in chain:
        opts = _WRAPPERS[w].options
        wrapper_kwargs.append({k: kwargs.pop(k) for k in list(kwargs) if k in opts})
    opt = _REGISTRY[inner].build(params, **kwargs)
    for w, wkw in zip(reversed(chain), reversed(wrapper_kwargs)):
        opt = _WRAPPERS[w].cls(opt, **wkw)
    return opt


def available_optimizers() -> list[str]:
    """The registered names, sorted (wrappers also accept any of them as ``<wrapper>_<name>``).

    >>> import optimlab
    >>> {"sgd", "nag", "adam", "adamw", "lookahead"} <= set(optimlab.available_optimizers())
    True
    """
    return sorted([*_REGISTRY, *_WRAPPERS])


def _register_builtins() -> None:
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
    register("adabound", AdaBound, team="adam", summary="Adam with dynamic bounds towards an SGD rate (Luo et al.)")
    register("amsbound", AMSBound, team="adam", summary="AdaBound with AMSGrad's running maximum")
    register("swats", SWATS, team="both", summary="switch from Adam to SGD with momentum (Keskar & Socher)")
    register_wrapper("lookahead", Lookahead, team="both",
                     summary="Lookahead(k=5, alpha=0.5) around inner= (default adam); also lookahead_<name>")
    register_wrapper("noisy", GradientNoise, team="both",
                     summary="annealed gradient noise around inner= (default adam); also noisy_<name>")


_register_builtins()
