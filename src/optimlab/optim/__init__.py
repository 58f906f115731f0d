"""The optimizers: ``torch.optim.Optimizer`` subclasses, one module each."""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .nadam import NAdam
from .radam import RAdam
from .registry import available_optimizers, create_optimizer, optimizer_info, register
from .rmsprop import RMSprop
from .sgd import SGD, SGDW

__all__ = [
    "SGD", "SGDW", "Adam", "AdamW",
    "Adagrad", "RMSprop", "NAdam", "RAdam",
    "create_optimizer", "available_optimizers", "optimizer_info", "register",
]
