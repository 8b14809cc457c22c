"""scripts/mutate.py: the "message wording" category holds only changes of message text;
scores per file; the mutation run's test order."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutate.py"
spec = importlib.util.spec_from_file_location("mutate_script", SCRIPT)
mutate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutate)

ORIGINAL = '''
def check(value, path):
    where = path if path else "the given files"
    limit = 5
    if value > limit:
        warnings.warn(f"value {value} is large in {where}")
        raise ValueError(f"Value {value} in {where}: " f"expected at most {limit}.")
    log.info("checked %s", path)
    return value + 1
'''


def only_wording(mutated: str) -> bool:
    original, changed = (ast.parse(source).body[0] for source in (ORIGINAL, mutated))
    return mutate._message_blind(original) == mutate._message_blind(changed)


@pytest.mark.parametrize("old, new", [
    ('f"expected at most {limit}."', 'f"XXexpected at most {limit}.XX"'),
    ('f"expected at most {limit}."', 'f"EXPECTED AT MOST {limit}."'),
    ('f"value {value} is large', 'f"XXvalue {value} is large'),
    ('"checked %s"', '"XXchecked %sXX"'),
    ('path if path else "the given files"', 'None'),  # `where` is read by messages only
    ('path if path else', 'path if path and False else'),
])
def test_message_text_is_wording(old, new) -> None:
    assert only_wording(ORIGINAL.replace(old, new, 1))


@pytest.mark.parametrize("old, new", [
    ("value > limit", "value >= limit"),
    ("limit = 5", "limit = 6"),  # read by the message and by the code
    ("value + 1", "value - 1"),
    ("raise ValueError", "raise TypeError"),
    ('f"Value {value} in', 'f"Value {None} in'),  # a value in the message is code, not text
])
def test_code_changes_are_not_wording(old, new) -> None:
    assert not only_wording(ORIGINAL.replace(old, new, 1))


def test_a_package_is_scored_per_file_too() -> None:
    statuses = {"brainfeat.evaluation.metrics.x_rank__mutmut_1": "killed",
                "brainfeat.evaluation.metrics.x_rank__mutmut_2": "survived",
                "brainfeat.evaluation.report.xǁReportǁverify__mutmut_1": "killed",
                "brainfeat.evaluation.report.x_fmt__mutmut_4": "timeout"}
    assert mutate.per_file_scores(statuses) == {
        "brainfeat.evaluation.metrics": {"mutants": 2, "killed": 1, "score": 50.0},
        "brainfeat.evaluation.report": {"mutants": 2, "killed": 1, "score": 50.0}}


def test_the_mutation_run_puts_the_fastest_tests_first(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text("import os\n")
    mutate.add_fastest_first(tests)
    mutate.add_fastest_first(tests)  # a second call (a rerun) adds nothing
    assert (tests / "conftest.py").read_text().count("def pytest_collection_modifyitems") == 1
    (tests / "test_slow.py").write_text("def test_a(): pass\ndef test_b(): pass\n")
    (tests / "test_fast.py").write_text("def test_c(): pass\ndef test_d(): pass\n")
    durations = {"tests/test_slow.py::test_a": 3.0, "tests/test_slow.py::test_b": 0.1,
                 "tests/test_fast.py::test_c": 0.5, "tests/test_fast.py::test_d": 0.2}

    def collected() -> list[str]:
        run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                              "no:cacheprovider", "--rootdir=.", "tests/test_slow.py",
                              "tests/test_fast.py"], cwd=tmp_path, capture_output=True,
                             text=True, check=True)
        return [line for line in run.stdout.splitlines() if "::" in line]

    assert collected()[0] == "tests/test_slow.py::test_a"  # no timings yet: pytest's order
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": durations}))
    assert collected() == ["tests/test_fast.py::test_d", "tests/test_fast.py::test_c",
                           "tests/test_slow.py::test_b", "tests/test_slow.py::test_a"]
