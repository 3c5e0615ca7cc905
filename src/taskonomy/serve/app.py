"""The web app of ``taskonomy serve``: the solver's page, and the solver over HTTP.

    from taskonomy.serve.app import create_app
    app = create_app(results="results")     # an ASGI app: run it with uvicorn, test it with TestClient

Endpoints (the schema at ``/openapi.json``; FastAPI's /docs and /redoc pages are off: their
scripts come from a CDN, and nothing here may need the internet):

    GET  /api/tables          the tables a query may name: paper-16k, paper-1k, paper, <run>:<size>
    GET  /api/tasks           the task dictionary, metrics, defaults and limits
    POST /api/solve           a query (the options of ``taskonomy solve``) -> the policy, as --json
    POST /api/solve/figure    the same query -> the taxonomy graph, PNG (as --plot; ?color_by=)
    POST /api/sweep           a query with budgets and max_orders -> the rows of ``taskonomy sweep``
    POST /api/sweep/figure    -> Gain and Quality per target and budget (Fig. 9), PNG
    GET  /api/tree            ?affinities=&groups= -> the similarity tree, as ``taskonomy tree --json``
    GET  /api/tree/figure     -> the dendrogram (Fig. 13), PNG

Every answer comes from the functions the CLI runs (``bip.solve``, ``sweep.sweep``,
``tree.similarity_tree`` and their figures), so the same query gives the same answer.
Bad input is a 422 whose ``detail`` lists each problem with the field it is about (``loc``);
a query that no policy serves lists the targets that fail (``targets``).

Safety: a query names a table only by a name that ``/api/tables`` lists, never by a path, so
no request reads a file the app does not offer. Request bodies are capped (MAX_BODY_BYTES, 413),
task lists and maps, budgets and sweep grids are bounded by the models, every solve has a time
limit, and one computation runs at a time (CBC and matplotlib are not made for threads): a
flood of requests waits, then gets 503, instead of piling up workers.
"""
from __future__ import annotations

import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Callable, Literal

from fastapi import FastAPI, HTTPException
from fastapi import Query as QueryParam
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from taskonomy import __version__
from taskonomy.supervision import bip
from taskonomy.supervision.plots import NODE_COLORS
from taskonomy.supervision.sweep import DEFAULT_BUDGETS, DEFAULT_MAX_ORDERS
from taskonomy.supervision.tables import PAPER_TABLES, TableError, TableSet, load, resolve_table_paths
from taskonomy.tasks import SOURCE_ONLY, TASK_LIST, TASKS, UnknownTaskError, resolve_all

STATIC = Path(__file__).parent / "static"
# A run or size folder of results/<run>/tables/<size>/affinity.csv; a table is "<run>:<size>".
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
TABLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,80}")
MAX_BODY_BYTES = 64 * 1024
MAX_TASKS = 2 * len(TASKS)      # entries of a task list or map (a task may come in both spellings)
MAX_BUDGET = 1000.0
MAX_ORDER = 64                  # the released tables stop at order 24
MAX_GRID = 40                   # taxonomies in one sweep (budgets x max orders)
SOLVE_TIMEOUT_S = 10.0          # CBC's limit for one solve; a sweep of n shares it: 10/n s each,
MIN_SOLVE_TIMEOUT_S = 1.0       # but at least this (a 40-taxonomy sweep: at most 40 s)
BUSY_WAIT_S = 30.0              # how long a request waits for the one computation slot


# ---------------------------------------------------------------- request models

def check_table_name(name: str) -> str:
    """A table is named as /api/tables lists it: a name, never a path."""
    if not TABLE_NAME.fullmatch(name):
        raise ValueError(f"a table name from GET /api/tables (e.g. paper-16k), never a path: got {name!r}")
    return name


TaskName = Annotated[str, Field(min_length=1, max_length=40)]
Amount = Annotated[float, Field(ge=0, le=MAX_BUDGET, allow_inf_nan=False)]
Order = Annotated[int, Field(ge=1, le=MAX_ORDER)]


