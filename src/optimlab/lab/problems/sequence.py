"""The "NLP" side: a tiny Transformer encoder on a generated sequence task.

Tokens are drawn uniformly from ``vocab`` symbols; sequences of length ``length``.  Tasks:
``"reverse"`` (output the sequence reversed), ``"sort"`` (output it sorted), ``"copy"`` (the
identity, a sanity check).  The model predicts every output position at once (cross-entropy per
token); accuracy is per token.  Train/validation/test sequences are generated from ``data_seed``
(default 0, the same for every run seed); the run seed varies the initialisation and batch order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...checks import check_choice, check_int
from .base import Problem, check_size, register_problem


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int, length: int, d_model: int, heads: int, layers: int, ff: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(length, d_model) * 0.1)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.pos))


def make_sequence(seed: int = 0, size: str = "default", task: str = "reverse", vocab: int = 10,
                  length: int | None = None, n_train: int | None = None, batch_size: int = 64,
                  data_seed: int = 0) -> Problem:
    check_size("sequence", size)
    check_choice("sequence", "task", task, ("reverse", "sort", "copy"))
    check_int("sequence", "vocab", vocab, 2)
    length = length or (10 if size == "default" else 6)
    check_int("sequence", "length", length, 2)
    n_train = n_train or (4000 if size == "default" else 256)
    check_int("sequence", "n_train", n_train, 1)
    check_int("sequence", "batch_size", batch_size, 1)
    check_int("sequence", "data_seed", data_seed, 0)
    data_gen = torch.Generator().manual_seed(data_seed)
    gen = torch.Generator().manual_seed(seed + 1_000_003)

    def target(x):
        if task == "reverse":
            return x.flip(1)
        if task == "sort":
            return x.sort(1).values
        return x.clone()

    def draw(m):
        x = torch.randint(0, vocab, (m, length), generator=data_gen)
        return x, target(x)

    train, val, test = draw(n_train), draw(max(64, n_train // 4)), draw(max(64, n_train // 4))
    d_model = 32 if size == "default" else 16
    model = TinyTransformer(vocab, length, d_model, 2, 2 if size == "default" else 1, 2 * d_model)
    bs = min(batch_size, n_train)
    per_epoch = max(1, n_train // bs)
    state = {"perm": None, "epoch": -1}

    def next_batch(step):
        epoch, i = divmod(step, per_epoch)
        if epoch != state["epoch"]:
            state["perm"], state["epoch"] = torch.randperm(n_train, generator=gen), epoch
        idx = state["perm"][i * bs:(i + 1) * bs]
        return train[0][idx], train[1][idx]

    def loss_fn(m, batch):
        x, y = batch
        return F.cross_entropy(m(x).reshape(-1, vocab), y.reshape(-1))

    def evaluate(m):
        m.eval()
        out = {}
        for key, (x, y) in (("train", train), ("val", val), ("test", test)):
            logits = m(x)
            out[f"{key}_loss"] = float(F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)))
            out[f"{key}_acc"] = float((logits.argmax(-1) == y).float().mean())
        m.train()
        out["gap"] = out["val_loss"] - out["train_loss"]
        out["acc_gap"] = out["train_acc"] - out["val_acc"]
        return out

    return Problem("sequence", model, loss_fn, next_batch, evaluate, "val_acc", "max",
                   meta={"kind": "sequence", "task": task, "vocab": vocab, "length": length})


register_problem("sequence", make_sequence, family="sequence",
                 summary="tiny Transformer (2 layers, d=32) reversing generated token sequences",
                 default_steps=800, tiny_steps=30, eval_every=50)
