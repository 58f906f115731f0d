"""Our optimizers against their torch.optim namesakes, float64, two param groups, 20 steps."""

import pytest
import torch

from optim_cases import TORCH_EQUIV

PARAMS = [pytest.param(e, flags, id=f"{e.id}-" + "-".join(f"{k}={v}" for k, v in flags.items()))
          for e in TORCH_EQUIV for flags in e.flags]


def _pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 4), (5,), (3, 5), (3,)]
    a = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64)) for s in shapes]
    b = [torch.nn.Parameter(t.detach().clone()) for t in a]
    return a, b


@pytest.mark.parametrize("equiv,flags", PARAMS)
def test_equals_torch(equiv, flags):
    ours_p, theirs_p = _pair()
    lr = equiv.lr
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 0.3}]  # noqa: E731
    ours = equiv.ours(groups(ours_p), lr=lr, **flags)
    theirs = equiv.theirs(groups(theirs_p), lr=lr, **flags)
    g = torch.Generator().manual_seed(1)
    for step in range(20):
        for a, b in zip(ours_p, theirs_p):
            grad = torch.randn(a.shape, generator=g, dtype=torch.float64) * (1 + step % 3)
            a.grad, b.grad = grad.clone(), grad.clone()
        ours.step()
        theirs.step()
        for a, b in zip(ours_p, theirs_p):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-12)
    # same state names and values
    for a, b in zip(ours_p, theirs_p):
        sa, sb = ours.state[a], theirs.state[b]
        assert set(sb) <= set(sa), f"missing torch state {set(sb) - set(sa)}"
        for k in sb:
            va, vb = sa[k], sb[k]
            if isinstance(vb, torch.Tensor):
                torch.testing.assert_close(va.to(vb.dtype), vb, rtol=0, atol=1e-12)
