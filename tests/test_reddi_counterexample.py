"""Reddi, Kale & Kumar's online counterexample (ICLR 2018, Sec. 3), the lab's first experiment:
on x in [-1, 1], f_t(x) = C x when t mod 3 == 1 and -x otherwise (C = 3), optimum x = -1.
With beta1 = 0, beta2 = 1/(1+C^2) and the theorem's rate alpha/sqrt(t), Adam drifts to the wrong
end (+1); AMSGrad (Reddi's form) and AMSBound converge to -1.  The problem is the lab's
``reddi`` problem (``optimlab.lab.problems``), so the test and the experiment share it."""

import math

import pytest
import torch

import optimlab

problems = pytest.importorskip("optimlab.lab.problems")

C = 3.0
BETAS = (0.0, 1.0 / (1.0 + C**2))


def run_reddi(make, steps=3000, lr=0.1):
    """Train ``make(params, lr)`` on the online problem with lr/sqrt(t); return the final x."""
    prob = problems.make_problem("reddi", seed=0, C=C, variant="online")
    opt = make(list(prob.model.parameters()), lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / math.sqrt(t + 1))
    for t in range(steps):
        opt.zero_grad()
        prob.loss_fn(prob.model, prob.next_batch(t)).backward()
        opt.step()
        with torch.no_grad():
            prob.post_step(prob.model)
        sched.step()
    return prob.evaluate(prob.model)["x"]


def test_adam_converges_to_the_wrong_end():
    assert run_reddi(lambda p, lr: optimlab.Adam(p, lr=lr, betas=BETAS)) > 0.99


@pytest.mark.parametrize("name,make", [
    ("amsgrad", lambda p, lr: optimlab.Adam(p, lr=lr, betas=BETAS, amsgrad=True, bias_correction=False)),
    ("amsbound", lambda p, lr: optimlab.AMSBound(p, lr=lr, betas=BETAS)),
])
def test_amsgrad_and_amsbound_converge_to_the_optimum(name, make):
    assert run_reddi(make) < -0.99, name
