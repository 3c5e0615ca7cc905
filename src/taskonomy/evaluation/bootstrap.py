"""How much to trust the affinities and the taxonomy: a bootstrap over the test images.

No retraining. Stage III turns each target's per-image test losses (every transfer, all
orders, and ``self``) into a tournament matrix and an AHP vector; here the test images are
resampled with replacement ``n`` times (seeded), each target's matrix and vector are
recomputed on every resample, and the BIP is solved on every resampled table. Reported:

- per affinity (target, source set): the 2.5 / 50 / 97.5 percentiles over the resamples
  (``affinity_ci.csv``: ``target,sources,order,value,lo,median,hi``, ``value`` = full data);
- at one budget / max order / metric: the share of resamples in which each task is
  supervised, in which each target keeps its full-data source set, and in which the whole
  supervised set is the full-data one (``bootstrap.json``, ``bootstrap.png``).

    taskonomy evaluate bootstrap --results results/default --size 16k --targets normal ... \
        --budget 6 --max-order 2 --n 200 --seed 0 --out-dir results/default/eval/16k

Files read (see :func:`results_inputs`): ``<results>/tables/<size>/affinity.csv`` (its
full-data affinities are checked against the bootstrap's) and, per target, Stage III's
``<results>/tournaments/<size>/<target>.npz``, which holds the per-image test losses that
Stage III aligned and scored: every transfer's (all orders, named by their source sets),
``self``'s and the pixels baseline's (used only with ``--metric gain``).

Fast: a win matrix on a resample is a weighted count, W[a, b] = sum_i w_i ([L_a,i < L_b,i]
+ 0.5 [L_a,i = L_b,i]) / m with w_i the multiplicity of image i in the resample, so each
target's comparisons are tabulated once (n^2 x m) and all resampled matrices come out of one
matrix product. The sums are of halves with integer weights, hence exact: the result is
bit for bit ``ahp.win_matrix`` of the explicitly resampled losses (a test checks it).

Resampling is by image id (the ``image`` column, as ``ahp.align`` aligns sources): targets
evaluated on the same images get the same draws in a replicate, so the dependence between
targets through shared images is kept. Targets indexed by other ids (multi-view tasks count
tuples) get draws of their own, seeded by (seed, their ids).
"""
from __future__ import annotations

import math
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from taskonomy import ahp
from taskonomy.supervision import bip
from taskonomy.supervision.tables import Row, Table, TableSet, canonical
from taskonomy.tasks import TASKS, parse_source_set

CI = (2.5, 50.0, 97.5)
CI_COLUMNS = ("target", "sources", "order", "value", "lo", "median", "hi")
DEFAULT_N = 200
METRIC_TABLE = {"sqrt_affinity": "affinity", "affinity": "affinity", "quality": "quality",
                "gain": "gain"}


# --------------------------------------------------------------------------- inputs

@dataclass
class TargetLosses:
    """One target's per-image losses, in Stage III's order (source-set names sorted)."""
    target: str
    sources: list[str]            # source-set names ("a+b", "random", "self")
    losses: np.ndarray            # n_sources x n_images
    images: np.ndarray            # image (or tuple) ids, sorted
    pixels: np.ndarray | None     # scratch baseline on the same images (Gain), if read
    files: list[Path] = field(default_factory=list)


def results_inputs(results: str | Path, size: str, targets: Iterable[str]) -> tuple[Path, dict[str, Path]]:
    """(affinity.csv, {target: its tournament file}) of a run: what the bootstrap reads.

    Stage III keeps, in each target's ``tournaments/<size>/<target>.npz``, the per-image
    losses it aligned (every transfer, all orders, ``self`` and the pixels baseline), so the
    bootstrap resamples exactly what Stage III scored, one file per target."""
    results = Path(results)
    table = results / "tables" / size / "affinity.csv"
    if not table.is_file():
        raise ahp.AHPError(f"missing {table} (Stage III's table of the run)")
    out = {}
    for t in targets:
        npz = results / "tournaments" / size / f"{t}.npz"
        if not npz.is_file():
            raise ahp.AHPError(f"target {t!r}: missing {npz} (Stage III's tournament file)")
        out[t] = npz
    return table, out


