"""The paper's released encoders: check a folder of downloaded weight files, compute
representations with them, and write our own encoders in their format.

    taskonomy weights check ~/taskonomy-weights            # which tasks are there; bad files named
    taskonomy weights encode --weights DIR/normal_encoder-<hash>.pth --img photos/ --out photos.npy
    taskonomy weights export --model results/x/tasks/normal/model.pt --out DIR

The released PyTorch encoders (PyPI ``visualpriors``) are files ``<feature>_encoder-<hash>.pth``,
each a dict whose ``state_dict`` holds the weights of ``resnet50_released``
(``taskonomy.models.encoders``). They are read with ``torch.load(weights_only=True)`` from a
folder the user downloaded them to: nothing here fetches anything. Feature names are the
package's, which are our task ids except ``curvature`` (``principal_curvature``).
Representations follow the package: RGB in [-1, 1] resized to 256 px, 8 x 16 x 16 out.

With ``model.released_weights: DIR`` in config.yaml, Stage I takes these encoders for the tasks
found in DIR instead of training them (``rules/tasks.smk``, rule ``released_encoder``: this
module's ``encode``, which records each weight file's sha256 in the representations' lineage).
There the representations are average-pooled to the run's own representation grid (that of
``model.encoder`` at the data's image size), so they combine with the run's other sources in
Stage II; on 256 px data with a 16-stride encoder that is 16 x 16 and nothing is pooled.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import pickle
import re
import sys
import time
from pathlib import Path

from taskonomy.tasks import resolve

# The package's feature names (visualpriors.VisualPrior.viable_feature_tasks), each ours but one.
RELEASED_FEATURES = (
    "autoencoding", "colorization", "curvature", "denoising", "edge_texture", "edge_occlusion",
    "egomotion", "fixated_pose", "jigsaw", "keypoints2d", "keypoints3d", "nonfixated_pose",
    "point_matching", "reshading", "depth_zbuffer", "depth_euclidean", "normal", "room_layout",
    "segment_unsup25d", "segment_unsup2d", "segment_semantic", "class_object", "class_scene",
    "inpainting", "vanishing_point")
FEATURE_TO_TASK = {f: "principal_curvature" if f == "curvature" else f for f in RELEASED_FEATURES}
TASK_TO_FEATURE = {t: f for f, t in FEATURE_TO_TASK.items()}
ENCODER_FILE = re.compile(r"^(?P<feature>[a-z0-9_]+)_encoder(?:-(?P<hash>[0-9a-fA-F]+))?\.pth$")
RELEASED_ENCODER = "resnet50_released"
INPUT_SIZE = 256            # the released encoders' input: 256 px, RGB in [-1, 1]
BATCH = 16


class WeightsError(ValueError):
    """A released weight file or folder that cannot be used; the message names it."""


def released_file_name(task: str, digest: str) -> str:
    if task not in TASK_TO_FEATURE:
        raise WeightsError(f"task {task!r} has no released encoder "
                           f"(released: {', '.join(sorted(TASK_TO_FEATURE))})")
    return f"{TASK_TO_FEATURE[task]}_encoder-{digest}.pth"


def find_released(folder, key: str = "model.released_weights") -> dict[str, Path]:
    """{task id: encoder file} of the released encoder files in ``folder``, from their names
    alone (no torch: the workflow calls it while building the DAG). Other files (the released
    decoders) are ignored; an encoder file of an unknown feature, or two of one task, is an
    error naming the files."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise WeightsError(f"config key {key!r}: released weights folder {folder} not found")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        m = ENCODER_FILE.match(p.name)
        if not m:
            continue
        feature = m["feature"]
        if feature not in FEATURE_TO_TASK:
            hint = (f" (the released name of {feature!r} is {TASK_TO_FEATURE[feature]!r})"
                    if feature in TASK_TO_FEATURE else "")
            raise WeightsError(f"{p}: unknown feature name {feature!r}{hint}; the released encoders are "
                               + ", ".join(RELEASED_FEATURES))
        task = FEATURE_TO_TASK[feature]
        if task in found:
            raise WeightsError(f"{folder}: two encoder files for {feature!r}: {found[task].name} and "
                               f"{p.name}; keep one")
        found[task] = p
    return found


