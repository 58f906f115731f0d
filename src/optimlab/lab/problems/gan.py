"""A tiny GAN on a 2-D mixture of Gaussians (8 modes on a ring of radius 2, std 0.05 by default).

Generator z (2-D normal) -> 64 -> 64 -> 2; discriminator 2 -> 64 -> 64 -> 1, both ReLU MLPs.
Two optimizers of the same kind (generator first, discriminator second) alternate one step each;
the non-saturating loss.  GANs usually train with Adam's beta1 = 0.5 (pass
``optimizer_kwargs={"betas": [0.5, 0.999]}``); the lab applies no such default.  The per-step loss recorded is the generator's.  Evaluation on fixed
noise (2000 samples): ``swd`` (sliced Wasserstein distance to fresh real samples, lower is better,
used to pick learning rates), ``modes`` (fraction of modes with at least 1% of the samples within
3 std) and ``quality`` (fraction of samples within 3 std of some mode); ``train_loss`` = the
generator loss on the evaluation batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...checks import check_int, check_range
from .base import Problem, check_size, register_problem


def _net(a, h, b):
    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, b))


class GAN(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.generator = _net(2, hidden, 2)
        self.discriminator = _net(2, hidden, 1)


def make_gan(seed: int = 0, size: str = "default", modes: int = 8, radius: float = 2.0, std: float = 0.05,
             batch_size: int = 128, hidden: int | None = None, data_seed: int = 0) -> Problem:
    check_size("gan", size)
    check_int("gan", "modes", modes, 1)
    check_range("gan", "radius", radius, 0.0, low_closed=False)
    check_range("gan", "std", std, 0.0, low_closed=False)
    check_int("gan", "batch_size", batch_size, 1)
    hidden = hidden or (64 if size == "default" else 32)
    gen = torch.Generator().manual_seed(seed)
    angles = torch.arange(modes) * (2 * math.pi / modes)
    centers = torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1)
    model = GAN(hidden)

    def real(m, g):
        k = torch.randint(0, modes, (m,), generator=g)
        return centers[k] + std * torch.randn(m, 2, generator=g)

    def next_batch(step):
        return real(batch_size, gen), torch.randn(batch_size, 2, generator=gen)

    def g_loss(m, z):
        return F.softplus(-m.discriminator(m.generator(z))).mean()

    def loss_fn(m, batch):
        return g_loss(m, batch[1])

    def train_step(batch, optimizers, step):
        opt_g, opt_d = optimizers
        x, z = batch
        opt_d.zero_grad(set_to_none=True)
        fake = model.generator(z).detach()
        d_loss = F.softplus(-model.discriminator(x)).mean() + F.softplus(model.discriminator(fake)).mean()
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        loss = g_loss(model, z)
        loss.backward()
        opt_g.step()
        return loss.detach()

    eval_gen = torch.Generator().manual_seed(data_seed + 7)  # the evaluation set is the same for every run seed
    z_eval = torch.randn(2000, 2, generator=eval_gen)
    x_eval = real(2000, eval_gen)
    dirs = torch.randn(64, 2, generator=eval_gen)
    dirs = dirs / dirs.norm(dim=1, keepdim=True)

    def evaluate(m):
        fake = m.generator(z_eval)
        pf, pr = (fake @ dirs.T).sort(0).values, (x_eval @ dirs.T).sort(0).values
        swd = float((pf - pr).pow(2).mean().sqrt())
        d = torch.cdist(fake, centers)
        near = d.min(1).values < 3 * std
        which = d.argmin(1)[near]
        counts = torch.bincount(which, minlength=modes).float()
        return {"swd": swd if math.isfinite(swd) else float("nan"),
                "modes": float((counts >= 0.01 * len(fake)).float().mean()),
                "quality": float(near.float().mean()),
                "train_loss": float(g_loss(m, z_eval))}

    return Problem("gan", model, loss_fn, next_batch, evaluate, "swd", "min",
                   param_sets=[list(model.generator.parameters()), list(model.discriminator.parameters())],
                   train_step=train_step, meta={"kind": "gan", "centers": centers.tolist(), "std": std})


register_problem("gan", make_gan, family="gan",
                 summary="tiny GAN on a ring of 8 Gaussians (two optimizers of the same kind)",
                 default_steps=1500, tiny_steps=200, eval_every=100)
