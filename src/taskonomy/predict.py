"""Run trained networks on your own image(s) and write their predictions as PNGs.

    taskonomy predict --task normal --img photo.jpg --out preds/
    taskonomy predict --task depth_zbuffer --img folder/ --out preds/ --results results/default
    taskonomy predict --task reshading --img photo.jpg --out preds/ --model results/default/tasks/reshading/model.pt

Without ``--model``: the baseline and consistency networks of the task
(``<results>/consistency/<task>/{baseline,consistency}/model.pt``) and, where the energy stage
has run, the per-pixel consistency energy of each. With ``--model`` (repeatable): any network of
the pipeline, a Stage I task network (``tasks/<task>/model.pt``) or a consistency UNet.
Images are centre-cropped to a square and resized to the network's input size. Writes
``<name>_<task>_<model>.png``, ``<name>_<task>_<model>_energy.png``, a side-by-side
``<name>_<task>_panel.png`` and ``predict.json`` (energies; low-dim outputs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from taskonomy.tasks import LOWDIM, PIXEL, SIAMESE, TASKS, UnknownTaskError, resolve


class PredictError(ValueError):
    """Bad input to predict: missing model, unreadable image, mismatched task."""


def load_any(path: Path, task: str | None):
    """(network, output task, input size, label) of a Stage I or consistency checkpoint."""
    if not path.is_file():
        raise PredictError(f"model not found: {path}")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(ck.get("arch"), dict):
        from taskonomy.consistency.unet import load_unet
        net, meta = load_unet(path)
        out_task, label = meta["output"], meta.get("mode") or f"{meta['input']}_to_{meta['output']}"
    elif "task" in ck and "state_dict" in ck:
        from taskonomy.models import ModelSettings, create_model
        out_task = ck["task"]
        cfg = json.loads(ck.get("config") or "{}")
        if TASKS[out_task].kind == SIAMESE:
            raise PredictError(f"{path}: {out_task} takes {TASKS[out_task].views} views, not one image")
        if TASKS[out_task].kind == "none":
            raise PredictError(f"{path}: the random encoder has no prediction to show")
        hw = tuple(ck.get("input_hw") or (32, 32))
        from taskonomy.encode import checkpoint_channels
        net = create_model("task_network", task=out_task, settings=ModelSettings.from_dict(cfg.get("model")),
                           input_hw=hw, channels=checkpoint_channels(ck["state_dict"]))
        net.load_state_dict(ck["state_dict"])
        net.eval()
        meta = {"input_hw": list(hw)}
        label = "task_network"
    else:
        raise PredictError(f"{path} is not a taskonomy model checkpoint (no task or arch entry)")
    if task is not None and out_task != task:
        raise PredictError(f"{path} predicts {out_task!r}, not --task {task!r}")
    return net, out_task, int(meta["input_hw"][-1]), label


def _save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image
    from taskonomy.io import atomic_path
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def _save_panel(path: Path, tiles, name: str, task: str) -> None:
    """Input, then each model's prediction (and energy map), side by side with titles."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from taskonomy.io import atomic_path
    fig, axes = plt.subplots(1, len(tiles), figsize=(2.0 * len(tiles), 2.35), dpi=90)
    for ax, (title, arr) in zip(axes, tiles):
        ax.imshow(arr)
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{name}: {task}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def predict(task: str, img, out: Path, results: Path, models=(), size=None, device="cpu") -> dict:
    from taskonomy.consistency.images import list_images, load_image
    from taskonomy.consistency.viz import to_image
    files = list_images(img)
    entries = []       # (label, net, size, energy model or None)
    if models:
        for m in models:
            net, _, s, label = load_any(Path(m), task)
            entries.append((label, net, s, None))
    else:
        base = results / "consistency" / task
        found = [(mode, base / mode / "model.pt") for mode in ("baseline", "consistency")]
        if not any(p.is_file() for _, p in found):
            hint = results / "tasks" / task / "model.pt"
            more = f"; or pass --model {hint}" if hint.is_file() else ""
            raise PredictError(f"no trained networks for {task!r}: neither {found[0][1]} nor {found[1][1]} "
                               f"exists (enable the consistency stage for {task} and run the pipeline{more})")
        stats = base / "energy" / "stats.json"
        for mode, p in found:
            if not p.is_file():
                print(f"predict: {p} missing, skipping {mode}", file=sys.stderr)
                continue
            net, _, s, _ = load_any(p, task)
            em = None
            if stats.is_file():
                from taskonomy.consistency.energy import EnergyModel
                doms = sorted(json.loads(stats.read_text())[mode])
                try:
                    em = EnergyModel.load(results / "consistency", task, mode, doms, stats, device)
                except FileNotFoundError as e:
                    print(f"predict: no energy for {mode}: {e}", file=sys.stderr)
            else:
                print(f"predict: {stats} missing: no energy maps (run the consistency energy stage)",
                      file=sys.stderr)
            entries.append((mode, net, s, em))
    out.mkdir(parents=True, exist_ok=True)
    report = {"task": task, "images": {}}
    for f in files:
        tiles = []
        rec = {}
        for label, net, s, em in entries:
            x = load_image(f, size or s)[None].to(device)
            net.to(device)
            with torch.no_grad():
                pred = net(x).float()
            if not tiles:
                tiles.append(("input (resized)", to_image("rgb", x[0])))
            stem = f"{f.stem}_{task}_{label}"
            if TASKS[task].kind in (LOWDIM,):
                rec[label] = {"output": pred[0].tolist()}
                continue
            arr = to_image(task, pred[0])
            _save_png(out / f"{stem}.png", arr)
            tiles.append((label, arr))
            rec[label] = {"png": f"{stem}.png"}
            if em is not None:
                with torch.no_grad():
                    _, terms = em.terms(x)
                    e_img, e_px = em.energy(terms)
                earr = to_image("energy", e_px[0])
                _save_png(out / f"{stem}_energy.png", earr)
                tiles.append((f"{label} energy", earr))
                rec[label].update({"energy": float(e_img[0]), "energy_png": f"{stem}_energy.png"})
        if len(tiles) > 1:
            _save_panel(out / f"{f.stem}_{task}_panel.png", tiles, f.name, task)
        report["images"][str(f)] = rec
    from taskonomy.io import write_json
    write_json(out / "predict.json", report)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="task to predict (normal, depth_zbuffer, reshading, ...)")
    p.add_argument("--img", required=True, help="an image file or a folder of images")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--results", type=Path, default=Path("results/default"), help="results/<run> folder")
    p.add_argument("--model", action="append", default=[], help="a model.pt to run (repeatable)")
    p.add_argument("--size", type=int, default=None, help="input side (default: the network's training size)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    a = p.parse_args(argv)
    try:
        task = resolve(a.task)
        if TASKS[task].kind not in (PIXEL, LOWDIM, "classes", "embedding"):
            raise PredictError(f"task {task!r} ({TASKS[task].kind}) has no single-image prediction")
        from taskonomy.consistency.images import ImageReadError
        try:
            rep = predict(task, a.img, a.out, a.results, a.model, a.size, a.device)
        except ImageReadError as e:
            raise PredictError(str(e)) from None
    except (PredictError, UnknownTaskError, FileNotFoundError) as e:
        print(f"taskonomy predict: {e}", file=sys.stderr)
        return 2
    n = len(rep["images"])
    print(f"wrote predictions of {n} image(s) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
