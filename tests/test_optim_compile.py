"""``torch.compile(opt.step)`` for every optimizer and wrapper of the table (tests/optim_cases): no
error, the same result as eager, and no recompilation from step to step, also with a Tensor ``lr``
driven by a scheduler.

Graphs are counted with dynamo's counters.  ``aot_eager`` runs dynamo and AOTAutograd's
functionalization (where in-place updates of parameters and state must be traceable) without
generating code; a few cases also run inductor, the default backend, which generates kernels.
"""

import logging
import warnings

import pytest
import torch
import torch._dynamo as dynamo
from torch._dynamo.utils import counters

from optim_cases import CASES

# the first call (state creation) may compile once more than later ones, as torch.optim.SGD with
# momentum does (a momentum buffer is created from the first gradient)
WARMUP = 2
STEPS = 6


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def _breaks() -> dict:
    """Graph breaks other than the explicit ones around the step (torch's own pattern) and the
    scheduler's step wrapper (a file dynamo skips, for torch's optimizers too)."""
    return {k.split("\n")[0]: v for k, v in counters["graph_break"].items()
            if "graph_break()" not in k and "marked as skipped" not in k}


def _compare(case, backend, tensor_lr):
    dynamo.reset()
    counters.clear()
    models = [_model(), _model()]
    lr = (lambda: torch.tensor(0.01)) if tensor_lr else (lambda: 0.01)
    opts = [case.make(list(m.parameters()), lr=lr()) for m in models]
    scheds = [torch.optim.lr_scheduler.StepLR(o, 1, 0.9) for o in opts] if tensor_lr else [None, None]
    step = torch.compile(opts[1].step, backend=backend)
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    graphs = []
    for _ in range(STEPS):
        for k, (m, o, s) in enumerate(zip(models, opts, scheds)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            (o.step if k == 0 else step)()
            if s is not None:
                s.step()
        graphs.append(counters["stats"]["unique_graphs"])
    return models, graphs


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("tensor_lr", [False, True], ids=["float_lr", "tensor_lr"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_compiled_step_is_one_graph_without_recompiles_and_equals_eager(case, tensor_lr):
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    models, graphs = _compare(case, "aot_eager", tensor_lr)
    assert graphs[-1] >= 1, "nothing was compiled (dynamo fell back to eager)"
    assert graphs[-1] == graphs[WARMUP - 1], f"recompiled after the first steps: unique graphs per step {graphs}"
    if "compile_one_graph" not in case.skip:
        assert graphs[-1] <= 2, f"{graphs[-1]} graphs: the step is split"
    assert not _breaks(), _breaks()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


INDUCTOR = ["adam", "sgdm", "radam", "nadam", "adabound", "swats_switched", "lookahead_sgdm_pullback", "noisy_adam"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES if c.id in INDUCTOR])
def test_inductor_compiled_step_equals_eager(case):
    models, graphs = _compare(case, "inductor", True)
    assert graphs[-1] == graphs[WARMUP - 1] >= 1
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
