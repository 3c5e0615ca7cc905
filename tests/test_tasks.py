"""The task table is the single source of task facts: check it against TASKS.md and the schema."""
import pytest
import yaml

from taskonomy import tasks
from taskonomy.config import REPO_ROOT, ConfigError, SCHEMA_PATH, load_config, validate


def test_26_tasks_22_targets_4_source_only():
    assert len(tasks.TASKS) == 26
    assert len(tasks.TARGETS) == 22
    assert set(tasks.SOURCE_ONLY) == {"colorization", "inpainting", "jigsaw", "random"}


def test_paper_spellings_are_unique_and_match_released_tables():
    import csv
    from pathlib import Path

    table = Path(__file__).resolve().parents[2] / "shared" / "taskonomy-results" / "affinity_16k.csv"
    if not table.exists():
        pytest.skip("shared/ not beside the repository")
    with open(table) as f:
        targets = {row["target"] for row in csv.DictReader(f)}
    ours = {t.paper for t in tasks.TASK_LIST if not t.source_only}
    assert targets == ours


def test_resolve_both_spellings_and_errors_list_valid_names():
    assert tasks.resolve("rgb2sfnorm") == "normal"
    assert tasks.resolve("Normal") == "normal"
    assert tasks.resolve("impainting_whole") == "inpainting"
    with pytest.raises(tasks.UnknownTaskError, match="depth_zbuffer"):
        tasks.resolve("nromal")
    with pytest.raises(tasks.UnknownTaskError, match="'foo', 'bar'"):
        tasks.resolve_all(["normal", "foo", "bar"])


def test_schema_task_enum_equals_task_table():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert schema["$defs"]["task"]["enum"] == list(tasks.TASK_IDS)


def test_default_config_is_valid_and_bad_values_name_the_key():
    cfg = load_config(REPO_ROOT / "config.yaml")
    assert set(cfg["tasks"]) <= set(tasks.TASK_IDS)
    with pytest.raises(ConfigError, match="'device'"):
        validate({**cfg, "device": "tpu"})
    with pytest.raises(ConfigError, match="'tasks.0'"):
        validate({**cfg, "tasks": ["nromal"]})


def test_source_set_names_sort_and_round_trip():
    name = tasks.source_set_name(["normal", "depth_zbuffer"])
    assert name == "depth_zbuffer+normal"
    assert tasks.parse_source_set(name) == ("depth_zbuffer", "normal")
