"""Per-image losses of every task kind (names from ``taskonomy.tasks``: l1, l2, l1_masked, ce,
ce_rebalanced, kl, metric).

Every function returns one value per image (shape (B,)): training minimises their mean, and
Stage II writes them unreduced to ``losses.parquet`` (the paper's tournaments compare sources
image by image). Pixel losses average over valid pixels only (mask ``m``), so images with
little valid data are not down-weighted.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from taskonomy.tasks import TASKS

METRIC_MARGIN = 1.0        # squared distance between embeddings of different segments
METRIC_SAMPLES = 256       # pixels sampled per image for the metric loss (a fixed grid)


def _mask(m, like):
    if m is None:
        return torch.ones(like.shape[0], 1, *like.shape[-2:], dtype=like.dtype, device=like.device)
    return m.to(like.dtype)


def masked_mean(err, m):
    """err (B, C, H, W), m (B, 1, H, W) -> (B,) mean over valid pixels and channels."""
    num = (err * m).flatten(1).sum(1)
    den = (m.flatten(1).sum(1) * err.shape[1]).clamp(min=1.0)
    return num / den


def l1(pred, y, m=None):
    if pred.dim() == 2:
        return (pred - y).abs().mean(1)
    return masked_mean((pred - y).abs(), _mask(m, pred))


def l2(pred, y, m=None):
    if pred.dim() == 2:
        return ((pred - y) ** 2).mean(1)
    return masked_mean((pred - y) ** 2, _mask(m, pred))


def ce(logits, y, m=None):
    """Cross-entropy of a vector: y int class, or a float one-hot / distribution (soft CE)."""
    logp = F.log_softmax(logits.float(), dim=1)
    if y.dtype.is_floating_point and y.dim() == 2:
        return -(y * logp).sum(1)
    return F.nll_loss(logp, y.long().view(-1), reduction="none")


def kl(logits, y, m=None):
    """KL(y || softmax(logits)) for a target distribution y (class_object pixel shares)."""
    logp = F.log_softmax(logits.float(), dim=1)
    y = y.float()
    y = y / y.sum(1, keepdim=True).clamp(min=1e-8)
    return (y * (torch.log(y.clamp(min=1e-8)) - logp)).sum(1)


def ce_rebalanced(logits, y, m=None, class_weights=None):
    """Per-pixel CE weighted by class (inverse-frequency weights of the training split)."""
    ce_px = F.cross_entropy(logits.float(), y.long(), reduction="none")        # (B, H, W)
    w = torch.ones_like(ce_px) if class_weights is None else class_weights.to(ce_px)[y.long()]
    if m is not None:
        w = w * m[:, 0].to(w)
    return (w * ce_px).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1e-8)


def _grid(h, w, n, device):
    step = max(1, int(((h * w) / n) ** 0.5))
    ys = torch.arange(step // 2, h, step, device=device)
    xs = torch.arange(step // 2, w, step, device=device)
    return (ys[:, None] * w + xs[None, :]).reshape(-1)


def metric(emb, seg, m=None):
    """Contrastive metric loss on a fixed pixel grid: pull same-segment pairs together, push
    different-segment pairs beyond the margin; positive and negative terms weigh equally."""
    b, d, h, w = emb.shape
    idx = _grid(h, w, METRIC_SAMPLES, emb.device)
    e = emb.float().flatten(2)[:, :, idx].transpose(1, 2)                     # (B, n, D)
    s = seg.reshape(b, -1)[:, idx]
    valid = torch.ones_like(s, dtype=torch.bool) if m is None else m.reshape(b, -1)[:, idx] > 0.5
    dist = torch.cdist(e, e) ** 2
    pair_ok = (valid[:, :, None] & valid[:, None, :]).float()
    pair_ok = pair_ok * (1 - torch.eye(len(idx), device=emb.device))
    same = (s[:, :, None] == s[:, None, :]).float()
    pos, neg = same * pair_ok, (1 - same) * pair_ok
    pos_term = (pos * dist).flatten(1).sum(1) / pos.flatten(1).sum(1).clamp(min=1)
    neg_term = (neg * F.relu(METRIC_MARGIN - dist)).flatten(1).sum(1) / neg.flatten(1).sum(1).clamp(min=1)
    return pos_term + neg_term


LOSSES = {"l1": l1, "l1_masked": l1, "l2": l2, "ce": ce, "kl": kl,
          "ce_rebalanced": ce_rebalanced, "metric": metric}


def per_image_loss(task: str, pred, y, m=None, class_weights=None):
    """Loss of ``task`` per image, shape (B,)."""
    name = TASKS[task].loss
    if name not in LOSSES:
        raise ValueError(f"task {task!r} has no trainable loss ({name!r})")
    if name == "ce_rebalanced":
        return ce_rebalanced(pred, y, m, class_weights)
    return LOSSES[name](pred, y, m)


def class_weights_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """Rebalancing weights from pixel counts per class: inverse square-root frequency, mean 1
    over the classes that occur (unseen classes get the largest seen weight)."""
    freq = counts.double() / counts.sum().clamp(min=1)
    w = torch.where(freq > 0, freq.clamp(min=1e-6) ** -0.5, torch.zeros_like(freq))
    w = w / w[freq > 0].mean()
    w[freq == 0] = w.max() if (freq > 0).any() else 1.0
    return w.float()
