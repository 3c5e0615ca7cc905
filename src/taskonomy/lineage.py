"""Lineage records: where every artifact came from, and whether it is still up to date.

Each artifact ``X`` gets a record (``sidecar(X)``), kept out of the way in one mirror tree:
``results/<run>/eval/16k/table1.csv`` -> ``results/<run>/.lineage/eval/16k/table1.csv.json``;
an artifact outside a ``results/<run>/`` folder (e.g. ``data/synth/manifest.json``) ->
``.lineage/<name>.json`` in its own folder (``data/synth/.lineage/manifest.json.json``).
Records of earlier versions (``X.lineage.json`` beside ``X``) are still read, and moved into
the mirror tree by ``taskonomy lineage --migrate DIR`` or when ``X`` is recorded again.
A record holds the artifact's own content hash, its inputs with their content hashes, the
config subset (params) that made it, the seed, the code version (git commit + dirty flag + a
hash of the package source), host, command and start/end times. A stage CLI records it in one
line, after its outputs are written::

    from taskonomy import lineage
    with lineage.track(outputs=[out], inputs=[ckpt], params=settings, seed=seed, data=data_root):
        ...                                   # write the outputs (atomically, taskonomy.io)
    # or, after the fact:
    lineage.record(outputs=[out], inputs=[...], params=settings, seed=seed, started=started)

``data=root`` records the dataset's manifest (``data_inputs``); the synth job's own record
carries the hash of the whole dataset, so no other job hashes it.

``taskonomy lineage PATH`` prints the tree from an artifact back to data, config and code
(each shared artifact once; ``--depth N``, ``--summary``) and flags every artifact whose inputs
changed since it was made (``--check``: exit 1 and a list of what to rerun)::

    taskonomy lineage --check results/default/taxonomy/16k/6_5.json

Records are written atomically and only after the block succeeds, so a killed job leaves
none. Paths are stored as given (relative to the working directory, the repo root in rules).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
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

DIRNAME = ".lineage"              # the mirror tree of records: results/<run>/.lineage/
RESULTS = "results"               # results/<run>/<artifact>: one mirror tree per run folder
LEGACY_SUFFIX = ".lineage.json"   # earlier layout: X.lineage.json beside X (still read)
SUFFIX = LEGACY_SUFFIX            # old name of LEGACY_SUFFIX, kept for callers that filter it
FORMAT = 1
# Snakemake's mtime carrier inside a directory() output: not part of the artifact's content
SNAKEMAKE_TIMESTAMP = ".snakemake_timestamp"
_PKG_DIR = Path(__file__).resolve().parent
# (path, size, mtime_ns) -> sha256: each file is hashed once per process.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sidecar(path: str | os.PathLike) -> Path:
    """The lineage record of an artifact (a file or a directory): for ``results/<run>/<rel>``
    ``results/<run>/.lineage/<rel>.json`` (the last ``results`` folder of the absolute path
    with a run folder and something in it), else ``<folder>/.lineage/<name>.json``. The same
    file however the path is spelled (relative, absolute, ``..``); relative if ``path`` is."""
    given = os.fspath(path)
    parts = Path(os.path.abspath(given)).parts
    run = next((i + 1 for i in range(len(parts) - 3, -1, -1) if parts[i] == RESULTS), None)
    if run is None:
        base, rel = parts[:-1], parts[-1:]
    else:
        base, rel = parts[:run + 1], parts[run + 1:]
    rec = Path(*base, DIRNAME, *rel[:-1], rel[-1] + ".json")
    return rec if os.path.isabs(given) else Path(os.path.relpath(rec))


def legacy_sidecar(path: str | os.PathLike) -> Path:
    """Where earlier versions kept the record: ``X.lineage.json`` beside ``X``."""
    p = Path(path)
    return p.with_name(p.name + LEGACY_SUFFIX)


def find(path: str | os.PathLike) -> Path | None:
    """The record of an artifact that exists: the mirror tree's, else a legacy sidecar."""
    for sc in (sidecar(path), legacy_sidecar(path)):
        if sc.is_file():
            return sc
    return None


