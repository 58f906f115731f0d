"""torch.optim's contracts that a drop-in must keep, over the one table of optimizers
(tests/optim_cases): any memory layout and dtype, checkpoints that do not fit, older checkpoint
formats, Tensor hyperparameters, ``capturable`` and ``differentiable``."""

import copy
import io

import pytest
import torch

import optimlab
from optim_cases import CASES


def _cases(prop):
    return [pytest.param(c, id=c.id, marks=pytest.mark.skip(reason=c.skip[prop])) if prop in c.skip
            else pytest.param(c, id=c.id) for c in CASES]


# ------------------------------------------------------------------------------------------------
# Layouts and dtypes: every optimizer on unusual inputs equals itself on contiguous float64 ones
# ------------------------------------------------------------------------------------------------

SHAPE, CONV = (16, 24), (8, 4, 3, 3)


def _logical_grads(shape, steps, expanded=False):
    """Gradients as float64 logical values: a fixed sequence plus a term in the parameter (so the
    update depends on the trajectory); an expanded gradient repeats one row."""
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(steps, *shape, generator=g, dtype=torch.float64)
    if expanded:
        noise = noise[:, :1].expand(steps, *shape)
    return lambda t, p: (noise[t] if expanded else noise[t] + 0.5 * p)


# name -> (shape, dtype, make the parameter from logical values, lay out a gradient like, expanded)
VARIANTS = {
    "expanded_grad": (SHAPE, torch.float32, lambda x: x.clone(), lambda g: g[:1].expand(SHAPE), True),
    "transposed_param": (SHAPE, torch.float32, lambda x: x.t().contiguous().t(), lambda g: g.contiguous(), False),
    "transposed_param_and_grad": (SHAPE, torch.float32, lambda x: x.t().contiguous().t(),
                                  lambda g: g.t().contiguous().t(), False),
    "channels_last": (CONV, torch.float32, lambda x: x.contiguous(memory_format=torch.channels_last),
                      lambda g: g.contiguous(memory_format=torch.channels_last), False),
    "channels_last_param_contiguous_grad": (CONV, torch.float32,
                                            lambda x: x.contiguous(memory_format=torch.channels_last),
                                            lambda g: g.contiguous(), False),
    "bf16": (SHAPE, torch.bfloat16, lambda x: x.clone(), lambda g: g, False),
    "fp16": (SHAPE, torch.float16, lambda x: x.clone(), lambda g: g, False),
    "float64": (SHAPE, torch.float64, lambda x: x.clone(), lambda g: g, False),
}
TOL = {torch.float64: 1e-9, torch.float32: 2e-3, torch.bfloat16: 0.1, torch.float16: 0.05}


def _run_layout(case, shape, dtype, make, layout, expanded, steps=6):
    # small starting values, so that a half-precision parameter's rounding is small beside its change
    start = 0.05 * torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = _logical_grads(shape, steps, expanded)
    p = torch.nn.Parameter(make(start.to(dtype)))
    q = torch.nn.Parameter(start.clone())  # the reference: contiguous float64
    opt, ref = case.make([p]), case.make([q])
    for t in range(steps):
        g = grads(t, q.detach())
        p.grad = layout(g.to(dtype))
        q.grad = g.clone()
        opt.step()
        ref.step()
    return p.detach().double() - start, q.detach() - start


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("case", _cases("layouts"))
def test_any_layout_and_dtype_equals_the_contiguous_float64_run(case, variant):
    if f"layouts_{variant}" in case.skip:
        pytest.skip(case.skip[f"layouts_{variant}"])
    shape, dtype, make, layout, expanded = VARIANTS[variant]
    moved, expected = _run_layout(case, shape, dtype, make, layout, expanded)
    scale = expected.abs().max().item()
    assert scale > 1e-3, "the reference did not move: the comparison would be vacuous"
    err = (moved - expected).abs().max().item()
    assert err <= TOL[dtype] * scale, f"{case.id} {variant}: off by {err:.3g} for a change of {scale:.3g}"


def test_sgd_changes_half_precision_weights():
    """torch 2.13's _fused_sgd_ leaves float16/bfloat16 weights unchanged: it must not run there."""
    for dtype in (torch.bfloat16, torch.float16):
        p = torch.nn.Parameter(torch.ones(1000, dtype=dtype))
        opt = optimlab.SGD([p], lr=0.1, momentum=0.9)
        p.grad = torch.ones_like(p)
        opt.step()
        assert torch.all(p.detach() == torch.full_like(p, 0.9)), dtype


