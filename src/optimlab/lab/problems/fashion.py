"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) with a small CNN, read from IDX files on disk.

Nothing is downloaded.  The files are the four IDX files of the dataset, gzipped or not::

    train-images-idx3-ubyte(.gz)  train-labels-idx1-ubyte(.gz)  t10k-images-idx3-ubyte(.gz)  t10k-labels-idx1-ubyte(.gz)

as Debian's package installs them (``apt-get install dataset-fashion-mnist`` puts them in
``/usr/share/datasets/fashion-mnist``; ``dpkg -L dataset-fashion-mnist`` lists them).  The folder is,
in order: the ``data_dir`` argument (``--problem-kw data_dir=...``, or ``optimlab claims --data-dir``),
the ``OPTIMLAB_DATA_DIR`` environment variable (a folder holding the files or a ``fashion-mnist``
folder), then ``/usr/share/datasets/fashion-mnist``.

The split is fixed for every run seed (the seed varies the initialisation and batch order only):
validation = 2000 images of the official training file chosen by a permutation with seed 0, training
= ``n_train`` others (default 10000, a subset so a CPU run takes a minute; ``tiny``: 512), test = the
official 10000 test images (``tiny``: the first 512).  The model: conv3x3(8) - pool - conv3x3(16) - pool -
linear(64) - linear(10), ReLU (``tiny``: 4, 8, 16), mini-batches of 64; training metrics are measured on
the first 2000 training images.  Pixels are scaled to [0, 1] and standardised
with the dataset's mean 0.2860 and std 0.3530.

IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <type> <ndim>``, ``ndim`` big-endian
uint32 sizes, then the data in C order; type ``0x08`` is unsigned byte (the only one used here).
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...checks import check_int
from .base import check_size, register_problem
from .classification import make_classification_problem

__all__ = ["read_idx", "find_fashion_mnist", "load_fashion_mnist", "FASHION_FILES", "DEBIAN_DIR", "GET_FILES"]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
                 "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
GET_FILES = ("install Debian's package: `sudo apt-get install dataset-fashion-mnist` (files in "
             f"{DEBIAN_DIR}), or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
             "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a folder and pass it as --data-dir / "
             "data_dir=... or the OPTIMLAB_DATA_DIR environment variable")
_DTYPES = {0x08: (torch.uint8, 1)}
MEAN, STD = 0.2860, 0.3530


def read_idx(path: str | Path) -> torch.Tensor:
    """Read one IDX file (gzipped when its name ends in ``.gz``) into a tensor of its shape.

    Raises ``ValueError`` naming the file when the magic number, the type or the size is wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file (its first two bytes must be 0, got {data[:2]!r})")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise ValueError(f"read_idx: {path} has data type 0x{code:02x}; only unsigned bytes (0x08) are supported")
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"read_idx: {path} has a truncated header (ndim {ndim})")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype, width = _DTYPES[code]
    n = 1
    for s in shape:
        n *= s
    body = data[4 + 4 * ndim:]
    if len(body) != n * width:
        raise ValueError(f"read_idx: {path} should hold {n * width} bytes of data for shape {shape}, got {len(body)}")
    return torch.frombuffer(bytearray(body), dtype=dtype).reshape(shape)


def _candidates(data_dir) -> list[Path]:
    out = []
    if data_dir:
        out.append(Path(data_dir))
    env = os.environ.get("OPTIMLAB_DATA_DIR")
    if env:
        out += [Path(env), Path(env) / "fashion-mnist"]
    out.append(DEBIAN_DIR)
    return out


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_fashion_mnist(data_dir: str | None = None) -> dict[str, Path]:
    """The four IDX files' paths; ``FileNotFoundError`` naming the folders searched and how to get the files."""
    tried = []
    for folder in _candidates(data_dir):
        tried.append(str(folder))
        files = {k: _file(folder, stem) for k, stem in FASHION_FILES.items()}
        if all(files.values()):
            return files
        if data_dir and folder == Path(data_dir):  # an explicit folder must hold the files
            missing = [FASHION_FILES[k] for k, v in files.items() if v is None]
            raise FileNotFoundError(f"fashion_mnist: data_dir {str(data_dir)!r} lacks {', '.join(missing)} "
                                    f"(.gz or not). To get the files, {GET_FILES}.")
    raise FileNotFoundError(f"fashion_mnist: the Fashion-MNIST IDX files are not in {', '.join(tried)}. "
                            f"To get them, {GET_FILES}.")


@functools.lru_cache(maxsize=2)
def _load(files_key: tuple):
    files = dict(files_key)
    xtr, ytr = read_idx(files["train_images"]), read_idx(files["train_labels"])
    xte, yte = read_idx(files["test_images"]), read_idx(files["test_labels"])
    for x, y, what in ((xtr, ytr, "train"), (xte, yte, "test")):
        if x.dim() != 3 or y.dim() != 1 or len(x) != len(y):
            raise ValueError(f"fashion_mnist: the {what} images {tuple(x.shape)} and labels {tuple(y.shape)} do not match")
    return xtr, ytr.long(), xte, yte.long()


def load_fashion_mnist(size: str = "default", data_dir: str | None = None, n_train: int | None = None):
    """``(train, val, test)`` pairs: float images ``(N, 1, 28, 28)`` (standardised) and labels; a fixed split."""
    check_size("fashion_mnist", size)
    files = find_fashion_mnist(data_dir)
    xtr, ytr, xte, yte = _load(tuple(sorted((k, str(v)) for k, v in files.items())))
    n_val = 2000 if size == "default" else 256
    n_train = n_train or (10000 if size == "default" else 512)
    check_int("fashion_mnist", "n_train", n_train, 1, len(xtr) - n_val)
    perm = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(0))
    va, tr = perm[:n_val], perm[n_val:n_val + n_train]
    n_test = len(xte) if size == "default" else 512

    def prep(x):
        return ((x.float() / 255.0 - MEAN) / STD).unsqueeze(1)

    return (prep(xtr[tr]), ytr[tr]), (prep(xtr[va]), ytr[va]), (prep(xte[:n_test]), yte[:n_test])


class FashionCNN(nn.Module):
    """conv3x3(c1) - pool - conv3x3(c2) - pool - linear(hidden) - linear(10), ReLU."""

    def __init__(self, c1: int = 8, c2: int = 16, hidden: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 49, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def make_fashion_mnist(seed: int = 0, size: str = "default", data_dir: str | None = None, n_train: int | None = None,
                       batch_size: int = 64):
    check_size("fashion_mnist", size)
    train, val, test = load_fashion_mnist(size, data_dir, n_train)
    model = FashionCNN() if size == "default" else FashionCNN(4, 8, 16)
    # the training-set metrics are measured on a fixed subset as large as the validation set (cheaper evaluation)
    return make_classification_problem("fashion_mnist", model, train, val, test, seed=seed, batch_size=batch_size,
                                       eval_train=len(val[0]),
                                       meta={"dataset": "Fashion-MNIST (IDX files)", "fixed_split": True})


register_problem("fashion_mnist", make_fashion_mnist, family="vision",
                 summary="small CNN on Fashion-MNIST (IDX files from Debian's dataset-fashion-mnist; 10k train subset)",
                 default_steps=2000, tiny_steps=20, eval_every=500)
