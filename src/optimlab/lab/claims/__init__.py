"""The lecture's claims, measured: each claim of ``shared/lecture.md`` as experiments on the lab's problems,
a verdict computed from the measurements (:mod:`.verdict`), figures, and one HTML report.

>>> from optimlab.lab.claims import run_claims          # doctest: +SKIP
>>> data = run_claims(only="4,9", mode="quick", out="optimlab-claims", workers=2)  # doctest: +SKIP
>>> [(c["claim_id"], c["verdict"]) for c in data["claims"]]  # doctest: +SKIP

Modes: ``tiny`` (CI: tiny problems, 2 seeds), ``quick`` (all claims in minutes on 2 cores), ``full``
(more seeds, longer runs, tighter intervals).  See :data:`.verdict.RULE` for the decision rule.
"""

from .base import MODES, Claim, Context, Mode
from .report import markdown_table, update_readme, write_claims_report
from .runner import all_claims, claim_ids, parse_only, run_claims
from .verdict import RULE, Effect, Verdict, combine, decide, holm, paired_effect, spread_interval, t_interval

__all__ = ["run_claims", "all_claims", "claim_ids", "parse_only", "markdown_table", "update_readme", "write_claims_report",
           "Claim", "Context", "Mode", "MODES", "Verdict", "Effect", "RULE", "t_interval", "spread_interval", "holm",
           "combine", "decide",
           "paired_effect"]
