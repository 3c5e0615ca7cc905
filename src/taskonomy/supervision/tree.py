"""``taskonomy tree``: the task similarity tree (paper Sec. 5.3, Fig. 13) as a dendrogram.

    taskonomy tree --affinities paper-16k --out results/paper-16k/tree.png [--json tree.json]
    taskonomy tree --affinities paper-16k --groups 8 --json     # {"groups": [[task, ...], ...]}
    taskonomy tree --affinities paper-1k --ari                  # ARI vs the paper's groups, JSON

``--json`` without a path prints to stdout; ``--out`` is then optional. The JSON is the tree
(linkage, leaf order) unless ``--groups`` / ``--ari`` ask for those results instead.

Each task is described by how it transfers *out*: its column of the first-order affinity
matrix P (one value per target). The paper does not state the distance; we use the log of
each target's row of P normalised to sum to 1 (every target weighs the same, and AHP values
are ratios, so differences of logs compare them fairly), Euclidean distance and average
linkage (scipy). Tasks that are never a first-order source of every target are left out.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable

from taskonomy import lineage
from taskonomy.supervision.tables import Table, TableError, first_order_matrix, load, table_files
from taskonomy.tasks import TASKS

METHOD = "average"

# The four groups of the paper's Fig. 13 as we read it (docs: /work/shared/FIDELITY.md,
# claim 2), as domain ids. jigsaw and random are in no group.
PAPER_GROUPS: dict[str, tuple[str, ...]] = {
    "3d": ("normal", "reshading", "depth_zbuffer", "depth_euclidean", "principal_curvature",
           "edge_occlusion", "keypoints3d", "segment_unsup25d"),
    "2d": ("autoencoding", "denoising", "edge_texture", "keypoints2d", "segment_unsup2d",
           "inpainting", "colorization"),
    "geometric": ("room_layout", "vanishing_point", "fixated_pose", "nonfixated_pose", "egomotion",
                  "point_matching"),
    "semantic": ("class_object", "class_scene", "segment_semantic"),
}
DEFAULT_CUTS = range(4, 9)


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
    valid = np.isfinite(m) & (m > 0)
    keep = [j for j in range(len(sources)) if valid[:, j].all()]
    imputed = 0
    if len(keep) < 3 and valid.any(axis=1).all():
        # A pruned run (transfer.prune) trains each target's few best sources by the proxy, so
        # hardly any source has a transfer to every target. Its untrained entries take the
        # smallest trained affinity of their target's row (the proxy ranked them below every
        # trained source); the count is reported, and no complete table is ever filled.
        keep = [j for j in range(len(sources)) if valid[:, j].any()]
        row_min = np.array([m[i, valid[i]].min() for i in range(len(m))])
        imputed = int((~valid[:, keep]).sum())
        m = np.where(valid, m, row_min[:, None])
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
            "method": METHOD, "features": "log of row-normalised first-order affinities",
            "imputed": imputed}


def _as_tree(tree_or_table) -> dict:
    """A tree dict of :func:`similarity_tree` from itself, a Table, a TableSet or a table spec."""
    if isinstance(tree_or_table, dict):
        return tree_or_table
    if isinstance(tree_or_table, Table):
        return similarity_tree(tree_or_table)
    if hasattr(tree_or_table, "affinity"):
        return similarity_tree(tree_or_table.affinity)
    return similarity_tree(load(tree_or_table).affinity)


def cut_labels(tree_or_table, k: int) -> dict[str, int]:
    """Task -> cluster number of the ``k``-group cut (scipy ``fcluster``, ``maxclust``)."""
    import numpy as np
    from scipy.cluster import hierarchy

    tree = _as_tree(tree_or_table)
    n = len(tree["tasks"])
    if int(k) != k or not 1 <= k <= n:
        raise TableError(f"cannot cut a tree of {n} tasks into {k!r} groups (1 <= K <= {n})")
    labels = hierarchy.fcluster(np.array(tree["linkage"]), int(k), criterion="maxclust")
    return {t: int(c) for t, c in zip(tree["tasks"], labels)}


def tree_groups(tree_or_table, k: int) -> list[list[str]]:
    """The ``k``-group cut of the similarity tree as lists of task ids.

    Groups and the tasks in each follow the dendrogram's leaf order. With tied merge heights
    ``maxclust`` can give fewer than ``k`` groups (never more).
    """
    tree = _as_tree(tree_or_table)
    labels = cut_labels(tree, k)
    groups: dict[int, list[str]] = {}
    for t in tree["leaves"]:
        groups.setdefault(labels[t], []).append(t)
    return list(groups.values())


def adjusted_rand_index(a, b) -> float:
    """Adjusted Rand index of two labelings of the same items (Hubert & Arabie 1985).

    Equals scikit-learn's ``adjusted_rand_score``: 1 for identical partitions, about 0 for
    chance; 1.0 when both put everything in one cluster (or every item alone).
    """
    import numpy as np

    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"labelings of different lengths: {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        return 1.0
    _, ai = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, bi = np.unique(np.asarray(b, dtype=object).astype(str), return_inverse=True)
    c = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(c, (ai, bi), 1)
    pairs = lambda x: float((x * (x - 1) / 2).sum())  # noqa: E731
    index, rows, cols = pairs(c), pairs(c.sum(axis=1)), pairs(c.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:      # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return (index - expected) / (maximum - expected)


def best_ari(table, groups: dict[str, Iterable[str]] = PAPER_GROUPS,
             cuts: Iterable[int] = DEFAULT_CUTS) -> dict:
    """Best adjusted Rand index of the tree's K-group cuts (K in ``cuts``) against ``groups``.

    ``table``: a Table, TableSet, table spec (``paper-16k``, a path) or a tree dict of
    :func:`similarity_tree`. The whole tree is cut; the index is computed on the tasks that are
    both in the tree and in a group. Ties go to the smallest K. Returns ``best_ari``,
    ``best_cut``, ``per_cut`` ({K: ARI}), ``n_tasks``, ``tasks_not_in_groups`` (tree tasks in
    no group) and ``group_tasks_not_in_tree``.
    """
    tree = _as_tree(table)
    label = {}
    for g, members in groups.items():
        for t in members:
            if t in label and label[t] != g:
                raise ValueError(f"task {t!r} is in two groups: {label[t]!r} and {g!r}")
            label[t] = g
    common = [t for t in tree["tasks"] if t in label]
    if len(common) < 2:
        raise TableError(f"{tree.get('table', 'the tree')}: fewer than 2 of its tasks are in the groups")
    per_cut = {}
    for k in cuts:
        k = int(k)
        if k > len(tree["tasks"]):
            continue
        cl = cut_labels(tree, k)
        per_cut[k] = adjusted_rand_index([cl[t] for t in common], [label[t] for t in common])
    if not per_cut:
        raise TableError(f"no cut in {list(cuts)} fits a tree of {len(tree['tasks'])} tasks")
    best = max(per_cut, key=lambda k: (per_cut[k], -k))
    return {"best_ari": per_cut[best], "best_cut": best, "per_cut": per_cut, "n_tasks": len(common),
            "imputed": int(tree.get("imputed", 0)),
            "tasks_not_in_groups": [t for t in tree["tasks"] if t not in label],
            "group_tasks_not_in_tree": sorted(set(label) - set(tree["tasks"]))}


def tree_title(table_name: str) -> str:
    return (f"Task similarity tree of {table_name} (how tasks transfer out; "
            f"colour = task group, italic = source-only)")


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
    p = argparse.ArgumentParser(prog="taskonomy tree", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--affinities", default="paper-16k",
                   help="paper-16k | paper-1k | paper | path to an affinity CSV")
    p.add_argument("--out", metavar="PNG", help="dendrogram figure (required unless --json, --groups or --ari)")
    p.add_argument("--json", nargs="?", const="-", metavar="JSON",
                   help="write the JSON to this file; without a path, print it to stdout. It holds the "
                        "linkage and leaf order, or only the --groups / --ari results when asked for")
    p.add_argument("--groups", type=int, metavar="K", help="cut the tree into K groups (fcluster maxclust)")
    p.add_argument("--ari", action="store_true",
                   help="best adjusted Rand index over --cuts against the paper's four groups (JSON)")
    p.add_argument("--cuts", type=int, nargs="+", default=list(DEFAULT_CUTS), metavar="K",
                   help="cuts for --ari (default 4 5 6 7 8)")
    args = p.parse_args(argv)
    if not (args.out or args.json or args.groups is not None or args.ari):
        p.error("nothing to do: give --out PNG and/or --json [PATH], --groups K or --ari")
    started = lineage.now()
    to_stdout = args.json == "-"
    try:
        tables = load(args.affinities)
        tree = similarity_tree(tables.affinity)
        doc: dict = {}
        if args.groups is not None:
            doc["groups"] = tree_groups(tree, args.groups)
        if args.ari:
            doc.update(best_ari({**tree, "table": tables.name}, cuts=args.cuts))
    except TableError as e:
        print(f"taskonomy tree: error: {e}", file=sys.stderr)
        return 2
    if not doc:
        doc = {**tree, "table": tables.name}
    if args.out:
        draw_tree(tree, args.out, tree_title(tables.name))
    json_file = args.json if args.json and not to_stdout else None
    if json_file:
        from taskonomy.io import write_json
        write_json(json_file, doc)
    if to_stdout or (args.ari and not json_file):
        print(json.dumps(doc, indent=2, sort_keys=True))
    elif args.groups is not None and not json_file:
        for i, g in enumerate(doc["groups"], 1):
            print(f"group {i}: {' '.join(g)}")
    written = [f for f in (args.out, json_file) if f]
    if written:
        # a report, not data: on stderr when stdout carries the JSON
        print(f"wrote {', '.join(written)}; leaves: {' '.join(tree['leaves'])}",
              file=sys.stderr if to_stdout or args.ari else sys.stdout)
        lineage.record(written, table_files(args.affinities), params=vars(args), started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
