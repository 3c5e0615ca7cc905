"""``taskonomy tree``: the task similarity tree (paper Sec. 5.3, Fig. 13) as a dendrogram.

    taskonomy tree --affinities paper-16k --out results/paper-16k/tree.png [--json tree.json]

Each task is described by how it transfers *out*: its column of the first-order affinity
matrix P (one value per target). The paper does not state the distance; we use the log of
each target's row of P normalised to sum to 1 (every target weighs the same, and AHP values
are ratios, so differences of logs compare them fairly), Euclidean distance and average
linkage (scipy). Tasks that are never a first-order source of every target are left out.
"""
from __future__ import annotations

import argparse
import sys

from taskonomy import lineage
from taskonomy.supervision.tables import Table, TableError, first_order_matrix, load, table_files
from taskonomy.tasks import TASKS

METHOD = "average"


def similarity_tree(table: Table) -> dict:
    """Linkage of the source tasks: {"tasks", "linkage" (scipy Z as lists), "leaves"}."""
    import numpy as np
    from scipy.cluster import hierarchy

    targets, sources, m = first_order_matrix(table)
    m = np.array(m, dtype=float)
    # A run's own tables have no transfer from a target's own encoder to itself (the paper's
    # tables do); its "self" row (the fully supervised network) stands in for that entry.
    for i, t in enumerate(targets):
        if t in sources and not np.isfinite(m[i, sources.index(t)]):
            m[i, sources.index(t)] = table.first_order(t).get("self", np.nan)
    keep = [j for j, s in enumerate(sources) if np.all(np.isfinite(m[:, j])) and np.all(m[:, j] > 0)]
    if len(keep) < 3:
        raise TableError(f"{table.name}: fewer than 3 tasks are first-order sources of every target")
    sources = [sources[j] for j in keep]
    m = m[:, keep]
    p = m / m.sum(axis=1, keepdims=True)
    features = np.log(p).T               # one row per source task
    z = hierarchy.linkage(features, method=METHOD, metric="euclidean")
    z = hierarchy.optimal_leaf_ordering(z, features)   # same tree, neighbours most alike
    leaves = [sources[i] for i in hierarchy.leaves_list(z)]
    return {"tasks": sources, "targets": targets, "linkage": z.tolist(), "leaves": leaves,
            "method": METHOD, "features": "log of row-normalised first-order affinities"}


def draw_tree(tree: dict, path, title: str) -> None:
    import numpy as np
    from scipy.cluster import hierarchy

    from taskonomy.supervision.plots import _mpl, group_color, save
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7, 0.33 * len(tree["tasks"]) + 1.5))
    z = np.array(tree["linkage"])
    hierarchy.dendrogram(z, labels=tree["tasks"], orientation="left", ax=ax,
                         color_threshold=0.0, above_threshold_color="#555555")
    for lab in ax.get_yticklabels():
        lab.set_color(group_color(lab.get_text()))
        if lab.get_text() in TASKS and TASKS[lab.get_text()].source_only:
            lab.set_fontstyle("italic")
    ax.set_xlabel("distance (log of row-normalised first-order affinities, average linkage)")
    ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy tree", description=__doc__.split("\n\n")[0])
    p.add_argument("--affinities", default="paper-16k",
                   help="paper-16k | paper-1k | paper | path to an affinity CSV")
    p.add_argument("--out", required=True, metavar="PNG", help="dendrogram figure")
    p.add_argument("--json", metavar="JSON", help="also write the linkage and leaf order")
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        tables = load(args.affinities)
        tree = similarity_tree(tables.affinity)
    except TableError as e:
        print(f"taskonomy tree: error: {e}", file=sys.stderr)
        return 2
    draw_tree(tree, args.out, f"Task similarity tree of {tables.name} (how tasks transfer out; "
                              f"colour = task group, italic = source-only)")
    if args.json:
        from taskonomy.io import write_json
        write_json(args.json, {**tree, "table": tables.name})
    print(f"wrote {args.out}; leaves: {' '.join(tree['leaves'])}")
    lineage.record([p for p in (args.out, args.json) if p], table_files(args.affinities), params=vars(args),
                   started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
