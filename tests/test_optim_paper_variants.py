"""Lecture/paper variants that torch.optim does not have, against NumPy oracles.

Each oracle is written from the equations in the lecture (shared/lecture.md), not from our
code: RMSProp with v_1 = g_0^2 (section 1), Nadam with a constant beta1 (section 10) and RAdam
rectifying when rho_t > 4 (section 7).  Both sides minimise the same noisy quadratic
f(theta) = 0.5 * sum(a * theta^2), gradient g = a * theta + noise_t, in float64 for 25 steps.
"""

import math

import numpy as np
import pytest
import torch

import optimlab

STEPS = 25
_A = np.linspace(0.5, 3.0, 6)
_THETA0 = np.array([1.0, -2.0, 0.5, 3.0, -0.7, 1.5])
_NOISE = np.random.default_rng(0).normal(scale=0.3, size=(STEPS, 6))


def _grad(theta, t):
    return _A * theta + _NOISE[t]


def _ours(make, foreach):
    """Our optimizer on the same problem, the parameter split in two tensors (two rows)."""
    ps = [torch.nn.Parameter(torch.tensor(_THETA0[:4])), torch.nn.Parameter(torch.tensor(_THETA0[4:]))]
    opt = make(ps, foreach)
    out = []
    for t in range(STEPS):
        theta = torch.cat([p.detach() for p in ps]).numpy()
        g = _grad(theta, t)
        ps[0].grad, ps[1].grad = torch.tensor(g[:4]), torch.tensor(g[4:])
        opt.step()
        out.append(torch.cat([p.detach() for p in ps]).numpy().copy())
    return np.array(out)


def rmsprop_lecture(eta, alpha):
    """theta_t = theta_{t-1} - eta / sqrt(v_t) * g_{t-1};  v_1 = g_0^2;  v_t = alpha v_{t-1} + (1-alpha) g_{t-1}^2."""
    theta, out, v = _THETA0.copy(), [], None
    for t in range(STEPS):
        g = _grad(theta, t)
        v = g**2 if v is None else alpha * v + (1 - alpha) * g**2
        theta = theta - eta / np.sqrt(v) * g
        out.append(theta.copy())
    return np.array(out)


def nadam_lecture(eta, beta1, beta2, eps):
    """Adam with m_hat_t = beta1 m_t / (1 - beta1^(t+1)) + (1 - beta1) g_{t-1} / (1 - beta1^t)."""
    theta, out = _THETA0.copy(), []
    m, v = np.zeros(6), np.zeros(6)
    for t in range(1, STEPS + 1):
        g = _grad(theta, t - 1)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - eta * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta.copy())
    return np.array(out)


def radam_lecture(eta, beta1, beta2, threshold=4.0):
    """RAdam: SGDM with m_hat while rho_t <= threshold, then eta r_t m_hat / sqrt(v_hat) (eps = 0)."""
    theta, out = _THETA0.copy(), []
    m, v = np.zeros(6), np.zeros(6)
    rho_inf = 2 / (1 - beta2) - 1
    for t in range(1, STEPS + 1):
        g = _grad(theta, t - 1)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        if rho_t > threshold:
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta = theta - eta * r_t * m_hat / np.sqrt(v_hat)
        else:
            theta = theta - eta * m_hat
        out.append(theta.copy())
    return np.array(out)


