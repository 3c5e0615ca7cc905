"""Supervision policies as plain data, their Gain/Quality, and random feasible policies.

A policy says which tasks are fully supervised and, for every target, which source set
serves it: ``("self",)`` when the target is supervised, otherwise a transfer whose sources are
all supervised. This module scores any policy on any table of the shared schema (affinity,
Quality = wins_vs_task, Gain = wins_vs_pixels) and draws random feasible policies for the
significance test (paper Sec. 4.1, Fig. 11). Solving the BIP itself is
``taskonomy.supervision.bip``; :func:`solve` adapts its result to :class:`Assignment`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from taskonomy.supervision.tables import Table, TableSet, is_task
from taskonomy.tasks import TASKS

SELF = ("self",)


class PolicyError(ValueError):
    """An infeasible policy or a request no policy can meet; the message names the targets."""


@dataclass(frozen=True)
class Assignment:
    """Which tasks are supervised and which source set serves each target."""
    supervised: frozenset[str]
    chosen: dict[str, tuple[str, ...]] = field(hash=False)

    @property
    def cost(self) -> int:
        return len(self.supervised)

    def check(self, table: Table, targets: Iterable[str], budget: int, max_order: int) -> None:
        """Raise PolicyError unless the policy is feasible on ``table``."""
        problems = []
        if self.cost > budget:
            problems.append(f"{self.cost} supervised tasks exceed the budget {budget}")
        for t in targets:
            src = self.chosen.get(t)
            if src is None:
                problems.append(f"target {t} is not served")
            elif src == SELF:
                if t not in self.supervised:
                    problems.append(f"target {t} uses self but is not supervised")
            else:
                if table.value(t, src) is None:
                    problems.append(f"target {t}: no transfer from {' '.join(src)} in {table.name}")
                if len(src) > max_order:
                    problems.append(f"target {t}: order {len(src)} > {max_order}")
                missing = [s for s in src if s not in self.supervised]
                if missing:
                    problems.append(f"target {t}: sources {missing} are not supervised")
        if problems:
            raise PolicyError("infeasible policy: " + "; ".join(problems))


def transfer_value(table: Table, metric: str, target: str, sources: Sequence[str]) -> float:
    """Value of one (target <- sources) row under a metric; sqrt_affinity as the authors'."""
    from taskonomy.supervision.bip import edge_value
    v = table.value(target, sources)
    if v is None:
        raise PolicyError(f"{table.name}: no row for {target} <- {' '.join(sources)}")
    return float(edge_value(metric, v)) if metric == "sqrt_affinity" else float(v)


def metric_table(tables: TableSet, metric: str) -> Table:
    return tables.by_metric({"sqrt_affinity": "affinity"}.get(metric, metric))


def per_target(policy: Assignment, table: Table, metric: str = "value") -> dict[str, float]:
    """Value of the chosen row of every target (``metric`` only changes sqrt_affinity)."""
    return {t: transfer_value(table, metric, t, src) for t, src in sorted(policy.chosen.items())}


def objective(policy: Assignment, tables: TableSet, metric: str) -> float:
    """Sum over targets of the chosen transfers' values: the BIP objective (unit importance)."""
    return float(sum(per_target(policy, metric_table(tables, metric), metric).values()))


def gain_quality(policy: Assignment, tables: TableSet) -> dict[str, dict[str, float]]:
    """{'gain': {target: win rate vs scratch}, 'quality': {target: win rate vs self}}."""
    out = {}
    for name in ("gain", "quality"):
        table = getattr(tables, name)
        out[name] = per_target(policy, table) if table is not None else {}
    return out


# --------------------------------------------------------------------------- candidates

def default_targets(tables: TableSet, source_only: Iterable[str] = ()) -> list[str]:
    """Every task target of the table that is not source-only, in dictionary order (as the BIP)."""
    so, have = set(source_only), set(tables.affinity.task_targets)
    return [t for t in TASKS if t in have and t not in so]


def universe(tables: TableSet, targets: Iterable[str]) -> list[str]:
    """Tasks that can be supervised: the targets and every task that appears as a source."""
    tasks = set(targets) | {s for s in tables.affinity.sources() if is_task(s)}
    return sorted(tasks)


def transfers_of(table: Table, target: str, max_order: int,
                 exclude: Iterable[str] = ()) -> list[tuple[str, ...]]:
    """Source sets of ``target``'s transfers (tasks only, order <= max_order, no self)."""
    ex = set(exclude)
    return sorted(r.sources for r in table.for_target(target)
                  if r.sources != SELF and r.order <= max_order
                  and all(is_task(s) and s not in ex for s in r.sources))


class RandomPolicies:
    """Draws random feasible policies of a budget (paper Fig. 11's "random connectivities").

    A draw: ``budget`` tasks chosen uniformly from the supervisable tasks; supervised targets
    use their own network; every other target gets a transfer chosen uniformly from its
    transfers (order <= max_order) whose sources are all supervised. A supervised set that
    leaves some target without any allowed transfer is drawn again.
    """

    def __init__(self, tables: TableSet, targets: Sequence[str], budget: int, max_order: int,
                 supervisable: Sequence[str] | None = None):
        self.tables, self.targets = tables, list(targets)
        self.budget, self.max_order = budget, max_order
        self.supervisable = list(supervisable or universe(tables, targets))
        if budget < 1:
            raise PolicyError(f"budget {budget} < 1: nothing can be supervised")
        self.k = min(budget, len(self.supervisable))
        self.cands = {t: transfers_of(tables.affinity, t, max_order) for t in self.targets}
        self.max_tries = 10000

    def draw(self, rng: np.random.Generator) -> Assignment:
        for _ in range(self.max_tries):
            idx = rng.choice(len(self.supervisable), size=self.k, replace=False)
            sup = frozenset(self.supervisable[i] for i in idx)
            chosen: dict[str, tuple[str, ...]] = {}
            for t in self.targets:
                if t in sup:
                    chosen[t] = SELF
                    continue
                allowed = [c for c in self.cands[t] if sup.issuperset(c)]
                if not allowed:
                    break
                chosen[t] = allowed[rng.integers(len(allowed))]
            else:
                return Assignment(sup, chosen)
        raise PolicyError(f"no feasible random policy of budget {self.budget} found in "
                          f"{self.max_tries} draws (targets: {', '.join(self.targets)})")

    def sample(self, n: int, seed: int) -> list[Assignment]:
        rng = np.random.default_rng(seed)
        return [self.draw(rng) for _ in range(n)]


# --------------------------------------------------------------------------- the BIP

def solve(tables: TableSet, targets: Sequence[str], budget: int, max_order: int,
          metric: str = "sqrt_affinity", source_only: Sequence[str] = ()) -> Assignment:
    """The BIP optimum (taskonomy.supervision.bip) as an :class:`Assignment`."""
    from taskonomy.supervision import bip
    pol = bip.solve(tables, budget=budget, max_order=max_order, targets=list(targets),
                    metric=metric, source_only=list(source_only))
    return from_policy(pol)


def from_policy(pol) -> Assignment:
    """Adapt a ``taskonomy.supervision.bip.Policy``."""
    return Assignment(frozenset(pol.supervised), {t: tuple(c.sources) for t, c in pol.targets.items()})
