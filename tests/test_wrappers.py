"""Wrappers compose like optimizers: nesting (or a clear refusal), hooks, group keys checked when a
group is added, torch's flat checkpoint format, and the registry's spellings."""

import pytest
import torch

import optimlab

WRAPPERS = {
    "lookahead": lambda opt, **kw: optimlab.Lookahead(opt, **kw),
    "noisy": lambda opt, **kw: optimlab.GradientNoise(opt, **{"seed": 0, **kw}),
}


def _params(n=2):
    return [torch.nn.Parameter(torch.linspace(-1, 1, 4, dtype=torch.float64) * (i + 1)) for i in range(n)]


@pytest.mark.parametrize("kind", list(WRAPPERS))
def test_the_same_wrapper_twice_is_refused_clearly(kind):
    inner = WRAPPERS[kind](optimlab.SGD(_params(), lr=0.1))
    cls = type(inner).__name__
    with pytest.raises(ValueError, match=rf"{cls}: cannot wrap another {cls}"):
        WRAPPERS[kind](inner)
    with pytest.raises(ValueError, match=rf"nests '{kind}' twice"):
        optimlab.create_optimizer(f"{kind}_{kind}_sgd", _params(), lr=0.1)


def test_different_wrappers_nest_each_with_its_own_keys_and_counters():
    ps = _params()
    opt = optimlab.Lookahead(optimlab.GradientNoise(optimlab.SGD(ps, lr=0.1), eta=0.0, seed=0), k=2, alpha=0.5)
    ref_ps = _params()
    ref = optimlab.Lookahead(optimlab.SGD(ref_ps, lr=0.1), k=2, alpha=0.5)
    for _ in range(5):
        for p, q in zip(ps, ref_ps):
            p.grad = p.detach() * 2
            q.grad = q.detach() * 2
        opt.step()
        ref.step()
    group = opt.param_groups[0]
    assert int(group["lookahead_step"]) == 5 and int(group["noise_step"]) == 5  # each advanced once per step
    for p, q in zip(ps, ref_ps):
        assert torch.equal(p, q)  # eta = 0: the noise wrapper changes nothing


@pytest.mark.parametrize("kind, bad, message", [
    ("lookahead", {"lookahead_k": 0}, r"Lookahead: k must be >= 1, got 0"),
    ("lookahead", {"lookahead_alpha": 1.5}, r"Lookahead: alpha must be in \(0, 1\], got 1\.5"),
    ("lookahead", {"lookahead_pullback": "none"}, r"Lookahead: pullback must be one of"),
    ("noisy", {"noise_eta": -1.0}, r"GradientNoise: eta must be >= 0, got -1\.0"),
    ("noisy", {"noise_seed": 2**70}, r"GradientNoise: seed must be < 2\*\*64"),
])
def test_add_param_group_checks_the_wrapper_keys_before_the_inner_optimizer_takes_the_group(kind, bad, message):
    opt = WRAPPERS[kind](optimlab.SGD(_params(1), lr=0.1))
    with pytest.raises(ValueError, match=message):
        opt.add_param_group({"params": _params(1), **bad})
    assert len(opt.param_groups) == 1 and len(opt.optimizer.param_groups) == 1  # nothing half-added


@pytest.mark.parametrize("kind", list(WRAPPERS))
def test_state_dict_and_load_state_dict_hooks_run(kind):
    ps = _params()
    opt = WRAPPERS[kind](optimlab.Adam(ps, lr=0.1))
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("sd_pre"))
    opt.register_state_dict_post_hook(lambda o, sd: calls.append("sd_post"))
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
    sd = opt.state_dict()
    opt.load_state_dict(sd)
    assert calls == ["sd_pre", "sd_post", "load_pre", "load_post"]


def test_a_load_pre_hook_can_rewrite_the_checkpoint():
    ps = _params(1)
    opt = optimlab.Lookahead(optimlab.SGD(ps, lr=0.1, momentum=0.9), k=3)
    ps[0].grad = torch.ones_like(ps[0])
    opt.step()
    sd = opt.state_dict()

    def set_k(o, state_dict):
        state_dict["param_groups"][0]["lookahead_k"] = 7
        return state_dict

    opt.register_load_state_dict_pre_hook(set_k)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lookahead_k"] == 7 and opt.optimizer.param_groups[0]["lookahead_k"] == 7


@pytest.mark.parametrize("kind", list(WRAPPERS))
def test_a_wrapper_checkpoint_that_does_not_fit_is_refused_and_changes_nothing(kind):
    ps = [torch.nn.Parameter(torch.ones(3, 2))]
    opt = WRAPPERS[kind](torch.optim.Adam(ps, lr=0.1))  # torch's inner optimizer does not check shapes
    ps[0].grad = torch.ones_like(ps[0])
    opt.step()
    qs = [torch.nn.Parameter(torch.ones(2, 2))]
    opt2 = WRAPPERS[kind](torch.optim.Adam(qs, lr=0.1))
    with pytest.raises(ValueError, match=r"parameter #0 of group 0 has shape \[3, 2\], but the parameter has shape"):
        opt2.load_state_dict(opt.state_dict())
    assert len(opt2.state) == 0 and opt2.state is opt2.optimizer.state
    qs[0].grad = torch.ones_like(qs[0])
    opt2.step()


def test_registry_splits_keywords_between_wrapper_and_inner_optimizer():
    opt = optimlab.create_optimizer("noisy_lookahead_adam", _params(), lr=0.01, betas=(0.8, 0.9), k=4, eta=0.2, seed=3)
    assert type(opt).__name__ == "GradientNoise" and type(opt.optimizer).__name__ == "Lookahead"
    g = opt.param_groups[0]
    assert (g["lookahead_k"], g["noise_eta"], g["noise_seed"], g["betas"], g["lr"]) == (4, 0.2, 3, (0.8, 0.9), 0.01)
    with pytest.raises(ValueError, match=r"'lookahead_adam' already names its inner optimizer"):
        optimlab.create_optimizer("lookahead_adam", _params(), inner="sgd")
    with pytest.raises(TypeError, match="colour"):
        optimlab.create_optimizer("lookahead_adam", _params(), colour=1)
