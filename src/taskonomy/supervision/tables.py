"""Affinity tables: the paper's released ones (package data) and the project's own, in one form.

Every table - ``affinity``, ``wins_vs_task`` (the paper's *Quality*) and ``wins_vs_pixels``
(*Gain*) - has the columns ``target,sources,order,value`` with ``sources`` space-separated.
This module reads them into :class:`Table`: rows of (target, sources, order, value) where
names are Taskonomy domain ids (the paper's spellings are mapped with ``taskonomy.tasks``)
and ``sources`` is a sorted tuple, so a lookup never depends on the order a file listed them.

    >>> from taskonomy.supervision.tables import load
    >>> ts = load("paper-16k")            # or "paper-1k", "paper", or a path to affinity.csv
    >>> ts.affinity.value("normal", ("self",))
    >>> ts.quality.value("normal", ("reshading",))

Names that are not tasks of the dictionary:

- ``self`` (the target's own fully supervised network) and ``pixels`` (trained from scratch on
  the transfer data; the Gain reference) are kept as they are.
- ``class_selected`` is an extra classification source of the authors (a selected subset of
  ImageNet classes) that is not in our dictionary. Its rows are kept, so that each target's
  affinities still sum to 1, but it is never a task: the solver only uses transfers whose
  sources are all tasks, so it never picks them (the authors' solver did not use it either).
  In the size-unspecified table it is also a *target* (and ``class_places`` is absent there);
  it is then left out of the default target set.
- Rows of order 6..24 (16k table, 18 targets; the four multi-view targets stop at order 4) are
  the authors' "top-k sources" transfers: one transfer per target from its k best first-order
  sources. They are ordinary order-k transfers (all k sources must be supervised), so the
  solver considers them only when ``max_order >= k``.

Reading uses the ``csv`` module, not pandas, to keep ``taskonomy solve`` start-up light.
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from taskonomy.io import atomic_path
from taskonomy.tasks import TASKS, UnknownTaskError, resolve

# Names kept verbatim: specials of every table, and the authors' extra source.
SPECIALS = ("self", "pixels")
EXTRAS = ("class_selected",)
COLUMNS = ("target", "sources", "order", "value")

# name -> suffix of the released files (affinity_<suffix>.csv, wins_vs_*_<suffix>.csv)
PAPER_TABLES: dict[str, str] = {"paper-16k": "16k", "paper-1k": "1k", "paper": "unspecified"}
# Our own results: files beside affinity.csv (see docs/interfaces.md)
OWN_FILES = {"affinity": "affinity.csv", "quality": "wins_vs_task.csv", "gain": "wins_vs_pixels.csv"}


class TableError(ValueError):
    """A table that cannot be read; the message names the file (and row)."""


def paper_dir() -> Path:
    """Folder of the shipped paper tables (package data)."""
    return Path(str(resources.files("taskonomy") / "resources" / "paper"))


def canonical(name: str) -> str:
    """Domain id of a name in a table (either spelling); specials and extras unchanged."""
    key = name.strip()
    if key in SPECIALS or key in EXTRAS:
        return key
    return resolve(key)


def is_task(name: str) -> bool:
    return name in TASKS


@dataclass(frozen=True)
class Row:
    target: str
    sources: tuple[str, ...]   # sorted domain ids (or a special / extra name)
    order: int
    value: float


@dataclass
class Table:
    """One table in memory. ``rows`` keep file order; lookups go through ``value``."""
    name: str
    path: str
    rows: tuple[Row, ...] = field(repr=False)
    _index: dict = field(default_factory=dict, repr=False)
    _by_target: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_target: dict[str, list[Row]] = defaultdict(list)
        for r in self.rows:
            self._index[(r.target, r.sources)] = r.value
            by_target[r.target].append(r)
        self._by_target = dict(by_target)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def targets(self) -> list[str]:
        """Targets in file order (extras such as ``class_selected`` included)."""
        return list(self._by_target)

    @property
    def task_targets(self) -> list[str]:
        """Targets that are tasks of the dictionary."""
        return [t for t in self._by_target if is_task(t)]

    @property
    def max_order(self) -> int:
        return max((r.order for r in self.rows), default=0)

    def for_target(self, target: str) -> list[Row]:
        return self._by_target.get(target, [])

    def value(self, target: str, sources: Iterable[str]) -> float | None:
        return self._index.get((target, tuple(sorted(sources))))

    def first_order(self, target: str) -> dict[str, float]:
        """Source -> value of the first-order rows of ``target`` (``self`` included)."""
        return {r.sources[0]: r.value for r in self.for_target(target) if r.order == 1}

    def sources(self) -> list[str]:
        """Every task that appears as a source, in dictionary order."""
        seen = {s for r in self.rows for s in r.sources}
        return [t for t in TASKS if t in seen]


@dataclass
class TableSet:
    """The affinity table and, where they exist, the matching Quality and Gain tables."""
    name: str
    affinity: Table
    quality: Table | None = None
    gain: Table | None = None

    def by_metric(self, metric: str) -> Table:
        table = {"quality": self.quality, "gain": self.gain}.get(metric, self.affinity)
        if table is None:
            raise TableError(f"table set {self.name!r} has no {metric} table "
                             f"(expected {OWN_FILES[metric]} beside the affinities)")
        return table


def _open_text(path: Path) -> io.StringIO:
    """The file's text, or a TableError naming it when it is not text (e.g. a PNG given by mistake)."""
    try:
        return io.StringIO(path.read_text(encoding="utf-8"), newline="")
    except UnicodeDecodeError as e:
        raise TableError(f"{path}: not a text CSV table ({e})") from None


