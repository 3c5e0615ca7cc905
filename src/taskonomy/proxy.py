"""Stage II predicted before it trains: a closed-form readout of the cached representations.

Nearly all of the method's cost is Stage II (one trained transfer per source set and target).
This module scores a (source set, target) pair in milliseconds from the same inputs a transfer
reads (``reps/<src>/<split>.npy``, ``targets/<t>/<split>.npz``) with no training loop: a ridge
regression from the sources' frozen features (concatenated channel-wise, as the transfer
readout, for higher orders) to the target, fitted on the ``n`` images a transfer of that target
trains on and scored, per image, with the target's own loss (``taskonomy.losses``) on the
transfer split's held-out images (``stagedata.heldout_indices``) - never on the test images
that Stage III scores. Per target kind:

- pixel maps (l1 / l2): every representation cell's 3x3 neighbourhood predicts the output
  patch it covers (a linear transposed-conv decoder; invalid pixels filled with the training
  mean);
- dense classes (segment_semantic): the same on one-hot labels, the scores turned into
  probabilities by a softmax whose temperature is fitted on the training images;
- embeddings (segment_unsup*, metric loss): a within-image linear discriminant of the
  bilinearly upsampled features (segments apart, pixels of one segment together) and the
  embedding scale that minimises the metric loss on the training images;
- vectors and multi-view targets (lowdim, siamese): ridge on the flattened features (views
  concatenated); class / distribution targets (ce, kl) through a tempered softmax as above.

The ridge penalty is chosen per fit by exact leave-one-out error on the training rows (one SVD
per fit), so nothing is tuned on the scored images. ``self`` is the same readout of the
target's own encoder (the proxy of its fully supervised network). Per target the proxy writes
per-image losses of every first-order source, ``self``, ``random`` and the beam's higher-order
sets over the proxy's own ranking (``taskonomy.beam``), and runs the same Stage III AHP on
them (``taskonomy.ahp``): a proxy affinity table in the paper's schema (no Gain table: there
is no scratch baseline on the held-out images). bench/proxy.md measures how well it predicts
the trained table.

    python -m taskonomy.proxy --target normal --size 16k --sources autoencoding ... random \\
        --reps results/default/reps --targets results/default/targets --config config.yaml \\
        --out results/default/proxy/16k/normal
    python -m taskonomy.proxy --gather results/default/proxy/16k/*/ahp.csv \\
        --out results/default/proxy/16k/tables
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from taskonomy import lineage
from taskonomy.beam import kept_sources
from taskonomy.io import atomic_path, write_json
from taskonomy.labels import load_labels
from taskonomy.losses import _grid, METRIC_SAMPLES, per_image_loss
from taskonomy.tasks import CLASSES, EMBEDDING, PIXEL, SIAMESE, TASKS, parse_source_set

#: vector targets: the representation average-pooled to this many cells a side (0: as is)
VECTOR_GRID = 0
#: ridge penalties tried (times the mean squared singular value of the standardised features)
LAMBDAS = np.logspace(-4, 2, 9)
#: softmax temperatures tried for class / distribution targets
TEMPERATURES = np.logspace(-1, 2, 16)
#: scales of the discriminant embedding tried for the metric loss
SCALES = np.logspace(-1.5, 0.5, 5)
#: training images the embedding's scale and number of directions are chosen on
EMBED_FIT_IMAGES = 16
SELF = "self"


# ----------------------------------------------------------------------------- ridge

def ridge_loo(X: np.ndarray, Y: np.ndarray, lambdas=LAMBDAS) -> tuple[np.ndarray, float]:
    """Ridge regression with intercept, its penalty chosen by exact leave-one-out error.

    X (n, d), Y (n, k). Returns (W (d+1, k) with the intercept last, the chosen penalty).
    Columns of X are expected standardised. One thin SVD X = U S V^T serves every penalty l:
    with f = s^2 / (s^2 + l) the fit is U diag(f) U^T Y, the hat matrix's diagonal
    h = (U^2) f + 1/n, and the leave-one-out residual of row i is r_i / (1 - h_i); its squared
    norm is expanded so that no penalty costs an n x k product."""
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    G = U.T @ Yc                                   # (d, k)
    M = G @ G.T                                    # (d, d)
    P = Yc @ G.T                                   # (n, d): row i . column j = Y_i . G_j
    yy = (Yc ** 2).sum(1)
    scale = float((s ** 2).mean()) if len(s) and s.max() > 0 else 1.0
    best = None
    for lam in np.asarray(lambdas) * scale:
        f = s ** 2 / (s ** 2 + lam)
        Uf = U * f
        # ||Y_i - fit_i||^2 = ||Y_i||^2 - 2 fit_i . Y_i + ||fit_i||^2, fit_i = (U_i * f) G
        res = yy - 2 * (Uf * P).sum(1) + ((Uf @ M) * Uf).sum(1)
        h = (U ** 2) @ f + 1.0 / len(X)
        err = float((np.clip(res, 0, None) / np.clip(1.0 - h, 1e-6, None) ** 2).mean())
        if best is None or err < best[0]:
            best = (err, lam)
    lam = best[1]
    coef = Vt.T @ ((s / (s ** 2 + lam))[:, None] * G)
    return np.vstack([coef, (my - mx @ coef)[None]]), float(lam)


def loo_predictions(X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    """Leave-one-out predictions of the ridge fit with penalty ``lam`` (small n only)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    Xc, my = X - X.mean(0), Y.mean(0)
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    f = s ** 2 / (s ** 2 + lam)
    r = (Y - my) - U @ (f[:, None] * (U.T @ (Y - my)))
    h = (U ** 2) @ f + 1.0 / len(X)
    return Y - r / np.clip(1.0 - h, 1e-6, None)[:, None]


