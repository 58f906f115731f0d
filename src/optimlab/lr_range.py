"""The LR range test (Smith, WACV'17) and the suggestions read off its curve.

``lr_range_test`` returns data (:class:`LRRangeResult`); suggestions are separate functions;
plotting is in ``optimlab.lab.lrplots``.  The test restores model, optimizer, scheduler and RNG
state in a ``finally`` block, so it leaves no trace even when the step raises, and writes no files.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

import torch

from .checks import check_choice, check_int, check_range

__all__ = [
    "LRRangeResult", "lr_range_test", "supervised_step_fn", "lr_range_test_from_batches",
    "suggest_lr_steepest", "suggest_lr_valley", "suggest_lr_min_div10", "suggest_clr_bounds",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LRRangeResult:
    """What an LR range test measured.

    Attributes:
        lrs: the rate of each recorded step (the rate used by that step).
        losses: the raw loss of each step (the validation loss when ``val_fn`` was given).
        smoothed_losses: bias-corrected EMA of ``losses`` (equal to ``losses`` when smoothing=0).
        stop_reason: ``"completed"``, ``"diverged"`` (smoothed loss > diverge_threshold x best) or
            ``"non_finite"`` (a NaN/inf loss; that step is not recorded).
        stop_lr: the rate of the step that stopped the sweep (None when completed).
        mode, start_lr, end_lr, num_steps, smoothing, diverge_threshold: the settings.
        validation: True when the losses are validation losses.

    >>> import optimlab
    >>> res = optimlab.LRRangeResult.from_curve([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0])
    >>> res.to_dict()["lrs"], res.smoothed_losses
    ([0.001, 0.01, 0.1], (1.0, 0.5, 2.0))
    """

    lrs: tuple
    losses: tuple
    smoothed_losses: tuple
    stop_reason: str
    stop_lr: Optional[float]
    mode: str
    start_lr: float
    end_lr: float
    num_steps: int
    smoothing: float
    diverge_threshold: float
    validation: bool

    @classmethod
    def from_curve(cls, lrs, losses) -> "LRRangeResult":
        """A result from a loss-vs-rate curve measured elsewhere (no smoothing), so the
        ``suggest_*`` functions can read it.

        >>> from optimlab import LRRangeResult
        >>> res = LRRangeResult.from_curve([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.2, 0.8, 3.0])
        >>> res.stop_reason, len(res.lrs)
        ('completed', 5)
        """
        lrs, losses = tuple(float(v) for v in lrs), tuple(float(v) for v in losses)
        if len(lrs) != len(losses):
            raise ValueError(f"LRRangeResult.from_curve: losses must have one value per rate ({len(lrs)}), got {len(losses)}")
        if any(not (v > 0) for v in lrs):
            raise ValueError(f"LRRangeResult.from_curve: lrs must be > 0, got {list(lrs)!r}")
        start, end = (lrs[0], lrs[-1]) if lrs else (0.0, 0.0)
        return cls(lrs, losses, losses, "completed", None, "exp", start, end, len(lrs), 0.0, math.inf, False)

    def to_dict(self) -> dict:
        """JSON-able dict (lists instead of tuples)."""
        d = asdict(self)
        for k in ("lrs", "losses", "smoothed_losses"):
            d[k] = list(d[k])
        return d


def _sweep(mode: str, start: float, end: float, n: int) -> list[float]:
    if mode == "exp":
        return [start * (end / start) ** (i / (n - 1)) for i in range(n)]
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def _set_lr(optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(lr)
        else:
            g["lr"] = lr


def _as_loss(value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().cpu().item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"lr_range_test: step_fn/val_fn must return a float or a 1-element Tensor, got {value!r}")


class _Snapshot:
    """Everything the test may change, copied before and put back after."""

    def __init__(self, model, optimizer, scheduler, extra):
        self.model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.training = [m.training for m in model.modules()]
        self.opt_state = copy.deepcopy(optimizer.state_dict())
        self.sched_state = None if scheduler is None else copy.deepcopy(scheduler.state_dict())
        self.extra_states = [copy.deepcopy(o.state_dict()) for o in extra]
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        self.py_rng = random.getstate()
        np = sys.modules.get("numpy")  # only if the user already imported it
        self.np_rng = (np, np.random.get_state()) if np is not None else None

    def restore(self, model, optimizer, scheduler, extra):
        with torch.no_grad():
            model.load_state_dict(self.model_state)
        for m, t in zip(model.modules(), self.training):
            m.training = t
        optimizer.load_state_dict(self.opt_state)
        if scheduler is not None:
            scheduler.load_state_dict(self.sched_state)
        for o, s in zip(extra, self.extra_states):
            o.load_state_dict(s)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        random.setstate(self.py_rng)
        if self.np_rng is not None:
            self.np_rng[0].random.set_state(self.np_rng[1])


def lr_range_test(
    step_fn: Callable[[], Any],
    optimizer: torch.optim.Optimizer,
    model: torch.nn.Module,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_threshold: float = 5.0,
    val_fn: Optional[Callable[[], Any]] = None,
    scheduler: Any = None,
    also_restore: Sequence[Any] = (),
) -> LRRangeResult:
    r"""Run the LR range test: train a few steps with a growing rate and record the loss.

    Step :math:`i = 0..n-1` uses, in every param group,

    .. math:: \eta_i = \eta_s (\eta_e/\eta_s)^{i/(n-1)} \;(\text{exp}) \quad\text{or}\quad
              \eta_s + (\eta_e - \eta_s)\, i/(n-1) \;(\text{linear})

    then calls ``step_fn()`` (one training step: forward, backward, ``optimizer.step()``,
    ``zero_grad``: whatever your loop needs, so any batch structure, gradient accumulation or
    AMP works) and records its loss, or ``val_fn()``'s (called under ``torch.no_grad()``) when
    given.  Smoothed loss: :math:`a_i = \beta a_{i-1} + (1-\beta)\ell_i`,
    :math:`\bar\ell_i = a_i / (1 - \beta^{i+1})` (bias-corrected EMA, :math:`\beta` = ``smoothing``).
    The sweep stops when a loss is NaN/inf, or when :math:`\bar\ell_i >` ``diverge_threshold``
    :math:`\times \min_{j \le i} \bar\ell_j` (checked only while that minimum is > 0, i.e. for
    non-negative losses).

    Afterwards model parameters and buffers, ``train``/``eval`` flags, the optimizer (state and
    param groups, so the rate), the scheduler, ``also_restore`` objects (e.g. an AMP
    ``GradScaler``) and the torch, CUDA, Python and (if imported) NumPy RNGs are restored
    bit-identically, also when ``step_fn`` raises.  The copies live in memory; nothing is written.

    Smith reads the curve by eye (the rate where the loss starts to fall, and where it stops
    falling or becomes ragged); use :func:`suggest_lr_steepest`, :func:`suggest_lr_valley`,
    :func:`suggest_lr_min_div10` or :func:`suggest_clr_bounds` on the result, and
    ``optimlab.lab.lrplots.plot_lr_range`` to see it.

    Args:
        step_fn: callable with no argument doing one training step, returning the loss.
        optimizer: the optimizer ``step_fn`` steps (its rate is overwritten during the sweep).
        model: the model (restored afterwards).
        start_lr (float, default 1e-7, > 0): first rate.
        end_lr (float, default 10, > start_lr): last rate.
        num_steps (int, default 100, >= 2): number of steps (the sweep may stop earlier).
        mode (str, default "exp"): "exp" (geometric, Smith's / fastai's) or "linear".
        smoothing (float, default 0.98, in [0, 1)): EMA factor; 0 = no smoothing.
        diverge_threshold (float, default 5, > 1): stop factor over the best smoothed loss.
        val_fn: optional callable returning a validation loss, recorded instead of the training loss.
        scheduler: optional scheduler attached to the optimizer, to restore afterwards.
        also_restore: objects with ``state_dict``/``load_state_dict`` to restore (GradScaler ...).

    >>> import torch, optimlab
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> w = torch.nn.Parameter(torch.tensor([3.0]))
    >>> model = torch.nn.Module(); model.w = w
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> def step():                      # noiseless quadratic, curvature 2: best rate 0.5
    ...     loss = (w ** 2).sum(); loss.backward(); opt.step(); opt.zero_grad(); return loss
    >>> res = optimlab.lr_range_test(step, opt, model, start_lr=1e-4, end_lr=10, num_steps=60, smoothing=0.0)
    >>> res.stop_reason, res.stop_lr > 1.0       # stops once past 2 / curvature
    ('diverged', True)
    >>> w.detach().item(), opt.param_groups[0]["lr"], opt.state_dict()["state"]   # all restored
    (3.0, 0.1, {})
    >>> 0.05 < optimlab.suggest_lr_min_div10(res) < 1.0   # between 1/(10 h) and 2/h
    True

    Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    arXiv:1506.01186.
    """
    owner = "lr_range_test"
    if not callable(step_fn):
        raise ValueError(f"{owner}: step_fn must be callable, got {step_fn!r}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"{owner}: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{owner}: model must be a torch.nn.Module, got {type(model).__name__}")
    check_range(owner, "start_lr", start_lr, 0.0, low_closed=False)
    check_range(owner, "end_lr", end_lr, start_lr, low_closed=False)
    check_int(owner, "num_steps", num_steps, 2)
    check_choice(owner, "mode", mode, ("exp", "linear"))
    check_range(owner, "smoothing", smoothing, 0.0, 1.0, high_closed=False)
    check_range(owner, "diverge_threshold", diverge_threshold, 1.0, low_closed=False)
    if val_fn is not None and not callable(val_fn):
        raise ValueError(f"{owner}: val_fn must be callable or None, got {val_fn!r}")
    extra = list(also_restore)
    for i, o in enumerate(extra):
        if not (hasattr(o, "state_dict") and hasattr(o, "load_state_dict")):
            raise ValueError(f"{owner}: also_restore[{i}] must have state_dict() and load_state_dict(), got {o!r}")

    lrs, losses, smoothed = [], [], []
    stop_reason, stop_lr = "completed", None
    snap = _Snapshot(model, optimizer, scheduler, extra)
    try:
        avg, best = 0.0, math.inf
        for i, lr in enumerate(_sweep(mode, float(start_lr), float(end_lr), num_steps)):
            _set_lr(optimizer, lr)
            loss = _as_loss(step_fn())
            if val_fn is not None:
                with torch.no_grad():
                    loss = _as_loss(val_fn())
            if not math.isfinite(loss):
                stop_reason, stop_lr = "non_finite", lr
                break
            avg = smoothing * avg + (1 - smoothing) * loss
            s = avg / (1 - smoothing ** (i + 1))
            lrs.append(lr)
            losses.append(loss)
            smoothed.append(s)
            best = min(best, s)
            if best > 0 and s > diverge_threshold * best:
                stop_reason, stop_lr = "diverged", lr
                break
    finally:
        snap.restore(model, optimizer, scheduler, extra)
    log.info("lr_range_test: %d steps, stop_reason=%s", len(lrs), stop_reason)
    return LRRangeResult(tuple(lrs), tuple(losses), tuple(smoothed), stop_reason, stop_lr, mode,
                         float(start_lr), float(end_lr), num_steps, float(smoothing), float(diverge_threshold),
                         val_fn is not None)


def supervised_step_fn(
    model: torch.nn.Module,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    *,
    device: Any = None,
    accumulation_steps: int = 1,
) -> Callable[[], float]:
    """A ``step_fn`` for the common case: ``(x, y)`` batches, ``loss_fn(model(x), y)``.

    Each call takes ``accumulation_steps`` batches (starting the iterable again when it is
    exhausted, e.g. a new epoch of a ``DataLoader``), backpropagates ``loss / accumulation_steps``
    for each, then ``optimizer.step()`` and ``zero_grad()``; it returns the mean loss.

    >>> import torch, optimlab
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
    >>> batches = [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(4)]
    >>> step = optimlab.supervised_step_fn(model, torch.nn.functional.mse_loss, opt, batches, accumulation_steps=2)
    >>> isinstance(step(), float)
    True
    """
    owner = "supervised_step_fn"
    check_int(owner, "accumulation_steps", accumulation_steps, 1)
    if not callable(loss_fn):
        raise ValueError(f"{owner}: loss_fn must be callable, got {loss_fn!r}")
    it = [iter(batches)]

    def next_batch():
        try:
            return next(it[0])
        except StopIteration:
            it[0] = iter(batches)
            try:
                return next(it[0])
            except StopIteration:
                raise ValueError(f"{owner}: batches must not be empty") from None

    def step() -> float:
        total = 0.0
        for _ in range(accumulation_steps):
            x, y = next_batch()
            if device is not None:
                x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y) / accumulation_steps
            loss.backward()
            total += float(loss.detach())
        optimizer.step()
        optimizer.zero_grad()
        return total

    return step


def lr_range_test_from_batches(
    model: torch.nn.Module,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    *,
    device: Any = None,
    accumulation_steps: int = 1,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.98,
    diverge_threshold: float = 5.0,
    val_batches: Optional[Iterable] = None,
    scheduler: Any = None,
) -> LRRangeResult:
    """:func:`lr_range_test` with :func:`supervised_step_fn`; ``val_batches`` (optional) gives
    the validation loss: the mean of ``loss_fn`` over all of them, in ``eval`` mode, per step.

    >>> import torch, optimlab
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.01)
    >>> batches = [(torch.randn(16, 3), torch.randn(16, 1)) for _ in range(8)]
    >>> res = optimlab.lr_range_test_from_batches(model, torch.nn.functional.mse_loss, opt, batches,
    ...                                           start_lr=1e-4, end_lr=10.0, num_steps=40)
    >>> res.lrs[0], len(res.losses) <= 40, opt.param_groups[0]["lr"]      # the optimizer is restored
    (0.0001, True, 0.01)
    """
    step = supervised_step_fn(model, loss_fn, optimizer, batches, device=device, accumulation_steps=accumulation_steps)
    val_fn = None
    if val_batches is not None:
        def val_fn():
            was = model.training
            model.eval()
            tot, n = 0.0, 0
            for x, y in val_batches:
                if device is not None:
                    x, y = x.to(device), y.to(device)
                tot += float(loss_fn(model(x), y))
                n += 1
            model.train(was)
            if n == 0:
                raise ValueError("lr_range_test_from_batches: val_batches must not be empty")
            return tot / n
    return lr_range_test(step, optimizer, model, start_lr=start_lr, end_lr=end_lr, num_steps=num_steps, mode=mode,
                         smoothing=smoothing, diverge_threshold=diverge_threshold, val_fn=val_fn, scheduler=scheduler)


# ----------------------------------------------------------------------------- suggestions
def _points(owner: str, result: LRRangeResult, need: int, skip_start: int, skip_end: int):
    if not isinstance(result, LRRangeResult):
        raise ValueError(f"{owner}: result must be an LRRangeResult, got {type(result).__name__}")
    check_int(owner, "skip_start", skip_start, 0)
    check_int(owner, "skip_end", skip_end, 0)
    lrs = list(result.lrs)[skip_start: len(result.lrs) - skip_end]
    ys = list(result.smoothed_losses)[skip_start: len(result.lrs) - skip_end]
    if len(lrs) < need:
        why = f"stop_reason={result.stop_reason!r}" + (f" at lr={result.stop_lr:g}" if result.stop_lr is not None else "")
        raise ValueError(
            f"{owner}: result must have >= {need} recorded points after skip_start={skip_start} and "
            f"skip_end={skip_end}, got {len(lrs)} ({len(result.lrs)} recorded, {why})"
        )
    return lrs, ys


def suggest_lr_steepest(result: LRRangeResult, *, skip_start: int = 0, skip_end: int = 0) -> float:
    r"""The rate where the smoothed loss falls fastest per decade: :math:`\arg\min_i
    d\bar\ell/d\log_{10}\eta` (central differences; one-sided at the ends).  Needs >= 3 points.

    The smoothed loss lags the raw one by about :math:`1/(1-\beta)` steps, which moves this
    point to larger rates; use ``smoothing`` small or ``skip_end`` if that matters.

    >>> import optimlab
    >>> res = optimlab.LRRangeResult.from_curve([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.2, 0.8, 3.0])
    >>> optimlab.suggest_lr_steepest(res)
    0.01
    """
    lrs, ys = _points("suggest_lr_steepest", result, 3, skip_start, skip_end)
    xs = [math.log10(v) for v in lrs]
    n = len(xs)
    grads = []
    for i in range(n):
        a, b = max(i - 1, 0), min(i + 1, n - 1)
        grads.append((ys[b] - ys[a]) / (xs[b] - xs[a]))
    return lrs[min(range(n), key=grads.__getitem__)]


def suggest_lr_valley(result: LRRangeResult, *, skip_start: int = 0, skip_end: int = 0) -> float:
    """fastai's "valley": find the longest strictly decreasing subsequence of the smoothed loss
    (its index span is the valley), and return the rate half-way into it (index
    ``start + floor(L/3) + floor(L/6)`` for a span of length ``L``).  Needs >= 3 points.

    The answer depends on where the descent starts: when the loss falls from the very first
    rate (noiseless problems, or a sweep started too late) the valley begins at ``start_lr`` and
    the suggestion is conservative (on a noiseless quadratic, 1/20 to 1/400 of the best rate).

    Reference: fastai ``lr_find(suggest_funcs=valley)`` (Z. Mueller's method, fastai 2.x).

    >>> import optimlab
    >>> res = optimlab.LRRangeResult.from_curve([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.2, 0.8, 3.0])
    >>> optimlab.suggest_lr_valley(res)
    0.001
    """
    lrs, ys = _points("suggest_lr_valley", result, 3, skip_start, skip_end)
    n = len(ys)
    length = [1] * n
    for i in range(1, n):
        for j in range(i):
            if ys[i] < ys[j] and length[j] + 1 > length[i]:
                length[i] = length[j] + 1
    end = max(range(n), key=lambda i: (length[i], -i))
    start = end - length[end] + 1
    span = end - start
    return lrs[start + span // 3 + span // 6]


def suggest_lr_min_div10(result: LRRangeResult, *, skip_start: int = 0, skip_end: int = 0) -> float:
    """One tenth of the rate at the minimum of the smoothed loss (fastai's ``minimum``
    suggestion, the rule of thumb of Smith's and Howard's courses).  Needs >= 2 points.

    >>> import optimlab
    >>> res = optimlab.LRRangeResult.from_curve([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.2, 0.8, 3.0])
    >>> optimlab.suggest_lr_min_div10(res)
    0.01
    """
    lrs, ys = _points("suggest_lr_min_div10", result, 2, skip_start, skip_end)
    return lrs[min(range(len(ys)), key=ys.__getitem__)] / 10.0


def suggest_clr_bounds(result: LRRangeResult, *, start_fraction: float = 0.1, end_fraction: float = 0.9,
                       skip_start: int = 0, skip_end: int = 0) -> tuple[float, float]:
    r"""Bounds for :class:`optimlab.schedules.Cyclic` read off the curve as Smith does.

    Smith takes ``base_lr`` where the loss starts to fall and ``max_lr`` where it stops falling
    (or becomes ragged).  With :math:`\bar\ell_0` the first smoothed loss, :math:`\bar\ell_*` the
    minimum before it and :math:`D = \bar\ell_0 - \bar\ell_*` the total drop: ``base_lr`` is the
    first rate whose smoothed loss is :math:`\le \bar\ell_0 - \text{start\_fraction}\,D` and
    ``max_lr`` the first rate with :math:`\le \bar\ell_0 - \text{end\_fraction}\,D` (before the
    ragged edge at the minimum).  Smith's alternative rule ``base_lr = max_lr / 3 .. / 4`` can be
    applied to the returned ``max_lr``.  Raises if the loss never fell.

    Args:
        start_fraction (float, default 0.1, in (0, 1)): drop fraction that marks the start.
        end_fraction (float, default 0.9, in (start_fraction, 1]): drop fraction for max_lr.

    >>> import optimlab
    >>> res = optimlab.LRRangeResult.from_curve([1e-4, 1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.2, 0.8, 3.0])
    >>> optimlab.suggest_clr_bounds(res)
    (0.01, 0.1)
    """
    owner = "suggest_clr_bounds"
    check_range(owner, "start_fraction", start_fraction, 0.0, 1.0, low_closed=False, high_closed=False)
    check_range(owner, "end_fraction", end_fraction, start_fraction, 1.0, low_closed=False)
    lrs, ys = _points(owner, result, 3, skip_start, skip_end)
    i_min = min(range(len(ys)), key=ys.__getitem__)
    drop = ys[0] - ys[i_min]
    if not drop > 0:
        raise ValueError(f"{owner}: the smoothed loss must fall below its first value {ys[0]:g}, "
                         f"got a minimum of {ys[i_min]:g} (no descent to read bounds from)")
    base = next(lrs[i] for i in range(i_min + 1) if ys[i] <= ys[0] - start_fraction * drop)
    top = next(lrs[i] for i in range(i_min + 1) if ys[i] <= ys[0] - end_fraction * drop)
    if not top > base:
        raise ValueError(f"{owner}: the descent must span more than one recorded rate, got base_lr = max_lr = {base:g} "
                         "(the loss dropped in a single step; use more num_steps or less smoothing)")
    return base, top
