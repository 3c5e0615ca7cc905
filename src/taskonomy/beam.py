"""Stage II's beam: which higher-order source sets a target gets, named by rank position.

The paper's beam search: rank a target's first-order sources (here on held-out images, so
the choice never looks at the test images AHP scores), then train, for every order
k <= ``top_k``, all k-combinations of the ``top_k`` best sources and, for k > ``top_k``,
``beam_width`` sets made of the k-1 best plus one of the next ``beam_width``.

Which *positions* in the ranking make up those sets depends only on the number of sources
that may be combined and the three settings, so it is known before anything is trained:
the workflow declares each higher-order transfer as a file target named by its positions,
``transfers/<size>/<target>/top1+top3/`` (the best and the third-best source), and the
beam file ``beam/<size>/<target>.json`` maps each position name to the source set it
stands for in this run (``positions``), which Stage III reads. ``random`` (the
random-projection baseline) is ranked but never combined, so it takes no position.

Imports no torch and no pandas at module level: the workflow calls it while building the DAG.

    >>> position_sets(4, max_order=3, top_k=2)
    {2: ['top1+top2'], 3: ['top1+top2+top3']}
    >>> higher_order_sets(["b", "random", "a", "c"], max_order=2, top_k=3)
    {2: ['a+b', 'a+c', 'b+c']}
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from taskonomy.tasks import source_set_name

# Sources never combined into higher-order transfers: the random-projection baseline.
NOT_COMBINED = frozenset({"random"})
PREFIX = "top"
# the column that marks a pruned transfer's (empty) loss files
PRUNED = "pruned"


def position_name(positions) -> str:
    """``top1+top3`` for the 1-based rank positions (1, 3)."""
    return "+".join(f"{PREFIX}{i}" for i in positions)


def is_position_name(name: str) -> bool:
    return all(p.startswith(PREFIX) and p[len(PREFIX):].isdigit() for p in name.split("+"))


def position_sets(n_pool: int, max_order: int, top_k: int = 5, beam_width: int = 1) -> dict[int, list[str]]:
    """Position names of the higher-order sets (orders 2..max_order) when ``n_pool``
    sources may be combined."""
    sets: dict[int, list[str]] = {}
    for k in range(2, max_order + 1):
        if k > n_pool:
            break
        if k <= top_k:
            combos = itertools.combinations(range(1, min(top_k, n_pool) + 1), k)
        else:
            combos = [(*range(1, k), k - 1 + j) for j in range(1, beam_width + 1) if k - 1 + j <= n_pool]
        sets[k] = [position_name(c) for c in combos]
    return sets


def pool_of(ranked) -> list[str]:
    """The sources that may be combined, best first."""
    return [s for s in ranked if s not in NOT_COMBINED]


def resolve_positions(ranked, names) -> dict[str, str]:
    """{position name: source-set name} for ``ranked`` (first-order sources, best first)."""
    pool = pool_of(ranked)
    return {n: source_set_name(pool[int(p[len(PREFIX):]) - 1] for p in n.split("+")) for n in names}


def higher_order_sets(ranked, max_order: int, top_k: int = 5, beam_width: int = 1) -> dict[int, list[str]]:
    """The source-set names of :func:`position_sets` for this ranking (sorted per order)."""
    sets = position_sets(len(pool_of(ranked)), max_order, top_k, beam_width)
    return {k: sorted(resolve_positions(ranked, names).values()) for k, names in sets.items()}


def kept_sources(ranked, top: int | None) -> list[str]:
    """The first-order sources ``transfer.prune: {top: m}`` trains for a target, from the
    proxy's ranking (``taskonomy.proxy``): the ``top`` best, and those never combined (the
    random-projection baseline) always; every source when ``top`` is None."""
    tasks = pool_of(ranked)
    return [*(tasks if top is None else tasks[:top]), *[s for s in ranked if s in NOT_COMBINED]]


def is_pruned(path) -> bool:
    """Whether a transfer's losses / held-out file is the stand-in of a pruned transfer
    (``taskonomy.transfer.write_pruned``: no rows, a ``pruned`` column)."""
    import pyarrow.parquet as pq
    return PRUNED in pq.read_schema(path).names


def rank_sources(target: str, size: str, inputs, max_order: int, top_k: int, beam_width: int) -> dict:
    """The beam file's content: the first-order sources ranked by mean loss in ``inputs``
    (their ``heldout.parquet``: images of the transfer split that no transfer trained on;
    where those are empty, the ``losses.parquet`` beside them, i.e. the test images), the
    higher-order sets by order (``sets``) and by position (``positions``)."""
    import pandas as pd
    losses, on = {}, set()
    for path in inputs:
        path = Path(path)
        src = path.parent.name
        if "+" in src or is_pruned(path):        # pruned (transfer.prune): not trained, not ranked
            continue
        col = pd.read_parquet(path, columns=["loss"])["loss"]
        if not len(col) and path.name != "losses.parquet":
            col = pd.read_parquet(path.with_name("losses.parquet"), columns=["loss"])["loss"]
            on.add("test (no held-out images)")
        else:
            on.add(f"{path.stem} ({len(col)} images)")
        losses[src] = float(col.mean())
    ranked = sorted(losses, key=lambda s: (losses[s], s))
    by_order = position_sets(len(pool_of(ranked)), max_order, top_k, beam_width)
    positions = resolve_positions(ranked, [n for names in by_order.values() for n in names])
    return {"target": target, "size": size, "ranked": ranked, "losses": losses,
            "ranked_on": sorted(on),
            "sets": {str(k): sorted(positions[n] for n in names) for k, names in by_order.items()},
            "positions": positions,
            "max_order": max_order, "top_k": top_k, "beam_width": beam_width}


def read_positions(beam_file: str | Path) -> dict[str, str]:
    """{position name: source-set name} of a beam file."""
    return json.loads(Path(beam_file).read_text()).get("positions", {})