def load_tournament(target: str, npz: str | Path, pixels: bool = False) -> TargetLosses:
    """A target's aligned losses from its tournament file (``pixels``: also the pixels
    baseline's, which the gain metric needs)."""
    with np.load(npz) as z:
        if "losses" not in z.files:
            raise ahp.AHPError(f"{npz} holds no per-image losses: it was written by an older "
                               "Stage III; rerun it (`snakemake` reruns ahp_target, its code changed)")
        if pixels and "pixels" not in z.files:
            raise ahp.AHPError(f"{npz} has no pixels baseline (Stage III ran without --pixels): "
                               "the gain metric cannot be resampled")
        return TargetLosses(target, [str(s) for s in z["sources"]], z["losses"], z["images"],
                            z["pixels"] if pixels else None, [Path(npz)])


def input_files(table: Path, per_target: dict[str, Path]) -> list[Path]:
    """Every file :func:`results_inputs` names (for lineage and for a rule's inputs)."""
    return [table, *per_target.values()]


# --------------------------------------------------------------------------- resampling

def resample(images: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices n x m, multiplicities n x m) of ``n`` bootstrap resamples of ``m`` images.

    Seeded by (seed, m, a checksum of the ids): every target on the same images gets the
    same draws, whichever other targets are in the run.
    """
    images = np.ascontiguousarray(images, dtype=np.int64)
    m = len(images)
    key = zlib.crc32(images.tobytes())
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), m, key]))
    idx = rng.integers(0, m, size=(n, m))
    counts = np.bincount((idx + m * np.arange(n)[:, None]).ravel(), minlength=n * m).reshape(n, m)
    return idx, counts


def comparisons(losses: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Per-image outcomes, [a < b] + 0.5 [a = b]: (n*n) x m for all pairs of rows of
    ``losses`` (row a*n+b: a against b), or n x m against one ``reference`` row."""
    L = np.asarray(losses, dtype=np.float64)
    if reference is None:
        a, b = L[:, None, :], L[None, :, :]
        return ((a < b) + 0.5 * (a == b)).reshape(-1, L.shape[1])
    r = np.asarray(reference, dtype=np.float64)[None, :]
    return (L < r) + 0.5 * (L == r)


