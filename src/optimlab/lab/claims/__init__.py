"""The lecture's claims, measured: each claim of ``shared/lecture.md`` as experiments on the lab's problems,
a verdict computed from the measurements (:mod:`.verdict`), figures, and one HTML report.

>>> from optimlab.lab.claims import run_claims          # doctest: +SKIP
>>> data = run_claims(only="2,9", mode="quick", out="optimlab-claims", workers=2)  # doctest: +SKIP
>>> [(c["claim_id"], c["kind"], c["verdict"]) for c in data["claims"]]  # doctest: +SKIP
>>> run_claims(mode="quick", problem="my_model:build", out="mine")  # the claims that apply to your problem  # doctest: +SKIP

Modes: ``tiny`` (CI: tiny problems, 2 seeds), ``quick`` (MNIST-1D, Wilson's construction and the
mechanism demonstrations, 5 seeds, minutes on 2 cores), ``full`` (10 seeds, more trials, longer runs,
adds the MNIST-1D CNN, Fashion-MNIST and the char-level LM).  :mod:`.tuning` is the tuning protocol,
:data:`.verdict.RULE` the decision rule; claims 4, 5 and 16 are mechanism demonstrations.
"""

from .base import MODES, Claim, Context, Mode
from .report import markdown_table, update_readme, write_claims_report
from .runner import all_claims, claim_ids, parse_only, run_claims
from .verdict import RULE, Effect, Verdict, combine, decide, holm, paired_effect, spread_interval, t_interval

__all__ = ["run_claims", "all_claims", "claim_ids", "parse_only", "markdown_table", "update_readme", "write_claims_report",
           "Claim", "Context", "Mode", "MODES", "Verdict", "Effect", "RULE", "t_interval", "spread_interval", "holm",
           "combine", "decide",
           "paired_effect"]
