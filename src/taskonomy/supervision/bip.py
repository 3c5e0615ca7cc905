"""The supervision BIP of the paper (Sec. 3.4): which tasks to supervise, which to transfer.

Nodes are the tasks that may be supervised (the source set S), each with a label cost l_s.
Edges are the ways to solve a target t: supervising it (``self``, needs t supervised) or one
transfer of order k <= max_order from the table, which needs all k sources supervised. Each
target gets exactly one edge; the total label cost stays within the budget; the objective is
sum_t r_t * p(edge of t). Solved to proven optimality with python-mip (CBC).

    >>> from taskonomy.supervision import bip
    >>> p = bip.solve("paper-16k", budget=6, max_order=5)
    >>> p.supervised, p.targets["normal"].sources, p.objective
    >>> bip.evaluate("paper-16k", p.supervised, {t: c.sources for t, c in p.targets.items()},
    ...              budget=6, max_order=5)          # == p.objective

Value of an edge (``metric``): ``sqrt_affinity`` (default, as the authors' solver: the square
root of the AHP affinity clipped to [1e-5, 1]; supervising t is worth sqrt(affinity of self)),
``affinity`` (raw), ``quality`` or ``gain`` (the win-rate tables; self = 0.5 in Quality).

Modelling choices, documented because the paper leaves them open:

- Supervising a task and solving it are separate, as in the paper's A matrix: a supervised task
  may still be solved by a transfer if that is worth more (Fig. 8's full-budget columns).
- ``pixels`` rows (training from scratch) are the Gain reference, not a policy option, and
  ``class_selected`` is not a task of the dictionary: edges using either are never candidates.
- A target outside S (``sources``) cannot be supervised: it must be served by a transfer.
- Tasks supervised in the solver's answer but used by no edge (ties) are dropped from
  ``Policy.supervised``; that never lowers the objective and only frees budget.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

from taskonomy.supervision.tables import Table, TableSet, load
from taskonomy.tasks import SOURCE_ONLY, TASKS, resolve, resolve_all

METRICS = ("sqrt_affinity", "affinity", "quality", "gain")
SQRT_CLIP = (1e-5, 1.0)
SELF = ("self",)
DEFAULT_BUDGET = 6
DEFAULT_MAX_ORDER = 5


class QueryError(ValueError):
    """A query the solver cannot accept (bad task, parameter or key); the message says which."""


class InfeasibleError(QueryError):
    """No policy serves every target within the budget; ``targets`` names those that fail."""

    def __init__(self, message: str, targets: Iterable[str] = ()):
        super().__init__(message)
        self.targets = tuple(targets)


@dataclass(frozen=True)
class Query:
    """A fully resolved query (domain ids, defaults filled): what a policy was solved for."""
    table: str
    targets: tuple[str, ...]
    sources: tuple[str, ...]          # tasks that may be supervised (S)
    source_only: tuple[str, ...]      # never targets
    budget: float
    max_order: int
    metric: str = "sqrt_affinity"
    importance: dict[str, float] = field(default_factory=dict)   # r_t, default 1
    cost: dict[str, float] = field(default_factory=dict)         # l_s, default 1

    def r(self, target: str) -> float:
        return self.importance.get(target, 1.0)

    def l(self, task: str) -> float:
        return self.cost.get(task, 1.0)

    def kwargs(self) -> dict:
        """Keyword arguments that rebuild this query with :func:`make_query`."""
        d = asdict(self)
        d.pop("table")
        return d


@dataclass(frozen=True)
class Edge:
    target: str
    sources: tuple[str, ...]          # ("self",) for supervising the target
    value: float                      # p: the metric value (before importance)

    @property
    def requires(self) -> tuple[str, ...]:
        return (self.target,) if self.sources == SELF else self.sources

    @property
    def order(self) -> int:
        return 0 if self.sources == SELF else len(self.sources)


@dataclass
class Choice:
    """How one target is solved in a policy."""
    sources: tuple[str, ...]          # ("self",) = fully supervised
    order: int                        # 0 = fully supervised, else transfer order
    value: float                      # metric value p of the edge
    importance: float
    affinity: float | None = None     # raw AHP affinity of the edge
    gain: float | None = None         # win rate vs scratch (None where the table lacks it)
    quality: float | None = None      # win rate vs the fully supervised network


@dataclass
class Policy:
    objective: float
    status: str                       # "optimal" (proven by CBC), or "evaluated"
    supervised: tuple[str, ...]
    targets: dict[str, Choice]
    query: Query
    solve_time_s: float = 0.0
    cost_used: float = 0.0

    def to_dict(self) -> dict:
        return {
            "objective": self.objective, "status": self.status, "supervised": list(self.supervised),
            "cost_used": self.cost_used, "solve_time_s": self.solve_time_s,
            "targets": {t: {**asdict(c), "sources": list(c.sources)} for t, c in self.targets.items()},
            "query": asdict(self.query),
        }


# ---------------------------------------------------------------- query and candidate edges

def as_tableset(tables: TableSet | Table | str) -> TableSet:
    if isinstance(tables, TableSet):
        return tables
    if isinstance(tables, Table):
        return TableSet(name=tables.name, affinity=tables)
    return load(tables)


def _nonnegative(v, what: str) -> float:
    """``v`` as a finite float >= 0, or a QueryError naming ``what``."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise QueryError(f"{what} must be a number, got {v!r}") from None
    if not math.isfinite(v) or v < 0:
        raise QueryError(f"{what} must be a finite number >= 0, got {v}")
    return v


