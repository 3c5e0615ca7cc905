"""Load and validate ``config.yaml`` against ``schemas/config.schema.yaml``.

The same validation runs in ``rules/common.smk`` (Snakemake's ``validate``) before any job;
this module serves the command-line modules and the tests. Defaults from the schema are
filled in, so every consumer sees every key.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value that the schema rejects; the message names the key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


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


def validate(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of ``config`` with defaults filled; raise ConfigError naming the bad key."""
    schema = schema or load_schema()
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


def load_config(path: str | Path = REPO_ROOT / "config.yaml") -> dict:
    with open(path) as f:
        config = yaml.safe_load(f) or {}
    return validate(config)
