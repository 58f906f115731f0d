"""MNIST-1D (Greydanus, 2020): ten 1-D digit templates, padded, shifted, scaled, sheared and noised.

The data are *generated* by PyPI's ``mnist1d`` package (``pip install mnist1d``; nothing is downloaded:
its ``make_dataset`` builds the signals procedurally from the templates) with the package's default
transformation parameters and its fixed data seed 42, so the train / validation / test split is the
same for every run seed: the run seed varies the initialisation and the batch order only.

Sizes: ``"default"`` draws 6000 signals of length 40 and splits them 4000 / 1000 / 1000 (train / val /
test, the published baselines train on 4000: logistic regression 32%, MLP 68%, CNN 94% test accuracy,
so there is room for generalization gaps); ``"tiny"`` draws 1200 (800 / 200 / 200) for tests.

Models: ``mnist1d_mlp`` (40-100-100-10 ReLU), ``mnist1d_cnn`` (the paper's three strided 1-D
convolutions with 25 channels, then a linear layer), ``mnist1d_logreg`` (40-10, convex).

Generation takes about 1 ms a signal; the arrays are kept per process and, when the directory is
writable, cached as ``.npz`` under ``$OPTIMLAB_CACHE`` (default ``~/.cache/optimlab``) so worker
processes do not regenerate them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
from pathlib import Path

import torch
from torch import nn

from ...checks import check_int
from .base import check_size, register_problem
from .classification import _mlp, make_classification_problem

__all__ = ["load_mnist1d", "MNIST1D_SIZES", "make_mnist1d_mlp", "make_mnist1d_cnn", "make_mnist1d_logreg"]

log = logging.getLogger(__name__)

MNIST1D_SIZES = {"default": (4000, 1000, 1000), "tiny": (800, 200, 200)}
DATA_SEED = 42  # mnist1d's own default: the data are the same for every run seed


def _cache_dir() -> Path:
    return Path(os.environ.get("OPTIMLAB_CACHE") or Path.home() / ".cache" / "optimlab")


def _generate(num_samples: int, seed: int):
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - the lab extra installs it
        raise ImportError("mnist1d problems need the mnist1d package: pip install mnist1d "
                          "(it is in optimlab's lab extra)") from exc
    import numpy as np

    args = get_dataset_args()
    args.num_samples, args.seed, args.train_split = int(num_samples), int(seed), 1.0
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds numpy's and python's global generators: keep the run's own streams intact
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return np.asarray(d["x"], dtype=np.float32), np.asarray(d["y"], dtype=np.int64)


@functools.lru_cache(maxsize=4)
def _arrays(num_samples: int, seed: int):
    import numpy as np

    tag = hashlib.sha256(json.dumps(["mnist1d", num_samples, seed, 1]).encode()).hexdigest()[:12]
    path = _cache_dir() / f"mnist1d_{num_samples}_{seed}_{tag}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return z["x"], z["y"]
        except (OSError, ValueError, KeyError):  # a damaged cache file: regenerate
            log.warning("mnist1d: ignoring the unreadable cache file %s", path)
    x, y = _generate(num_samples, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y)
        os.replace(tmp, path)
    except OSError:  # a read-only home: no cache, the data are regenerated per process
        pass
    return x, y


def load_mnist1d(size: str = "default", flat: bool = True):
    """``(train, val, test)`` pairs of float32 ``(N, 40)`` (or ``(N, 1, 40)`` when ``flat=False``)
    signals and int64 labels, the same for every call (fixed data seed)."""
    check_size("mnist1d", size)
    n_tr, n_va, n_te = MNIST1D_SIZES[size]
    x, y = _arrays(n_tr + n_va + n_te, DATA_SEED)
    x, y = torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    if not flat:
        x = x.unsqueeze(1)
    cuts = (0, n_tr, n_tr + n_va, n_tr + n_va + n_te)
    return tuple((x[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:]))


class MNIST1DCNN(nn.Module):
    """Three strided 1-D convolutions (25 channels; kernel 5, 3, 3; stride 2) and a linear read-out."""

    def __init__(self, channels: int = 25):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.fc = nn.Linear(channels * 5, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.fc(x.flatten(1))


def _problem(name, model, seed, size, batch_size, flat):
    train, val, test = load_mnist1d(size, flat=flat)
    return make_classification_problem(name, model, train, val, test, seed=seed, batch_size=batch_size,
                                       meta={"dataset": "mnist1d (generated, data seed 42)", "fixed_split": True})


def make_mnist1d_mlp(seed: int = 0, size: str = "default", hidden: int | None = None, batch_size: int = 100):
    check_size("mnist1d_mlp", size)
    hidden = hidden or (100 if size == "default" else 32)
    check_int("mnist1d_mlp", "hidden", hidden, 1)
    return _problem("mnist1d_mlp", _mlp([40, hidden, hidden, 10]), seed, size, batch_size, flat=True)


def make_mnist1d_cnn(seed: int = 0, size: str = "default", channels: int | None = None, batch_size: int = 100):
    check_size("mnist1d_cnn", size)
    channels = channels or (25 if size == "default" else 8)
    check_int("mnist1d_cnn", "channels", channels, 1)
    return _problem("mnist1d_cnn", MNIST1DCNN(channels), seed, size, batch_size, flat=False)


def make_mnist1d_logreg(seed: int = 0, size: str = "default", batch_size: int = 100):
    check_size("mnist1d_logreg", size)
    return _problem("mnist1d_logreg", nn.Linear(40, 10), seed, size, batch_size, flat=True)


register_problem("mnist1d_mlp", make_mnist1d_mlp, family="vision",
                 summary="MLP 40-100-100-10 on MNIST-1D (generated; fixed 4000/1000/1000 split)",
                 default_steps=2000, tiny_steps=40, eval_every=200)
register_problem("mnist1d_cnn", make_mnist1d_cnn, family="vision",
                 summary="1-D CNN (3 strided convs, 25 channels) on MNIST-1D", default_steps=2000, tiny_steps=30,
                 eval_every=200)
register_problem("mnist1d_logreg", make_mnist1d_logreg, family="vision",
                 summary="logistic regression on MNIST-1D (convex)", default_steps=1000, tiny_steps=30, eval_every=100)
