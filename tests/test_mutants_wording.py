"""scripts/mutate.py: the "message wording" category holds only changes of message text."""

from __future__ import annotations

import ast
import importlib.util
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
