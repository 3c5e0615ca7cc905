"""Label caches: a target's labels on a split, written batch by batch and read memory-mapped.

``targets/<task>/<split>.npz`` is an ordinary uncompressed NumPy archive (``np.load`` opens
it) of ``y`` (labels), optional ``m`` (mask), ``image`` (per-sample image index), ``views``
((N, V) image indices of the sample's views, used to gather cached representations) and the
0-d ``channels`` (the networks' output width). Two things make it fit a split of any size:

- :func:`write_labels` takes the samples as an iterable of batches and appends each key to a
  scratch file as they come, then copies those into the archive: memory stays flat (one batch).
- Every member is stored uncompressed with its data 64-byte aligned in the file, so
  :func:`load_labels` maps each array straight from the archive (copy-on-write) as a tensor:
  a transfer touches only the rows it gathers.

    write_labels("targets/normal/test.npz", batches, scalars={"channels": 3})
    t = load_labels("targets/normal/test.npz")     # {"y": tensor (memory-mapped), ...}
"""
from __future__ import annotations

import mmap
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from taskonomy.io import atomic_path

ALIGN = 64
# arrays smaller than this are read (a page or less; 0-d and empty arrays cannot be mapped)
MAP_MIN_BYTES = 4096
# a member's timestamp: fixed, so equal labels give a byte-identical file
_DATE = (1980, 1, 1, 0, 0, 0)


def _as_array(v) -> np.ndarray:
    a = v.numpy() if torch.is_tensor(v) else np.asarray(v)
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)    # (keeps 0-d arrays 0-d)


def _npy_header(dtype: np.dtype, shape: tuple, start: int) -> bytes:
    """A version 1.0 ``.npy`` header, padded so that the array's data begins at a multiple of
    ``ALIGN`` bytes from the start of the file (the member starts at ``start``)."""
    d = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": tuple(int(s) for s in shape)})
    pad = -(start + 10 + len(d) + 1) % ALIGN
    text = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def _write_member(zf: zipfile.ZipFile, key: str, dtype: np.dtype, shape: tuple, data) -> None:
    """One stored ``<key>.npy`` member; ``data``: bytes or an open binary file to copy."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    with zf.open(info, "w", force_zip64=True) as f:
        f.write(_npy_header(dtype, shape, zf.fp.tell()))    # the local header is written on open
        if isinstance(data, bytes):
            f.write(data)
        else:
            shutil.copyfileobj(data, f, 1 << 22)


def write_labels(path, batches: Iterable[dict], scalars: dict | None = None) -> dict[str, tuple]:
    """Write the samples of ``batches`` (dicts of equal-length arrays or tensors, the same keys
    and per-sample shapes in every batch) and the 0-d ``scalars`` to the archive at ``path``
    (atomically). Returns each key's shape."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as scratch:
        try:
            for b in batches:
                arrays = {k: _as_array(v) for k, v in b.items()}
                if set(arrays) != set(cols) and cols:
                    raise ValueError(f"{path}: a batch has keys {sorted(arrays)}, the first had {sorted(cols)}")
                for k, a in arrays.items():
                    c = cols.get(k)
                    if c is None:
                        c = cols[k] = {"file": open(Path(scratch) / f"{len(cols)}.bin", "wb"),
                                       "dtype": a.dtype, "row": a.shape[1:], "n": 0}
                    elif (a.dtype, a.shape[1:]) != (c["dtype"], c["row"]):
                        raise ValueError(f"{path}: key {k!r} changed from {c['dtype']}{c['row']} "
                                         f"to {a.dtype}{a.shape[1:]} between batches")
                    c["file"].write(a.tobytes())
                    c["n"] += len(a)
        finally:
            for c in cols.values():
                c["file"].close()
        if not cols:
            raise ValueError(f"{path}: no samples to write")
        counts = {k: c["n"] for k, c in cols.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"{path}: keys have different sample counts {counts}")
        shapes = {k: (c["n"], *c["row"]) for k, c in cols.items()}
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for k, c in cols.items():
                with open(c["file"].name, "rb") as f:
                    _write_member(zf, k, c["dtype"], shapes[k], f)
            for k, v in (scalars or {}).items():
                a = _as_array(v)
                if a.ndim:
                    raise ValueError(f"{path}: scalar {k!r} has shape {a.shape}")
                _write_member(zf, k, a.dtype, (), a.tobytes())
                shapes[k] = ()
    return shapes


def save_labels(path, t: dict) -> dict[str, tuple]:
    """:func:`write_labels` of a label dict held in memory (0-d entries are the scalars)."""
    arrays = {k: v for k, v in t.items() if _as_array(v).ndim}
    scalars = {k: v for k, v in t.items() if k not in arrays}
    return write_labels(path, [arrays], scalars)


def release_pages(arr) -> None:
    """Hand the resident pages of a memory-mapped array (``np.memmap``, ``np.load(mmap_mode=)``)
    back to the OS: they are read again from the file when next touched, so a job that reads a
    cache batch by batch keeps one batch resident, not every page it has read. Only for arrays
    read, not written (a copy-on-write page written to would revert to the file)."""
    mm = getattr(arr, "_mmap", None)
    if mm is not None:
        mm.madvise(mmap.MADV_DONTNEED)


class Labels(dict):
    """A label cache's arrays by key (``load_labels``), with :meth:`release`."""

    def __init__(self, *args, maps=(), **kw):
        super().__init__(*args, **kw)
        self.maps = list(maps)

    def release(self) -> None:
        """:func:`release_pages` of every array mapped from the file."""
        for a in self.maps:
            release_pages(a)


def load_labels(path) -> Labels:
    """The archive's arrays as tensors, each mapped from the file (copy-on-write: writing to
    one never changes the file). Members must be stored uncompressed (as written here)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label cache {path} missing")
    out = Labels()
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{path}: member {info.filename} is compressed; label caches are "
                                 "stored uncompressed (taskonomy.labels.write_labels)")
            f.seek(info.header_offset)
            local = f.read(30)
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            if version != (1, 0):
                raise ValueError(f"{path}: member {info.filename} has .npy version {version}")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            if fortran:
                raise ValueError(f"{path}: member {info.filename} is in Fortran order")
            offset, nbytes = f.tell(), int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if nbytes < MAP_MIN_BYTES:
                a = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape).copy()
            else:
                a = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape)
                out.maps.append(a)
            out[info.filename[:-4]] = torch.from_numpy(a)
    return out
