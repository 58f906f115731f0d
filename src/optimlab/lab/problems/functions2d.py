"""2-D test functions for trajectory pictures: Rosenbrock, Beale, Himmelblau, a saddle, Rastrigin.

The model is a single parameter of shape (2,) started at a classic point, moved by ``jitter``
(standard deviation, drawn from the seed).  ``noise`` > 0 adds a fresh random linear term
``noise * z . theta`` to each step's loss, i.e. Gaussian gradient noise of that scale.
Evaluation: ``train_loss`` (the noiseless function value) and ``dist_to_min`` (to the nearest
global minimum).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...checks import check_range
from .base import Problem, check_size, register_problem


def rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def himmelblau(x, y):
    return (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2


def saddle(x, y):
    # a saddle at the origin between two minima at (0, +-1): f = x^2 - y^2 + y^4 / 2 (min -1/2)
    return x ** 2 - y ** 2 + y ** 4 / 2


def rastrigin(x, y):
    if isinstance(x, torch.Tensor):
        cos = torch.cos
    else:
        import numpy as np
        cos = np.cos
    return 20 + x ** 2 - 10 * cos(2 * math.pi * x) + y ** 2 - 10 * cos(2 * math.pi * y)


_FUNCTIONS = {
    # name: (fn, start, minima, bounds, summary)
    "rosenbrock": (rosenbrock, (-1.5, 2.0), [(1.0, 1.0)], (-2.0, 2.0, -1.0, 3.0), "Rosenbrock's banana valley"),
    "beale": (beale, (1.0, 1.4), [(3.0, 0.5)], (-1.0, 4.0, -1.5, 2.0), "Beale's function (flat plateaus, sharp walls)"),
    "himmelblau": (himmelblau, (0.0, 0.0),
                   [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
                   (-5.0, 5.0, -5.0, 5.0), "Himmelblau's function (four minima)"),
    "saddle": (saddle, (1.0, 1e-3), [(0.0, 1.0), (0.0, -1.0)], (-1.5, 1.5, -1.6, 1.6),
               "a saddle at the origin between two minima (escape speed)"),
    "rastrigin": (rastrigin, (2.6, 2.3), [(0.0, 0.0)], (-3.0, 3.0, -3.0, 3.0), "Rastrigin's function (many local minima)"),
}


class Point(nn.Module):
    def __init__(self, start):
        super().__init__()
        self.xy = nn.Parameter(torch.tensor(start, dtype=torch.float32))


def _factory(name):
    fn, start, minima, bounds, _ = _FUNCTIONS[name]

    def build(seed: int = 0, size: str = "default", jitter: float = 0.0, noise: float = 0.0,
              start: tuple | None = None) -> Problem:
        check_size(name, size)
        check_range(name, "jitter", jitter, 0.0)
        check_range(name, "noise", noise, 0.0)
        gen = torch.Generator().manual_seed(seed)
        x0 = torch.tensor(start if start is not None else _FUNCTIONS[name][1], dtype=torch.float32)
        if len(x0) != 2:
            raise ValueError(f"{name}: start must be a pair (x, y), got {start!r}")
        x0 = x0 + jitter * torch.randn(2, generator=gen)
        model = Point(x0.tolist())
        if noise > 0:
            zs = torch.randn(100_000 if size == "default" else 1000, 2, generator=gen) * noise

            def next_batch(step):
                return zs[step % len(zs)]

            def loss_fn(m, z):
                return fn(m.xy[0], m.xy[1]) + (z * m.xy).sum()
        else:
            def next_batch(step):
                return None

            def loss_fn(m, _):
                return fn(m.xy[0], m.xy[1])

        mins = torch.tensor(minima)

        def evaluate(m):
            xy = m.xy.detach()
            return {"train_loss": float(fn(xy[0], xy[1])),
                    "dist_to_min": float((mins - xy).norm(dim=1).min())}

        return Problem(name, model, loss_fn, next_batch, evaluate, select_metric="train_loss", select_mode="min",
                       meta={"kind": "2d", "fn": fn, "minima": minima, "bounds": bounds})

    build.__name__ = f"make_{name}"
    return build


for _name, (_fn, _s, _m, _b, _summary) in _FUNCTIONS.items():
    register_problem(_name, _factory(_name), family="2d", summary=_summary,
                     default_steps=500, tiny_steps=60, eval_every=50, trajectory=True)