def _is_record(rel: Path) -> bool:
    """A file of a directory that is lineage bookkeeping (a mirror tree or a legacy sidecar)."""
    return DIRNAME in rel.parts[:-1] or rel.name.endswith(LEGACY_SUFFIX)


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
    records (``.lineage/`` folders, legacy sidecars), temporary files and Snakemake's
    ``.snakemake_timestamp`` (it touches one into every ``directory()`` output after the job,
    i.e. after the job's record) excluded). None if the path does not exist."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    if not p.is_dir():
        return None
    files = sorted(q for q in p.rglob("*") if q.is_file() and not (
        _is_record(q.relative_to(p)) or q.name.endswith(".tmp") or ".tmp." in q.name
        or q.name == SNAKEMAKE_TIMESTAMP))
    return "dir:" + files_hash(p, files)


def files_hash(base: str | os.PathLike, files: Iterable[str | os.PathLike]) -> str:
    """sha256 over ``files`` in the given order: each one's path relative to ``base`` and its
    content hash (a directory's content, the package source, the code of one stage)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).relative_to(base).as_posix().encode() + b"\0" + file_sha256(f).encode() + b"\n")
    return h.hexdigest()


def package_hash() -> str:
    """sha256 over the package's Python source (paths + contents), the code that ran."""
    return files_hash(_PKG_DIR, sorted(_PKG_DIR.rglob("*.py")))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_PKG_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def code_version() -> dict[str, Any]:
    """git commit + dirty flag of the checkout the package runs from (None outside git),
    the package source hash and version. Computed once per process (two git calls and a hash
    of the package source: about 15 ms, bench numbers in docs/interfaces.md)."""
    from taskonomy import __version__

    commit = _git("rev-parse", "HEAD")
    dirty = None
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no", "--", str(_PKG_DIR))
        dirty = bool(status) if status is not None else None
    return {"git_commit": commit, "git_dirty": dirty, "package_sha256": package_hash(),
            "version": __version__}


def data_inputs(root: str | os.PathLike) -> list[str]:
    """What a job reading the dataset at ``root`` records as its input: the manifest
    (generator args, splits, counts; the synth job's own record carries the hash of the whole
    dataset, computed once), so no job hashes the dataset again. A dataset without a manifest
    (e.g. the real release) is hashed in full: correct, but slow on a big tree."""
    manifest = Path(root) / "manifest.json"
    return [os.fspath(manifest)] if manifest.is_file() else [os.fspath(root)]


def _stage() -> str | None:
    """The module that ran (``python -m taskonomy.train`` -> taskonomy.train), else None."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None)


def now() -> str:
    """UTC time as recorded in lineage records (``started`` of a ``record`` call made afterwards)."""
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
           ended: str | None = None, data: str | os.PathLike | None = None,
           extra: dict | None = None) -> list[Path]:
    """Write the record (``sidecar(output)``) of every output (which must exist); a legacy
    sidecar beside an output is removed (the new record supersedes it). Returns the paths.
    ``data``: a dataset root the job read (recorded as ``data_inputs(data)``); ``extra``:
    further JSON fields (e.g. the synth job's ``dataset_sha256``)."""
    outputs = [_portable(o) for o in outputs]
    inputs = [_portable(i) for i in [*(data_inputs(data) if data is not None else []), *inputs]]
    inputs = list(dict.fromkeys(inputs))
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
        "stage": _stage(),
        "command": [os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]],
        "python": sys.version.split()[0],
        "started": started,
        "ended": ended or now(),
        **_jsonable(extra or {}),
    }
    written = []
    for o in outputs:
        rec = dict(base, artifact=o, sha256=content_hash(o))
        write_json(sidecar(o), rec)
        with contextlib.suppress(FileNotFoundError):
            legacy_sidecar(o).unlink()
        written.append(sidecar(o))
    return written


