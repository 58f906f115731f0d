"""Sparse gradients (nn.Embedding(sparse=True)): Adagrad and SGD (with momentum) against torch.optim."""

import pytest
import torch

import optimlab
from optim_cases import grid


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # raised inside torch.optim.Adagrad
@pytest.mark.parametrize("flags", grid(lr_decay=[0.0, 0.1], initial_accumulator_value=[0.0, 0.2],
                                       maximize=[False, True], foreach=[False, True]),
                         ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()))
def test_sparse_adagrad_equals_torch(flags):
    torch.manual_seed(0)
    embs = [torch.nn.Embedding(12, 3, sparse=True).double() for _ in range(2)]
    embs[1].load_state_dict(embs[0].state_dict())
    dense = [torch.nn.Parameter(torch.randn(4, dtype=torch.float64)) for _ in range(2)]
    dense[1].data.copy_(dense[0].data)
    ours = optimlab.Adagrad([embs[0].weight, dense[0]], lr=0.1, **flags)
    theirs = torch.optim.Adagrad([embs[1].weight, dense[1]], lr=0.1, **flags)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        idx = torch.randint(0, 12, (6,), generator=g)  # repeated indices: the gradient is uncoalesced
        w = torch.randn(6, 3, generator=g, dtype=torch.float64)
        for emb, d, opt in ((embs[0], dense[0], ours), (embs[1], dense[1], theirs)):
            opt.zero_grad()
            ((emb(idx) * w).sum() + (d**2).sum()).backward()
            opt.step()
        torch.testing.assert_close(embs[0].weight.detach(), embs[1].weight.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(dense[0].detach(), dense[1].detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.state[embs[0].weight]["sum"], theirs.state[embs[1].weight]["sum"], rtol=0, atol=1e-12)


def test_sparse_adagrad_with_weight_decay_is_rejected():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = optimlab.Adagrad(emb.parameters(), weight_decay=0.1)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match=r"Adagrad does not support sparse gradients with weight_decay > 0"):
        opt.step()


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@pytest.mark.parametrize("flags", grid(momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                                       weight_decay=[0.0, 0.05], maximize=[False, True]),
                         ids=lambda f: "-".join(f"{k}={v}" for k, v in f.items()))
def test_sparse_sgd_equals_torch(flags):
    """SGD with sparse gradients, momentum included (a sparse buffer, as torch keeps it)."""
    if flags["nesterov"] and (flags["momentum"] == 0 or flags["dampening"] != 0):
        pytest.skip("nesterov needs momentum > 0 and zero dampening")
    if flags["weight_decay"]:  # L2 decay with a sparse gradient: torch fails, we refuse clearly
        for opt_cls in (torch.optim.SGD, optimlab.SGD):
            emb = torch.nn.Embedding(12, 3, sparse=True)
            emb(torch.tensor([1, 2])).sum().backward()
            with pytest.raises(RuntimeError, match="sparse|not supported"):
                opt_cls(emb.parameters(), lr=0.1, **flags).step()
        return
    torch.manual_seed(0)
    embs = [torch.nn.Embedding(12, 3, sparse=True).double() for _ in range(2)]
    embs[1].load_state_dict(embs[0].state_dict())
    ours = optimlab.SGD(embs[0].parameters(), lr=0.1, **flags)
    theirs = torch.optim.SGD(embs[1].parameters(), lr=0.1, **flags)
    g = torch.Generator().manual_seed(1)
    for _ in range(8):
        idx = torch.randint(0, 12, (6,), generator=g)
        w = torch.randn(6, 3, generator=g, dtype=torch.float64)
        for emb, opt in ((embs[0], ours), (embs[1], theirs)):
            opt.zero_grad()
            (emb(idx) * w).sum().backward()
            opt.step()
        torch.testing.assert_close(embs[0].weight.detach(), embs[1].weight.detach(), rtol=0, atol=1e-12)
    if flags["momentum"]:
        a, b = ours.state[embs[0].weight]["momentum_buffer"], theirs.state[embs[1].weight]["momentum_buffer"]
        assert a.layout == b.layout
        torch.testing.assert_close(a.to_dense(), b.to_dense(), rtol=0, atol=1e-12)


def test_sparse_sgdw_decays_every_row_and_steps_the_sparse_rows():
    emb = torch.nn.Embedding(5, 2, sparse=True).double()
    before = emb.weight.detach().clone()
    opt = optimlab.SGDW(emb.parameters(), lr=0.1, momentum=0.9, weight_decay=0.5)
    emb(torch.tensor([1])).sum().backward()
    opt.step()
    expected = before * (1 - 0.1 * 0.5)
    expected[1] -= 0.1
    torch.testing.assert_close(emb.weight.detach(), expected, rtol=0, atol=1e-12)
