"""The optimizers: ``torch.optim.Optimizer`` subclasses, one module each."""

from .adam import Adam, AdamW
from .registry import available_optimizers, create_optimizer, optimizer_info, register
from .sgd import SGD, SGDW

__all__ = [
    "SGD", "SGDW", "Adam", "AdamW",
    "create_optimizer", "available_optimizers", "optimizer_info", "register",
]