def read_table(path: str | os.PathLike, name: str | None = None) -> Table:
    """Read one ``target,sources,order,value`` CSV; map names to domain ids; check each row."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"no such table file: {path}")
    rows: list[Row] = []
    seen: dict[tuple, int] = {}
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or [c.strip() for c in reader.fieldnames] != list(COLUMNS):
            raise TableError(f"{path}: columns must be {','.join(COLUMNS)}, got {reader.fieldnames}")
        for line, rec in enumerate(reader, start=2):
            where = f"{path}:{line}"
            try:
                target = canonical(rec["target"])
                sources = tuple(sorted(canonical(s) for s in rec["sources"].split()))
                order = int(rec["order"])
                value = float(rec["value"])
            except UnknownTaskError as e:
                raise TableError(f"{where}: {e}") from None
            except (TypeError, ValueError, AttributeError) as e:
                raise TableError(f"{where}: bad row {rec}: {e}") from None
            if not sources:
                raise TableError(f"{where}: empty source set")
            if order != len(sources):
                raise TableError(f"{where}: order {order} but {len(sources)} sources")
            if len(set(sources)) != len(sources):
                raise TableError(f"{where}: repeated source in {rec['sources']!r}")
            if not math.isfinite(value):
                raise TableError(f"{where}: value {value} is not finite")
            key = (target, sources)
            if key in seen:
                raise TableError(f"{where}: duplicate of line {seen[key]} ({target} <- {' '.join(sources)})")
            seen[key] = line
            rows.append(Row(target, sources, order, value))
    return Table(name=name or path.stem, path=str(path), rows=tuple(rows))


def write_table(path: str | os.PathLike, rows: Iterable[Row]) -> None:
    """Write rows in the shared schema (domain ids, sources space-separated), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([r.target, " ".join(sorted(r.sources)), r.order, repr(float(r.value))])


def resolve_table_paths(spec: str | os.PathLike) -> tuple[str, dict[str, Path | None]]:
    """(name, {affinity, quality, gain} -> file) of a table name or a path.

    ``spec`` is ``paper-16k``, ``paper-1k``, ``paper``, a path to an ``affinity.csv`` (its
    Quality/Gain tables are the ``wins_vs_task.csv`` / ``wins_vs_pixels.csv`` beside it, if
    present) or a folder holding ``affinity.csv``.
    """
    spec = str(spec)
    if spec in PAPER_TABLES:
        d, sfx = paper_dir(), PAPER_TABLES[spec]
        return spec, {"affinity": d / f"affinity_{sfx}.csv", "quality": d / f"wins_vs_task_{sfx}.csv",
                      "gain": d / f"wins_vs_pixels_{sfx}.csv"}
    p = Path(spec)
    if p.is_dir():
        p = p / OWN_FILES["affinity"]
    if not p.is_file():
        raise TableError(f"unknown affinity table {spec!r}: give one of {', '.join(PAPER_TABLES)} "
                         f"or a path to an affinity CSV (target,sources,order,value)")
    files: dict[str, Path | None] = {"affinity": p}
    for kind in ("quality", "gain"):
        sib = p.parent / OWN_FILES[kind]
        files[kind] = sib if sib.is_file() and sib != p else None
    return str(p), files


def load(spec: str | os.PathLike = "paper-16k") -> TableSet:
    """Load a table set by name (``paper-16k`` | ``paper-1k`` | ``paper``) or path."""
    name, files = resolve_table_paths(spec)
    tables = {k: read_table(v, name=f"{name}:{k}") if v is not None else None for k, v in files.items()}
    return TableSet(name=name, affinity=tables["affinity"], quality=tables["quality"], gain=tables["gain"])


def table_files(spec: str) -> list[str]:
    """Files a table set reads (for Snakemake inputs)."""
    return [str(p) for p in resolve_table_paths(spec)[1].values() if p is not None]


def first_order_rank(size: str = "16k") -> dict[str, list[str]]:
    """The authors' first-order ranking per target (what their beam search used), domain ids."""
    import json
    with open(paper_dir() / f"first_order_rank_{size}.json") as f:
        raw = json.load(f)
    return {canonical(t): [canonical(s) for s in ranked] for t, ranked in raw.items()}


def first_order_matrix(table: Table, targets: list[str] | None = None,
                       sources: list[str] | None = None) -> tuple[list[str], list[str], list[list[float]]]:
    """Targets x sources matrix of first-order values (NaN where the table has none)."""
    targets = targets or table.task_targets
    sources = sources or table.sources()
    m = []
    for t in targets:
        fo = table.first_order(t)
        m.append([fo.get(s, math.nan) for s in sources])
    return targets, sources, m


__all__ = ["Row", "Table", "TableSet", "TableError", "load", "read_table", "write_table",
           "resolve_table_paths", "table_files", "first_order_rank", "first_order_matrix",
           "PAPER_TABLES", "PAPER_TO_ID"]
