"""Gain and Quality of the taxonomy's policies per budget and max order (paper Fig. 9).

For every (budget, max order) the BIP picks a policy; each target's Gain (win rate of its
chosen transfer vs scratch) and Quality (vs its fully supervised network) are read from the
wins tables. A supervised target is served by ``self`` (Quality 0.5 by definition).
"""
from __future__ import annotations

import math

from taskonomy.supervision import bip
from taskonomy.supervision.tables import TableSet


def gain_quality(policy: bip.Policy, tables: TableSet) -> dict[str, dict[str, float]]:
    """{'gain': {target: win rate vs scratch}, 'quality': {target: win rate vs self}} of a policy
    on ``tables`` (the ones it was made on), targets in name order; {} for a table the set lacks."""
    out = {}
    for name in ("gain", "quality"):
        if getattr(tables, name) is None:
            out[name] = {}
            continue
        vals = {t: getattr(c, name) for t, c in sorted(policy.targets.items())}
        missing = [f"{t} <- {' '.join(policy.targets[t].sources)}" for t, v in vals.items() if v is None]
        if missing:
            raise bip.QueryError(f"{tables.name}: no {name} row for {', '.join(missing)}")
        out[name] = {t: float(v) for t, v in vals.items()}
    return out


def grid(tables: TableSet, targets: list[str], budgets: list[int], max_orders: list[int],
         metric: str = "sqrt_affinity", source_only: list[str] = ()) -> list[dict]:
    """Rows: budget, max_order, target, sources, gain, quality (NaN where no table)."""
    rows = []
    for k in max_orders:
        for b in budgets:
            pol = bip.solve(tables, targets=list(targets), budget=b, max_order=k, metric=metric,
                            source_only=list(source_only))
            gq = gain_quality(pol, tables)
            for t in targets:
                rows.append({"budget": b, "max_order": k, "target": t,
                             "sources": " ".join(pol.targets[t].sources),
                             "gain": gq["gain"].get(t, math.nan),
                             "quality": gq["quality"].get(t, math.nan)})
    return rows