def win_matrices(losses: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Tournament matrices of every resample, B x n x n: one matrix product.

    Equals ``ahp.win_matrix(losses[:, idx])`` for each resample's indices ``idx``.
    """
    n = losses.shape[0]
    counts = np.atleast_2d(counts)
    W = counts.astype(np.float64) @ comparisons(losses).T          # B x n*n, exact half-integers
    return W.reshape(-1, n, n) / counts.sum(axis=1)[:, None, None]


def rates_vs(losses: np.ndarray, reference: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Win rates of every row against ``reference`` on every resample, B x n."""
    counts = np.atleast_2d(counts)
    return (counts.astype(np.float64) @ comparisons(losses, reference).T) / counts.sum(axis=1)[:, None]


# --------------------------------------------------------------------------- per target

@dataclass
class TargetBoot:
    """Full-data values and their resampled values, per table (affinity, quality, gain)."""
    target: str
    sources: list[str]
    n_images: int
    full: dict[str, np.ndarray]       # table -> (n_sources,)
    reps: dict[str, np.ndarray]       # table -> (B, n_sources)


def bootstrap_target(tl: TargetLosses, counts: np.ndarray) -> TargetBoot:
    """AHP affinities, Quality and (with pixels) Gain of one target on all images and on each
    resample (rows of ``counts``)."""
    n, m = tl.losses.shape
    W = win_matrices(tl.losses, np.vstack([np.ones(m, dtype=np.int64), counts]))
    aff = np.stack([ahp.ahp_vector(w) for w in W])
    q = W[:, :, tl.sources.index("self")]
    values = {"affinity": aff, "quality": q}
    if tl.pixels is not None:
        values["gain"] = rates_vs(tl.losses, tl.pixels, np.vstack([np.ones(m, dtype=np.int64), counts]))
    return TargetBoot(tl.target, tl.sources, m, {k: v[0] for k, v in values.items()},
                      {k: v[1:] for k, v in values.items()})


# --------------------------------------------------------------------------- whole run

def _key(source_set: str) -> tuple[tuple[str, ...], int]:
    """(sorted domain ids, order) of a source-set name, as tables.read_table keys a row."""
    return tuple(sorted(canonical(s) for s in parse_source_set(source_set))), ahp.order_of(source_set)


def tableset(boots: Sequence[TargetBoot], rep: int | None = None, name: str = "bootstrap") -> TableSet:
    """The tables of the full data (``rep=None``) or of one resample, as Stage III's rows."""
    tabs = {}
    for kind in ("affinity", "quality", "gain"):
        if not all(kind in b.full for b in boots):
            continue
        rows = []
        for b in boots:
            vals = b.full[kind] if rep is None else b.reps[kind][rep]
            for s, v in zip(b.sources, vals):
                srcs, order = _key(s)
                rows.append(Row(canonical(b.target), srcs, order, float(v)))
        tabs[kind] = Table(name=f"{name}:{kind}", path="", rows=tuple(rows))
    return TableSet(name=name, **tabs)


@dataclass
class Settings:
    n: int = DEFAULT_N
    seed: int = 0
    budget: float = bip.DEFAULT_BUDGET
    max_order: int = 2
    metric: str = "sqrt_affinity"
    targets: list[str] | None = None          # BIP targets (default: every target loaded)
    source_only: list[str] | None = None      # default: bip's (the paper's four)


@dataclass
class Result:
    settings: Settings
    boots: list[TargetBoot]
    image_sets: list[dict]
    full: bip.Policy
    supervised: list[tuple[str, ...]]                # per resample
    choices: list[dict[str, tuple[str, ...]]]        # per resample: target -> sources
    objectives: list[float]
    timing_s: dict[str, float]

    def ci_rows(self) -> list[tuple]:
        """(target, sources, order, value, lo, median, hi), sorted as Stage III's tables."""
        rows = []
        for b in self.boots:
            lo, med, hi = np.percentile(b.reps["affinity"], CI, axis=0)
            for i, s in enumerate(b.sources):
                rows.append((b.target, " ".join(parse_source_set(s)), ahp.order_of(s),
                             float(b.full["affinity"][i]), float(lo[i]), float(med[i]), float(hi[i])))
        return sorted(rows, key=lambda r: (r[0], r[1]))

    def summary(self) -> dict:
        n = len(self.supervised)
        full_sup = tuple(self.full.supervised)
        full_choice = self.full.choice
        sup_count = Counter(s for sup in self.supervised for s in sup)
        tasks = [t for t in TASKS if t in sup_count or t in full_sup]
        choice_shares = {}
        for t in full_choice:
            c = Counter(" ".join(ch[t]) for ch in self.choices)
            choice_shares[t] = {k: v / n for k, v in c.most_common()}
        widths = np.concatenate([np.percentile(b.reps["affinity"], CI[2], axis=0)
                                 - np.percentile(b.reps["affinity"], CI[0], axis=0) for b in self.boots])
        obj = np.array(self.objectives)
        return {
            "settings": asdict(self.settings) | {"targets": list(self.full.query.targets),
                                                 "source_only": list(self.full.query.source_only)},
            "n": n, "seed": self.settings.seed, "ci_percentiles": list(CI),
            "image_sets": self.image_sets,
            "full": {"supervised": list(full_sup), "objective": self.full.objective,
                     "choices": {t: " ".join(s) for t, s in full_choice.items()}},
            "same_supervised_share": sum(tuple(s) == full_sup for s in self.supervised) / n,
            "same_policy_share": sum(ch == full_choice for ch in self.choices) / n,
            "supervised_share": {t: sup_count[t] / n for t in tasks},
            "kept_share": {t: sum(ch[t] == s for ch in self.choices) / n for t, s in full_choice.items()},
            "choice_shares": choice_shares,
            "objective": {"full": self.full.objective,
                          **dict(zip(("lo", "median", "hi"), map(float, np.percentile(obj, CI))))},
            "affinity_ci_width": {"median": float(np.median(widths)), "max": float(widths.max())},
        }


def _solve(tables: TableSet, query: dict) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], float]:
    p = bip.solve(tables, **query)
    return tuple(p.supervised), p.choice, p.objective


