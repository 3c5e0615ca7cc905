"""Stage III: per-target tournament matrices and AHP affinities (paper Sec. 3.3).

For a target t, every source set s that transfers to t (every order, plus ``self`` = the
task network and ``random`` = the random-projection source) has per-image test losses. The
tournament matrix W_t[i, j] is the share of test images on which source set i beats j
(lower loss wins, ties count half). Clipped to [0.001, 0.999] (Laplace smoothing), the
ratio matrix W' = W / W^T is positive reciprocal; its principal eigenvector, normalised to
sum 1, is the AHP affinity vector of t. Quality (win rate vs ``self``) and Gain (win rate vs
``pixels``, the target network trained from scratch on the transfer data) come from the same
comparisons. A transfer that ``transfer.prune`` left untrained (its loss file is the empty
stand-in of ``taskonomy.transfer.write_pruned``) is left out of the tournament: no edge in the BIP.

Run by hand or from rules/ahp.smk:

    python -m taskonomy.ahp target normal --self results/r/tasks/normal/losses.parquet \
        --pixels results/r/baselines/normal/scratch/losses.parquet \
        --transfers results/r/transfers/normal/*/losses.parquet --beam results/r/beam/normal.json \
        --npz results/r/tournaments/normal.npz --csv results/r/ahp/normal.csv
    python -m taskonomy.ahp gather --ahp results/r/ahp/*.csv --out-dir results/r
"""
from __future__ import annotations

import argparse
import csv
import io as _io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from taskonomy import lineage
from taskonomy.io import atomic_path, write_text
from taskonomy.beam import is_position_name, is_pruned, read_positions
from taskonomy.tasks import parse_source_set

CLIP = (0.001, 0.999)
COLUMNS = ("target", "sources", "order", "value")
# Stage III outputs, one per target, beside ahp/<target>.csv: Quality and Gain rows.
QUALITY_SUFFIX = ".wins_vs_task.csv"
GAIN_SUFFIX = ".wins_vs_pixels.csv"
TABLES = {"affinity.csv": ".csv", "wins_vs_task.csv": QUALITY_SUFFIX,
          "wins_vs_pixels.csv": GAIN_SUFFIX}
# the tables of results without a Gain reference (taskonomy.proxy)
QUALITY_TABLES = {k: v for k, v in TABLES.items() if v != GAIN_SUFFIX}


class AHPError(ValueError):
    """Bad Stage III input; the message names the file or source."""


# --------------------------------------------------------------------------- core maths

def win_matrix(losses: np.ndarray, block_bytes: int = 64 << 20) -> np.ndarray:
    """W[i, j] = share of images (columns) on which row i has a lower loss than row j.

    Ties count half, so W + W^T = 1 exactly and the diagonal is 0.5. ``losses`` is
    n_sources x n_images. Computed in row blocks so that a target with hundreds of sources
    and thousands of images stays within ``block_bytes`` of temporary booleans.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 2 or losses.shape[1] == 0:
        raise AHPError(f"losses must be n_sources x n_images with n_images > 0, got {losses.shape}")
    if not np.isfinite(losses).all():
        bad = sorted(set(np.nonzero(~np.isfinite(losses))[0].tolist()))
        raise AHPError(f"non-finite losses in source row(s) {bad}")
    n, m = losses.shape
    less = np.empty((n, n), dtype=np.int64)
    rows = max(1, int(block_bytes // max(1, n * m)))
    for a in range(0, n, rows):
        b = min(n, a + rows)
        # counts of images where source i (in block) beats source j
        less[a:b] = np.count_nonzero(losses[a:b, None, :] < losses[None, :, :], axis=2)
    # wins + half the ties: less + 0.5 * (m - less - less^T) = 0.5 * (m + less - less^T)
    return 0.5 * (m + less - less.T) / m


def ratio_matrix(W: np.ndarray, clip: tuple[float, float] = CLIP) -> np.ndarray:
    """Clip W (Laplace smoothing) and return W' = W / W^T, how many times i beats j."""
    Wc = np.clip(np.asarray(W, dtype=np.float64), *clip)
    return Wc / Wc.T


