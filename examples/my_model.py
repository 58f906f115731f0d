"""Your own model in the lab: a function returning an ``optimlab.lab.Problem``.

Point the comparison at it by its import path (run from this directory, or put it on PYTHONPATH)::

    cd examples
    optimlab compare --problem my_model:build --optimizers sgdm,adam,adamw --trials 3 --seeds 2 --out results

or from Python::

    from optimlab.lab import compare, write_report
    comp = compare("my_model:build", ["sgdm", "adam"], out="results", trials=3, seeds=2)
    write_report("results")             # results/report/index.html

Check the lecture's advice on this model (Adam vs SGDM, warm-up, Lookahead, weight decay, schedules,
the summary table), with the protocol of ``optimlab claims``::

    optimlab claims --quick --problem my_model:build --out my_model_claims

The function takes ``seed`` (and any keyword arguments you pass with ``--problem-kw`` /
``problem_kwargs``, here ``size`` and ``noise``) and must build everything from the seed: the lab
calls it once per run.  ``make_classification_problem`` supplies mini-batches, cross-entropy and
the evaluation (train/val/test loss and accuracy, generalization gap); for anything else, build a
``Problem`` yourself (model, ``next_batch(step)``, ``loss_fn(model, batch)``, ``evaluate(model)``).
"""

import torch
from torch import nn

from optimlab.lab import make_classification_problem


class TwoMoonsNet(nn.Module):
    """A small residual MLP: the model you want to tune."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.inp = nn.Linear(2, hidden)
        self.block = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, hidden))
        self.out = nn.Linear(hidden, 2)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        return self.out(h + self.block(h))


def two_moons(n: int, noise: float, gen: torch.Generator):
    t = torch.rand(n, generator=gen) * torch.pi
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.stack([torch.cos(t), torch.sin(t)], 1)
    x = torch.where(y[:, None] == 1, torch.stack([1 - x[:, 0], 0.5 - x[:, 1]], 1), x)
    return x + noise * torch.randn(n, 2, generator=gen), y


def build(seed: int = 0, size: str = "default", noise: float = 0.2):
    """Two interleaved moons, classified by TwoMoonsNet."""
    gen = torch.Generator().manual_seed(seed)
    n = 1000 if size == "default" else 200
    train, val, test = (two_moons(m, noise, gen) for m in (n, n // 2, n // 2))
    return make_classification_problem("two_moons", TwoMoonsNet(), train, val, test, seed=seed, batch_size=32)


# optional: the lab reads these defaults (steps per run, evaluation interval)
build.default_steps = 600
build.tiny_steps = 60
build.eval_every = 50


if __name__ == "__main__":
    from optimlab.lab import compare, write_report

    comp = compare("my_model:build", ["sgdm", "adam"], out="my_model_results", trials=3, seeds=2)
    print(write_report(comp.root))