# ------------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------------

def _train(opt, ps, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in ps:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype) + 0.1 * p.detach()
        opt.step()


@pytest.mark.parametrize("case", _cases("state_shapes"))
def test_a_checkpoint_of_another_shape_is_refused_naming_the_parameter(case):
    ps = [torch.nn.Parameter(torch.randn(4, 6, dtype=torch.float64)), torch.nn.Parameter(torch.randn(3, dtype=torch.float64))]
    opt = case.make(ps)
    _train(opt, ps, 2)
    sd = opt.state_dict()
    shaped = [k for k, v in sd["state"].get(0, {}).items() if isinstance(v, torch.Tensor) and v.dim() > 0]
    if not shaped:
        pytest.skip("keeps no per-parameter tensor state")
    other = [torch.nn.Parameter(torch.randn(5, 6, dtype=torch.float64)), torch.nn.Parameter(torch.randn(3, dtype=torch.float64))]
    opt2 = case.make(other)
    _train(opt2, other, 1)
    before = copy.deepcopy(opt2.state_dict())
    with pytest.raises(ValueError, match=r"state '\w+' of parameter #0 of group 0 has shape \[4, 6\], but the "
                                         r"parameter has shape \[5, 6\]"):
        opt2.load_state_dict(sd)
    assert str(opt2.state_dict()) == str(before), "a refused checkpoint must leave the optimizer as it was"
    _train(opt2, other, 1)  # and it still steps


def test_a_checkpoint_names_parameters_by_name_when_given():
    w = torch.nn.Parameter(torch.randn(4, 6))
    opt = optimlab.Adam([("layer.weight", w)])
    w.grad = torch.ones_like(w)
    opt.step()
    v = torch.nn.Parameter(torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"parameter 'layer.weight' of group 0 has shape \[4, 6\]"):
        optimlab.Adam([("layer.weight", v)]).load_state_dict(opt.state_dict())


@pytest.mark.parametrize("case", _cases("numeric_step"))
def test_a_step_saved_as_a_python_number_loads_and_resumes(case):
    """torch < 1.12 saved ``state["step"]`` as a number; torch's optimizers still load that."""
    ps = [torch.nn.Parameter(torch.randn(4, dtype=torch.float64))]
    opt = case.make(ps)
    _train(opt, ps, 3)
    sd = opt.state_dict()
    if not any("step" in st for st in sd["state"].values()):
        pytest.skip("keeps no step count")
    old = copy.deepcopy(sd)
    for st in old["state"].values():
        if "step" in st:
            st["step"] = float(st["step"])
    qs = [torch.nn.Parameter(ps[0].detach().clone())]
    opt2 = case.make(qs)
    opt2.load_state_dict(old)
    _train(opt, ps, 3, seed=5)
    _train(opt2, qs, 3, seed=5)
    assert torch.equal(ps[0], qs[0])
    assert all(isinstance(st["step"], torch.Tensor) for st in opt2.state_dict()["state"].values() if "step" in st)


@pytest.mark.parametrize("cls, base, flag", [(optimlab.AdamW, optimlab.Adam, "decoupled_weight_decay"),
                                            (optimlab.SGDW, optimlab.SGD, "decoupled_weight_decay")])
def test_decoupled_classes_stay_decoupled_after_loading_a_coupled_checkpoint(cls, base, flag):
    p = torch.nn.Parameter(torch.ones(3))
    src = base([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.ones(3)
    src.step()
    sd = src.state_dict()
    assert sd["param_groups"][0][flag] is False
    q = torch.nn.Parameter(torch.ones(3))
    dst = cls([q], lr=0.1, weight_decay=0.5)
    dst.load_state_dict(sd)
    assert dst.param_groups[0][flag] is True
    old = copy.deepcopy(sd)
    del old["param_groups"][0][flag]  # a checkpoint from before the option existed
    dst.load_state_dict(old)
    assert dst.param_groups[0][flag] is True
    with pytest.raises(ValueError, match=rf"{cls.__name__}: decoupled_weight_decay is always True"):
        dst.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], flag: False})