def _resolve_map(d: Mapping[str, float] | None, what: str) -> dict[str, float]:
    out = {}
    for k, v in (d or {}).items():
        v = _nonnegative(v, f"{what} of {k!r}")   # the value is checked before the name, as always
        out[resolve_all([k])[0]] = v
    return out


def make_query(tables: TableSet | Table | str, targets: Iterable[str] | None = None,
               budget: float = DEFAULT_BUDGET, max_order: int = DEFAULT_MAX_ORDER,
               importance: Mapping[str, float] | None = None, cost: Mapping[str, float] | None = None,
               sources: Iterable[str] | None = None, source_only: Iterable[str] | None = None,
               metric: str = "sqrt_affinity") -> Query:
    """Resolve names (either spelling), fill defaults and check every parameter."""
    ts = as_tableset(tables)
    if metric not in METRICS:
        raise QueryError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    table = ts.by_metric(metric)
    source_only = tuple(resolve_all(source_only)) if source_only is not None else SOURCE_ONLY
    if targets is None:
        # dictionary order, so that printed policies and plots read the same for every table
        targets = [t for t in TASKS if t not in source_only and table.for_target(t)]
    else:
        targets = list(dict.fromkeys(resolve_all(targets)))
    if not targets:
        raise QueryError("no targets")
    bad = [t for t in targets if t in source_only]
    if bad:
        raise QueryError(f"source-only task(s) cannot be targets: {', '.join(bad)} "
                         f"(source-only: {', '.join(source_only)})")
    missing = [t for t in targets if not table.for_target(t)]
    if missing:
        raise QueryError(f"target(s) {', '.join(missing)} have no rows in table {table.name} "
                         f"(its targets: {', '.join(table.task_targets)})")
    sources = tuple(dict.fromkeys(resolve_all(sources))) if sources is not None else tuple(TASKS)
    budget = _nonnegative(budget, "budget")
    if int(max_order) != max_order or max_order < 1:
        raise QueryError(f"max_order must be an integer >= 1, got {max_order!r}")
    importance = _resolve_map(importance, "importance")
    not_targets = [t for t in importance if t not in targets]
    if not_targets:
        raise QueryError(f"importance given for non-target(s): {', '.join(not_targets)}")
    cost = _resolve_map(cost, "cost")
    return Query(table=ts.name, targets=tuple(targets), sources=sources, source_only=source_only,
                 budget=budget, max_order=int(max_order), metric=metric, importance=importance,
                 cost=cost)


def edge_value(metric: str, raw: float) -> float:
    if metric == "sqrt_affinity":
        return math.sqrt(min(max(raw, SQRT_CLIP[0]), SQRT_CLIP[1]))
    return raw


def candidate_edges(tables: TableSet | Table | str, query: Query) -> dict[str, list[Edge]]:
    """Per target, every edge the query allows (self first, then transfers in table order)."""
    table = as_tableset(tables).by_metric(query.metric)
    allowed = set(query.sources)
    out: dict[str, list[Edge]] = {}
    for t in query.targets:
        edges = []
        for r in table.for_target(t):
            if r.sources == SELF:
                if t in allowed:
                    edges.insert(0, Edge(t, SELF, edge_value(query.metric, r.value)))
            elif r.order <= query.max_order and all(s in allowed for s in r.sources):
                edges.append(Edge(t, r.sources, edge_value(query.metric, r.value)))
        out[t] = edges
    return out