def run(losses: Sequence[TargetLosses], settings: Settings | None = None, log=None,
        jobs: int = 1) -> Result:
    """Resample, recompute every target's tables, solve the BIP on each resample (in ``jobs``
    processes; the answer does not depend on it)."""
    s = settings or Settings()
    if s.n < 1:
        raise ahp.AHPError(f"need at least one resample, got n={s.n}")
    t0 = time.perf_counter()
    draws: dict[bytes, np.ndarray] = {}
    image_sets: dict[bytes, dict] = {}
    boots = []
    for tl in losses:
        key = np.ascontiguousarray(tl.images, dtype=np.int64).tobytes()
        if key not in draws:
            draws[key] = resample(tl.images, s.n, s.seed)[1]
            image_sets[key] = {"n_images": len(tl.images), "targets": []}
        image_sets[key]["targets"].append(tl.target)
        boots.append(bootstrap_target(tl, draws[key]))
    t1 = time.perf_counter()
    query = dict(targets=s.targets, budget=s.budget, max_order=s.max_order, metric=s.metric,
                 source_only=s.source_only)
    full = bip.solve(tableset(boots), **query)
    tables = (tableset(boots, r) for r in range(s.n))
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(jobs) as ex:
            solved = list(ex.map(_solve, tables, [query] * s.n, chunksize=max(1, s.n // (4 * jobs))))
    else:
        solved = []
        for r, ts in enumerate(tables):
            solved.append(_solve(ts, query))
            if log and (r + 1) % 50 == 0:
                print(f"  BIP {r + 1}/{s.n} resamples ({time.perf_counter() - t1:.1f} s)", file=log)
    supervised, choices, objectives = (list(x) for x in zip(*solved))
    t2 = time.perf_counter()
    timing = {"tables_s": t1 - t0, "bip_s": t2 - t1}
    return Result(s, boots, list(image_sets.values()), full, supervised, choices, objectives, timing)


def max_diff_vs_table(result: Result, table: str | Path) -> float:
    """Largest |full-data affinity - the run's affinity.csv| over the shared rows."""
    ref = {(t, s): v for t, s, _, v in ahp.read_table_rows(table)}
    diffs = [abs(r[3] - ref[(r[0], r[1])]) for r in result.ci_rows() if (r[0], r[1]) in ref]
    return max(diffs, default=math.nan)


# --------------------------------------------------------------------------- outputs

def ci_text(rows: Iterable[tuple]) -> str:
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CI_COLUMNS)
    for t, s, o, *vals in rows:
        w.writerow((t, s, int(o), *(repr(float(v)) for v in vals)))
    return buf.getvalue()


def figure(summary: dict, path: str | Path) -> None:
    """Left: share of resamples in which each task is supervised (full-data set outlined);
    right: share in which each target keeps its full-data source set. Colours: task groups."""
    from taskonomy.supervision.plots import GROUP_COLORS, _mpl, group_color, save
    plt = _mpl()
    sup = summary["supervised_share"]
    full_sup = set(summary["full"]["supervised"])
    tasks = sorted(sup, key=lambda t: (-sup[t], list(TASKS).index(t) if t in TASKS else 0))
    kept = summary["kept_share"]
    targets = sorted(kept, key=lambda t: (-kept[t], t))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(4 + 0.32 * (len(tasks) + len(targets)), 5),
                                 gridspec_kw={"width_ratios": [max(len(tasks), 1), max(len(targets), 1)]})
    a1.bar(range(len(tasks)), [sup[t] for t in tasks], color=[group_color(t) for t in tasks],
           edgecolor=["black" if t in full_sup else "none" for t in tasks], linewidth=1.5)
    a1.set_xticks(range(len(tasks)), tasks, rotation=70, ha="right", fontsize=8)
    a1.set_title(f"supervised (budget {summary['settings']['budget']:g}, max order "
                 f"{summary['settings']['max_order']})\nblack edge: supervised on the full data; "
                 f"same set in {100 * summary['same_supervised_share']:.0f}%", fontsize=9)
    a2.bar(range(len(targets)), [kept[t] for t in targets], color=[group_color(t) for t in targets])
    a2.set_xticks(range(len(targets)), targets, rotation=70, ha="right", fontsize=8)
    a2.set_title("target keeps its full-data source set\n"
                 f"whole policy unchanged in {100 * summary['same_policy_share']:.0f}%", fontsize=9)
    for ax in (a1, a2):
        ax.set_ylim(0, 1.02)
        ax.axhline(0.5, color="#999999", lw=0.6, ls=":")
        for lab in ax.get_xticklabels():
            lab.set_color(group_color(lab.get_text()))
    a1.set_ylabel(f"share of {summary['n']} bootstrap resamples of the test images")
    groups = dict.fromkeys(TASKS[t].group if t in TASKS else "other" for t in tasks + targets)
    a2.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=GROUP_COLORS[g]) for g in groups],
              labels=list(groups), fontsize=8, title="task group", loc="upper right", frameon=False)
    save(fig, path)


