"""Properties every optimizer in the table (tests/optim_cases) must have."""

import copy
import io
import math

import pytest
import torch

from optim_cases import CASES

IDS = [c.id for c in CASES]


def _cases(prop):
    return [pytest.param(c, id=c.id, marks=pytest.mark.skip(reason=c.skip[prop])) if prop in c.skip
            else pytest.param(c, id=c.id) for c in CASES]


def _model(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    lin1 = torch.nn.Linear(4, 6).to(dtype)
    lin2 = torch.nn.Linear(6, 2).to(dtype)
    with torch.no_grad():
        for p in [*lin1.parameters(), *lin2.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g, dtype=dtype) * 0.5)
    return torch.nn.Sequential(lin1, torch.nn.Tanh(), lin2)


def _data(seed=1, dtype=torch.float64, n=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=dtype), torch.randn(n, 2, generator=g, dtype=dtype)


def _groups(model, lr_scale=0.5):
    return [{"params": list(model[0].parameters())},
            {"params": list(model[2].parameters()), "lr_scale": lr_scale}]


def _train(model, opt, steps, seed=1, scheduler=None):
    x, y = _data(seed)
    for t in range(steps):
        opt.zero_grad()
        xb = x.roll(t, 0)[:8]
        yb = y.roll(t, 0)[:8]
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return loss.item()


def _flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@pytest.mark.parametrize("case", _cases("quadratic"))
def test_converges_on_ill_conditioned_quadratic(case):
    torch.manual_seed(0)
    a = torch.linspace(1.0, 10.0, 10, dtype=torch.float64)
    x = torch.nn.Parameter(torch.ones(10, dtype=torch.float64))
    opt = case.make([x], lr=case.quad_lr)
    f0 = 0.5 * (a * x.detach() ** 2).sum().item()
    for _ in range(case.quad_steps):
        opt.zero_grad()
        f = 0.5 * (a * x**2).sum()
        f.backward()
        opt.step()
    f_end = 0.5 * (a * x.detach() ** 2).sum().item()
    assert f_end < 1e-3 * f0, f"{case.id}: f went {f0:.3g} -> {f_end:.3g}"


@pytest.mark.parametrize("case", _cases("rosenbrock"))
def test_converges_on_rosenbrock(case):
    if case.rosen_steps == 0:
        pytest.skip("no Rosenbrock setting for this case")
    xy = torch.nn.Parameter(torch.tensor([-1.5, 2.0], dtype=torch.float64))
    opt = case.make([xy], lr=case.rosen_lr)
    for _ in range(case.rosen_steps):
        opt.zero_grad()
        f = (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2
        f.backward()
        opt.step()
    dist = torch.linalg.vector_norm(xy.detach() - torch.tensor([1.0, 1.0], dtype=torch.float64)).item()
    assert dist < case.rosen_tol, f"{case.id}: ended at {xy.detach().tolist()}, {dist:.3g} from (1, 1)"


@pytest.mark.parametrize("case", _cases("state_dict"))
def test_state_dict_round_trip_resumes_bit_identically(case):
    model = _model()
    opt = case.make(_groups(model))
    _train(model, opt, 7)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    _train(model, opt, 6, seed=2)
    expected = _flat(model)

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=False)
    model2 = _model(seed=99)
    model2.load_state_dict(ckpt["model"])
    opt2 = case.make(_groups(model2))
    opt2.load_state_dict(ckpt["opt"])
    _train(model2, opt2, 6, seed=2)
    assert torch.equal(_flat(model2), expected)


