"""Write real photographs that scikit-image ships (``skimage.data``; nothing is downloaded)
to a folder, as the out-of-distribution images of the consistency energy and of ``predict``.

    python -m taskonomy.consistency.ood --out results/default/consistency/ood --names astronaut coffee
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from taskonomy.io import atomic_path


def write_photos(out, names) -> list[Path]:
    import skimage.data
    out = Path(out)
    paths = []
    for n in names:
        fn = getattr(skimage.data, n, None)
        if fn is None or not callable(fn):
            raise ValueError(f"config key 'consistency.ood_images': skimage.data has no image {n!r}")
        try:
            arr = np.asarray(fn())
        except Exception as e:      # images that need a download (pooch) are refused here
            raise ValueError(f"skimage.data.{n} is not available offline: {e}") from None
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        img = Image.fromarray(arr[..., :3].astype(np.uint8))
        p = out / f"{n}.png"
        with atomic_path(p) as tmp:
            img.save(tmp, format="PNG")
        paths.append(p)
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.consistency.ood", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--names", nargs="+", required=True, help="skimage.data image names")
    a = p.parse_args(argv)
    from taskonomy import lineage
    import skimage
    outs = [a.out / f"{n}.png" for n in a.names]
    with lineage.track(outs, params={"names": a.names, "skimage": skimage.__version__}):
        for path in write_photos(a.out, a.names):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