def principal_eigenvector(M: np.ndarray, tol: float = 1e-13, max_iter: int = 10000) -> np.ndarray:
    """Perron vector of a positive matrix, normalised to sum 1.

    Power iteration from the row geometric means (the exact answer for a consistent
    matrix, and a close start otherwise): deterministic, unlike the sign and order of
    ``np.linalg.eig``'s output, and every entry stays positive.
    """
    M = np.asarray(M, dtype=np.float64)
    if M.shape[0] == 1:
        return np.ones(1)
    v = np.exp(np.log(M).mean(axis=1))
    v /= v.sum()
    for _ in range(max_iter):
        w = M @ v
        w /= w.sum()
        if np.abs(w - v).max() < tol:
            return w
        v = w
    # Slow convergence (tiny spectral gap): fall back to the dense eigensolver.
    vals, vecs = np.linalg.eig(M)
    k = int(np.argmax(vals.real))
    vec = np.abs(vecs[:, k].real)
    return vec / vec.sum()


def ahp_vector(W: np.ndarray, clip: tuple[float, float] = CLIP) -> np.ndarray:
    """AHP affinities of the sources of one target from its tournament matrix."""
    return principal_eigenvector(ratio_matrix(W, clip))


def win_rates_vs(losses: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Share of images on which each row of ``losses`` beats ``reference`` (ties half)."""
    losses = np.asarray(losses, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    return ((losses < reference).sum(axis=1) + 0.5 * (losses == reference).sum(axis=1)) / losses.shape[1]


# --------------------------------------------------------------------------- one target

@dataclass
class TargetResult:
    target: str
    sources: list[str]          # source set names ("a+b", "self", "random")
    W: np.ndarray               # tournament matrix (unclipped)
    affinity: np.ndarray        # AHP vector, sums to 1
    quality: np.ndarray | None  # win rate vs self (None for a target without a task network)
    gain: np.ndarray | None     # win rate vs pixels (None without a pixels baseline)
    n_images: int
    # what the matrix was computed from, kept in the tournament file so that a resampling
    # (taskonomy.evaluation.bootstrap) reads one file per target, not every transfer's
    losses: np.ndarray | None = None    # sources x images, aligned (rows: ``sources``)
    images: np.ndarray | None = None    # image (or tuple) ids of the columns, sorted
    pixels: np.ndarray | None = None    # the pixels baseline's losses on those images


def read_losses(path: str | Path) -> "pd.Series":
    """Per-image losses of one losses.parquet, indexed by image (sorted)."""
    import pandas as pd
    path = Path(path)
    if not path.exists():
        raise AHPError(f"missing losses file {path}")
    df = pd.read_parquet(path, columns=None)
    for col in ("image", "loss"):
        if col not in df.columns:
            raise AHPError(f"{path}: no column {col!r} (columns: {list(df.columns)})")
    if df["image"].duplicated().any():
        raise AHPError(f"{path}: duplicate image indices")
    s = df.set_index("image")["loss"].astype(np.float64).sort_index()
    if not np.isfinite(s.to_numpy()).all():
        raise AHPError(f"{path}: non-finite losses")
    return s


def align(named: dict[str, "pd.Series"], paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-source losses into n x m; every source must cover the same images."""
    names = list(named)
    ref_name = names[0]
    images = named[ref_name].index.to_numpy()
    for n in names[1:]:
        idx = named[n].index.to_numpy()
        if idx.shape != images.shape or not np.array_equal(idx, images):
            raise AHPError(f"{paths[n]} covers {len(idx)} images that differ from the "
                           f"{len(images)} of {paths[ref_name]}: every source of a target must "
                           "be evaluated on the same test images")
    return np.stack([named[n].to_numpy() for n in names]), images


def source_name_of(path: str | Path, positions: dict[str, str] | None = None) -> str:
    """transfers/<target>/<srcset>/losses.parquet -> <srcset>. A higher-order transfer's
    folder is named by rank positions (``top1+top2``, taskonomy.beam): ``positions`` (the
    target's beam file's) gives its source set."""
    name = Path(path).parent.name
    if positions and name in positions:
        return positions[name]
    if is_position_name(name):
        raise AHPError(f"{path}: a higher-order transfer named by rank positions; give the "
                       "target's beam file (beam/<size>/<target>.json) to name its source set")
    return name


def compute_target(target: str, transfer_paths: Sequence[str | Path], self_path: str | Path | None,
                   pixels_path: str | Path | None = None,
                   positions: dict[str, str] | None = None) -> TargetResult:
    paths: dict[str, Path] = {}
    for p in transfer_paths:
        if is_pruned(p):                 # not trained (transfer.prune): no edge in the BIP
            continue
        name = source_name_of(p, positions)
        if name in paths:
            raise AHPError(f"source set {name!r} given twice: {paths[name]} and {p}")
        if name in ("self", "pixels"):
            raise AHPError(f"{p}: {name!r} is a reserved name, not a transfer source set of {target!r}")
        paths[name] = Path(p)
    if self_path is not None:       # an own task (all-for-one) has no task network
        paths["self"] = Path(self_path)
    named = {n: read_losses(p) for n, p in sorted(paths.items())}
    if pixels_path is not None:
        paths["pixels"] = Path(pixels_path)
        named_px = dict(named, pixels=read_losses(pixels_path))
        L, images = align(named_px, paths)
        L, px = L[:-1], L[-1]
    else:
        L, images = align(named, paths)
        px = None
    return from_losses(target, list(named), L, px, images)


def from_losses(target: str, sources: list[str], L: np.ndarray, px: np.ndarray | None = None,
                images: np.ndarray | None = None) -> TargetResult:
    """Tournament, AHP vector, Quality (wins against the row ``self``) and, with the
    ``pixels`` losses ``px``, Gain of per-image losses ``L`` (one row per source set;
    ``images``: the ids of its columns, kept with them in the tournament file)."""
    W = win_matrix(L)
    aff = ahp_vector(W)
    quality = W[:, sources.index("self")].copy() if "self" in sources else None
    gain = win_rates_vs(L, px) if px is not None else None
    return TargetResult(target, sources, W, aff, quality, gain, L.shape[1], L, images, px)


# --------------------------------------------------------------------------- tables

def order_of(source_set: str) -> int:
    return 1 if source_set in ("self", "random", "pixels") else len(parse_source_set(source_set))


def table_text(rows: Iterable[tuple[str, str, int, float]]) -> str:
    """CSV in the paper tables' schema; rows sorted by (target, sources); floats as repr."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for t, s, o, v in rows:
        w.writerow((t, s, int(o), repr(float(v))))
    return buf.getvalue()


def rows_of(res: TargetResult, values: np.ndarray) -> list[tuple[str, str, int, float]]:
    return [(res.target, " ".join(parse_source_set(s)), order_of(s), float(v))
            for s, v in zip(res.sources, values)]


def write_target(res: TargetResult, npz: str | Path, csv_path: str | Path) -> list[Path]:
    """tournaments/<t>.npz (the matrix, its vectors and the aligned per-image losses they
    come from), ahp/<t>.csv and its .wins_vs_task/.wins_vs_pixels siblings."""
    extra = {k: v for k, v in (("gain", res.gain), ("losses", res.losses), ("images", res.images),
                               ("pixels", res.pixels)) if v is not None}
    with atomic_path(npz) as tmp:
        with open(tmp, "wb") as f:
            # the settings travel with the matrix: clip bounds and the image count
            np.savez(f, W=res.W, sources=np.array(res.sources), affinity=res.affinity,
                     **({"quality": res.quality} if res.quality is not None else {}),
                     n_images=np.int64(res.n_images), clip=np.array(CLIP), **extra)
    csv_path = Path(csv_path)
    out = [Path(npz), csv_path]
    write_text(csv_path, table_text(rows_of(res, res.affinity)))
    if res.quality is not None:
        q = csv_path.with_name(csv_path.stem + QUALITY_SUFFIX)
        write_text(q, table_text(rows_of(res, res.quality)))
        out.append(q)
    if res.gain is not None:
        g = csv_path.with_name(csv_path.stem + GAIN_SUFFIX)
        write_text(g, table_text(rows_of(res, res.gain)))
        out.append(g)
    return out


def read_table_rows(path: str | Path) -> list[tuple[str, str, int, float]]:
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if tuple(header or ()) != COLUMNS:
            raise AHPError(f"{path}: header {header} is not {','.join(COLUMNS)}")
        return [(t, s, int(o), float(v)) for t, s, o, v in r]


def gather(ahp_csvs: Sequence[str | Path], out_dir: str | Path, tables: dict[str, str] = TABLES) -> list[Path]:
    """Concatenate per-target tables into affinity.csv, wins_vs_task.csv, wins_vs_pixels.csv
    (``tables``: output name -> suffix of the per-target files)."""
    out_dir = Path(out_dir)
    written = []
    targets = sorted({Path(p).name[:-len(".csv")] for p in ahp_csvs})
    for name, suffix in tables.items():
        rows = []
        for p in sorted(map(Path, ahp_csvs)):
            f = p.with_name(p.stem + suffix)
            if not f.exists():
                raise AHPError(f"missing {f} (needed for {name}; targets: {', '.join(targets)})")
            rows += read_table_rows(f)
        write_text(out_dir / name, table_text(rows))
        written.append(out_dir / name)
    return written


# --------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="taskonomy ahp", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("target", help="tournament matrix + AHP vector + Quality/Gain of one target")
    t.add_argument("target")
    t.add_argument("--transfers", nargs="+", required=True,
                   help="transfers/<target>/<srcset>/losses.parquet files (incl. random)")
    t.add_argument("--beam", help="beam/<size>/<target>.json: names the source sets of the "
                   "higher-order transfers (folders named by rank positions, top1+top2)")
    t.add_argument("--self", dest="self_", help="tasks/<target>/losses.parquet (none: an own task, "
                   "no Quality)")
    t.add_argument("--pixels", help="baselines/<target>/scratch/losses.parquet (for Gain)")
    t.add_argument("--npz", required=True, help="output tournaments/<target>.npz")
    t.add_argument("--csv", required=True, help="output ahp/<target>.csv")
    g = sub.add_parser("gather", help="affinity.csv, wins_vs_task.csv, wins_vs_pixels.csv")
    g.add_argument("--ahp", nargs="+", required=True, help="ahp/<target>.csv files")
    g.add_argument("--out-dir", required=True)
    a = ap.parse_args(argv)
    try:
        started = lineage.now()
        if a.cmd == "target":
            positions = read_positions(a.beam) if a.beam else None
            res = compute_target(a.target, a.transfers, a.self_, a.pixels, positions)
            written = write_target(res, a.npz, a.csv)
            for p in written:
                print(f"wrote {p}")
            lineage.record(written, [*a.transfers, *([a.self_] if a.self_ else []), *([a.pixels] if a.pixels else []),
                                     *([a.beam] if a.beam else [])],
                           params={"target": a.target, "clip": CLIP}, started=started)
            best = np.argsort(-res.affinity)[:5]
            print(f"{a.target}: {len(res.sources)} sources x {res.n_images} images; top: " +
                  ", ".join(f"{res.sources[i]}={res.affinity[i]:.4f}" for i in best))
        else:
            written = gather(a.ahp, a.out_dir)
            for p in written:
                print(f"wrote {p}")
            siblings = [Path(p).with_name(Path(p).stem + sfx) for p in a.ahp for sfx in TABLES.values()]
            lineage.record(written, [f for f in siblings if f.exists()], params={"tables": TABLES},
                           started=started)
    except AHPError as e:
        print(f"taskonomy ahp: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