@pytest.mark.parametrize("case", _cases("param_groups"))
def test_two_param_groups_equal_two_separate_optimizers(case):
    model = _model()
    opt = case.make([{"params": list(model[0].parameters())},
                     {"params": list(model[2].parameters()), "lr": 0.003}])
    ref = _model()
    opt_a = case.make(list(ref[0].parameters()))
    opt_b = case.make(list(ref[2].parameters()), lr=0.003)

    class Both:
        def zero_grad(self):
            opt_a.zero_grad(); opt_b.zero_grad()

        def step(self):
            opt_a.step(); opt_b.step()

    _train(model, opt, 9)
    _train(ref, Both(), 9)
    torch.testing.assert_close(_flat(model), _flat(ref), rtol=0, atol=1e-14)
    assert opt.param_groups[1]["lr"] == 0.003


@pytest.mark.parametrize("case", _cases("grad_none"))
def test_grad_none_parameters_are_untouched(case):
    a = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    frozen = torch.nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
    opt = case.make([a, frozen])
    for _ in range(6):
        opt.zero_grad()
        (a**2).sum().backward()
        opt.step()
    assert frozen.grad is None
    assert torch.equal(frozen.detach(), torch.full((3,), 2.0, dtype=torch.float64))
    assert len(opt.state.get(frozen, {})) == 0
    assert not torch.equal(a.detach(), torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("case", _cases("dtype"))
def test_state_keeps_dtype_and_device(case, dtype):
    p = torch.nn.Parameter(torch.randn(4, 3).to(dtype))
    opt = case.make([p])
    for _ in range(3):
        opt.zero_grad()
        (p.float() ** 2).sum().backward()
        opt.step()
    assert p.dtype == dtype
    for key, value in opt.state[p].items():
        if isinstance(value, torch.Tensor) and value.shape == p.shape:
            assert value.dtype == dtype, key
            assert value.device == p.device, key


@pytest.mark.parametrize("case", [c for c in _cases("foreach") if c.values[0].has_foreach])
def test_foreach_path_matches_per_tensor_reference(case):
    results = []
    for foreach in (False, True):
        model = _model()
        opt = case.make(_groups(model), foreach=foreach)
        _train(model, opt, 12)
        results.append(_flat(model))
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", [c for c in _cases("fused") if c.values[0].fused_kernel])
def test_default_cpu_step_is_the_fused_kernel_and_matches_the_reference(case, monkeypatch):
    calls = []
    kernel = getattr(torch, case.fused_kernel)

    def counting(*args, **kwargs):
        calls.append(1)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(torch, case.fused_kernel, counting)
    results = []
    for kw in ({"fused": False}, {}, {"fused": True}):
        model = _model()
        opt = case.make(_groups(model), **kw)
        _train(model, opt, 12)
        results.append(_flat(model))
    assert len(calls) >= 2 * 12, "the default CPU step did not use the fused kernel"
    torch.testing.assert_close(results[1], results[0], rtol=0, atol=1e-13)
    torch.testing.assert_close(results[2], results[0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("case", _cases("lr_zero"))
def test_zero_lr_and_zero_grad_is_a_finite_no_op(case):
    p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    before = p.detach().clone()
    opt = case.make([p], lr=0.0)
    for _ in range(3):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(p.detach(), before)
    for value in opt.state[p].values():
        if isinstance(value, torch.Tensor):
            assert torch.isfinite(value).all()


@pytest.mark.parametrize("case", _cases("tensor_lr"))
def test_tensor_lr_equals_float_lr(case):
    out = []
    for lr in (0.01, torch.tensor(0.01, dtype=torch.float64)):
        model = _model()
        opt = case.make(list(model.parameters()), lr=lr)
        _train(model, opt, 5)
        out.append(_flat(model))
    assert torch.equal(out[0], out[1])


@pytest.mark.parametrize("case", _cases("closure"))
def test_closure_is_called_once_and_its_loss_returned(case):
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = case.make([p])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert len(calls) == 1 and loss.item() == 2.0
    assert not torch.equal(p.detach(), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("case", _cases("maximize"))
def test_maximize_equals_minimizing_the_negation_and_keeps_grad(case):
    out = []
    for maximize in (False, True):
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
        opt = case.make([p], maximize=maximize)
        for _ in range(8):
            opt.zero_grad()
            f = ((p - 0.5) ** 2).sum()
            (-f if maximize else f).backward()
            g = p.grad.clone()
            opt.step()
            assert torch.equal(p.grad, g), "step() must not write into p.grad"
        out.append(p.detach())
    assert torch.equal(out[0], out[1])


@pytest.mark.parametrize("case", _cases("complex"))
def test_complex_parameter_equals_its_real_view(case):
    z = torch.nn.Parameter(torch.tensor([1 + 2j, -0.5 + 0.25j], dtype=torch.complex128))
    r = torch.nn.Parameter(torch.view_as_real(z.detach()).clone())
    oz, orr = case.make([z]), case.make([r])
    target = torch.tensor([0.3 - 1j, 2 + 0j], dtype=torch.complex128)
    for _ in range(6):
        oz.zero_grad(); orr.zero_grad()
        (z - target).abs().pow(2).sum().backward()
        (r - torch.view_as_real(target)).pow(2).sum().backward()
        oz.step(); orr.step()
    torch.testing.assert_close(torch.view_as_real(z.detach()), r.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", _cases("sparse"))
def test_sparse_gradients(case):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = case.make(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    if case.sparse_ok:
        before = emb.weight.detach().clone()
        opt.step()
        changed = (emb.weight.detach() != before).any(dim=1)
        assert changed[1] and changed[2] and not changed[0]
    else:
        with pytest.raises(RuntimeError, match="does not support sparse gradients"):
            opt.step()


def _momentum_key(group):
    return "momentum" if "momentum" in group else ("betas" if "betas" in group else None)


@pytest.mark.parametrize("sched", ["step", "onecycle", "cyclic"])
@pytest.mark.parametrize("case", _cases("schedulers"))
def test_torch_schedulers_drive_the_optimizer(case, sched):
    """A torch scheduler's lr (and momentum) reach the update: the run equals one where the
    recorded values are written into the param groups by hand."""
    model = _model()
    opt = case.make(list(model.parameters()))
    group = opt.param_groups[0]
    mkey = _momentum_key(group)
    if sched == "step":
        s = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    elif sched == "onecycle":
        s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=12,
                                                cycle_momentum=mkey is not None and
                                                (mkey == "betas" or group["momentum"] > 0))
    else:
        cyc = mkey == "momentum" and group["momentum"] > 0
        s = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=0.001, max_lr=0.02, step_size_up=4, cycle_momentum=cyc)
    recorded = []
    x, y = _data()
    for t in range(12):
        recorded.append((group["lr"], copy.deepcopy(group.get(mkey)) if mkey else None))
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[:8]), y[:8]).backward()
        opt.step()
        s.step()
    assert len({r[0] for r in recorded}) > 1
    ref = _model()
    opt2 = case.make(list(ref.parameters()))
    for lr, mom in recorded:
        opt2.param_groups[0]["lr"] = lr
        if mkey:
            opt2.param_groups[0][mkey] = mom
        opt2.zero_grad()
        torch.nn.functional.mse_loss(ref(x[:8]), y[:8]).backward()
        opt2.step()
    assert torch.equal(_flat(model), _flat(ref))


@pytest.mark.parametrize("case", _cases("grad_scaler"))
def test_grad_scaler_unscales_and_skips_inf_steps(case):
    x, y = _data(dtype=torch.float32)
    results = []
    for use_scaler in (False, True):
        model = _model(dtype=torch.float32)
        opt = case.make(list(model.parameters()))
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, enabled=use_scaler)
        for t in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        results.append(_flat(model))
        if use_scaler:
            state_before = copy.deepcopy(opt.state_dict())
            before = _flat(model)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y) * math.inf
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            assert torch.equal(_flat(model), before), "a step with inf gradients must be skipped"
            assert scaler.get_scale() < 2.0**8
            after = opt.state_dict()
            assert str(after["state"]) == str(state_before["state"])
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-6)
