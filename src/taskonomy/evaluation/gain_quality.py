"""Gain and Quality of the taxonomy's policies per budget and max order (paper Fig. 9).

For every (budget, max order) the BIP picks a policy; each target's Gain (win rate of its
chosen transfer vs scratch) and Quality (vs its fully supervised network) are read from the
wins tables. A supervised target is served by ``self`` (Quality 0.5 by definition).
"""
from __future__ import annotations

import math

from taskonomy.evaluation.policies import gain_quality, solve
from taskonomy.supervision.tables import TableSet


def grid(tables: TableSet, targets: list[str], budgets: list[int], max_orders: list[int],
         metric: str = "sqrt_affinity", source_only: list[str] = ()) -> list[dict]:
    """Rows: budget, max_order, target, sources, gain, quality (NaN where no table)."""
    rows = []
    for k in max_orders:
        for b in budgets:
            pol = solve(tables, targets, b, k, metric, source_only)
            gq = gain_quality(pol, tables)
            for t in targets:
                rows.append({"budget": b, "max_order": k, "target": t,
                             "sources": " ".join(pol.chosen[t]),
                             "gain": gq["gain"].get(t, math.nan),
                             "quality": gq["quality"].get(t, math.nan)})
    return rows
