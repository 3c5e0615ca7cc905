"""The supervision BIP of the paper (Sec. 3.4): which tasks to supervise, which to transfer.

Nodes are the tasks that may be supervised (the source set S), each with a label cost l_s.
Edges are the ways to solve a target t: supervising it (``self``, needs t supervised) or one
transfer of order k <= max_order from the table, which needs all k sources supervised. Each
target gets exactly one edge; the total label cost stays within the budget; the objective is
sum_t r_t * p(edge of t). Solved to proven optimality with python-mip (CBC).

    >>> from taskonomy.supervision import bip
    >>> p = bip.solve("paper-16k", budget=6, max_order=5)
    >>> p.supervised, p.targets["normal"].sources, p.objective
    >>> bip.evaluate("paper-16k", p.supervised, p.choice, budget=6, max_order=5)   # == p.objective
    >>> bip.random_policy("paper-16k", 0, budget=6, max_order=1)   # a random feasible policy

This module holds the one policy type (:class:`Policy`), the one feasibility check
(:func:`check_policy`, behind :func:`score`) and the one random feasible policy sampler
(:class:`RandomPolicies`); the evaluations (``taskonomy.evaluation``) use them too.

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
import time
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Iterable, Mapping

from taskonomy.supervision.tables import Table, TableSet, load
from taskonomy.tasks import SOURCE_ONLY, TASKS, resolve, resolve_all

if TYPE_CHECKING:
    import numpy as np

METRICS = ("sqrt_affinity", "affinity", "quality", "gain")
SQRT_CLIP = (1e-5, 1.0)
SELF = ("self",)
DEFAULT_BUDGET = 6
DEFAULT_MAX_ORDER = 5


class QueryError(ValueError):
    """A query the solver cannot accept (bad task, parameter or key); the message says which."""


class SolveTimeout(RuntimeError):
    """CBC did not prove optimality within the time limit given to :func:`solve`."""


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

    @property
    def choice(self) -> dict[str, tuple[str, ...]]:
        """Target -> its sources (``("self",)`` = supervised): what :func:`score` takes."""
        return {t: c.sources for t, c in self.targets.items()}

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


def default_targets(table: Table, source_only: Iterable[str] = SOURCE_ONLY) -> list[str]:
    """Every task the table has rows for that is not source-only, in dictionary order (so that
    printed policies and plots read the same for every table)."""
    so, have = set(source_only), set(table.task_targets)
    return [t for t in TASKS if t in have and t not in so]


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
        targets = default_targets(table, source_only)
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
                 solve_time: float, supervised: Iterable[str] | None = None) -> Policy:
    """The policy of the chosen edges; ``supervised`` (default: the tasks the edges use) may
    name unused tasks too, which count in ``cost_used``."""
    if supervised is None:
        supervised = {s for e in chosen.values() for s in e.requires}
    supervised = tuple(sorted(supervised, key=list(TASKS).index))
    targets = {}
    for t in query.targets:
        e = chosen[t]
        look = lambda tab: tab.value(t, e.sources) if tab is not None else None  # noqa: E731
        targets[t] = Choice(sources=e.sources, order=e.order, value=e.value, importance=query.r(t),
                            affinity=look(tables.affinity), gain=look(tables.gain),
                            quality=look(tables.quality))
    objective = sum(query.r(t) * chosen[t].value for t in query.targets)
    return Policy(objective=objective, status=status, supervised=supervised, targets=targets,
                  query=query, solve_time_s=solve_time, cost_used=sum(query.l(s) for s in supervised))


def solve(tables: TableSet | Table | str = "paper-16k", time_limit_s: float | None = None,
          **kwargs) -> Policy:
    """Optimal policy for a query (keyword arguments of :func:`make_query`).

    Raises InfeasibleError naming the targets that cannot be served, QueryError for bad input,
    SolveTimeout if ``time_limit_s`` (default: none) passes before CBC proves optimality.
    """
    ts = as_tableset(tables)
    query = make_query(ts, **kwargs)
    edges = candidate_edges(ts, query)
    chosen, elapsed = optimize(query, edges, time_limit_s)
    return _make_policy(ts, query, chosen, "optimal", elapsed)


def optimize(query: Query, edges: dict[str, list[Edge]],
             time_limit_s: float | None = None) -> tuple[dict[str, Edge], float]:
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
    status = m.optimize(max_seconds=time_limit_s if time_limit_s is not None else math.inf)
    elapsed = time.perf_counter() - t0
    if status == mip.OptimizationStatus.INFEASIBLE:
        per_target = {t: min(_edge_cost(query, e) for e in es) for t, es in edges.items()}
        raise InfeasibleError(
            f"infeasible query: every target can be served alone, but not all together within "
            f"budget {query.budget:g}; cheapest way per target: "
            + ", ".join(f"{t}={c:g}" for t, c in per_target.items()), targets=query.targets)
    if status != mip.OptimizationStatus.OPTIMAL and time_limit_s is not None and elapsed >= time_limit_s:
        raise SolveTimeout(f"CBC did not prove optimality within {time_limit_s:g} s (status {status.name})")
    if status != mip.OptimizationStatus.OPTIMAL:
        raise RuntimeError(f"CBC did not prove optimality: status {status.name}")
    chosen = {}
    for t, es in edges.items():
        k = max(range(len(es)), key=lambda i: x[t][i].x)
        chosen[t] = es[k]
    return chosen, elapsed


# ---------------------------------------------------------------- feasibility and scoring

def _not_allowed(query: Query, target: str, sources: tuple[str, ...]) -> str:
    """Why (target <- sources) is not among the query's candidate edges."""
    if sources == SELF:
        if target not in query.sources:
            return f"{target} may not be supervised: not in the source set"
        return f"no self row for {target} in table {query.table}"
    why = []
    if len(sources) > query.max_order:
        why.append(f"order {len(sources)} > max_order {query.max_order}")
    outside = [s for s in sources if s not in query.sources]
    if outside:
        why.append(f"source(s) {outside} outside the source set")
    return ", ".join(why) or f"no such transfer in table {query.table}"