# ------------------------------------------------------------------ reading the files (torch)
@functools.lru_cache(maxsize=1)
def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the released encoder's state_dict and its shape (built on the meta device:
    no memory, no initialisation)."""
    import torch
    from taskonomy.models import create_model
    with torch.device("meta"):
        enc = create_model(RELEASED_ENCODER)
    return {k: tuple(v.shape) for k, v in enc.state_dict().items()}


def _few(keys, n: int = 4) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "") if keys else "none"


# BatchNorm files saved by torch < 0.4.1 have no batch counter; loading fills it in
OPTIONAL_SUFFIX = ".num_batches_tracked"


def read_state_dict(path) -> dict:
    """The ``state_dict`` of a released encoder file, checked against ``resnet50_released``:
    loaded with ``weights_only=True``; an unreadable file, a missing ``state_dict`` entry, a
    missing or unexpected key or a wrong shape is a WeightsError naming the file."""
    import torch
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:      # truncated or corrupt zip, pickled code, not a torch file at all
        # (torch's own unpickling message suggests weights_only=False: not advice to pass on)
        why = "" if isinstance(e, pickle.UnpicklingError) else f": {str(e).strip()[:160]}"
        raise WeightsError(f"{path}: not a readable weight file (corrupt, truncated, or more than tensors "
                           f"and dicts; {type(e).__name__}{why})") from None
    if not isinstance(ck, dict) or not isinstance(ck.get("state_dict"), dict):
        found = sorted(map(str, ck)) if isinstance(ck, dict) else type(ck).__name__
        raise WeightsError(f"{path}: expected a dict with a 'state_dict' entry (the released format), "
                           f"found {found}")
    sd = ck["state_dict"]
    want = expected_shapes()
    missing = [k for k in want if k not in sd and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in sd if k not in want]
    if missing or unexpected:
        raise WeightsError(f"{path}: keys do not match the released encoder: missing {_few(missing)}; "
                           f"unexpected {_few(unexpected)}")
    bad = [k for k in sd if not isinstance(sd[k], torch.Tensor) or tuple(sd[k].shape) != want[k]]
    if bad:
        shown = "; ".join(f"{k} {tuple(getattr(sd[k], 'shape', ()))} (expected {want[k]})" for k in bad[:4])
        raise WeightsError(f"{path}: wrong shape of {len(bad)} weight(s): {shown}")
    return sd


def load_encoder(path):
    """The released encoder of ``path`` (strict load), frozen, in eval mode."""
    from taskonomy.models import create_model
    enc = create_model(RELEASED_ENCODER)
    enc.load_state_dict(read_state_dict(path), strict=True)
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def check(folder) -> dict:
    """What ``taskonomy weights check`` reports: per released task its file, sha256 and status
    (``ok`` or the error), the released tasks that are not there, and whether all are usable."""
    found = find_released(folder, key="DIR")
    if not found:
        raise WeightsError(f"{folder}: no released encoder files (<feature>_encoder-<hash>.pth, "
                           f"e.g. normal_encoder-f5e2c773....pth)")
    from taskonomy.lineage import file_sha256
    rows = []
    for task, path in found.items():
        try:
            read_state_dict(path)
            status = "ok"
        except WeightsError as e:
            status = str(e)
        rows.append({"task": task, "feature": TASK_TO_FEATURE[task], "file": str(path),
                     "sha256": file_sha256(path), "status": status})
    used = {p.name for p in found.values()}
    return {"folder": str(folder), "encoders": rows,
            "missing": sorted(set(TASK_TO_FEATURE) - set(found)),
            "ignored": sorted(p.name for p in Path(folder).expanduser().iterdir() if p.name not in used),
            "ok": all(r["status"] == "ok" for r in rows)}


# ------------------------------------------------------------------ representations
def represent(encoder, x, device="cpu", batch_size: int = BATCH, grid=None):
    """Representations (N, 8, 16, 16) of images ``x`` (N, 3, H, W) in [-1, 1]: resized to 256 px
    as the released encoders expect, then average-pooled to ``grid`` (h, w) if given."""
    import torch
    import torch.nn.functional as F
    encoder.to(device)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            b = x[i:i + batch_size].to(device, torch.float32)
            if tuple(b.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
                b = F.interpolate(b, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                                  antialias=b.shape[-1] > INPUT_SIZE)
            r = encoder(b)
            if grid is not None and tuple(r.shape[-2:]) != tuple(grid):
                r = F.adaptive_avg_pool2d(r, tuple(grid))
            out.append(r.float().cpu())
    return torch.cat(out)


def run_grid(model_settings: dict, image_hw) -> tuple[int, int]:
    """The representation grid (h, w) of the run's own encoder (``model`` settings; keys left
    out take their defaults) on images of ``image_hw``: what the run's other sources give
    Stage II."""
    import torch
    from taskonomy.models import ModelSettings
    from taskonomy.models.networks import build_encoder
    enc = build_encoder(ModelSettings.from_dict(model_settings)).eval()
    with torch.no_grad():
        return tuple(enc(torch.zeros(1, 3, *image_hw)).shape[-2:])


def encode_split(weights, data_root, split: str, task: str, model_settings: dict | None,
                 device="auto", batch_size: int = BATCH):
    """Stage I of a released task: the representations of every image of ``split`` (image-index
    order, the encoder's input as for our own encoders), on the run's grid."""
    from taskonomy import engine
    from taskonomy.encode import rep_inputs
    x = rep_inputs(data_root, split, task).t["x"]
    grid = run_grid(model_settings, x.shape[-2:]) if model_settings is not None else None
    return represent(load_encoder(weights), x, engine.resolve_device(device), batch_size, grid)


def encode_split_to_file(weights, data_root, split: str, task: str, model_settings: dict | None, out,
                         dtype="float16", device="auto", batch_size: int = BATCH, num_workers: int = 0):
    """:func:`encode_split` decoded and encoded batch by batch and appended to the ``.npy`` at
    ``out`` (``taskonomy.encode.append_npy``): the same file, byte for byte, in flat memory.
    Returns the array's shape."""
    from taskonomy import engine
    from taskonomy.encode import append_npy, split_inputs
    encoder, dev = load_encoder(weights), engine.resolve_device(device)
    n, inputs = split_inputs(data_root, split, task, batch_size, num_workers)

    def rows():
        grid = None
        for x in inputs:
            if grid is None and model_settings is not None:
                grid = run_grid(model_settings, x.shape[-2:])
            yield represent(encoder, x, dev, batch_size, grid).numpy().astype(dtype)
    return append_npy(out, n, rows(), f"images of {data_root} split {split}")


def export(model_path, out_dir) -> Path:
    """Write the encoder of a task network trained with ``model.encoder: resnet50_released``
    (a Stage I ``model.pt``) as a released file ``<feature>_encoder-<sha256>.pth`` in ``out_dir``
    (the hash: sha256 of the file). Returns its path."""
    from taskonomy import engine
    ck = engine.load_checkpoint(model_path)
    encoder = json.loads(ck["config"]).get("model", {}).get("encoder")
    if encoder != RELEASED_ENCODER:
        raise WeightsError(f"{model_path}: its encoder is {encoder!r}; only networks trained with "
                           f"model.encoder: {RELEASED_ENCODER} have the released format")
    prefix = "encoder."
    return write_released({k[len(prefix):]: v for k, v in ck["state_dict"].items() if k.startswith(prefix)},
                          ck["task"], out_dir)


def write_released(state_dict: dict, task: str, out_dir) -> Path:
    """Save an encoder's ``state_dict`` as the released files are, ``{"state_dict": ...}`` in
    ``<feature>_encoder-<sha256 of the file>.pth`` (atomically). Returns its path."""
    import torch
    from taskonomy.io import write_bytes
    buf = io.BytesIO()
    torch.save({"state_dict": state_dict}, buf)
    data = buf.getvalue()
    path = Path(out_dir) / released_file_name(task, hashlib.sha256(data).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return path


# ------------------------------------------------------------------ command line
def _print_check(rep: dict) -> None:
    rows = rep["encoders"]
    n = f"{len(rows)} of {len(TASK_TO_FEATURE)}"
    print(f"released encoders in {rep['folder']}: {n} (--json: their sha256)")
    w = max(len(r["task"]) for r in rows)
    for r in rows:
        ok = r["status"] == "ok"
        print(f"  {r['task']:<{w}}  " + ("ok     " + Path(r["file"]).name if ok else "ERROR  " + r["status"]))
    if rep["missing"]:
        print(f"not there: {', '.join(rep['missing'])}")
    if rep["ignored"]:
        print(f"ignored (not <feature>_encoder-<hash>.pth): {', '.join(rep['ignored'])}")


def _cmd_check(args) -> int:
    rep = check(args.dir)
    print(json.dumps(rep, indent=2)) if args.json else _print_check(rep)
    return 0 if rep["ok"] else 1


def _cmd_export(args) -> int:
    print(export(args.model, args.out))
    return 0


def _cmd_encode(args) -> int:
    """A folder of photographs (--img) or a dataset's splits (--data, the pipeline's rule)."""
    import numpy as np
    from taskonomy import engine, lineage
    from taskonomy.encode import save_npy
    engine.setup_torch(args.threads, 0)
    started = lineage.now()
    if args.img:
        from taskonomy.consistency.images import load_folder
        if len(args.out) != 1:
            raise WeightsError("--img writes one --out file")
        t0 = time.perf_counter()
        files, x = load_folder(args.img, INPUT_SIZE)
        arr = represent(load_encoder(args.weights), x, engine.resolve_device(args.device)).numpy()
        save_npy(args.out[0], arr.astype(args.dtype))
        print(json.dumps({"images": [f.name for f in files], "shape": list(arr.shape),
                          "out": str(args.out[0]), "seconds": round(time.perf_counter() - t0, 2)}))
        lineage.record(args.out, [args.weights, *files], params={"weights": str(args.weights)},
                       started=started)
        return 0
    if not args.data or not args.task or len(args.split) != len(args.out):
        raise WeightsError("encode needs --img, or --data, --task and one --out per --split")
    model = json.loads(args.model) if args.model else None
    for split, out in zip(args.split, args.out):
        t0 = time.perf_counter()
        shape = encode_split_to_file(args.weights, args.data, split, args.task, model, out, np.dtype(args.dtype),
                                     args.device, num_workers=args.num_workers)
        print(json.dumps({"task": args.task, "split": split, "shape": list(shape), "out": str(out),
                          "seconds": round(time.perf_counter() - t0, 2)}))
    # the weight file is an input: its sha256 is in every representation's lineage record
    lineage.record(args.out, [args.weights], data=args.data, started=started,
                   params={"task": args.task, "weights": str(args.weights), "model": model,
                           "split": args.split, "dtype": args.dtype, "device": args.device})
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy weights", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="list the released encoders in DIR and check every file")
    c.add_argument("dir", type=Path)
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(fn=_cmd_check)
    e = sub.add_parser("encode", help="representations of a released encoder")
    e.add_argument("--weights", required=True, type=Path, help="<feature>_encoder-<hash>.pth")
    e.add_argument("--img", type=Path, help="an image or a folder of images")
    e.add_argument("--data", help="dataset root (with --task, --split)")
    e.add_argument("--task", help="task id of the encoder (its input: see taskonomy.stagedata)")
    e.add_argument("--split", nargs="+", default=[])
    e.add_argument("--model", help="the run's model settings (JSON): pool to its representation grid")
    e.add_argument("--out", required=True, type=Path, nargs="+", help="one .npy per split (or for --img)")
    e.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int, default=None)
    e.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers decoding the split batch by batch (--data)")
    e.set_defaults(fn=_cmd_encode)
    x = sub.add_parser("export", help="write a resnet50_released task network's encoder as a released file")
    x.add_argument("--model", required=True, type=Path, help="a Stage I model.pt")
    x.add_argument("--out", required=True, type=Path, help="folder for <feature>_encoder-<sha256>.pth")
    x.set_defaults(fn=_cmd_export)
    args = p.parse_args(argv)
    if getattr(args, "task", None):
        args.task = resolve(args.task)
    try:
        return args.fn(args)
    except WeightsError as err:
        print(f"taskonomy weights: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
