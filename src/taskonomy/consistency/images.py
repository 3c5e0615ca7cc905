"""Reading arbitrary images (no ground truth) for ``predict`` and the energy of a folder.

Each image is centre-cropped to a square and resized (antialiased bilinear) to the networks'
input size, then scaled to [-1, 1] like the loader's RGB. Unreadable files raise
``ImageReadError`` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class ImageReadError(ValueError):
    """An image path that does not exist or cannot be decoded."""


def list_images(path) -> list[Path]:
    """The image itself, or the images of a folder (sorted; by extension)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
        if not files:
            raise ImageReadError(f"no images ({', '.join(EXTENSIONS)}) in folder {p}")
        return files
    if not p.exists():
        raise ImageReadError(f"image not found: {p}")
    return [p]


def load_image(path, size: int) -> torch.Tensor:
    """3 x size x size float32 in [-1, 1]."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            arr = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageReadError(f"cannot read image {path}: {e}") from None
    return torch.from_numpy(arr / 127.5 - 1.0).permute(2, 0, 1).contiguous()


def load_folder(path, size: int) -> tuple[list[Path], torch.Tensor]:
    files = list_images(path)
    return files, torch.stack([load_image(f, size) for f in files])