def check_policy(query: Query, edges: dict[str, list[Edge]], supervised: set[str],
                 choice: Mapping[str, tuple[str, ...]]) -> dict[str, Edge]:
    """The feasibility check of any policy (scored, sampled): every target has one of its
    candidate edges, every task that edge needs is supervised, the supervised tasks are in the
    source set and their label cost is within the budget. Names must be domain ids and
    ``choice`` values sorted tuples (:func:`score` resolves them). Returns the chosen edge per
    target; raises QueryError naming every problem.
    """
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
        edge = next((e for e in edges[t] if e.sources == srcs), None)
        if edge is None:
            problems.append(f"{t} <- {' '.join(srcs)} is not an allowed edge "
                            f"({_not_allowed(query, t, srcs)})")
        elif not set(edge.requires) <= supervised:
            problems.append(f"{t} <- {' '.join(srcs)} needs {sorted(set(edge.requires) - supervised)} "
                            f"supervised")
        else:
            chosen[t] = edge
    if problems:
        raise QueryError("invalid policy: " + "; ".join(problems))
    return chosen


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
    chosen = check_policy(query, edges, supervised, choice)
    return _make_policy(ts, query, chosen, "evaluated", 0.0, supervised)


def evaluate(tables: TableSet | Table | str, supervised: Iterable[str],
             choice: Mapping[str, Iterable[str] | str], **kwargs) -> float:
    """Objective of any feasible policy (see :func:`score`)."""
    return score(tables, supervised, choice, **kwargs).objective


def rescore(tables: TableSet | Table | str, policy: Policy) -> float:
    """Recompute a policy's objective from its choices alone (a check of :func:`solve`)."""
    return evaluate(tables, policy.supervised, policy.choice, **policy.query.kwargs())