def predict(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.asarray(X, np.float64) @ W[:-1] + W[-1]


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Z-score every column by the training rows' statistics (constant columns: centred)."""
    mu, sd = train.mean(0), train.std(0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    return [(a - mu) / sd for a in (train, *others)]


def fit_temperature(scores: np.ndarray, loss_of) -> float:
    """The softmax temperature T (logits = T * scores) with the lowest mean ``loss_of``."""
    return float(min(TEMPERATURES, key=lambda T: float(loss_of(T * scores).mean())))


# ----------------------------------------------------------------------------- features

def cell_features(x: torch.Tensor) -> np.ndarray:
    """(N, C, h, w) -> (N*h*w, 9C): each cell's 3x3 neighbourhood (zero-padded)."""
    n, c, h, w = x.shape
    u = F.unfold(x.float(), 3, padding=1)                   # (N, 9C, h*w)
    return u.transpose(1, 2).reshape(n * h * w, 9 * c).numpy().astype(np.float64)


def to_patches(y: torch.Tensor, stride: int) -> np.ndarray:
    """(N, K, H, W) -> (N*h*w, K*stride^2): the output patch under each representation cell."""
    n = y.shape[0]
    u = F.unfold(y.float(), stride, stride=stride)          # (N, K*s*s, h*w)
    return u.transpose(1, 2).reshape(-1, u.shape[1]).numpy().astype(np.float64)


def from_patches(p: np.ndarray, n: int, hw: tuple[int, int], stride: int) -> torch.Tensor:
    """Inverse of :func:`to_patches`."""
    h, w = hw
    u = torch.from_numpy(p.astype(np.float32)).reshape(n, h * w, -1).transpose(1, 2)
    return F.fold(u, (h * stride, w * stride), stride, stride=stride)


def vector_features(x: torch.Tensor, grid: int | None = None) -> np.ndarray:
    """(N, [V,] C, h, w) -> (N, features): each view's map average-pooled to ``grid`` x
    ``grid`` cells (VECTOR_GRID; None: not pooled), flattened, views concatenated."""
    grid = VECTOR_GRID if grid is None else grid
    lead = x.shape[:-3]
    m = x.reshape(-1, *x.shape[-3:]).float()
    if grid:
        m = F.adaptive_avg_pool2d(m, grid)
    return m.reshape(*lead, -1).reshape(lead[0], -1).double().numpy()


def fill_invalid(y: torch.Tensor, m: torch.Tensor | None, mean: torch.Tensor) -> torch.Tensor:
    """Invalid pixels (m = 0) set to the per-channel training mean: they carry no signal."""
    if m is None:
        return y
    return torch.where(m > 0.5, y, mean.view(1, -1, 1, 1).to(y))


def masked_channel_mean(y: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    if m is None:
        return y.float().mean((0, 2, 3))
    w = (m > 0.5).float()
    return (y.float() * w).sum((0, 2, 3)) / w.sum((0, 2, 3)).clamp(min=1.0)


def one_hot(y: torch.Tensor, k: int) -> torch.Tensor:
    """Integer labels -> one-hot along dim 1 ((N,) -> (N, k); (N, H, W) -> (N, k, H, W));
    float (N, k) targets (one-hot or distributions) pass through."""
    if y.dtype.is_floating_point:
        return y.float()
    oh = F.one_hot(y.long(), k).float()
    return oh if oh.dim() == 2 else oh.permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------- one readout

def readout_losses(target: str, x_tr: torch.Tensor, tg_tr: dict, x_ev: torch.Tensor, tg_ev: dict,
                   class_weights: torch.Tensor | None = None,
                   channels: int | None = None) -> tuple[np.ndarray, dict]:
    """Fit the closed-form readout of ``target`` on (x_tr, tg_tr) and return the per-image loss
    on (x_ev, tg_ev) and what was chosen (penalty, temperature, scale).

    ``x_*``: (N, C, h, w) or, multi-view, (N, V, C, h, w) (``transfer.transfer_data``'s ``x``);
    ``tg_*``: ``y`` and optionally ``m`` of the same samples; ``channels``: the number of
    classes where the dataset sets it (the release's; else the task's)."""
    task = TASKS[target]
    n_classes = channels or task.channels
    y_tr, y_ev = tg_tr["y"], tg_ev["y"]
    m_tr, m_ev = tg_tr.get("m"), tg_ev.get("m")
    info: dict = {}
    if task.kind == EMBEDDING:
        return _embedding_losses(x_tr, y_tr, m_tr, x_ev, y_ev, m_ev)
    if task.kind in (PIXEL, CLASSES):
        stride = y_tr.shape[-1] // x_tr.shape[-1]
        n_ev, hw = len(x_ev), tuple(x_ev.shape[-2:])
        A_tr, A_ev = standardise(cell_features(x_tr), cell_features(x_ev))
        if task.kind == PIXEL:
            Y = to_patches(fill_invalid(y_tr, m_tr, masked_channel_mean(y_tr, m_tr)), stride)
            W, info["lambda"] = ridge_loo(A_tr, Y)
            pred = from_patches(predict(W, A_ev), n_ev, hw, stride)
            return per_image_loss(target, pred, y_ev, m_ev).numpy(), info
        k = n_classes
        W, info["lambda"] = ridge_loo(A_tr, to_patches(one_hot(y_tr, k), stride))
        pred_tr = from_patches(predict(W, A_tr), len(x_tr), hw, stride)
        T = fit_temperature(pred_tr, lambda z: per_image_loss(target, z, y_tr, m_tr, class_weights))
        info["temperature"] = T
        pred = from_patches(predict(W, A_ev), n_ev, hw, stride)
        return per_image_loss(target, T * pred, y_ev, m_ev, class_weights).numpy(), info
    # vectors per image or per tuple of views: flattened features
    A_tr, A_ev = standardise(vector_features(x_tr), vector_features(x_ev))
    if task.loss in ("ce", "kl"):
        Y = one_hot(y_tr, n_classes).double().numpy()
        W, info["lambda"] = ridge_loo(A_tr, Y)
        # the temperature on leave-one-out scores: in-sample ones are overfitted (d >> n)
        loo = torch.from_numpy(loo_predictions(A_tr, Y, info["lambda"])).float()
        T = fit_temperature(loo, lambda z: per_image_loss(target, z, y_tr))
        info["temperature"] = T
        pred = torch.from_numpy(predict(W, A_ev)).float()
        return per_image_loss(target, T * pred, y_ev).numpy(), info
    W, info["lambda"] = ridge_loo(A_tr, y_tr.reshape(len(y_tr), -1).double().numpy())
    pred = torch.from_numpy(predict(W, A_ev)).float().reshape(y_ev.shape)
    return per_image_loss(target, pred, y_ev).numpy(), info


def _on_grid(x: torch.Tensor, out_hw: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """The values of ``x`` (N, C, h, w), bilinearly upsampled to ``out_hw``, at the metric
    loss's pixel grid only, as a small (N, C, gh, gw) map (and the grid's shape). On a map that
    small the metric loss's grid is every pixel, so ``losses.metric`` of it is the metric loss
    of the full-resolution map."""
    up = F.interpolate(x.float(), size=out_hw, mode="bilinear", align_corners=False)
    idx = _grid(*out_hw, METRIC_SAMPLES, up.device)
    gh = len(torch.unique(idx // out_hw[1]))
    shape = (gh, len(idx) // gh)
    assert len(_grid(*shape, METRIC_SAMPLES, up.device)) == len(idx)
    return up.flatten(2)[:, :, idx].reshape(len(x), x.shape[1], *shape), shape


def _embedding_losses(x_tr, y_tr, m_tr, x_ev, y_ev, m_ev) -> tuple[np.ndarray, dict]:
    """Within-image linear discriminant: directions that separate an image's segments relative
    to the spread inside its segments, scaled for the metric loss's margin. Linear maps commute
    with the bilinear upsampling, so everything is computed on the metric loss's pixel grid."""
    from taskonomy.losses import metric
    out_hw = tuple(y_tr.shape[-2:])
    idx = _grid(*out_hw, METRIC_SAMPLES, "cpu")

    def labels(y, m):
        gy = y.reshape(len(y), -1)[:, idx]
        return gy, (None if m is None else m.reshape(len(m), -1)[:, idx])

    g_tr, shape = _on_grid(x_tr, out_hw)
    g_ev, _ = _on_grid(x_ev, out_hw)
    c = g_tr.shape[1]
    f_tr = g_tr.flatten(2).transpose(1, 2).double()                         # (N, n, C)
    mu, sd = f_tr.reshape(-1, c).mean(0), f_tr.reshape(-1, c).std(0).clamp(min=1e-8)
    f_tr = (f_tr - mu) / sd
    seg_tr, gm_tr = labels(y_tr, m_tr)
    seg_ev, gm_ev = labels(y_ev, m_ev)
    s_total, s_within = torch.zeros(c, c, dtype=torch.float64), torch.zeros(c, c, dtype=torch.float64)
    for f, s in zip(f_tr, seg_tr):
        d = f - f.mean(0)
        s_total += d.T @ d
        _, inv = torch.unique(s, return_inverse=True)
        means = torch.zeros(int(inv.max()) + 1, c, dtype=torch.float64).index_add_(0, inv, f)
        means /= torch.bincount(inv).double()[:, None]
        r = f - means[inv]
        s_within += r.T @ r
    # generalized eigenproblem S_total v = l (S_within + eps I) v via whitening by S_within
    eps = 1e-3 * torch.trace(s_within) / c
    ew, ev = torch.linalg.eigh(s_within + eps * torch.eye(c, dtype=torch.float64))
    white = ev / ew.sqrt()
    vals, vecs = torch.linalg.eigh(white.T @ s_total @ white)
    # best directions first, scaled so a pixel's spread inside its segment is about 1 per
    # direction (S_within sums over every grid pixel of every training image)
    proj = (white @ vecs[:, vals.argsort(descending=True)] * float(f_tr.shape[0] * f_tr.shape[1]) ** 0.5).float()

    def embed(g, k):
        z = (g - mu.float().view(1, -1, 1, 1)) / sd.float().view(1, -1, 1, 1)
        return torch.einsum("nchw,cd->ndhw", z, proj[:, :k]) / k ** 0.5

    def grid_maps(seg, gm):
        return seg.reshape(len(seg), *shape), None if gm is None else gm.reshape(len(gm), 1, *shape)

    st, mt = grid_maps(seg_tr, gm_tr)
    # how many directions and which scale (the metric loss has a fixed margin): the pair with
    # the lowest metric loss on the training images
    # (on at most EMBED_FIT_IMAGES training images: the metric loss is the costly part)
    sub = slice(0, EMBED_FIT_IMAGES)
    dims = sorted({min(c, k) for k in (2, 4, 8)})
    cands = [(float(metric(a * embed(g_tr[sub], k), st[sub], None if mt is None else mt[sub]).mean()), k, float(a))
             for k in dims for a in SCALES]
    _, k, a = min(cands)
    se, me = grid_maps(seg_ev, gm_ev)
    return metric(a * embed(g_ev, k), se, me).numpy(), {"scale": a, "dims": k}


# ----------------------------------------------------------------------------- one target

class Problem:
    """One target's proxy data: the cached representations of every source on the transfer
    split and the target's labels, split into the images a transfer trains on and the held-out
    images it is scored on (``stagedata``: the same seeded permutation as Stage II)."""

    def __init__(self, settings: dict, reps_dir, targets_dir):
        from taskonomy.stagedata import heldout_indices, subset_indices
        self.target = settings["target"]
        self.reps_dir = Path(reps_dir)
        split = settings["train_split"]
        self.split = split
        tg = load_labels(Path(targets_dir) / self.target / f"{split}.npz")
        n = len(tg["y"])
        tr = subset_indices(n, settings["n"], settings["subset_seed"])
        ho = heldout_indices(n, settings["n"], settings.get("heldout"), settings["subset_seed"])
        if tr is None or ho is None:
            raise ValueError(f"proxy for {self.target}: the transfer split ({n} images) has no image "
                             f"left after the {settings['n']} a transfer trains on; nothing to score on")
        self.idx = {"train": tr, "heldout": ho}
        self.tg = {part: {k: v[i] for k, v in tg.items() if k in ("y", "m", "image", "views")}
                   for part, i in self.idx.items()}
        self.images = self.tg["heldout"]["image"].numpy()
        from taskonomy.train import class_weights
        self.channels = int(tg["channels"]) if "channels" in tg else None
        self.class_weights = class_weights(self.target, self.tg["train"]["y"], self.tg["train"].get("m"),
                                           self.channels)
        self._reps: dict[str, torch.Tensor] = {}

    def reps(self, source: str) -> torch.Tensor:
        if source not in self._reps:
            path = self.reps_dir / source / f"{self.split}.npy"
            if not path.exists():
                raise FileNotFoundError(f"representation cache {path} missing (source {source!r})")
            self._reps[source] = torch.from_numpy(np.load(path).astype(np.float32))
        return self._reps[source]

    def inputs(self, sources, part: str) -> torch.Tensor:
        """(N, C, h, w) or (N, V, C, h, w): the sources' channels concatenated, per view."""
        reps = torch.cat([self.reps(s) for s in sources], dim=1)
        views = self.tg[part]["views"]
        x = reps[views.reshape(-1)].view(len(views), views.shape[1], *reps.shape[1:])
        return x if TASKS[self.target].kind == SIAMESE else x[:, 0]

    def losses(self, sources) -> tuple[np.ndarray, dict]:
        """Per-image held-out losses of the readout over ``sources`` (and its choices)."""
        t0 = time.perf_counter()
        loss, info = readout_losses(self.target, self.inputs(sources, "train"), self.tg["train"],
                                    self.inputs(sources, "heldout"), self.tg["heldout"], self.class_weights,
                                    self.channels)
        info["seconds"] = round(time.perf_counter() - t0, 4)
        return loss.astype(np.float64), info


def score_target(settings: dict, sources, reps_dir, targets_dir, max_order: int = 1, top_k: int = 5,
                 beam_width: int = 1):
    """Proxy losses of every source set of one target: first order (``sources`` but the
    target), ``self`` (the target's own representation) and the beam's higher orders over the
    proxy ranking. Returns (``{set name: per-image losses}``, image ids, a report dict)."""
    from taskonomy.beam import higher_order_sets
    p = Problem(settings, reps_dir, targets_dir)
    target = p.target
    first = [s for s in sources if s != target]
    losses, infos = {}, {}
    for s in first:
        losses[s], infos[s] = p.losses([s])
    ranked = sorted(first, key=lambda s: (float(losses[s].mean()), s))
    sets = higher_order_sets(ranked, max_order, top_k, beam_width)
    for names in sets.values():
        for name in names:
            losses[name], infos[name] = p.losses(list(parse_source_set(name)))
    losses[SELF], infos[SELF] = p.losses([target])
    report = {"target": target, "size": settings["size"], "ranked": ranked,
              "mean_loss": {k: float(v.mean()) for k, v in losses.items()},
              "fits": infos, "sets": {str(k): v for k, v in sets.items()},
              "n_train": len(p.idx["train"]), "n_heldout": len(p.images),
              "scored_on": f"{p.split} held-out images (not the test images)",
              "max_order": max_order, "top_k": top_k, "beam_width": beam_width}
    return losses, p.images, report


def write_target(losses: dict[str, np.ndarray], images: np.ndarray, report: dict, out: Path) -> list[Path]:
    """``out/`` gets scores.json (the ranking, mean losses, fits), losses.parquet (per image and
    source set, long format), and the Stage III AHP of the proxy losses: tournament.npz,
    ahp.csv and ahp.wins_vs_task.csv (the paper's schema; Quality = wins against ``self``)."""
    import pandas as pd
    from taskonomy import ahp
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(losses)
    df = pd.DataFrame({"sources": np.repeat(names, len(images)), "image": np.tile(images, len(names)),
                       "loss": np.concatenate([losses[n] for n in names])})
    with atomic_path(out / "losses.parquet") as tmp:
        df.to_parquet(tmp, index=False)
    res = ahp.from_losses(report["target"], names, np.stack([losses[n] for n in names]))
    written = ahp.write_target(res, out / "tournament.npz", out / "ahp.csv")
    report = {**report, "affinity": dict(zip(res.sources, map(float, res.affinity)))}
    write_json(out / "scores.json", report)
    return [out / "scores.json", out / "losses.parquet", *written]


def ranking(scores_json) -> list[str]:
    """The proxy's first-order ranking of a target's sources, best first."""
    return json.loads(Path(scores_json).read_text())["ranked"]


# ----------------------------------------------------------------------------- pruning

def trained_files(transfers, beam_file=None) -> dict[str, Path]:
    """{source set: losses.parquet} of every trained transfer of a target in ``transfers``
    (``transfers/<size>/<target>/``; higher orders by their source sets, through the target's
    beam file)."""
    from taskonomy.beam import read_positions
    positions = read_positions(beam_file) if beam_file and Path(beam_file).is_file() else {}
    return {positions.get(f.parent.name, f.parent.name): f for f in sorted(Path(transfers).glob("*/losses.parquet"))}


def pruned_sets(proxy_ranked, heldout_ranked, top: int, max_order: int = 2, top_k: int = 5,
                beam_width: int = 1) -> list[str]:
    """The source sets a Stage II pruned to the proxy's ``top`` best sources trains for a target:
    those, random, and the beam's higher orders over them ranked by their held-out losses
    (``heldout_ranked``, the trained first order's ranking: the beam's)."""
    from taskonomy.beam import higher_order_sets, pool_of
    keep = kept_sources(proxy_ranked, top)
    higher = higher_order_sets(pool_of([s for s in heldout_ranked if s in keep]), max_order, top_k, beam_width)
    return [*keep, *(n for names in higher.values() for n in names)]


def pruned_stage3(results, size: str, targets, proxy_ranked: dict[str, list[str]] | None,
                  top: int | None, out, max_order: int = 2, top_k: int = 5, beam_width: int = 1,
                  extra: dict[str, dict[str, Path]] | None = None, transfers=None) -> dict:
    """Stage III (taskonomy.ahp) of a finished run on only the transfers ``transfer.prune:
    {top: m}`` would have trained (``proxy_ranked``: each target's proxy ranking; ``extra``:
    {target: {source set: losses.parquet}} of higher-order sets the run did not train); the
    pruned sources are left out of the tournament. Writes ``out/ahp/<target>.*`` and
    ``out/tables/{affinity,wins_vs_task,wins_vs_pixels}.csv``; with ``top`` None (nothing
    pruned) these are the run's own Stage III files, byte for byte. ``transfers``: another
    folder of the run's transfers (default ``results/transfers/<size>``; e.g. a seed replicate's,
    first order only: ``max_order`` 1). Returns how many transfers entered and the sets that
    were wanted but found nowhere (left out)."""
    from taskonomy import ahp
    results, out = Path(results), Path(out)
    n, missing = 0, {}
    for t in targets:
        beam_file = results / "beam" / size / f"{t}.json"
        files = {**trained_files(Path(transfers or results / "transfers" / size) / t, beam_file),
                 **(extra or {}).get(t, {})}
        if top is None:
            sets = list(files)
        else:
            heldout_ranked = json.loads(beam_file.read_text())["ranked"] if max_order > 1 else []
            wanted = pruned_sets(proxy_ranked[t], heldout_ranked, top, max_order, top_k, beam_width)
            sets = [s for s in wanted if s in files]
            missing[t] = [s for s in wanted if s not in files]
        n += len(sets)
        res = ahp.compute_target(t, [files[s] for s in sets], results / "tasks" / t / "losses.parquet",
                                 results / "baselines" / size / t / "scratch" / "losses.parquet",
                                 {files[s].parent.name: s for s in sets})
        ahp.write_target(res, out / "ahp" / f"{t}.npz", out / "ahp" / f"{t}.csv")
    ahp.gather([out / "ahp" / f"{t}.csv" for t in targets], out / "tables")
    return {"transfers": n, "missing": missing}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m taskonomy.proxy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", help="the target task")
    ap.add_argument("--size", help="transfer-data size name (config transfer.sizes)")
    ap.add_argument("--sources", nargs="+", help="the target's candidate first-order sources")
    ap.add_argument("--reps", help="reps/ folder (reps/<src>/<split>.npy)")
    ap.add_argument("--targets", help="targets/ folder (targets/<task>/<split>.npz)")
    ap.add_argument("--settings", help="the target's resolved transfer settings (JSON)")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--max-order", type=int, default=None)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--beam-width", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--gather", nargs="+", help="per-target ahp.csv files -> --out/affinity.csv, wins_vs_task.csv")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    a = ap.parse_args(argv)
    started = lineage.now()
    if a.gather:
        from taskonomy import ahp
        written = ahp.gather(a.gather, a.out, tables=ahp.QUALITY_TABLES)
        lineage.record(written, [Path(p).with_name(Path(p).stem + s) for p in a.gather
                                 for s in ahp.QUALITY_TABLES.values()], params={}, started=started)
        for p in written:
            print(f"wrote {p}")
        return 0
    if not (a.target and a.size and a.sources and a.reps and a.targets):
        ap.error("--target, --size, --sources, --reps and --targets are required (or --gather)")
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.settings:
        settings = json.loads(a.settings)
    else:
        from taskonomy.config import load_config
        from taskonomy.settings import transfer_settings
        settings = transfer_settings(load_config(a.config), a.target, a.size)
    from taskonomy.settings import TRANSFER_DEFAULTS as d
    losses, images, report = score_target(settings, a.sources, a.reps, a.targets,
                                          a.max_order or d["max_order"], a.top_k or d["top_k"],
                                          a.beam_width or d["beam_width"])
    written = write_target(losses, images, report, a.out)
    tg = Path(a.targets) / settings["target"] / f"{settings['train_split']}.npz"
    lineage.record(written, [tg, *[Path(a.reps) / s / f"{settings['train_split']}.npy"
                                   for s in {*a.sources, settings["target"]}]],
                   params={"settings": settings, "sources": list(a.sources)}, started=started)
    seconds = sum(f["seconds"] for f in report["fits"].values())
    print(f"{report['target']}: {len(losses)} source sets scored on {len(images)} held-out images in "
          f"{seconds:.2f} s; proxy top 5: {' '.join(report['ranked'][:5])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
