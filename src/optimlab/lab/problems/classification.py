"""Classification problems: digits (logistic regression, MLP, small CNN), a deep narrow MLP, a curriculum task.

All are built with :func:`make_classification_problem`, which users can call too: give it a model
and train/validation/test tensors and it supplies mini-batches (seeded), the cross-entropy loss and
the evaluation (``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc``,
``gap`` = val_loss - train_loss, ``acc_gap`` = train_acc - val_acc).

Digits come from ``sklearn.datasets.load_digits()`` (bundled, 1797 8x8 images); the split
(60/20/20 train/validation/test) is drawn by ``split_seed`` (default 0), the same for every run seed:
the run's seed varies the initialisation and the batch order only, so no tuning seed's validation set
overlaps another seed's test set.

Curriculum: ``order="random"`` samples uniformly; ``"easy"`` (curriculum) and ``"hard"``
(anti-curriculum) sample from a pool of the easiest (hardest) examples by ``difficulty`` that grows
linearly from ``start_frac`` of the data to all of it at step ``pace_steps``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ...checks import check_choice, check_int, check_range
from .base import Problem, check_size, register_problem

__all__ = ["make_classification_problem", "load_digits_split"]


def make_classification_problem(name: str, model: nn.Module, train, val, test=None, *, seed: int = 0,
                                batch_size: int = 64, difficulty=None, order: str = "random",
                                start_frac: float = 0.2, pace_steps: int = 500, meta: dict | None = None,
                                eval_train: int | None = None) -> Problem:
    """A :class:`Problem` training ``model`` with cross-entropy on ``train = (X, y)`` tensors.

    ``meta["train"]`` keeps the training tensors.
    ``val`` (and optional ``test``) are ``(X, y)`` pairs used by ``evaluate``; learning rates are
    chosen on ``val_acc``.  ``difficulty`` (one score per training example, higher = harder) enables
    ``order="easy"`` / ``"hard"`` (see the module docstring).
    """
    check_int(name, "batch_size", batch_size, 1)
    check_choice(name, "order", order, ("random", "easy", "hard"))
    check_range(name, "start_frac", start_frac, 0.0, 1.0, low_closed=False)
    check_int(name, "pace_steps", pace_steps, 1)
    if eval_train is not None:
        check_int(name, "eval_train", eval_train, 1)
    xtr, ytr = train
    n = len(xtr)
    bs = min(batch_size, n)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    if order != "random":
        if difficulty is None:
            raise ValueError(f"{name}: order must be 'random' when the problem has no difficulty scores, got {order!r}")
        ranked = torch.argsort(torch.as_tensor(difficulty), descending=(order == "hard"), stable=True)
    state = {"perm": None, "epoch": -1}
    per_epoch = max(1, n // bs)

    def next_batch(step):
        if order == "random":
            epoch, i = divmod(step, per_epoch)
            if epoch != state["epoch"]:
                state["perm"], state["epoch"] = torch.randperm(n, generator=gen), epoch
            idx = state["perm"][i * bs:(i + 1) * bs]
        else:
            frac = min(1.0, start_frac + (1.0 - start_frac) * step / pace_steps)
            pool = max(bs, int(round(frac * n)))
            idx = ranked[torch.randint(0, min(pool, n), (bs,), generator=gen)]
        return xtr[idx], ytr[idx]

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), y)

    splits = {"train": train if eval_train is None else (xtr[:eval_train], ytr[:eval_train]), "val": val}
    if test is not None:
        splits["test"] = test

    def evaluate(m):
        was = m.training
        m.eval()
        out = {}
        for key, (x, y) in splits.items():
            logits = m(x)
            out[f"{key}_loss"] = float(F.cross_entropy(logits, y))
            out[f"{key}_acc"] = float((logits.argmax(1) == y).float().mean())
        m.train(was)
        out["gap"] = out["val_loss"] - out["train_loss"]
        out["acc_gap"] = out["train_acc"] - out["val_acc"]
        return out

    return Problem(name, model, loss_fn, next_batch, evaluate, "val_acc", "max",
                   difficulty=None if difficulty is None else torch.as_tensor(difficulty),
                   meta={"kind": "classification", "n_train": n, "batch_size": bs, "order": order,
                         "train": (xtr, ytr), **(meta or {})})


@functools.lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return torch.tensor(d.data, dtype=torch.float32) / 16.0, torch.tensor(d.target, dtype=torch.long)


def load_digits_split(split_seed: int, image: bool = False):
    """scikit-learn's digits split 60/20/20 by a seeded permutation: ``(train, val, test)`` pairs."""
    x, y = _digits()
    if image:
        x = x.view(-1, 1, 8, 8)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(split_seed))
    n_tr, n_va = int(0.6 * len(x)), int(0.2 * len(x))
    parts = perm[:n_tr], perm[n_tr:n_tr + n_va], perm[n_tr + n_va:]
    return tuple((x[p], y[p]) for p in parts)


