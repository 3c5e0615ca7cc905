"""Load and validate ``config.yaml`` against the config schema, the one source of defaults.

The schema ships inside the package (``taskonomy/resources/config.schema.yaml``, package data),
so ``load_config`` works from any install; ``schemas/config.schema.yaml`` at the top of the
source tree is a symlink to it, which ``rules/common.smk`` (Snakemake's ``validate``) reads
before any job. This module serves the command-line modules and the tests. Defaults from the
schema are filled in, so every consumer sees every key; ``schema_defaults()`` gives them for a
config that never went through validation (``taskonomy.settings``,
``taskonomy.consistency.settings`` and the dataclasses there take theirs from it).
"""
from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

# The source checkout (tests, scripts); meaningless for an installed wheel, so nothing that
# runs from an install depends on it.
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).resolve().parent / "resources" / "config.schema.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config value that the schema rejects; the message names the key."""


@functools.lru_cache(maxsize=None)
def _cached_schema(path: str) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """The schema as a dict (a fresh copy: callers may change it)."""
    return copy.deepcopy(_cached_schema(str(path)))


def _fill_defaults(instance: Any, schema: dict, root: dict) -> Any:
    """Fill ``default`` values of object properties, recursively (resolves local $refs)."""
    if "$ref" in schema:
        ref = schema["$ref"]
        node = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = node
    if isinstance(instance, dict) and schema.get("type") == "object":
        for key, sub in schema.get("properties", {}).items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                instance[key] = _fill_defaults(instance[key], sub, root)
    return instance


@functools.lru_cache(maxsize=None)
def _cached_defaults() -> dict:
    schema = _cached_schema(str(SCHEMA_PATH))
    return _fill_defaults({}, schema, schema)


def schema_defaults() -> dict:
    """Every default of the schema, as the config an empty ``config.yaml`` resolves to (each
    section filled recursively; keys without a default, such as ``tasks``, absent). A fresh
    copy per call."""
    return copy.deepcopy(_cached_defaults())


def validate(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of ``config`` with defaults filled; raise ConfigError naming the bad key."""
    import jsonschema   # here, not at the top: taskonomy.settings imports this module in every job
    schema = schema or _cached_schema(str(SCHEMA_PATH))
    config = _fill_defaults(copy.deepcopy(config), schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
            lines.append(f"config key {key!r}: {e.message}")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
    return config


def load_config(path: str | Path = "config.yaml") -> dict:
    """Read, fill and validate a config file (default: ``config.yaml`` in the working
    directory, as the command-line modules' ``--config``)."""
    with open(path) as f:
        config = yaml.safe_load(f) or {}
    return validate(config)
