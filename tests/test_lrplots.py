"""Plot helpers: return a Figure with the data drawn, save when asked, never touch pyplot."""

from __future__ import annotations

import pytest

matplotlib = pytest.importorskip("matplotlib")

import torch  # noqa: E402

import optimlab  # noqa: E402
from optimlab.lab.lrplots import plot_lr_range, plot_schedule  # noqa: E402
from optimlab.schedules import CosineAnnealing, OneCycle, Warmup  # noqa: E402


def test_plot_schedule_draws_lr_and_momentum(tmp_path):
    oc = OneCycle(max_lr=0.5, total_steps=40)
    fig = plot_schedule(oc, 40, momentum=oc.momentum_schedule(), path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    lr_line = fig.axes[0].get_lines()[0]
    assert list(lr_line.get_ydata()) == [oc(t) for t in range(40)]
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == [oc.momentum_schedule()(t) for t in range(40)]
    with pytest.raises(ValueError, match="plot_schedule: steps must be >= 1, got 0"):
        plot_schedule(oc, 0)


def test_plot_schedule_into_existing_axes():
    from matplotlib.figure import Figure
    fig = Figure()
    ax = fig.add_subplot()
    s = Warmup(CosineAnnealing(0.1, T_max=20), warmup_steps=5)
    assert plot_schedule(s, 25, ax=ax) is fig and len(ax.get_lines()) == 1


def test_plot_lr_range_marks_suggestions(tmp_path):
    w = torch.nn.Parameter(torch.tensor([3.0]))
    model = torch.nn.Module()
    model.w = w
    opt = torch.optim.SGD([w], lr=0.1)

    def step():
        loss = (w**2).sum()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    res = optimlab.lr_range_test(step, opt, model, start_lr=1e-4, end_lr=10, num_steps=60, smoothing=0.5)
    fig = plot_lr_range(res, path=tmp_path / "r.svg")
    assert (tmp_path / "r.svg").exists()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for name, f in [("steepest", optimlab.suggest_lr_steepest), ("valley", optimlab.suggest_lr_valley),
                    ("min/10", optimlab.suggest_lr_min_div10)]:
        assert f"{name}: {f(res):.3g}" in labels
    assert any(lb.startswith("CLR bounds") for lb in labels)
    assert fig.axes[0].get_xscale() == "log"
    # a result with no points still plots (suggestions skipped, nothing marked)
    empty = optimlab.lr_range_test(lambda: float("nan"), opt, model, num_steps=5)
    labels = [t.get_text() for t in plot_lr_range(empty).axes[0].get_legend().get_texts()]
    assert labels == ["loss", "smoothed loss"]
