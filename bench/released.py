"""Benchmark the released-encoder path on the real photographs scikit-image ships: random
weights in the released file format (nothing can be downloaded), then what a user's run does
with their downloaded files: `taskonomy weights check`, reading each file (weights_only, keys and
shapes checked), the photographs centre-cropped and resized to 256 px, the 8 x 16 x 16
representation per image.

    PYTHONPATH=src .venv/bin/python bench/released.py [--device cpu|cuda] [--threads 2] [--repeat 3]

Prints a Markdown table and a JSON line; results in bench/released.md.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from taskonomy import weights
from taskonomy.consistency.images import load_folder
from taskonomy.consistency.ood import write_photos
from taskonomy.models import create_model

PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "rocket", "hubble_deep_field",
          "immunohistochemistry", "retina"]
TASKS = ["normal", "principal_curvature", "depth_zbuffer"]


def timed(fn, repeat: int = 1):
    """(result of the last call, median seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows, res = [], {"device": str(dev), "threads": a.threads, "photos": PHOTOS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_photos(tmp / "photos", PHOTOS)
        for i, t in enumerate(TASKS):                   # random weights, released format
            torch.manual_seed(i)
            weights.write_released(create_model("resnet50_released").state_dict(), t, tmp / "w")
        rep, s = timed(lambda: weights.check(tmp / "w"))
        assert rep["ok"], rep
        rows.append((f"`taskonomy weights check` ({len(TASKS)} files, ~95 MB each)", s, s / len(TASKS), "file"))
        (files, x), s = timed(lambda: load_folder(tmp / "photos", weights.INPUT_SIZE), a.repeat)
        n = len(files)
        rows.append((f"read {n} photographs, crop + resize to 256 px", s, s / n, "image"))
        paths = sorted((tmp / "w").iterdir())
        enc, s = timed(lambda: weights.load_encoder(paths[0]), a.repeat)
        rows.append(("read one weight file (weights_only, checked) into resnet50_released", s, s, "file"))

        def run(bs):
            out = weights.represent(enc, x, dev, batch_size=bs)
            sync()
            return out
        run(1)                                          # warm-up (allocator, kernels)
        r1, s1 = timed(lambda: run(1), a.repeat)
        rb, sb = timed(lambda: run(n), a.repeat)
        assert r1.shape == (n, 8, 16, 16) and torch.isfinite(r1).all()
        assert torch.allclose(r1, rb, atol=1e-4)       # batching changes nothing (eval mode)
        rows.append(("representation, batch 1", s1, s1 / n, "image"))
        rows.append((f"representation, batch {n}", sb, sb / n, "image"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            from taskonomy.cli import main as cli
            _, s = timed(lambda: cli(["weights", "encode", "--weights", str(paths[0]), "--img", str(tmp / "photos"),
                                      "--out", str(tmp / "reps.npy"), "--device", a.device,
                                      "--threads", str(a.threads)]))
        rows.append((f"`taskonomy weights encode --img` ({n} photographs, whole command in-process)",
                     s, s / n, "image"))
    print("| step | wall (s) | per unit (ms) |\n|---|---|---|")
    for name, s, per, unit in rows:
        print(f"| {name} | {s:.2f} | {per * 1000:.0f} per {unit} |")
    res["rows"] = [{"step": r[0], "seconds": round(r[1], 3), "ms_per": round(r[2] * 1000, 1), "per": r[3]}
                   for r in rows]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
