"""Wilson et al.'s (2017) linearly separable least-squares problem, where adaptive methods generalize worse.

Wilson, Roelofs, Stern, Srebro & Recht, "The Marginal Value of Adaptive Gradient Methods in Machine
Learning" (NeurIPS 2017, arXiv:1705.08292), Sec. 3.3.  Labels ``y_i = +1`` with probability ``p > 1/2``,
else ``-1``.  Example ``i`` has ``x_i1 = y_i``, ``x_i2 = x_i3 = 1``, and its own block of features
``x_ij = 1`` for ``j = 4 + 5(i-1), ..., 4 + 5(i-1) + 2(1 - y_i)`` (one feature for a positive example, five
for a negative one); every other feature is 0, so the dimension is ``3 + 5n``.  The model is a linear map
without bias, initialised at zero; the loss is the squared error ``1/2 (<w, x> - y)^2`` (mean over the batch).

The paper proves, for the full-batch methods started at 0, that gradient descent (and momentum) reach
the minimum-norm solution, which classifies every new example correctly, while AdaGrad, RMSProp and
Adam reach a solution that labels every new example ``+1`` (test error = the fraction of negatives).
A new example's own features are never seen in training, so their weights stay 0 and its prediction
is ``w_1 y + w_2 + w_3``: validation and test examples carry the first three features only.

The data (training set, validation and test examples) come from ``data_seed`` (default 0), the same for
every run seed; the run seed varies the mini-batch order only (default ``batch_size = n // 2``; ``batch_size=n`` is the
paper's full-batch setting, where every seed gives the same run).  Accuracy counts ``<w, x> >= 0`` as +1.
"""

from __future__ import annotations

import torch
from torch import nn

from ...checks import check_int, check_range
from .base import Problem, check_size, register_problem

__all__ = ["wilson_data", "make_wilson"]


def wilson_data(n: int, p: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(X, y)`` of the construction: ``X`` is ``n x (3 + 5n)``, ``y`` in {-1, +1} (float)."""
    y = torch.where(torch.rand(n, generator=gen) < p, 1.0, -1.0)
    x = torch.zeros(n, 3 + 5 * n)
    x[:, 0] = y
    x[:, 1] = 1.0
    x[:, 2] = 1.0
    for i in range(n):
        start = 3 + 5 * i  # 0-based column of feature 4 + 5(i - 1)
        width = 1 + int(2 * (1 - y[i]))
        x[i, start:start + width] = 1.0
    return x, y


class ZeroLinear(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        return x @ self.w


def make_wilson(seed: int = 0, size: str = "default", n: int | None = None, p: float = 0.7,
                batch_size: int | None = None, n_eval: int = 2000, data_seed: int = 0) -> Problem:
    check_size("wilson", size)
    n = n or (200 if size == "default" else 40)
    check_int("wilson", "n", n, 2)
    check_range("wilson", "p", p, 0.5, 1.0, low_closed=False, high_closed=False)
    batch_size = batch_size or max(1, n // 2)
    check_int("wilson", "batch_size", batch_size, 1, n)
    check_int("wilson", "n_eval", n_eval, 2)
    check_int("wilson", "data_seed", data_seed, 0)
    dgen = torch.Generator().manual_seed(data_seed)
    x, y = wilson_data(n, p, dgen)
    dim = x.shape[1]

    def fresh(m):
        yy = torch.where(torch.rand(m, generator=dgen) < p, 1.0, -1.0)
        xx = torch.zeros(m, dim)
        xx[:, 0], xx[:, 1], xx[:, 2] = yy, 1.0, 1.0
        return xx, yy

    val, test = fresh(n_eval), fresh(n_eval)
    model = ZeroLinear(dim)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    per_epoch = max(1, n // batch_size)
    state = {"perm": None, "epoch": -1}

    def next_batch(step):
        epoch, i = divmod(step, per_epoch)
        if epoch != state["epoch"]:
            state["perm"], state["epoch"] = torch.randperm(n, generator=gen), epoch
        idx = state["perm"][i * batch_size:(i + 1) * batch_size]
        return x[idx], y[idx]

    def loss_fn(m, batch):
        xb, yb = batch
        return 0.5 * (m(xb) - yb).pow(2).mean()

    def evaluate(m):
        out = {}
        for k, (xx, yy) in (("train", (x, y)), ("val", val), ("test", test)):
            f = m(xx)
            out[f"{k}_loss"] = float(0.5 * (f - yy).pow(2).mean())
            out[f"{k}_acc"] = float((torch.where(f >= 0, 1.0, -1.0) == yy).float().mean())
        out["gap"] = out["val_loss"] - out["train_loss"]
        out["acc_gap"] = out["train_acc"] - out["val_acc"]
        out["w1"] = float(m.w[0])
        out["w23"] = float(m.w[1] + m.w[2])
        return out

    return Problem("wilson", model, loss_fn, next_batch, evaluate, "val_acc", "max",
                   meta={"kind": "construction", "n": n, "p": p, "dim": dim, "batch_size": batch_size,
                         "negatives_in_test": float((test[1] < 0).float().mean()), "fixed_split": True})


register_problem("wilson", make_wilson, family="construction",
                 summary="Wilson et al. (2017): separable least squares where adaptive methods generalize worse",
                 default_steps=1000, tiny_steps=40, eval_every=100)
