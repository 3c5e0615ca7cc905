"""Lineage sidecars: where every artifact came from, and whether it is still up to date.

Each artifact ``X`` gets ``X.lineage.json`` beside it: its own content hash, its inputs with
their content hashes, the config subset (params) that made it, the seed, the code version (git
commit + dirty flag + a hash of the package source), host, command and start/end times. A
stage CLI records it in one line, after its outputs are written::

    from taskonomy import lineage
    with lineage.track(outputs=[out], inputs=[data_manifest, ckpt], params=settings, seed=seed):
        ...                                   # write the outputs (atomically, taskonomy.io)
    # or, after the fact:
    lineage.record(outputs=[out], inputs=[...], params=settings, seed=seed)

``taskonomy lineage PATH`` prints the tree from an artifact back to data, config and code and
flags every artifact whose inputs changed since it was made (``--check``: exit 1 if any).
Sidecars are written atomically and only after the block succeeds, so a killed job leaves
none. Paths are stored as given (relative to the working directory, the repo root in rules).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from taskonomy.io import write_json

SUFFIX = ".lineage.json"
FORMAT = 1
_PKG_DIR = Path(__file__).resolve().parent
# (path, size, mtime_ns) -> sha256: each file is hashed once per process.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sidecar(path: str | os.PathLike) -> Path:
    """The lineage file of an artifact (a file or a directory)."""
    p = Path(path)
    return p.with_name(p.name + SUFFIX)


def file_sha256(path: str | os.PathLike) -> str:
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def content_hash(path: str | os.PathLike) -> str | None:
    """sha256 of a file; of a directory: over its files' relative paths and hashes (lineage
    sidecars and temporary files excluded). None if the path does not exist."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        if f.name.endswith(SUFFIX) or f.name.endswith(".tmp") or ".tmp." in f.name:
            continue
        h.update(f.relative_to(p).as_posix().encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return "dir:" + h.hexdigest()


def package_hash() -> str:
    """sha256 over the package's Python source (paths + contents), the code that ran."""
    h = hashlib.sha256()
    for f in sorted(_PKG_DIR.rglob("*.py")):
        h.update(f.relative_to(_PKG_DIR).as_posix().encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return h.hexdigest()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_PKG_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """git commit + dirty flag of the checkout the package runs from (None outside git),
    the package source hash and version."""
    from taskonomy import __version__

    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no", "--", str(_PKG_DIR))
        dirty = bool(status) if status is not None else None
    return {"git_commit": commit, "git_dirty": dirty, "package_sha256": package_hash(),
            "version": __version__}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _jsonable(obj: Any) -> Any:
    """params as JSON: dataclasses and paths are common in settings."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def _portable(path: str | os.PathLike) -> str:
    """Absolute paths inside the working directory (e.g. package data of an editable install)
    are stored relative to it, so the record stays valid in another clone."""
    p = os.fspath(path)
    if os.path.isabs(p):
        rel = os.path.relpath(p)
        if not rel.startswith(".."):
            return rel
    return p


def record(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike] = (),
           params: Any = None, seed: int | None = None, started: str | None = None,
           ended: str | None = None) -> list[Path]:
    """Write ``<output>.lineage.json`` for every output (which must exist). Returns the paths."""
    outputs = [_portable(o) for o in outputs]
    inputs = [_portable(i) for i in inputs]
    missing = [o for o in outputs if not os.path.exists(o)]
    if missing:
        raise FileNotFoundError(f"lineage.record: output(s) not written: {', '.join(missing)}")
    in_records = []
    for i in inputs:
        digest = content_hash(i)
        if digest is None:
            raise FileNotFoundError(f"lineage.record: input not found: {i}")
        in_records.append({"path": i, "sha256": digest})
    base = {
        "format": FORMAT,
        "outputs": outputs,
        "inputs": in_records,
        "params": _jsonable(params),
        "seed": seed,
        "code": code_version(),
        "host": socket.gethostname(),
        "workdir": os.getcwd(),
        "command": [os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]],
        "python": sys.version.split()[0],
        "started": started,
        "ended": ended or _now(),
    }
    written = []
    for o in outputs:
        rec = dict(base, artifact=o, sha256=content_hash(o))
        write_json(sidecar(o), rec)
        written.append(sidecar(o))
    return written


@contextlib.contextmanager
def track(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike] = (),
          params: Any = None, seed: int | None = None) -> Iterator[None]:
    """Time the block and, if it succeeds, record the lineage of ``outputs``."""
    outputs, inputs = list(outputs), list(inputs)
    started = _now()
    yield
    record(outputs, inputs, params=params, seed=seed, started=started)


# ---- reading: the lineage tree ----------------------------------------------------------

@dataclass
class Node:
    """One artifact or leaf input in the tree; ``status`` is ok | changed | missing |
    modified (the artifact no longer matches its own record) | untracked (no sidecar)."""

    path: str
    status: str
    record: dict | None = None
    children: list["Node"] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.status != "ok" and self.status != "untracked" or any(c.stale for c in self.children)


def load(path: str | os.PathLike) -> dict | None:
    sc = sidecar(path)
    if not sc.is_file():
        return None
    with open(sc) as f:
        return json.load(f)


def _resolve(path: str, rec: dict | None) -> str:
    """A stored path relative to the current directory, else to the recorder's workdir."""
    if os.path.exists(path) or os.path.isabs(path) or not rec:
        return path
    alt = os.path.join(rec.get("workdir", ""), path)
    return alt if os.path.exists(alt) else path


def build_tree(path: str | os.PathLike, expected: str | None = None, parent: dict | None = None,
               _seen: set[str] | None = None) -> Node:
    """The lineage tree of ``path``; ``expected`` is the hash a consumer recorded for it."""
    _seen = set() if _seen is None else _seen
    path = _resolve(os.fspath(path), parent)
    current = content_hash(path)
    rec = load(path)
    if current is None:
        status = "missing"
    elif expected is not None and current != expected:
        status = "changed"
    elif rec is not None and rec.get("sha256") != current:
        status = "modified"
    elif rec is None:
        status = "untracked"
    else:
        status = "ok"
    node = Node(path, status, rec)
    key = os.path.realpath(path)
    if rec is not None and key not in _seen:
        _seen.add(key)
        for i in rec.get("inputs", []):
            node.children.append(build_tree(i["path"], i["sha256"], rec, _seen))
    return node


_MARK = {"ok": "", "untracked": "", "missing": "  !! MISSING",
         "changed": "  !! CHANGED since the consumer was made (rerun it)",
         "modified": "  !! MODIFIED after its lineage was recorded"}


def format_tree(node: Node, indent: str = "", last: bool = True, root: bool = True) -> list[str]:
    branch = "" if root else ("└── " if last else "├── ")
    rec = node.record
    if rec is None:
        kind = "data/config (no lineage record)" if node.status != "missing" else ""
        lines = [f"{indent}{branch}{node.path}  [{kind}]{_MARK[node.status]}".replace("  []", "")]
    else:
        code = rec.get("code", {})
        commit = (code.get("git_commit") or "no-git")[:10] + ("+dirty" if code.get("git_dirty") else "")
        lines = [f"{indent}{branch}{node.path}  [{rec.get('ended', '?')} on {rec.get('host', '?')};"
                 f" code {commit} src {code.get('package_sha256', '?')[:10]}; seed {rec.get('seed')}]"
                 f"{_MARK[node.status]}"]
    sub = indent + ("" if root else ("    " if last else "│   "))
    if rec is not None and rec.get("params") not in (None, {}, []):
        params = json.dumps(rec["params"], sort_keys=True)
        if len(params) > 160:
            params = params[:157] + "..."
        lines.append(f"{sub}{'│' if node.children else ' '}   params: {params}")
    for k, child in enumerate(node.children):
        lines += format_tree(child, sub, k == len(node.children) - 1, root=False)
    return lines


def _to_dict(node: Node) -> dict:
    return {"path": node.path, "status": node.status, "stale": node.stale,
            "record": node.record, "inputs": [_to_dict(c) for c in node.children]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="taskonomy lineage", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="artifact(s) to trace")
    ap.add_argument("--json", action="store_true", help="print the tree as JSON")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if any artifact in a tree is stale (inputs changed, missing or modified)")
    args = ap.parse_args(argv)
    stale = False
    trees = []
    for p in args.paths:
        if not os.path.exists(p):
            print(f"taskonomy lineage: no such artifact: {p}", file=sys.stderr)
            return 2
        if load(p) is None:
            print(f"taskonomy lineage: {p} has no lineage record ({sidecar(p)})", file=sys.stderr)
            return 2
        tree = build_tree(p)
        stale |= tree.stale
        trees.append(tree)
    if args.json:
        print(json.dumps([_to_dict(t) for t in trees], indent=2))
    else:
        for t in trees:
            print("\n".join(format_tree(t)))
            print("STALE: inputs changed since it was made; rerun the pipeline" if t.stale else "up to date")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
