"""An ill-conditioned quadratic (momentum vs NAG) and Reddi et al.'s online counterexample (Adam vs AMSGrad).

``quadratic``: f(x) = 1/2 x^T A x with A = Q diag(lambda) Q^T, eigenvalues log-spaced from 1 to
``cond`` and Q a random rotation drawn from the seed; the start is a random unit-scale vector.
``noise`` > 0 adds Gaussian gradient noise (a random linear term per step).  Evaluation:
``train_loss`` (= suboptimality, the minimum is 0) and ``log10_loss``.

``reddi``: the online problem of Reddi, Kale & Kumar (2018, "On the Convergence of Adam and
Beyond", Sec. 3): on the feasible set [-1, 1], f_t(x) = C x when t mod 3 == 1 and -x otherwise
(C > 2), so the optimum is x = -1; Adam with beta1 = 0 and beta2 = 1/(1+C^2) drifts to x = +1 while
AMSGrad converges.  ``variant="stochastic"`` (the paper's stochastic form): f_t(x) = C x with
probability p = (1+delta)/(C+1), else -x, so the expected gradient is p C - (1-p) = delta > 0.  The parameter is
projected onto [-1, 1] after every step.  Evaluation: ``x``, ``dist_to_opt`` (= x + 1) and
``train_loss`` (the expected loss per step, which is minimal at x = -1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...checks import check_choice, check_int, check_range
from .base import Problem, check_size, register_problem


class Vector(nn.Module):
    def __init__(self, x0):
        super().__init__()
        self.x = nn.Parameter(x0.clone())


def make_quadratic(seed: int = 0, size: str = "default", cond: float = 100.0, dim: int | None = None,
                   noise: float = 0.0) -> Problem:
    check_size("quadratic", size)
    check_range("quadratic", "cond", cond, 1.0)
    check_range("quadratic", "noise", noise, 0.0)
    dim = dim if dim is not None else (20 if size == "default" else 5)
    check_int("quadratic", "dim", dim, 1)
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    lam = torch.logspace(0, math.log10(cond), dim, dtype=torch.float64)
    a = ((q * lam) @ q.T).float()
    a = (a + a.T) / 2
    x0 = torch.randn(dim, generator=gen)
    x0 = x0 / x0.norm() * math.sqrt(dim)
    model = Vector(x0)
    zs = torch.randn(4096, dim, generator=gen) * noise if noise > 0 else None

    def quad(x):
        return 0.5 * x @ (a @ x)

    def next_batch(step):
        return None if zs is None else zs[step % len(zs)]

    def loss_fn(m, z):
        loss = quad(m.x)
        return loss if z is None else loss + (z * m.x).sum()

    def evaluate(m):
        v = float(quad(m.x.detach()))
        return {"train_loss": v, "log10_loss": math.log10(max(v, 1e-30))}

    return Problem("quadratic", model, loss_fn, next_batch, evaluate, "train_loss", "min",
                   meta={"kind": "quadratic", "cond": cond, "eigenvalues": lam.tolist(), "dim": dim})


def make_reddi(seed: int = 0, size: str = "default", C: float = 3.0, variant: str = "online",
               delta: float = 0.1) -> Problem:
    check_size("reddi", size)
    check_range("reddi", "C", C, 2.0, low_closed=False)
    check_choice("reddi", "variant", variant, ("online", "stochastic"))
    check_range("reddi", "delta", delta, 0.0)
    gen = torch.Generator().manual_seed(seed)
    model = Vector(torch.zeros(1))
    if variant == "online":
        coef = torch.tensor([C if t % 3 == 1 else -1.0 for t in range(3)])
        expected = (C - 2.0) / 3.0

        def next_batch(step):
            return coef[(step + 1) % 3]  # the paper counts t from 1
    else:
        p = (1.0 + delta) / (C + 1.0)
        draws = torch.where(torch.rand(100_000, generator=gen) < p, torch.tensor(C), torch.tensor(-1.0))
        expected = p * C - (1 - p)

        def next_batch(step):
            return draws[step % len(draws)]

    def loss_fn(m, c):
        return (c * m.x).sum()

    def post_step(m):
        m.x.clamp_(-1.0, 1.0)

    def evaluate(m):
        x = float(m.x.detach()[0])
        return {"x": x, "dist_to_opt": x + 1.0, "train_loss": expected * (x + 1.0)}

    return Problem("reddi", model, loss_fn, next_batch, evaluate, "dist_to_opt", "min", post_step=post_step,
                   meta={"kind": "online", "C": C, "variant": variant, "optimum": -1.0})


register_problem("quadratic", make_quadratic, family="quadratic",
                 summary="ill-conditioned quadratic (cond=100, dim 20), optional gradient noise",
                 default_steps=500, tiny_steps=60, eval_every=25)
register_problem("reddi", make_reddi, family="online",
                 summary="Reddi et al.'s online counterexample on [-1, 1] (optimum x = -1)",
                 default_steps=3000, tiny_steps=300, eval_every=100, trajectory=True)