class QueryIn(BaseModel):
    """The options of ``taskonomy solve``; a field left out takes the CLI's default. Task names
    in either spelling (``normal`` or ``rgb2sfnorm``)."""
    model_config = ConfigDict(extra="forbid")

    affinities: str = Field("paper-16k", max_length=81,
                            description="a table name from GET /api/tables (never a path)")
    targets: list[TaskName] | None = Field(
        None, max_length=MAX_TASKS, description="target tasks (default: every non-source-only target of the table)")
    sources: list[TaskName] | None = Field(
        None, max_length=MAX_TASKS, description="tasks that may be supervised / used as sources (default: all)")
    source_only: list[TaskName] | None = Field(
        None, max_length=MAX_TASKS, description=f"tasks that are never targets (default: {' '.join(SOURCE_ONLY)})")
    importance: dict[TaskName, Amount] = Field(
        default_factory=dict, max_length=MAX_TASKS, description="target importance r_t (default 1)")
    cost: dict[TaskName, Amount] = Field(
        default_factory=dict, max_length=MAX_TASKS, description="label cost l_t of a task (default 1)")
    metric: Literal[bip.METRICS] = Field("sqrt_affinity", description="value of a transfer")

    @field_validator("affinities")
    @classmethod
    def _table(cls, v: str) -> str:
        return check_table_name(v)

    @field_validator("targets", "sources", "source_only")
    @classmethod
    def _tasks(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else resolve_all(v)       # UnknownTaskError names every bad one

    @field_validator("importance", "cost")
    @classmethod
    def _task_map(cls, v: dict[str, float]) -> dict[str, float]:
        return dict(zip(resolve_all(list(v)), v.values()))

    def kwargs(self) -> dict:
        """Keyword arguments of ``bip.make_query`` (the table aside)."""
        return self.model_dump(exclude={"affinities"})


class SolveIn(QueryIn):
    budget: Amount = Field(bip.DEFAULT_BUDGET, description="supervision budget: total label cost")
    max_order: Order = Field(bip.DEFAULT_MAX_ORDER, description="highest transfer order allowed")


class SweepIn(QueryIn):
    budgets: list[Amount] = Field(list(DEFAULT_BUDGETS), min_length=1, max_length=MAX_GRID)
    max_orders: list[Order] = Field(list(DEFAULT_MAX_ORDERS), min_length=1, max_length=MAX_GRID)

    @model_validator(mode="after")
    def _grid(self) -> SweepIn:
        n = len(self.budgets) * len(self.max_orders)
        if n > MAX_GRID:
            raise ValueError(f"budgets x max_orders is {len(self.budgets)} x {len(self.max_orders)} = {n} "
                             f"taxonomies; at most {MAX_GRID} per request")
        return self

    def kwargs(self) -> dict:
        """Keyword arguments of ``bip.make_query`` (the table and the grid aside)."""
        return self.model_dump(exclude={"affinities", "budgets", "max_orders"})


# ---------------------------------------------------------------- errors

def field_error(field: str | None, msg: str, status: int = 422, where: str = "body",
                kind: str = "value_error", **extra) -> HTTPException:
    """An HTTP error shaped like FastAPI's own validation errors: ``detail`` lists problems,
    each with ``loc`` (where, field), ``msg`` and ``type``."""
    loc = [where, field] if field else [where]
    return HTTPException(status, detail=[{"loc": loc, "msg": msg, "type": kind, **extra}])


@contextmanager
def solver_errors():
    """The solver's exceptions as HTTP errors: bad queries 422, a timeout 503."""
    try:
        yield
    except bip.InfeasibleError as e:
        raise field_error(None, str(e), kind="infeasible", targets=list(e.targets)) from None
    except (bip.QueryError, UnknownTaskError, TableError) as e:
        raise field_error(None, str(e), kind="query_error") from None
    except bip.SolveTimeout as e:
        raise HTTPException(503, detail=f"{e}; narrow the query") from None


# ---------------------------------------------------------------- tables

class Catalog:
    """The tables the app offers, by name: the paper's three, and ``<run>:<size>`` for every
    ``<results>/<run>/tables/<size>/affinity.csv`` found at start. A table is read on first use
    and kept; it is read again only if one of its files changed (a rerun of the pipeline)."""

    def __init__(self, results: str | Path | None = None):
        self.specs: dict[str, str] = {name: name for name in PAPER_TABLES}
        for aff in sorted(Path(results).glob("*/tables/*/affinity.csv")) if results else ():
            run, size = aff.parents[2].name, aff.parent.name
            if FOLDER_NAME.fullmatch(run) and FOLDER_NAME.fullmatch(size):
                self.specs[f"{run}:{size}"] = str(aff)
        self._loaded: dict[str, tuple[tuple, TableSet]] = {}
        self._lock = threading.Lock()

    def __contains__(self, name: str) -> bool:
        return name in self.specs

    def get(self, name: str, where: str = "body") -> TableSet:
        """The table set of an offered name; anything else is a 422 naming ``affinities``."""
        if name not in self.specs:
            raise field_error("affinities", f"unknown table {name!r}; offered: {', '.join(self.specs)}",
                              where=where)
        spec = self.specs[name]
        with self._lock:
            try:
                files = [p for p in resolve_table_paths(spec)[1].values() if p is not None]
                stamp = tuple(p.stat().st_mtime_ns for p in files)
                if name in self._loaded and self._loaded[name][0] == stamp:
                    return self._loaded[name][1]
                tables = load(spec)
            except (TableError, OSError) as e:
                raise field_error("affinities", f"table {name!r} cannot be read: {e}", where=where) from None
            # answers name the table as the app offers it, not by its path on this machine
            tables.name = name
            for kind in ("affinity", "quality", "gain"):
                if getattr(tables, kind) is not None:
                    getattr(tables, kind).name = f"{name}:{kind}"
            self._loaded[name] = (stamp, tables)
            return tables

    def describe(self, name: str) -> dict:
        info = {"name": name, "kind": "paper" if name in PAPER_TABLES else "results"}
        try:
            ts = self.get(name)
        except HTTPException as e:
            return {**info, "error": e.detail[0]["msg"]}
        aff = ts.affinity
        return {**info, "targets": [t for t in TASKS if t in aff.task_targets],
                "default_targets": bip.default_targets(aff), "sources": aff.sources(),
                "max_order": aff.max_order, "transfers": len(aff),
                "metrics": [m for m in bip.METRICS if m not in ("quality", "gain") or getattr(ts, m)]}


# ---------------------------------------------------------------- the app

def png(draw: Callable[[Path], None]) -> Response:
    """Run ``draw(path)`` (a figure function of the CLI) and answer with the PNG it wrote."""
    with tempfile.TemporaryDirectory(prefix="taskonomy-serve-") as d:
        path = Path(d) / "figure.png"
        draw(path)
        return Response(path.read_bytes(), media_type="image/png")


PNG = {200: {"content": {"image/png": {}}, "description": "the figure"}}
TableParam = Annotated[str, QueryParam(max_length=81, description="a table name from GET /api/tables")]


def create_app(results: str | Path | None = "results", solve_timeout_s: float = SOLVE_TIMEOUT_S) -> FastAPI:
    """The app; ``results``: the folder whose ``<run>/tables/<size>/affinity.csv`` it offers too."""
    catalog = Catalog(results)
    slot = threading.Lock()      # one computation at a time

    @contextmanager
    def computing():
        if not slot.acquire(timeout=BUSY_WAIT_S):
            raise HTTPException(503, detail="the solver is busy with other requests; try again")
        try:
            with solver_errors():
                yield
        finally:
            slot.release()

    def solve(q: SolveIn) -> bip.Policy:
        tables = catalog.get(q.affinities)
        with computing():
            return bip.solve(tables, time_limit_s=solve_timeout_s, **q.kwargs())

    def sweep_rows(q: SweepIn) -> tuple[TableSet, list[dict]]:
        from taskonomy.supervision.sweep import sweep
        tables = catalog.get(q.affinities)
        n = len(q.budgets) * len(q.max_orders)
        with computing():
            bip.make_query(tables, **q.kwargs())          # bad input fails before any solve, as the CLI
            return tables, sweep(tables, q.budgets, q.max_orders, progress=False,
                                 time_limit_s=max(solve_timeout_s / n, MIN_SOLVE_TIMEOUT_S), **q.kwargs())

    def tree_of(name: str) -> tuple[TableSet, dict]:
        from taskonomy.supervision.tree import similarity_tree
        try:
            check_table_name(name)
        except ValueError as e:
            raise field_error("affinities", str(e), where="query") from None
        tables = catalog.get(name, where="query")
        with computing():
            return tables, {**similarity_tree(tables.affinity), "table": tables.name}

    app = FastAPI(title="taskonomy solver", version=__version__,
                  description="The supervision BIP of Taskonomy (Zamir et al., CVPR 2018, Sec. 3.4) over "
                              "HTTP: which tasks to label, which to transfer. Same answers as `taskonomy solve`.",
                  max_body_size=MAX_BODY_BYTES,      # a larger body gets 413 before anything reads it
                  docs_url=None, redoc_url=None)     # CDN-loaded pages: the schema is /openapi.json
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/tables", summary="The tables a query may name")
    def api_tables() -> dict:
        return {"tables": [catalog.describe(name) for name in catalog.specs]}

    @app.get("/api/tasks", summary="The task dictionary, metrics, defaults and limits")
    def api_tasks() -> dict:
        return {"tasks": [{"id": t.id, "paper": t.paper, "group": t.group, "source_only": t.source_only,
                           "description": t.description} for t in TASK_LIST],
                "metrics": list(bip.METRICS), "color_by": list(NODE_COLORS),
                "defaults": {"affinities": "paper-16k", "budget": bip.DEFAULT_BUDGET,
                             "max_order": bip.DEFAULT_MAX_ORDER, "metric": "sqrt_affinity",
                             "source_only": list(SOURCE_ONLY), "budgets": list(DEFAULT_BUDGETS),
                             "max_orders": list(DEFAULT_MAX_ORDERS)},
                "limits": {"body_bytes": MAX_BODY_BYTES, "tasks": MAX_TASKS, "budget": MAX_BUDGET,
                           "max_order": MAX_ORDER, "sweep_taxonomies": MAX_GRID,
                           "solve_seconds": solve_timeout_s}}

    @app.post("/api/solve", summary="Solve a query: the policy, as `taskonomy solve --json`")
    def api_solve(q: SolveIn) -> dict:
        return solve(q).to_dict()

    @app.post("/api/solve/figure", summary="The taxonomy graph of a query (Fig. 8), as `--plot`",
              response_class=Response, responses=PNG)
    def api_solve_figure(q: SolveIn, color_by: Literal[tuple(NODE_COLORS)] = "gain") -> Response:
        from taskonomy.supervision.plots import draw_taxonomy
        policy = solve(q)
        with computing():
            return png(lambda path: draw_taxonomy(policy, path, color_by=color_by))

    @app.post("/api/sweep", summary="Taxonomies over budgets x max orders, as `taskonomy sweep`'s rows")
    def api_sweep(q: SweepIn) -> dict:
        from taskonomy.supervision.sweep import COLUMNS
        return {"columns": list(COLUMNS), "rows": sweep_rows(q)[1]}

    @app.post("/api/sweep/figure", summary="Gain and Quality per target and budget (Fig. 9)",
              response_class=Response, responses=PNG)
    def api_sweep_figure(q: SweepIn) -> Response:
        from taskonomy.supervision.sweep import plot_sweep, sweep_title
        tables, rows = sweep_rows(q)
        with computing():
            return png(lambda path: plot_sweep(rows, path, sweep_title(tables.name, q.metric)))

    @app.get("/api/tree", summary="The task similarity tree (Fig. 13), as `taskonomy tree --json`")
    def api_tree(affinities: TableParam = "paper-16k",
                 groups: Annotated[int | None, QueryParam(ge=1, le=len(TASKS))] = None) -> dict:
        from taskonomy.supervision.tree import tree_groups
        _, tree = tree_of(affinities)
        if groups is not None:
            with computing():
                tree["groups"] = tree_groups(tree, groups)
        return tree

    @app.get("/api/tree/figure", summary="The task similarity tree (Fig. 13), PNG",
             response_class=Response, responses=PNG)
    def api_tree_figure(affinities: TableParam = "paper-16k") -> Response:
        from taskonomy.supervision.tree import draw_tree, tree_title
        tables, tree = tree_of(affinities)
        with computing():
            return png(lambda path: draw_tree(tree, path, tree_title(tables.name)))

    return app