# ---------------------------------------------------------------- random feasible policies

class RandomPolicies:
    """Draws random feasible policies of a query (paper Fig. 11's "random connectivities").

    A draw: as many tasks as the budget can afford (``budget`` tasks at unit label costs) are
    chosen uniformly from the supervisable tasks (those of the source set that are a target or
    a source in the affinity table, in name order); a supervised target uses its own network;
    every other target gets a transfer chosen uniformly from its candidate transfers that the
    affinity table has (in name order) whose sources are all supervised. A draw that leaves a
    target without any allowed transfer is drawn again. With unequal label costs a drawn set
    over the budget first loses uniformly drawn tasks until it fits (at unit costs it always
    fits). Every policy passes :func:`check_policy`.

    This is the sampler of the significance test (``taskonomy.evaluation.significance``), with
    its draws and numpy stream unchanged. Transfers come from the affinity table whatever the
    metric, so that every random policy has Gain and Quality (the paper-16k Gain table has
    four order-2 ``nonfixated_pose`` transfers that its affinity and Quality tables lack).
    """

    def __init__(self, tables: TableSet | Table | str, max_tries: int = 10000, **kwargs):
        self.tables = as_tableset(tables)
        self.query = q = make_query(self.tables, **kwargs)
        self.edges = candidate_edges(self.tables, q)
        _check_servable(q, self.edges)
        aff = self.tables.affinity
        seen = set(q.targets) | {s for r in aff.rows for s in r.sources}
        self.supervisable = sorted(t for t in q.sources if t in seen)
        # the most tasks the budget can buy (the cheapest ones): min(budget, tasks) at unit costs
        costs = accumulate(sorted(q.l(s) for s in self.supervisable))
        self.k = sum(1 for c in costs if c <= q.budget + 1e-9)   # >= 1: every target is servable
        self.own = {t for t, es in self.edges.items() if any(e.sources == SELF for e in es)}
        self.transfers = {t: sorted(e.sources for e in es if e.sources != SELF
                                    and aff.value(t, e.sources) is not None)
                          for t, es in self.edges.items()}
        self.max_tries = max_tries

    def draw(self, rng: np.random.Generator) -> Policy:
        q = self.query
        for _ in range(self.max_tries):
            idx = rng.choice(len(self.supervisable), size=self.k, replace=False)
            drawn = [self.supervisable[i] for i in idx]
            while sum(q.l(s) for s in drawn) > q.budget + 1e-9:   # never at unit label costs
                drawn.pop(rng.integers(len(drawn)))
            sup = frozenset(drawn)
            choice: dict[str, tuple[str, ...]] = {}
            for t in q.targets:
                if t in sup and t in self.own:
                    choice[t] = SELF
                    continue
                allowed = [c for c in self.transfers[t] if sup.issuperset(c)]
                if not allowed:
                    break
                choice[t] = allowed[rng.integers(len(allowed))]
            else:
                chosen = check_policy(q, self.edges, sup, choice)
                return _make_policy(self.tables, q, chosen, "random", 0.0, sup)
        raise InfeasibleError(f"no feasible random policy of budget {q.budget:g} found in "
                              f"{self.max_tries} draws (targets: {', '.join(q.targets)})", q.targets)

    def sample(self, n: int, seed: int) -> list[Policy]:
        import numpy as np
        rng = np.random.default_rng(seed)
        return [self.draw(rng) for _ in range(n)]


def random_policy(tables: TableSet | Table | str, rng: np.random.Generator | int = 0,
                  **kwargs) -> Policy:
    """One random feasible policy of a query (keyword arguments of :func:`make_query`) drawn by
    :class:`RandomPolicies` from ``rng`` (a numpy Generator, or the seed of a new one)."""
    import numpy as np
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return RandomPolicies(tables, **kwargs).draw(rng)