def _mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _digits_problem(name, model, seed, split_seed, batch_size, meta=None):
    train, val, test = load_digits_split(0 if split_seed is None else split_seed,
                                         image=(meta or {}).get("image", False))
    return make_classification_problem(name, model, train, val, test, seed=seed, batch_size=batch_size,
                                       meta={"dataset": "sklearn digits", **(meta or {})})


def make_digits_logreg(seed: int = 0, size: str = "default", batch_size: int = 64, split_seed: int | None = None):
    check_size("digits_logreg", size)
    return _digits_problem("digits_logreg", nn.Linear(64, 10), seed, split_seed, batch_size)


def make_digits_mlp(seed: int = 0, size: str = "default", hidden: int | None = None, batch_size: int = 64,
                    split_seed: int | None = None):
    check_size("digits_mlp", size)
    hidden = hidden or (128 if size == "default" else 32)
    check_int("digits_mlp", "hidden", hidden, 1)
    return _digits_problem("digits_mlp", _mlp([64, hidden, hidden, 10]), seed, split_seed, batch_size)


class SmallCNN(nn.Module):
    def __init__(self, c1=8, c2=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * 16, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def make_digits_cnn(seed: int = 0, size: str = "default", batch_size: int = 64, split_seed: int | None = None):
    check_size("digits_cnn", size)
    model = SmallCNN(8, 16) if size == "default" else SmallCNN(4, 8)
    return _digits_problem("digits_cnn", model, seed, split_seed, batch_size, meta={"image": True})


def make_deep_mlp(seed: int = 0, size: str = "default", depth: int | None = None, width: int | None = None,
                  batch_size: int = 64, split_seed: int | None = None):
    """A deep, narrow ReLU MLP on digits (no normalisation): hard to optimise, the setting of
    Neelakantan et al.'s gradient-noise experiments."""
    check_size("deep_mlp", size)
    depth = depth or (16 if size == "default" else 6)
    width = width or (24 if size == "default" else 16)
    check_int("deep_mlp", "depth", depth, 1)
    check_int("deep_mlp", "width", width, 1)
    model = _mlp([64] + [width] * depth + [10])
    return _digits_problem("deep_mlp", model, seed, split_seed, batch_size, meta={"depth": depth, "width": width})


def make_curriculum(seed: int = 0, size: str = "default", order: str = "random", n: int | None = None,
                    dim: int = 20, classes: int = 4, max_noise: float = 3.0, start_frac: float = 0.2,
                    pace_steps: int | None = None, batch_size: int = 32, data_seed: int = 0):
    """Gaussian classes whose examples carry a known difficulty: x = mu_y + sigma_i * eps with
    sigma_i ~ U(0.1, max_noise); ``difficulty`` = sigma_i.  Validation and test sets are drawn the same way,
    from ``data_seed`` (the same data for every run seed)."""
    check_size("curriculum", size)
    n = n or (2000 if size == "default" else 300)
    check_int("curriculum", "n", n, 2)
    check_int("curriculum", "dim", dim, 1)
    check_int("curriculum", "classes", classes, 2)
    check_range("curriculum", "max_noise", max_noise, 0.1, low_closed=False)
    check_int("curriculum", "data_seed", data_seed, 0)
    gen = torch.Generator().manual_seed(data_seed)
    mu = torch.randn(classes, dim, generator=gen) * 1.5

    def draw(m):
        y = torch.randint(0, classes, (m,), generator=gen)
        sigma = 0.1 + (max_noise - 0.1) * torch.rand(m, generator=gen)
        x = mu[y] + sigma[:, None] * torch.randn(m, dim, generator=gen)
        return x, y, sigma

    xtr, ytr, sig = draw(n)
    xva, yva, _ = draw(n // 2)
    xte, yte, _ = draw(n // 2)
    model = _mlp([dim, 64, classes])
    pace = pace_steps if pace_steps is not None else (500 if size == "default" else 50)
    return make_classification_problem("curriculum", model, (xtr, ytr), (xva, yva), (xte, yte), seed=seed,
                                       batch_size=batch_size, difficulty=sig, order=order,
                                       start_frac=start_frac, pace_steps=pace)


register_problem("digits_logreg", make_digits_logreg, family="vision",
                 summary="logistic regression on sklearn digits (convex)", default_steps=500, tiny_steps=40, eval_every=50)
register_problem("digits_mlp", make_digits_mlp, family="vision",
                 summary="MLP 64-128-128-10 on sklearn digits", default_steps=800, tiny_steps=40, eval_every=50)
register_problem("digits_cnn", make_digits_cnn, family="vision",
                 summary="small CNN (8, 16 channels) on sklearn digits 8x8", default_steps=600, tiny_steps=30, eval_every=50)
register_problem("deep_mlp", make_deep_mlp, family="noise",
                 summary="deep narrow ReLU MLP (16 x 24) on digits, for gradient noise", default_steps=1500, tiny_steps=40,
                 eval_every=100)
register_problem("curriculum", make_curriculum, family="curriculum",
                 summary="Gaussian classes with per-example difficulty; order=random|easy|hard",
                 default_steps=800, tiny_steps=60, eval_every=50)