# ------------------------------------------------------------------------------------------------
# Tensor hyperparameters, capturable, differentiable
# ------------------------------------------------------------------------------------------------

ADAM_FAMILY = [optimlab.Adam, optimlab.AdamW, optimlab.NAdam, optimlab.RAdam, optimlab.AdaBound, optimlab.AMSBound,
               optimlab.SWATS]


@pytest.mark.parametrize("cls", ADAM_FAMILY, ids=lambda c: c.__name__)
def test_tensor_betas_equal_float_betas(cls):
    out = []
    for betas in ((0.8, 0.99), (torch.tensor([0.8], dtype=torch.float64), torch.tensor(0.99, dtype=torch.float64))):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64))
        opt = cls([p], lr=0.05, betas=betas)
        _train(opt, [p], 4)
        out.append(p.detach())
        assert all(b.dim() == 0 for b in opt.param_groups[0]["betas"] if isinstance(b, torch.Tensor))
    torch.testing.assert_close(out[1], out[0], rtol=1e-12, atol=1e-14)


CAPTURABLE = [optimlab.Adam, optimlab.AdamW, optimlab.NAdam, optimlab.RAdam, optimlab.RMSprop, optimlab.AdaBound]


@pytest.mark.parametrize("cls", CAPTURABLE, ids=lambda c: c.__name__)
def test_capturable_step_keeps_tensors_and_equals_the_default(cls):
    """capturable: counters on the parameter's device and no host synchronisation in the step
    (here on CPU, where torch refuses the flag but the rule is the same)."""
    out = []
    for capturable in (False, True):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 6, dtype=torch.float64))
        opt = cls([p], lr=torch.tensor(0.05, dtype=torch.float64), capturable=capturable)
        _train(opt, [p], 5)
        out.append(p.detach())
        assert opt.state[p]["step"].device == p.device
    torch.testing.assert_close(out[1], out[0], rtol=1e-6, atol=1e-9)  # float32 step counts in tensor math


DIFFERENTIABLE = [optimlab.SGD, optimlab.Adam, optimlab.AdamW, optimlab.Adagrad, optimlab.RMSprop, optimlab.NAdam,
                  optimlab.RAdam, optimlab.AdaBound]


@pytest.mark.parametrize("cls", DIFFERENTIABLE, ids=lambda c: c.__name__)
def test_differentiable_step_gives_the_gradient_through_two_steps(cls):
    """d(loss after two steps)/d(lr) by autograd through the optimizer equals a central difference."""

    def loss_after(lr, differentiable=True):
        w0 = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
        w = w0.clone() if differentiable else w0  # a non-leaf, as in meta-learning: the update is recorded
        opt = cls([w], lr=lr, differentiable=differentiable)
        for t in range(2):  # gradients that do not save w (the step changes w in place, as in torch's test)
            g, = torch.autograd.grad((torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (t + 1) * w).sum()
                                     + w.sum() * lr, w, create_graph=differentiable)
            w.grad = g
            opt.step()
        return ((w - 1.0) ** 2).sum()

    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    loss = loss_after(lr)
    d, = torch.autograd.grad(loss, lr)
    h = 1e-6
    fd = (loss_after(0.05 + h, False) - loss_after(0.05 - h, False)).detach() / (2 * h)
    assert torch.isfinite(d) and abs(d.item() - fd.item()) <= 1e-5 * max(1.0, abs(fd.item())), (d, fd)


def test_differentiable_is_off_by_default_and_the_step_records_nothing():
    w = torch.nn.Parameter(torch.ones(3))
    opt = optimlab.Adam([w], lr=0.1)
    w.grad = torch.ones(3)
    opt.step()
    assert opt.defaults["differentiable"] is False and w.grad_fn is None


def test_state_dict_round_trip_through_torch_save_with_tensor_hyperparameters():
    p = torch.nn.Parameter(torch.ones(3))
    opt = optimlab.Adam([p], lr=torch.tensor(0.1), betas=(torch.tensor(0.9), torch.tensor(0.99)))
    _train(opt, [p], 2)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = optimlab.Adam([q], lr=torch.tensor(0.1), betas=(torch.tensor(0.9), torch.tensor(0.99)))
    opt2.load_state_dict(torch.load(buf, weights_only=True))
    _train(opt, [p], 2, seed=3)
    _train(opt2, [q], 2, seed=3)
    assert torch.equal(p, q)
