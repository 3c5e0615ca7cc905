"""The code a stage runs, as one hash: what makes Snakemake rerun a job when its code changed.

Every rule of the workflow passes ``code=stage_code(<module its command runs>)`` as a param
(``taskonomy.workflow``), so editing that code reruns that stage's jobs and what depends on
them, and nothing else; the transfer result store keys every transfer on the same hash
(``taskonomy.transfer``), so a rerun caused by a code change trains again.

What counts as a stage's code: the source of the module its command runs and of every
``taskonomy`` module it imports, transitively, wherever the import statement stands (a
function-level import counts too), with the ``__init__.py`` of every package on the way.
A sub-command dispatcher (``taskonomy.evaluation.cli``, ``taskonomy.data.cli``) is passed as
``via``: its own source and its module-level imports count, its sub-commands' imports do not;
the rule names its sub-command's modules. A file counts by its text without comment lines,
blank lines and trailing spaces: editing a comment on its own line or the spacing between
statements is not a code change; any other edit (code, a docstring, a comment after code)
is. Not code: ``taskonomy.lineage`` (provenance records) and this module; the libraries the
package depends on are pinned (pyproject.toml, envs/) and not hashed.

    python -m taskonomy.codehash taskonomy.ahp                # the modules and their hash
    python -m taskonomy.codehash taskonomy.evaluation.gain_quality --via taskonomy.evaluation.cli

Reads files with regular expressions, imports and parses nothing of what it hashes (no
torch): the workflow calls it while building the DAG (about 10 ms for every stage); results
are cached per process.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import re
import sys
from pathlib import Path

PACKAGE = "taskonomy"
ROOT = Path(__file__).resolve().parent          # src/taskonomy
# Bookkeeping, not computation: editing these reruns nothing.
NOT_CODE = frozenset({"taskonomy.lineage", "taskonomy.codehash"})


def module_file(name: str) -> Path | None:
    """The source file of a taskonomy module or package (None: not one of ours)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts[1:])
    if base.is_dir() and (base / "__init__.py").is_file():
        return base / "__init__.py"
    f = base.with_suffix(".py")
    return f if f.is_file() else None


@functools.lru_cache(maxsize=None)
def _source(name: str) -> str:
    return module_file(name).read_text()


def _parents(name: str) -> list[str]:
    """Packages whose __init__ runs when ``name`` is imported (taskonomy, taskonomy.x, ...)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# import statements at the start of a line (any indentation; column 0: module level)
_FROM = re.compile(r"^([ \t]*)from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(r"^([ \t]*)import[ \t]+([^\n]*)", re.M)


def _names(text: str) -> list[str]:
    """``a, b as c`` (or a parenthesised list) -> ["a", "b"]."""
    text = re.sub(r"#[^\n]*", "", text).strip("() \t\n\\")
    return [n.split()[0] for n in re.split(r"[,\n]", text) if n.strip() and n.split()[0].isidentifier()]


@functools.lru_cache(maxsize=None)
def imports_of(name: str, top_level_only: bool = False) -> tuple[str, ...]:
    """The taskonomy modules ``name`` imports (sorted), at any depth of its code or only in
    module-level statements. Found by pattern, not parsed: an import statement quoted in a
    docstring counts too (more code, never less)."""
    text = _source(name)
    is_pkg = module_file(name).name == "__init__.py"
    found: set[str] = set()
    for m in _FROM.finditer(text):
        if top_level_only and m.group(1):
            continue
        mod = m.group(2)
        level = len(mod) - len(mod.lstrip("."))
        if level:                                # relative: from . import x / from .y import z
            base = name.split(".") if is_pkg else name.split(".")[:-1]
            base = base[:len(base) - level + 1]
            mod = ".".join(base + ([mod[level:]] if mod[level:] else []))
        found.add(mod)
        found.update(f"{mod}.{n}" for n in _names(m.group(3)))       # from pkg import module
    for m in _IMPORT.finditer(text):
        if not (top_level_only and m.group(1)):
            found.update(_names(m.group(2).split(" as ")[0] if "," not in m.group(2) else m.group(2)))
            found.update(n for n in re.findall(r"[\w.]+", m.group(2).split("#")[0]) if n.startswith(PACKAGE))
    return tuple(sorted(m for m in found if module_file(m) is not None))


def closure(entries=(), via=()) -> list[str]:
    """Every module that counts as the code of a stage running ``entries`` (through the
    dispatchers ``via``), sorted; NOT_CODE left out."""
    full: set[str] = set()                  # every import followed
    shallow: set[str] = set()               # module-level imports followed
    todo = [(m, False) for m in entries] + [(m, True) for m in via]
    for m, _ in todo:
        if module_file(m) is None:
            raise ValueError(f"{m!r} is not a module of the {PACKAGE} package")
    while todo:
        m, top_only = todo.pop()
        if m in full or (top_only and m in shallow):
            continue
        (shallow if top_only else full).add(m)
        todo += [(p, False) for p in _parents(m)]
        todo += [(i, False) for i in imports_of(m, top_level_only=top_only)]
    seen = full | shallow
    return sorted(seen - NOT_CODE)


_NOT_CODE_LINES = re.compile(r"^[ \t]*(#[^\n]*)?\n", re.M)


def source_digest(source: str) -> str:
    """sha256 of Python source without comment lines, blank lines and trailing spaces."""
    text = _NOT_CODE_LINES.sub("", re.sub(r"[ \t]+$", "", source.rstrip() + "\n", flags=re.M))
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def _file_digest(name: str) -> str:
    return source_digest(_source(name))


@functools.lru_cache(maxsize=None)
def _stage_code(entries: tuple[str, ...], via: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for m in closure(entries, via):
        h.update(f"{m}\0{_file_digest(m)}\n".encode())
    return h.hexdigest()[:16]


def stage_code(*entries: str, via: str | tuple[str, ...] = ()) -> str:
    """16 hex digits: the hash of :func:`closure` (module names and their code)."""
    via = (via,) if isinstance(via, str) else tuple(via)
    return _stage_code(tuple(sorted(set(entries))), tuple(sorted(set(via))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.codehash", description=__doc__.split("\n\n")[0])
    p.add_argument("modules", nargs="+", help="the modules a stage runs, e.g. taskonomy.ahp")
    p.add_argument("--via", nargs="*", default=[], help="sub-command dispatchers it runs them through")
    a = p.parse_args(argv)
    for m in closure(a.modules, a.via):
        print(module_file(m).relative_to(ROOT.parent))
    print(stage_code(*a.modules, via=tuple(a.via)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
