"""All-for-one: generalisation to a novel task (paper Sec. 4.2, Fig. 10 left).

One task is the only target and is target-only (it has no task network, so neither ``self``
nor any transfer that reads its own encoder is allowed); every other task is a source. With a
single target the BIP's optimum is that target's best allowed transfer of order <= k (the
budget only has to cover the k sources), so the choice is made directly on the affinities;
this module reports the chosen transfer's Gain and Quality per novel task and max order.
"""
from __future__ import annotations

import math

from taskonomy.evaluation.policies import PolicyError, transfers_of
from taskonomy.supervision.tables import TableSet


def all_for_one(tables: TableSet, targets: list[str], max_orders: list[int]) -> list[dict]:
    """Rows: task, max_order, sources, order, affinity, quality, gain (NaN where no table)."""
    rows = []
    for t in targets:
        for k in max_orders:
            cands = transfers_of(tables.affinity, t, k, exclude=[t])
            if not cands:
                raise PolicyError(f"novel task {t}: no transfer of order <= {k} from other tasks "
                                  f"in {tables.affinity.name}")
            best = max(cands, key=lambda s: (tables.affinity.value(t, s), s))
            row = {"task": t, "max_order": k, "sources": " ".join(best), "order": len(best),
                   "affinity": tables.affinity.value(t, best)}
            for name in ("quality", "gain"):
                tab = getattr(tables, name)
                v = tab.value(t, best) if tab is not None else None
                row[name] = math.nan if v is None else v
            rows.append(row)
    return rows
