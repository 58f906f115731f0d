"""Every out-of-range hyperparameter raises ValueError naming class, argument, range, value."""

import pytest

import optimlab
from optim_cases import ERRORS


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in ERRORS])
def test_bad_argument_is_rejected_clearly(case):
    with pytest.raises(case.exc, match=case.pattern):
        case.make(**case.kwargs)


def test_registry_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'.*adam, adamw"):
        optimlab.create_optimizer("adamm", [])


def test_registry_builds_every_name_and_variants_apply_defaults():
    import torch

    for name in optimlab.available_optimizers():
        p = torch.nn.Parameter(torch.zeros(2))
        opt = optimlab.create_optimizer(name, [p])
        assert isinstance(opt, torch.optim.Optimizer), name
    nag = optimlab.create_optimizer("nag", [torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    assert nag.defaults["nesterov"] and nag.defaults["momentum"] == 0.9 and nag.defaults["lr"] == 0.3
    assert optimlab.create_optimizer("amsgrad", [torch.nn.Parameter(torch.zeros(1))]).defaults["amsgrad"]
    assert optimlab.create_optimizer("ADAMW", [torch.nn.Parameter(torch.zeros(1))]).defaults["decoupled_weight_decay"]


@pytest.mark.parametrize("cls", [optimlab.SGD, optimlab.Adam, optimlab.AdamW, optimlab.Adagrad])
def test_fused_true_says_why_it_cannot_run(cls):
    import torch

    z = torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))
    opt = cls([z], fused=True)
    z.grad = torch.ones_like(z)
    with pytest.raises(RuntimeError, match=rf"{cls.__name__}: fused=True needs plain CPU tensors of dtype"):
        opt.step()
