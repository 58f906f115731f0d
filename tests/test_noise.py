"""Gradient noise: the injected noise's empirical variance follows sigma_t^2 = eta/(1+t)^gamma, the
user's p.grad is untouched, draws are seeded and survive a checkpoint, param groups, wrapping."""

import io
import math

import pytest
import torch

import optimlab
from optimlab.optim.noise import noise_variance


class Recorder(torch.optim.Optimizer):
    """An inner optimizer that records the gradients it is given (and does not move)."""

    def __init__(self, params):
        super().__init__(params, {"lr": 0.0})
        self.seen = []

    @torch.no_grad()
    def step(self, closure=None):
        self.seen.append([p.grad.clone() for g in self.param_groups for p in g["params"] if p.grad is not None])


@pytest.mark.parametrize("eta", [0.01, 0.3, 1.0])
def test_empirical_variance_follows_the_schedule(eta):
    n = 20_000
    p = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    rec = Recorder([p])
    opt = optimlab.GradientNoise(rec, eta=eta, gamma=0.55, seed=0)
    g = torch.linspace(-1, 1, n, dtype=torch.float64)
    for t in range(12):
        p.grad = g.clone()
        opt.step()
        noise = rec.seen[-1][0] - g
        var = noise.var().item()
        expected = eta / (1 + t) ** 0.55
        assert math.isclose(expected, noise_variance(eta, 0.55, t))
        # the sample variance of n normals has relative sd sqrt(2/(n-1)) ~ 1%; allow 5 sd
        assert abs(var / expected - 1) < 5 * math.sqrt(2 / (n - 1)), (t, var, expected)
        assert abs(noise.mean().item()) < 5 * math.sqrt(expected / n)
    assert opt.param_groups[0]["noise_step"] == 12


def test_user_grad_is_untouched_and_restored_object():
    p = torch.nn.Parameter(torch.ones(4))
    opt = optimlab.GradientNoise(torch.optim.SGD([p], lr=0.1), eta=1.0, seed=3)
    p.sum().backward()
    g = p.grad
    before = g.clone()
    opt.step()
    assert p.grad is g and torch.equal(p.grad, before)
    assert not torch.equal(p.detach(), torch.full((4,), 0.9))  # the inner step saw noise


def test_grad_restored_when_the_inner_step_raises():
    class Boom(Recorder):
        def step(self, closure=None):
            raise RuntimeError("boom")

    p = torch.nn.Parameter(torch.ones(2))
    opt = optimlab.GradientNoise(Boom([p]), eta=1.0, seed=0)
    p.grad = torch.ones(2)
    g = p.grad
    with pytest.raises(RuntimeError, match="boom"):
        opt.step()
    assert p.grad is g and torch.equal(g, torch.ones(2)) and opt.param_groups[0]["noise_step"] == 0


def _noise_run(opt, p, steps):
    for t in range(steps):
        p.grad = torch.full_like(p, 0.5)
        opt.step()
    return p.detach().clone()


def test_seeded_reproducible_and_resumed_run_draws_the_same_noise():
    def make(p):
        return optimlab.GradientNoise(optimlab.Adam([p], lr=0.1), eta=0.3, seed=42)

    p = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = make(p)
    _noise_run(opt, p, 4)
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "p": p.detach().clone()}, buf)
    expected = _noise_run(opt, p, 6)

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    p2 = torch.nn.Parameter(ckpt["p"].clone())
    opt2 = optimlab.GradientNoise(optimlab.Adam([p2], lr=0.1), eta=0.3, seed=7)  # the seed comes from the checkpoint
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.param_groups[0]["noise_step"] == 4
    assert torch.equal(_noise_run(opt2, p2, 6), expected)

    p3 = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    same_seed = _noise_run(make(p3), p3, 10)
    assert torch.equal(same_seed, expected)
    torch.manual_seed(0)
    p4 = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    a = _noise_run(optimlab.GradientNoise(optimlab.Adam([p4], lr=0.1), eta=0.3), p4, 3)
    torch.manual_seed(0)
    p5 = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    b = _noise_run(optimlab.GradientNoise(optimlab.Adam([p5], lr=0.1), eta=0.3), p5, 3)
    assert torch.equal(a, b)  # seed=None draws the seed from torch's global RNG


def test_param_groups_have_their_own_schedules():
    a = torch.nn.Parameter(torch.zeros(10_000, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(10_000, dtype=torch.float64))
    rec = Recorder([{"params": [a]}, {"params": [b], "noise_eta": 0.0}])
    opt = optimlab.GradientNoise(rec, eta=1.0, seed=0)
    a.grad, b.grad = torch.zeros_like(a), torch.zeros_like(b)
    opt.step()
    na, nb = rec.seen[-1]
    assert abs(na.var().item() - 1.0) < 0.1 and torch.equal(nb, torch.zeros_like(nb))


def test_wraps_lookahead_and_registry_spellings():
    p = torch.nn.Parameter(torch.ones(3))
    opt = optimlab.create_optimizer("noisy_lookahead_sgdm", [p], lr=0.1, eta=0.01, seed=1)
    assert type(opt).__name__ == "GradientNoise" and type(opt.optimizer).__name__ == "Lookahead"
    assert opt.param_groups is opt.optimizer.param_groups is opt.optimizer.optimizer.param_groups
    for _ in range(6):
        p.grad = torch.ones(3)
        opt.step()
    assert opt.param_groups[0]["lookahead_step"] == 6 and opt.param_groups[0]["noise_step"] == 6
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    assert opt.param_groups is opt.optimizer.optimizer.param_groups
    q = optimlab.create_optimizer("noisy", [torch.nn.Parameter(torch.zeros(1))], inner="sgdm", eta=0.3)
    assert type(q.optimizer).__name__ == "SGD" and q.param_groups[0]["noise_eta"] == 0.3