FOREACH = [pytest.param(False, id="per_tensor"), pytest.param(True, id="foreach")]


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("alpha", [0.99, 0.9])
def test_rmsprop_first_grad_init_is_the_lecture_rmsprop(alpha, foreach):
    ours = _ours(lambda ps, fe: optimlab.RMSprop(ps, lr=0.01, alpha=alpha, eps=0.0, init_square_avg="first_grad",
                                                 foreach=fe), foreach)
    np.testing.assert_allclose(ours, rmsprop_lecture(0.01, alpha), rtol=0, atol=1e-12)
    torch_like = _ours(lambda ps, fe: optimlab.RMSprop(ps, lr=0.01, alpha=alpha, eps=0.0, foreach=fe), foreach)
    assert np.abs(torch_like - ours).max() > 1e-3  # the option matters


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
def test_nadam_constant_schedule_is_the_lecture_nadam(betas, foreach):
    ours = _ours(lambda ps, fe: optimlab.NAdam(ps, lr=0.02, betas=betas, momentum_schedule="constant", foreach=fe),
                 foreach)
    np.testing.assert_allclose(ours, nadam_lecture(0.02, *betas, eps=1e-8), rtol=0, atol=1e-12)
    for momentum_decay in (4e-3, 0.0):  # torch's schedule, with or without decay, is another method
        torch_like = _ours(lambda ps, fe: optimlab.NAdam(ps, lr=0.02, betas=betas, momentum_decay=momentum_decay,
                                                         foreach=fe), foreach)
        assert np.abs(torch_like - ours).max() > 1e-4


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.8, 0.99)])
def test_radam_threshold_4_is_the_paper_radam(betas, foreach):
    ours = _ours(lambda ps, fe: optimlab.RAdam(ps, lr=0.05, betas=betas, eps=0.0, rectify_threshold=4.0,
                                               foreach=fe), foreach)
    paper = radam_lecture(0.05, *betas, threshold=4.0)
    np.testing.assert_allclose(ours, paper, rtol=0, atol=1e-12)
    # torch's default threshold 5 is the same rule with one more un-adapted step (rho_5 ~ 4.99)
    default = _ours(lambda ps, fe: optimlab.RAdam(ps, lr=0.05, betas=betas, eps=0.0, foreach=fe), foreach)
    np.testing.assert_allclose(default, radam_lecture(0.05, *betas, threshold=5.0), rtol=0, atol=1e-12)
    assert np.abs(default - paper).max() > 1e-4


def amsgrad_reddi(eta, beta1, beta2, eps):
    """AMSGrad (Reddi et al., lecture section 5): theta_t = theta_{t-1} - eta m_t / (sqrt(v_hat_t) + eps),
    v_hat_t = max(v_hat_{t-1}, v_t), no de-biasing."""
    theta, out = _THETA0.copy(), []
    m, v, v_hat = np.zeros(6), np.zeros(6), np.zeros(6)
    for t in range(STEPS):
        g = _grad(theta, t)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_hat = np.maximum(v_hat, v)
        theta = theta - eta * m / (np.sqrt(v_hat) + eps)
        out.append(theta.copy())
    return np.array(out)


def sgdwm_lecture(eta, lam, gamma):
    """SGDWM (lecture section 11): m_t = lam m_{t-1} + eta g;  theta_t = theta_{t-1} - m_t - gamma theta_{t-1}."""
    theta, out, m = _THETA0.copy(), [], np.zeros(6)
    for t in range(STEPS):
        g = _grad(theta, t)
        m = lam * m + eta * g
        theta = theta - m - gamma * theta
        out.append(theta.copy())
    return np.array(out)


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.0, 0.9)])
def test_adam_amsgrad_without_bias_correction_is_reddi_amsgrad(betas, foreach):
    make = lambda ps, fe: optimlab.Adam(ps, lr=0.05, betas=betas, amsgrad=True, bias_correction=False,  # noqa: E731
                                        foreach=fe)
    ours = _ours(make, foreach)
    np.testing.assert_allclose(ours, amsgrad_reddi(0.05, *betas, eps=1e-8), rtol=0, atol=1e-12)
    torch_form = _ours(lambda ps, fe: optimlab.Adam(ps, lr=0.05, betas=betas, amsgrad=True, foreach=fe), foreach)
    assert np.abs(torch_form - ours).max() > 1e-4  # torch's amsgrad de-biases: another method


@pytest.mark.parametrize("foreach", FOREACH)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgdw_is_the_lecture_sgdwm(momentum, foreach):
    """With a constant rate, SGD's b_t = lam b + g and theta -= eta b is the lecture's m_t = eta b_t
    (the first buffer is g, i.e. m_0 = 0); the decoupled decay gamma = eta * weight_decay."""
    eta, gamma = 0.05, 0.01
    ours = _ours(lambda ps, fe: optimlab.SGDW(ps, lr=eta, momentum=momentum, weight_decay=gamma / eta, foreach=fe),
                 foreach)
    np.testing.assert_allclose(ours, sgdwm_lecture(eta, momentum, gamma), rtol=0, atol=1e-12)
    l2 = _ours(lambda ps, fe: optimlab.SGD(ps, lr=eta, momentum=momentum, weight_decay=gamma / eta, foreach=fe),
               foreach)
    if momentum:
        assert np.abs(l2 - ours).max() > 1e-4  # L2 through the momentum is another method