def summary_lines(summary: dict | str | Path, kept_below: float = 0.8, min_share: float = 0.1) -> list[str]:
    """Markdown lines for the run's summary from ``bootstrap.json`` (dict or path): how often
    the supervised set and the policy survive, each task's supervised share (the full-data
    set's, and others' from ``min_share``), and a table of the targets that keep their source
    set in under ``kept_below`` of the resamples."""
    if not isinstance(summary, dict):
        import json
        with open(summary) as f:
            summary = json.load(f)
    n, st = summary["n"], summary["settings"]
    pct = lambda x: f"{100 * x:.0f}%"  # noqa: E731
    plus = lambda s: s.replace(" ", " + ")  # noqa: E731
    imgs = " / ".join(str(d["n_images"]) for d in summary["image_sets"])
    sup, full = summary["supervised_share"], summary["full"]
    lines = [f"**How much to trust it** (bootstrap over the {imgs} test images, {n} resamples, "
             f"seed {summary['seed']}; budget {st['budget']:g}, max order {st['max_order']}, "
             f"metric {st['metric']}): the supervised set is unchanged in "
             f"{pct(summary['same_supervised_share'])} of the resamples, the whole policy in "
             f"{pct(summary['same_policy_share'])}.", ""]
    others = [(t, v) for t, v in sorted(sup.items(), key=lambda kv: -kv[1])
              if t not in full["supervised"] and v >= min_share]
    lines.append("- Supervised in the resamples: " + ", ".join(f"{t} {pct(sup[t])}" for t in full["supervised"])
                 + ("; other tasks: " + ", ".join(f"{t} {pct(v)}" for t, v in others) if others else ""))
    w, o = summary["affinity_ci_width"], summary["objective"]
    lines.append(f"- 95% intervals of the affinities: median width {w['median']:.4f}, widest {w['max']:.4f}. "
                 f"BIP objective {o['full']:.3f} on the full data, {o['lo']:.3f}-{o['hi']:.3f} on the "
                 "resamples (the optimum of noisy values is biased upward).")
    kept = summary["kept_share"]
    weak = sorted((t for t in kept if kept[t] < kept_below), key=lambda t: (kept[t], t))
    if not weak:
        low = min(kept.values())
        lines.append("- Every target keeps its source set in " + ("every resample." if low == 1 else
                     f"at least {pct(low)} of the resamples."))
        return lines
    lines += [f"- {len(weak)} of {len(kept)} targets keep their source set in under {pct(kept_below)} "
              "of the resamples:", "", "| target | full data | kept | most frequent otherwise |",
              "|---|---|---|---|"]
    for t in weak:
        alt = [(k, v) for k, v in sorted(summary["choice_shares"][t].items(), key=lambda kv: -kv[1])
               if k != full["choices"][t]]
        lines.append(f"| {t} | {plus(full['choices'][t])} | {pct(kept[t])} | "
                     + (f"{plus(alt[0][0])} ({pct(alt[0][1])})" if alt else "-") + " |")
    return lines


def output_paths(out_dir: str | Path, stem: str = "bootstrap") -> dict[str, Path]:
    """json, ci (affinity_ci.csv; <stem>.affinity_ci.csv under another stem) and png."""
    out = Path(out_dir)
    ci = "affinity_ci.csv" if stem == "bootstrap" else f"{stem}.affinity_ci.csv"
    return {"json": out / f"{stem}.json", "ci": out / ci, "png": out / f"{stem}.png"}


def write(result: Result, out_dir: str | Path, stem: str = "bootstrap") -> list[Path]:
    from taskonomy.io import write_json, write_text
    paths = output_paths(out_dir, stem)
    summ = result.summary()
    write_json(paths["json"], summ)
    write_text(paths["ci"], ci_text(result.ci_rows()))
    figure(summ, paths["png"])
    return list(paths.values())


__all__ = ["TargetLosses", "load_tournament", "results_inputs", "input_files", "resample", "comparisons",
           "win_matrices", "rates_vs", "bootstrap_target", "tableset", "Settings", "Result", "run",
           "summary_lines", "figure", "output_paths", "write", "max_diff_vs_table"]
