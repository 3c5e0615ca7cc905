"""All-for-one: generalisation to a novel task (paper Sec. 4.2, Fig. 10 left).

One task is the only target and is target-only (it has no task network, so neither ``self``
nor any transfer that reads its own encoder is allowed); every other task is a source. With a
single target the BIP's optimum is that target's best allowed transfer of order <= k (the
budget only has to cover the k sources), so the choice is made directly on the affinities;
this module reports the chosen transfer's Gain and Quality per novel task and max order.
"""
from __future__ import annotations

import math

from taskonomy.supervision import bip
from taskonomy.supervision.tables import TableSet
from taskonomy.tasks import TASKS


def all_for_one(tables: TableSet, targets: list[str], max_orders: list[int]) -> list[dict]:
    """Rows: task, max_order, sources, order, affinity, quality, gain (NaN where no table)."""
    rows = []
    for t in targets:
        for k in max_orders:
            # the BIP's candidate edges of t as the only target, every other task a source
            query = bip.make_query(tables, targets=[t], sources=[s for s in TASKS if s != t],
                                   max_order=k, metric="affinity", source_only=[])
            cands = bip.candidate_edges(tables, query)[t]
            if not cands:
                raise bip.InfeasibleError(f"novel task {t}: no transfer of order <= {k} from other "
                                          f"tasks in {tables.affinity.name}", [t])
            best = max(cands, key=lambda e: (e.value, e.sources)).sources
            row = {"task": t, "max_order": k, "sources": " ".join(best), "order": len(best),
                   "affinity": tables.affinity.value(t, best)}
            for name in ("quality", "gain"):
                tab = getattr(tables, name)
                v = tab.value(t, best) if tab is not None else None
                row[name] = math.nan if v is None else v
            rows.append(row)
    return rows
