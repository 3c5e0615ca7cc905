"""The code of a workflow stage (taskonomy.codehash): which modules count, and that comment
lines and blank lines are not code. The rerun behaviour itself is tested on the
smoke pipeline (tests/test_incremental.py, test_full_code_edit_*)."""
import pytest

from taskonomy import codehash
from taskonomy.codehash import closure, source_digest, stage_code


def test_closure_follows_imports_at_any_depth_and_leaves_out_bookkeeping():
    ahp = closure(["taskonomy.ahp"])
    assert {"taskonomy", "taskonomy.ahp", "taskonomy.beam", "taskonomy.io", "taskonomy.tasks"} <= set(ahp)
    assert "taskonomy.lineage" not in ahp and "taskonomy.codehash" not in ahp
    # transfer.py imports the model registry inside a function: it counts
    assert {"taskonomy.models", "taskonomy.models.networks", "taskonomy.engine"} <= set(closure(["taskonomy.transfer"]))
    # the synthetic renderer is the data stage's code, nobody else's among the training stages
    assert "taskonomy.data.render" in closure(["taskonomy.data.synth"], via=["taskonomy.data.cli"])
    for m in ("taskonomy.train", "taskonomy.encode", "taskonomy.transfer", "taskonomy.ahp"):
        assert "taskonomy.data.render" not in closure([m]), m


def test_a_dispatcher_counts_with_its_module_level_imports_only():
    # evaluation.cli imports every sub-command's module inside its functions: through `via`
    # the paper-table evaluations do not depend on Stage III's code
    gq = closure(["taskonomy.evaluation.gain_quality"], via=["taskonomy.evaluation.cli"])
    assert "taskonomy.evaluation.cli" in gq and "taskonomy.ahp" not in gq
    assert "taskonomy.ahp" in closure(["taskonomy.evaluation.cli"])


def test_comment_lines_and_blank_lines_are_not_code():
    src = "def f(x):\n    return x + 1\n"
    assert source_digest(src) == source_digest("# a comment\ndef f(x):  \n\n    # why\n    return x + 1\n\n")
    assert source_digest(src) != source_digest("def f(x):\n    return x + 2\n")
    assert source_digest(src) != source_digest('def f(x):\n    """doc"""\n    return x + 1\n')
    assert source_digest(src) != source_digest("def f(x):\n    return x + 1  # a comment after code\n")


def test_imports_are_found_in_every_form():
    from taskonomy.codehash import imports_of
    # transfer.py: module-level `from taskonomy import engine, lineage`, function-level
    # `from taskonomy.models import ...`; data/cli.py: sub-commands' imports in functions only
    assert {"taskonomy.engine", "taskonomy.models", "taskonomy.beam"} <= set(imports_of("taskonomy.transfer"))
    assert "taskonomy.models" not in imports_of("taskonomy.transfer", top_level_only=True)
    assert "taskonomy.data.synth" in imports_of("taskonomy.data.cli")
    assert "taskonomy.data.synth" not in imports_of("taskonomy.data.cli", top_level_only=True)
    # relative imports of a package
    assert "taskonomy.models.registry" in imports_of("taskonomy.models") or \
        "taskonomy.models.registry" in closure(["taskonomy.models"])


def test_stage_code_is_stable_and_names_bad_modules():
    a = stage_code("taskonomy.ahp")
    assert len(a) == 16 and a == stage_code("taskonomy.ahp") != stage_code("taskonomy.train")
    assert stage_code("taskonomy.ahp", "taskonomy.tasks") == stage_code("taskonomy.tasks", "taskonomy.ahp")
    with pytest.raises(ValueError, match="not a module"):
        stage_code("taskonomy.nothing")
    assert codehash.main(["taskonomy.ahp"]) == 0