def _edge_cost(query: Query, e: Edge) -> float:
    return sum(query.l(s) for s in e.requires)


def _check_servable(query: Query, edges: dict[str, list[Edge]]) -> None:
    """Name every target that no single edge can serve within the budget."""
    bad = []
    for t, es in edges.items():
        if not es:
            bad.append(f"{t} (no transfer of order <= {query.max_order} from the allowed sources"
                       f"{'' if t in query.sources else ', and it may not be supervised'})")
            continue
        cheapest = min(_edge_cost(query, e) for e in es)
        if cheapest > query.budget + 1e-9:
            bad.append(f"{t} (cheapest way costs {cheapest:g} > budget {query.budget:g})")
    if bad:
        raise InfeasibleError("infeasible query: these targets cannot be served:\n  "
                              + "\n  ".join(bad), targets=[b.split(" ", 1)[0] for b in bad])


# ---------------------------------------------------------------- solve and score

def _make_policy(tables: TableSet, query: Query, chosen: dict[str, Edge], status: str,
                 solve_time: float) -> Policy:
    used = sorted({s for e in chosen.values() for s in e.requires}, key=list(TASKS).index)
    targets = {}
    for t in query.targets:
        e = chosen[t]
        look = lambda tab: tab.value(t, e.sources) if tab is not None else None  # noqa: E731
        targets[t] = Choice(sources=e.sources, order=e.order, value=e.value, importance=query.r(t),
                            affinity=look(tables.affinity), gain=look(tables.gain),
                            quality=look(tables.quality))
    objective = sum(query.r(t) * chosen[t].value for t in query.targets)
    return Policy(objective=objective, status=status, supervised=tuple(used), targets=targets,
                  query=query, solve_time_s=solve_time, cost_used=sum(query.l(s) for s in used))


def solve(tables: TableSet | Table | str = "paper-16k", **kwargs) -> Policy:
    """Optimal policy for a query (keyword arguments of :func:`make_query`).

    Raises InfeasibleError naming the targets that cannot be served, QueryError for bad input.
    """
    ts = as_tableset(tables)
    query = make_query(ts, **kwargs)
    edges = candidate_edges(ts, query)
    chosen, elapsed = optimize(query, edges)
    return _make_policy(ts, query, chosen, "optimal", elapsed)


def optimize(query: Query, edges: dict[str, list[Edge]]) -> tuple[dict[str, Edge], float]:
    """Solve the BIP on given candidate edges: (chosen edge per target, seconds to build + solve).

    Works on any task names (the benchmark feeds it synthetic dictionaries); :func:`solve` is
    the checked entry point.
    """
    import mip  # imported here: the CLI's --help and the table tools do not need CBC

    _check_servable(query, edges)
    t0 = time.perf_counter()
    m = mip.Model(sense=mip.MAXIMIZE, solver_name=mip.CBC)
    m.verbose = 0
    m.threads = 1
    nodes = sorted({s for es in edges.values() for e in es for s in e.requires})
    y = {s: m.add_var(var_type=mip.BINARY) for s in nodes}
    x = {t: [m.add_var(var_type=mip.BINARY) for _ in es] for t, es in edges.items()}
    m.objective = mip.xsum(query.r(t) * e.value * v for t, es in edges.items()
                           for e, v in zip(es, x[t]))
    for t, es in edges.items():
        m += mip.xsum(x[t]) == 1                       # Constraint II: one way per target
        # Constraint I, aggregated per (target, source): at most one edge of t is chosen, so
        # "sum of t's edges that need s <= y_s" is exact and as tight as one row per edge.
        need: dict[str, list] = {}
        for e, v in zip(es, x[t]):
            for s in e.requires:
                need.setdefault(s, []).append(v)
        for s, vs in need.items():
            m += mip.xsum(vs) <= y[s]
    m += mip.xsum(query.l(s) * y[s] for s in nodes) <= query.budget   # Constraint III
    status = m.optimize()
    elapsed = time.perf_counter() - t0
    if status == mip.OptimizationStatus.INFEASIBLE:
        per_target = {t: min(_edge_cost(query, e) for e in es) for t, es in edges.items()}
        raise InfeasibleError(
            f"infeasible query: every target can be served alone, but not all together within "
            f"budget {query.budget:g}; cheapest way per target: "
            + ", ".join(f"{t}={c:g}" for t, c in per_target.items()), targets=query.targets)
    if status != mip.OptimizationStatus.OPTIMAL:
        raise RuntimeError(f"CBC did not prove optimality: status {status.name}")
    chosen = {}
    for t, es in edges.items():
        k = max(range(len(es)), key=lambda i: x[t][i].x)
        chosen[t] = es[k]
    return chosen, elapsed