def migrate(root: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Move every legacy sidecar (``X.lineage.json`` beside ``X``) below ``root`` into the
    mirror tree (``sidecar(X)``), unless a record is already there (then the legacy one, older,
    is removed). Returns the (old, new) pairs moved."""
    moved = []
    for old in sorted(Path(root).rglob("*" + LEGACY_SUFFIX)):
        if not old.is_file() or DIRNAME in old.parts:
            continue
        new = sidecar(old.with_name(old.name[:-len(LEGACY_SUFFIX)]))
        if new.is_file():
            old.unlink()
            continue
        new.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old, new)
        moved.append((old, new))
    return moved


@contextlib.contextmanager
def track(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike] = (),
          params: Any = None, seed: int | None = None, data: str | os.PathLike | None = None,
          extra: dict | None = None) -> Iterator[None]:
    """Time the block and, if it succeeds, record the lineage of ``outputs`` (see record)."""
    outputs, inputs = list(outputs), list(inputs)
    started = now()
    yield
    record(outputs, inputs, params=params, seed=seed, started=started, data=data, extra=extra)


# ---- reading: the lineage tree ----------------------------------------------------------
# One taxonomy fans out into hundreds of transfers that share their representations, task
# networks and the data manifest: each artifact is expanded once (later references share the
# same children and print "(see above)"), and sibling outputs of one job (e.g. an AHP job's csv,
# npz, quality and gain files) print their job's inputs once.

@dataclass(eq=False)
class Node:
    """One artifact or leaf input in the tree; ``status`` is ok | changed (differs from the
    hash its consumer recorded) | missing | modified (no longer matches its own record) |
    untracked (no record). ``stale``: this node or anything below it is not ok. ``repeat``:
    already expanded elsewhere in the tree (children shared with that occurrence)."""

    path: str
    status: str
    record: dict | None = None
    children: list["Node"] = field(default_factory=list)
    repeat: bool = False
    stale: bool = False
    sha256: str | None = None


def load(path: str | os.PathLike) -> dict | None:
    """The record of an artifact (mirror tree, else legacy sidecar), None if it has none."""
    sc = find(path)
    if sc is None:
        return None
    with open(sc) as f:
        return json.load(f)


def _resolve(path: str, rec: dict | None) -> str:
    """A stored path relative to the current directory, else to the recorder's workdir."""
    if os.path.exists(path) or os.path.isabs(path) or not rec:
        return path
    alt = os.path.join(rec.get("workdir", ""), path)
    return alt if os.path.exists(alt) else path


def _status(current: str | None, rec: dict | None, expected: str | None) -> str:
    if current is None:
        return "missing"
    if expected is not None and current != expected:
        return "changed"
    if rec is not None and rec.get("sha256") != current:
        return "modified"
    return "untracked" if rec is None else "ok"


def _job_key(rec: dict) -> tuple:
    """Outputs written by one process share a record apart from artifact/sha256."""
    return (rec.get("host"), rec.get("started"), rec.get("ended"), tuple(rec.get("outputs", ())))


def build_tree(path: str | os.PathLike, expected: str | None = None, parent: dict | None = None,
               _memo: dict[str, Node] | None = None, verify_data: bool = False) -> Node:
    """The lineage tree of ``path``; ``expected`` is the hash a consumer recorded for it.
    Every artifact is hashed and expanded once; repeated references share its children.
    ``verify_data``: also re-hash every dataset whose manifest records ``dataset_sha256``
    (slow on a big dataset; without it a dataset counts as changed only if its manifest did)."""
    memo = {} if _memo is None else _memo
    path = _resolve(os.fspath(path), parent)
    key = os.path.realpath(path)
    if key in memo:
        first = memo[key]
        status = _status(first.sha256, first.record, expected)
        return Node(path, status, first.record, first.children, repeat=True,
                    stale=first.stale or status not in ("ok", "untracked"), sha256=first.sha256)
    current = content_hash(path)
    rec = load(path)
    node = Node(path, _status(current, rec, expected), rec, sha256=current)
    if (verify_data and node.status == "ok" and rec.get("dataset_sha256")
            and content_hash(os.path.dirname(path) or ".") != rec["dataset_sha256"]):
        node.status = "dataset_changed"
    memo[key] = node                      # before the children: a cycle ends here
    if rec is not None:
        node.children = [build_tree(i["path"], i["sha256"], rec, memo, verify_data)
                         for i in rec.get("inputs", [])]
    node.stale = node.status not in ("ok", "untracked") or any(c.stale for c in node.children)
    return node


def walk(node: Node) -> Iterator[Node]:
    """Every distinct artifact of the tree once (first occurrences, depth first)."""
    seen: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        key = os.path.realpath(n.path)
        if key in seen:
            continue
        seen.add(key)
        yield n
        stack.extend(reversed(n.children))


def stale_artifacts(node: Node) -> dict[str, list[str]]:
    """What --check names: ``rerun``: artifacts with a stale input (downstream of a change);
    ``modified``/``missing``: files that differ from their own record or are gone; ``changed``:
    leaf inputs (data, config) that differ from what a consumer recorded."""
    out: dict[str, list[str]] = {"rerun": [], "modified": [], "missing": [], "changed": []}
    for n in walk(node):
        if n.record is not None and any(c.stale for c in n.children):
            out["rerun"].append(n.path)
        if n.sha256 is None:
            out["missing"].append(n.path)
        elif n.record is not None and n.record.get("sha256") != n.sha256 or n.status == "dataset_changed":
            out["modified"].append(n.path)      # whatever a consumer saw: it differs from its record
    # "changed" is a property of an edge: collect it over all references, not first ones
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n.status == "changed" and n.record is None and n.path not in out["changed"]:
            out["changed"].append(n.path)
        if id(n.children) not in seen:
            seen.add(id(n.children))
            stack.extend(n.children)
    return {k: sorted(set(v)) for k, v in out.items() if v}


_MARK = {"ok": "", "untracked": "", "missing": "  !! MISSING",
         "changed": "  !! CHANGED since the consumer was made (rerun it)",
         "modified": "  !! MODIFIED after its lineage was recorded",
         "dataset_changed": "  !! DATASET files changed since this manifest was written"}


def _header(node: Node) -> str:
    rec = node.record
    if rec is None:
        kind = "data/config (no lineage record)" if node.status != "missing" else ""
        return f"{node.path}  [{kind}]{_MARK[node.status]}".replace("  []", "")
    code = rec.get("code", {})
    commit = (code.get("git_commit") or "no-git")[:10] + ("+dirty" if code.get("git_dirty") else "")
    data = f"; dataset {rec['dataset_sha256'][:14]}" if rec.get("dataset_sha256") else ""
    return (f"{node.path}  [{rec.get('stage') or '?'}; {(rec.get('ended') or '?')[:19]} on {rec.get('host', '?')};"
            f" code {commit} src {code.get('package_sha256', '?')[:10]}; seed {rec.get('seed')}{data}]"
            f"{_MARK[node.status]}{'  (stale input below)' if node.stale and node.status == 'ok' else ''}")


def format_tree(node: Node, indent: str = "", last: bool = True, root: bool = True,
                depth: int | None = None, params: bool = True,
                _jobs: dict | None = None, _level: int = 0) -> list[str]:
    """The tree as lines. ``depth``: levels below the root to print (None: all)."""
    jobs = {} if _jobs is None else _jobs
    branch = "" if root else ("└── " if last else "├── ")
    sub = indent + ("" if root else ("    " if last else "│   "))
    rec = node.record
    if node.repeat and rec is not None:      # printed in full where it first appeared
        return [f"{indent}{branch}{node.path}  (see above){_MARK[node.status]}"]
    head = indent + branch + _header(node)
    job = _job_key(rec) if rec is not None else None
    if job is not None and job in jobs and node.children:
        return [head, f"{sub}    inputs: as {jobs[job]} (same job, see above)"]
    if job is not None:
        jobs[job] = node.path
    lines = [head]
    if params and rec is not None and rec.get("params") not in (None, {}, []):
        text = json.dumps(rec["params"], sort_keys=True)
        if len(text) > 160:
            text = text[:157] + "..."
        lines.append(f"{sub}{'│' if node.children else ' '}   params: {text}")
    if node.children and depth is not None and _level >= depth:
        n_stale = sum(c.stale for c in node.children)
        lines.append(f"{sub}└── ... {len(node.children)} input(s) below depth {depth}"
                     + (f", {n_stale} stale" if n_stale else ""))
        return lines
    for k, child in enumerate(node.children):
        lines += format_tree(child, sub, k == len(node.children) - 1, root=False, depth=depth,
                             params=params, _jobs=jobs, _level=_level + 1)
    return lines


def summarize(node: Node) -> list[str]:
    """One line per stage: how many distinct artifacts, how many stale, code versions, seeds."""
    groups: dict[str, list[Node]] = {}
    for n in walk(node):
        stage = (n.record.get("stage") or "?") if n.record is not None else "data/config"
        groups.setdefault(stage, []).append(n)
    lines = [f"{node.path}: {sum(map(len, groups.values()))} distinct artifacts"]
    for stage, nodes in groups.items():
        codes = sorted({(n.record.get("code", {}).get("git_commit") or "no-git")[:10]
                        + ("+dirty" if n.record.get("code", {}).get("git_dirty") else "")
                        for n in nodes if n.record})
        srcs = {n.record.get("code", {}).get("package_sha256") for n in nodes if n.record}
        seeds = sorted({str(n.record.get("seed")) for n in nodes if n.record})
        stale = sum(n.stale for n in nodes)
        lines.append(f"  {stage:<34} {len(nodes):>5} artifact(s)  {stale:>4} stale"
                     + (f"  code {','.join(codes)} ({len(srcs)} source hash(es))  seeds {','.join(seeds)}"
                        if codes else "")
                     + f"  e.g. {nodes[0].path}")
    return lines


def _to_dict(node: Node) -> dict:
    d = {"path": node.path, "status": node.status, "stale": node.stale, "record": node.record}
    if node.repeat:
        return {**d, "see_above": True}
    return {**d, "inputs": [_to_dict(c) for c in node.children]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="taskonomy lineage", description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="artifact(s) to trace")
    ap.add_argument("--json", action="store_true", help="print the tree as JSON")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if any artifact in a tree is stale (inputs changed, missing or "
                         "modified) and name them")
    ap.add_argument("--depth", type=int, default=None, metavar="N",
                    help="print N levels below the artifact (default: all)")
    ap.add_argument("--summary", action="store_true",
                    help="one line per stage (counts, stale, code versions, seeds) instead of the tree")
    ap.add_argument("--no-params", action="store_true", help="leave out the params lines")
    ap.add_argument("--verify-data", action="store_true",
                    help="also re-hash the dataset files behind each data manifest (slow on big data)")
    ap.add_argument("--migrate", action="store_true",
                    help="PATHs are folders: move the X.lineage.json files of earlier versions "
                         "below them into the .lineage/ mirror tree")
    args = ap.parse_args(argv)
    if args.migrate:
        for p in args.paths:
            if not os.path.isdir(p):
                print(f"taskonomy lineage: no such folder: {p}", file=sys.stderr)
                return 2
            moved = migrate(p)
            for old, new in moved:
                print(f"{old} -> {new}")
            print(f"{p}: {len(moved)} record(s) moved")
        return 0
    stale = False
    trees = []
    for p in args.paths:
        if not os.path.exists(p):
            print(f"taskonomy lineage: no such artifact: {p}", file=sys.stderr)
            return 2
        if load(p) is None:
            print(f"taskonomy lineage: {p} has no lineage record ({sidecar(p)})", file=sys.stderr)
            return 2
        tree = build_tree(p, verify_data=args.verify_data)
        stale |= tree.stale
        trees.append(tree)
    if args.json:
        print(json.dumps([_to_dict(t) for t in trees], indent=2))
        return 1 if (args.check and stale) else 0
    for t in trees:
        lines = summarize(t) if args.summary else format_tree(t, depth=args.depth,
                                                               params=not args.no_params)
        print("\n".join(lines))
        if len(lines) > 200 and not args.summary and args.depth is None:
            print(f"({len(lines)} lines: --summary or --depth N for an overview)")
        if not t.stale:
            print("up to date")
            continue
        print("STALE: inputs changed since it was made; rerun the pipeline")
        what = {"rerun": "to rerun (an input changed)", "modified": "modified after recorded",
                "missing": "missing", "changed": "data/config changed"}
        for kind, paths in stale_artifacts(t).items():
            print(f"  {what[kind]}: {len(paths)}")
            for q in paths:
                print(f"    {q}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
