"""The optimizers: ``torch.optim.Optimizer`` subclasses, one module each."""

from .adabound import AdaBound, AMSBound
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .nadam import NAdam
from .radam import RAdam
from .registry import available_optimizers, create_optimizer, optimizer_info, register, register_wrapper
from .rmsprop import RMSprop
from .sgd import SGD, SGDW
from .lookahead import Lookahead
from .noise import GradientNoise
from .swats import SWATS

__all__ = [
    "SGD", "SGDW", "Adam", "AdamW",
    "Adagrad", "RMSprop", "NAdam", "RAdam",
    "AdaBound", "AMSBound", "SWATS", "Lookahead", "GradientNoise",
    "create_optimizer", "available_optimizers", "optimizer_info", "register", "register_wrapper",
]
