"""Per-image evaluation metrics beyond the loss, where the paper has one.

normal: mean angular error (degrees) over valid pixels; segment_semantic: pixel accuracy;
classification vectors (class_scene, class_object, point_matching, jigsaw): top-1 accuracy
(against the argmax for distributions). Each returns a dict name -> tensor of shape (B,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from taskonomy.tasks import CLASSES, TASKS


def angular_error_deg(pred, y, m=None):
    cos = F.cosine_similarity(pred.float(), y.float(), dim=1, eps=1e-6).clamp(-1, 1)   # (B, H, W)
    ang = torch.rad2deg(torch.acos(cos))
    w = torch.ones_like(ang) if m is None else m[:, 0].to(ang)
    return (ang * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1)


def pixel_accuracy(logits, y, m=None):
    hit = (logits.argmax(1) == y.long()).float()
    w = torch.ones_like(hit) if m is None else m[:, 0].to(hit)
    return (hit * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1)


def top1(logits, y):
    target = y.argmax(1) if (y.dtype.is_floating_point and y.dim() == 2) else y.long().view(-1)
    return (logits.argmax(1) == target).float()


def per_image_metrics(task: str, pred, y, m=None) -> dict[str, torch.Tensor]:
    t = TASKS[task]
    if task == "normal":
        return {"angular_error": angular_error_deg(pred, y, m)}
    if t.kind == CLASSES:
        return {"accuracy": pixel_accuracy(pred, y, m)}
    if t.loss in ("ce", "kl"):
        return {"accuracy": top1(pred, y)}
    return {}