def score(tables: TableSet | Table | str, supervised: Iterable[str],
          choice: Mapping[str, Iterable[str] | str], **kwargs) -> Policy:
    """Check any policy against a query and compute its objective (raises QueryError if invalid).

    ``choice`` maps every target to its sources (``"self"`` or ``("self",)`` = supervised);
    names in either spelling. ``supervised`` may include unused tasks; they count in the budget.
    """
    ts = as_tableset(tables)
    query = make_query(ts, **kwargs)
    edges = candidate_edges(ts, query)
    supervised = set(resolve_all(supervised))
    choice = {resolve(t): (SELF if s in ("self", SELF, ["self"]) else
                           tuple(sorted(resolve_all([s] if isinstance(s, str) else s))))
              for t, s in choice.items()}
    problems = []
    if set(choice) != set(query.targets):
        problems.append(f"targets {sorted(set(query.targets) - set(choice))} have no choice, "
                        f"{sorted(set(choice) - set(query.targets))} are not targets")
    outside = sorted(supervised - set(query.sources))
    if outside:
        problems.append(f"supervised tasks not in the source set: {outside}")
    cost = sum(query.l(s) for s in supervised)
    if cost > query.budget + 1e-9:
        problems.append(f"supervision cost {cost:g} exceeds budget {query.budget:g}")
    chosen = {}
    for t in query.targets:
        srcs = choice.get(t)
        if srcs is None:
            continue
        match = [e for e in edges[t] if e.sources == srcs]
        if not match:
            problems.append(f"{t} <- {' '.join(srcs)} is not an allowed edge (not in the table, "
                            f"order > {query.max_order}, or a source outside the source set)")
        elif not set(match[0].requires) <= supervised:
            problems.append(f"{t} <- {' '.join(srcs)} needs {sorted(set(match[0].requires) - supervised)} "
                            f"supervised")
        else:
            chosen[t] = match[0]
    if problems:
        raise QueryError("invalid policy: " + "; ".join(problems))
    policy = _make_policy(ts, query, chosen, "evaluated", 0.0)
    policy.supervised = tuple(sorted(supervised, key=list(TASKS).index))
    policy.cost_used = cost
    return policy


def evaluate(tables: TableSet | Table | str, supervised: Iterable[str],
             choice: Mapping[str, Iterable[str] | str], **kwargs) -> float:
    """Objective of any feasible policy (see :func:`score`)."""
    return score(tables, supervised, choice, **kwargs).objective


def rescore(tables: TableSet | Table | str, policy: Policy) -> float:
    """Recompute a policy's objective from its choices alone (a check of :func:`solve`)."""
    return evaluate(tables, policy.supervised, {t: c.sources for t, c in policy.targets.items()},
                    **policy.query.kwargs())


def random_policy(tables: TableSet | Table | str, rng: random.Random | int = 0,
                  tries: int = 1000, **kwargs) -> Policy:
    """A uniformly drawn feasible policy (random target order, random affordable edge each),
    for significance tests against random connectivities (paper Fig. 11)."""
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    ts = as_tableset(tables)
    query = make_query(ts, **kwargs)
    edges = candidate_edges(ts, query)
    _check_servable(query, edges)
    for _ in range(tries):
        order = list(query.targets)
        rng.shuffle(order)
        sup: set[str] = set()
        chosen = {}
        for t in order:
            ok = [e for e in edges[t]
                  if sum(query.l(s) for s in sup | set(e.requires)) <= query.budget + 1e-9]
            if not ok:
                break
            chosen[t] = rng.choice(ok)
            sup |= set(chosen[t].requires)
        else:
            return _make_policy(ts, query, chosen, "random", 0.0)
    raise InfeasibleError(f"no random feasible policy found in {tries} tries", query.targets)
