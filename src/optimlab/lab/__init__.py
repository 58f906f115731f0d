"""optimlab.lab: problems, reproducible runs, crash-safe sweeps, comparisons and reports.

Needs the ``optimlab[lab]`` extra (numpy, scikit-learn, matplotlib, tqdm); ``import optimlab``
never imports this package.

Problems
--------
``available_problems()`` lists the names; ``make_problem(name, seed, size="default"|"tiny", **kw)``
builds a :class:`Problem` (model, ``next_batch(step)``, ``loss_fn(model, batch)``,
``evaluate(model) -> dict``, ``select_metric``/``select_mode``, optional ``train_step``,
``post_step``, ``param_sets``, ``difficulty``, ``meta``).  ``problem_info(name)`` gives the family
and default/tiny step counts.  Built-ins: rosenbrock, beale, himmelblau, saddle, rastrigin (2-D,
``jitter``, ``noise``), quadratic (``cond``, ``dim``, ``noise``), reddi (``C``, ``variant``),
digits_logreg, digits_mlp, digits_cnn (``batch_size``, ``split_seed``), deep_mlp (``depth``,
``width``), curriculum (``order="random"|"easy"|"hard"``, ``start_frac``, ``pace_steps``;
``problem.difficulty``), sequence (tiny Transformer; ``task="reverse"|"sort"|"copy"``), gan.
Your own: ``"package.module:function"`` where ``function(seed, **kw)`` returns a Problem;
:func:`make_classification_problem` builds one from a model and ``(X, y)`` tensors.

Specs and runs
--------------
>>> from optimlab.lab import RunSpec, run
>>> spec = RunSpec(problem="rosenbrock", optimizer="adam", lr=0.05, steps=20, eval_every=10,
...                seed=0, problem_kwargs={"size": "tiny"}, probes=("params",))
>>> RunSpec.from_json(spec.to_json()) == spec
True
>>> res = run(spec)                       # or run(spec, out_dir) to write the run directory
>>> res.status, len(res.train_loss), res.evals["step"]
('ok', 20, [0, 10, 20])

``RunSpec`` fields: problem, optimizer, lr, steps, eval_every, seed, optimizer_kwargs,
problem_kwargs, schedule (``{"name", "kwargs"}`` for ``optimlab.schedules.from_dict``; its values
are the learning rates), momentum_schedule, probes (``"params"``, ``"lr"``, ``"grad_norm"`` or
``"package.module:function"`` called ``fn(step, model, optimizer) -> dict``), probe_every,
target_loss, tag.  ``spec.key()`` is its hash (the directory name and results key).

``RunResult`` (JSON-able dataclass, in ``optimlab.lab.result``): spec, key, status ("ok" | "diverged" | "failed"),
diverged_step, error (traceback), steps_done, train_loss (per-step list), evals
(``{"step": [...], "val_acc": [...], ...}``), probes (``{"step": [...], "params": [[x, y], ...]}``),
final (last evaluation), summary (select_metric, best_value, best_step, test_acc_at_best,
test_loss_at_best, final_train_loss, gap, steps_to_target), time_per_step, wall_time, sources
(fingerprints of the user code the spec names).
``result.curve("val_loss")`` -> (steps, values).

Sweeps and storage
------------------
``run_sweep(specs, root, workers=2, progress=True)`` runs any list of specs (``grid(...)`` builds
problem x optimizers x lrs x seeds; ``lr_grid(trials, low, high)`` a log grid; ``run_defaults``
the steps, evaluation interval and probes a problem gets unless told), skipping finished ones,
and returns ``{key: RunResult}``; ``load_results(root[, specs])`` reads them back.  Layout:
``root/runs/<key>/{spec.json, metrics.jsonl, result.json}``; result.json is written last and
atomically, so a killed sweep resumes losing nothing.  Names, keyword arguments and values are
checked before any run (``check_specs``).  A failed run is retried by the next sweep
(``retry_failed=False`` keeps the record), and so is a run whose ``"package.module:function"``
problem or probe has changed source since.  An unreadable result.json is named in a warning and
redone.  Ctrl-C raises ``SweepInterrupted`` (a ``KeyboardInterrupt``) within about a second,
workers stopped, finished runs kept.  Several processes may share one results folder: each run is
written under its own lock (``root/.locks``).  Reading a folder never imports or calls anything
named in it.  Every event of a sweep (start, finish, fail: time, worker, run key) goes to
``root/progress.log``.

Executors and tracking
----------------------
Where runs execute: ``executor="local"`` (the default: inline for ``workers=1``, else a pool of
``workers`` processes) or ``"ray"`` (each run a Ray task on ``address``, ``RAY_ADDRESS`` or a local
instance; ``optimlab[ray]``), or an ``Executor`` object (``optimlab.lab.executors``,
``optimlab.lab.ray_executor.RayExecutor(address, max_retries=3)``).  Whatever the executor, this
process writes the results folder from the results the workers return.  ``track=("mlflow",
"tensorboard")`` also records every run in MLflow (``tracking_uri``, ``experiment``) and in
TensorBoard event files (``optimlab[track]``; see ``optimlab.lab.tracking``).  ``run_sweep``,
``compare`` and ``run_claims`` all take ``executor``, ``address``, ``track``, ``tracking_uri`` and
``experiment``.

Comparison and report
---------------------
``compare(problem, optimizers, out=..., trials=..., seeds=...)`` tunes the lr of each optimizer
with the same budget (choosing on validation), reruns nothing already done, and returns a
``Comparison`` (results, chosen lrs, leaderboard rows); it is ``plan_comparison`` (options checked,
grids decided) then ``run_comparison``.  ``leaderboard(results)`` / ``choose_lrs(results)``
aggregate any results (``score`` and ``tail_loss`` are the rules they share with the claims);
``write_report(root)`` writes ``root/report/index.html`` with PNG figures and CSV/JSON tables.
"""

from .problems import (
    Problem,
    ProblemInfo,
    available_problems,
    load_callable,
    make_problem,
    problem_info,
    register_problem,
)
from .problems.classification import make_classification_problem
from .compare import (
    Comparison, ComparePlan, choose_lrs, compare, group_results, leaderboard, lr_find, plan_comparison, run_comparison,
)
from .report import write_report
from .result import RunResult, score, steps_to_target, summarize, tail_loss
from .runner import run, seed_everything, train_step
from .spec import RunSpec, grid, lr_grid, run_defaults
from .store import load_result, load_results, run_dir
from .sweep import SweepInterrupted, check_specs, run_sweep

__all__ = [
    "Problem", "ProblemInfo", "available_problems", "make_problem", "problem_info", "register_problem",
    "load_callable", "make_classification_problem",
    "RunSpec", "grid", "lr_grid", "run_defaults", "RunResult", "run", "train_step", "seed_everything", "summarize",
    "steps_to_target", "tail_loss", "score",
    "run_sweep", "check_specs", "SweepInterrupted", "load_result", "load_results", "run_dir",
    "Comparison", "ComparePlan", "compare", "plan_comparison", "run_comparison", "lr_find", "leaderboard",
    "choose_lrs", "group_results", "write_report",
]
