"""Figures of Stage IV: the taxonomy graph (Fig. 8) and the first-order affinity heat map (Fig. 7).

    taskonomy affinity-plot --affinities paper-16k --out results/paper-16k/affinity.png

``draw_taxonomy`` is what ``taskonomy solve --plot`` calls. matplotlib is imported inside the
functions so that solving never pays for it.
"""
from __future__ import annotations

import argparse
import sys

from taskonomy import lineage
from taskonomy.io import atomic_path
from taskonomy.supervision.tables import TableError, first_order_matrix, load, table_files
from taskonomy.tasks import TASKS

# colours of the task groups (taskonomy.tasks.Task.group), used for tick labels and nodes
GROUP_COLORS = {"2d": "#1f77b4", "3d": "#2ca02c", "semantic": "#d62728", "geometric": "#9467bd",
                "other": "#7f7f7f"}


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path) -> None:
    """Save a figure atomically (the temp file keeps the .png suffix so the format is known)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
    _mpl().close(fig)


def group_color(task: str) -> str:
    return GROUP_COLORS[TASKS[task].group] if task in TASKS else GROUP_COLORS["other"]


# what a taxonomy graph's nodes can be coloured by: Choice attribute -> colour bar label
NODE_COLORS = {"gain": "Gain (win rate vs scratch)", "quality": "Quality (win rate vs fully supervised)"}


def draw_taxonomy(policy, path, color_by: str = "gain") -> None:
    """Fig. 8 style graph: supervised tasks on top, transferred targets below, edges = transfers.

    Node fill: the Gain (or, ``color_by="quality"``, the Quality) of the target's choice
    (red 0 - white .5 - blue 1; grey where unknown).
    Supervised tasks have a thick black ring; source-only tasks not chosen are dimmed.
    Edge colour: the order of the transfer.
    """
    import networkx as nx
    plt = _mpl()
    from matplotlib import cm, colors

    if color_by not in NODE_COLORS:
        raise ValueError(f"color_by must be one of {', '.join(NODE_COLORS)}, got {color_by!r}")
    q = policy.query
    sup = list(policy.supervised)
    transferred = [t for t, c in policy.targets.items() if c.sources != ("self",)]
    # order the bottom row by the position of each target's first source, to limit crossings
    transferred.sort(key=lambda t: (min(sup.index(s) for s in policy.targets[t].sources),
                                    len(policy.targets[t].sources), t))
    idle = [t for t in q.source_only if t not in sup]
    g = nx.DiGraph()
    pos = {}
    top = sup + idle
    width = max(len(top), len(transferred), 2)
    for i, t in enumerate(top):
        pos[t] = ((i + 0.5) * width / len(top), 1.0)
    for i, t in enumerate(transferred):
        pos[t] = ((i + 0.5) * width / len(transferred), 0.0)
    g.add_nodes_from(pos)
    orders = {}
    for t in transferred:
        for s in policy.targets[t].sources:
            g.add_edge(s, t)
            orders[(s, t)] = len(policy.targets[t].sources)

    fig, ax = plt.subplots(figsize=(max(10, 0.8 * width), 7))
    cmap = plt.get_cmap("RdBu")
    max_order = max(orders.values(), default=1)
    ecmap = plt.get_cmap("viridis")
    for (s, t), k in orders.items():
        nx.draw_networkx_edges(g, pos, edgelist=[(s, t)], ax=ax, arrows=True, arrowsize=10,
                               edge_color=[ecmap((k - 1) / max(max_order - 1, 1))], width=1.3,
                               alpha=0.75, node_size=500, connectionstyle="arc3,rad=0.05")

    def fill(t):
        c = policy.targets.get(t)
        v = None if c is None else getattr(c, color_by)
        return "#dddddd" if v is None else cmap(v)

    for t in pos:
        is_idle = t in idle
        ax.scatter(*pos[t], s=500, c=[fill(t)], edgecolors="black" if t in sup else "#999999",
                   linewidths=3.0 if t in sup else 1.0, alpha=0.3 if is_idle else 1.0, zorder=3)
        # "*": a target solved by its own network (a supervised task may also serve only as a source)
        label = t + (" *" if t in policy.targets and policy.targets[t].sources == ("self",) else "")
        # slanted names anchored at the node, so that neighbours never collide
        if pos[t][1] > 0.5:
            ax.text(pos[t][0] - 0.1, pos[t][1] + 0.08, label, ha="left", va="bottom", fontsize=8,
                    color=group_color(t), alpha=0.4 if is_idle else 1.0, rotation=40,
                    rotation_mode="anchor")
        else:
            ax.text(pos[t][0] + 0.1, pos[t][1] - 0.08, label, ha="right", va="top", fontsize=8,
                    color=group_color(t), rotation=40, rotation_mode="anchor")
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(-0.6, 1.55)
    ax.axis("off")
    ax.set_title(f"Taxonomy of {q.table}: budget {q.budget:g}, max order {q.max_order}, "
                 f"metric {q.metric} - objective {policy.objective:.3f} ({policy.status})\n"
                 f"top: supervised (black ring; * = solved by its own network) and unused "
                 f"source-only tasks (dimmed); bottom: targets solved by transfer", fontsize=10)
    sm = cm.ScalarMappable(cmap=cmap, norm=colors.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, fraction=0.025, pad=0.01, label=NODE_COLORS[color_by])
    if orders:
        handles = [plt.Line2D([], [], color=ecmap((k - 1) / max(max_order - 1, 1)), lw=2,
                              label=f"order {k}") for k in sorted(set(orders.values()))]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.62), fontsize=8, title="transfer", frameon=False)
    save(fig, path)


def affinity_heatmap(tables, path, order: list[str] | None = None) -> None:
    """Fig. 7 (right): first-order affinities, targets (rows) x sources (columns), log colour."""
    plt = _mpl()
    import numpy as np
    from matplotlib import colors

    aff = tables.affinity
    targets = [t for t in TASKS if t in aff.task_targets]
    sources = [t for t in TASKS if t in aff.sources()]
    if order:  # e.g. the leaves of the similarity tree
        targets = [t for t in order if t in targets]
        sources = [t for t in order if t in sources] + [s for s in sources if s not in order]
    _, _, m = first_order_matrix(aff, targets, sources)
    m = np.array(m, dtype=float)
    fig, ax = plt.subplots(figsize=(0.42 * len(sources) + 3, 0.42 * len(targets) + 2))
    pos = m[np.isfinite(m) & (m > 0)]
    im = ax.imshow(np.where(m > 0, m, np.nan), cmap="viridis",
                   norm=colors.LogNorm(vmin=max(pos.min(), 1e-6), vmax=pos.max()))
    ax.set_xticks(range(len(sources)), sources, rotation=70, ha="right", fontsize=8)
    ax.set_yticks(range(len(targets)), targets, fontsize=8)
    for lab in ax.get_xticklabels() + ax.get_yticklabels():
        lab.set_color(group_color(lab.get_text()))
    ax.set_xlabel("source (first-order transfer)")
    ax.set_ylabel("target")
    ax.set_title(f"First-order task affinities of {tables.name} (AHP, log scale; blank = none)",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02, label="affinity")
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy affinity-plot", description=__doc__.split("\n\n")[0])
    p.add_argument("--affinities", default="paper-16k",
                   help="paper-16k | paper-1k | paper | path to an affinity CSV")
    p.add_argument("--out", required=True, metavar="PNG", help="output figure")
    p.add_argument("--tree-order", action="store_true",
                   help="order rows and columns by the leaves of the similarity tree")
    args = p.parse_args(argv)
    started = lineage.now()
    try:
        tables = load(args.affinities)
    except TableError as e:
        print(f"taskonomy affinity-plot: error: {e}", file=sys.stderr)
        return 2
    order = None
    if args.tree_order:
        from taskonomy.supervision.tree import similarity_tree
        order = similarity_tree(tables.affinity)["leaves"]
    affinity_heatmap(tables, args.out, order)
    print(f"wrote {args.out}")
    lineage.record([args.out], table_files(args.affinities), params=vars(args),
                   started=started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
