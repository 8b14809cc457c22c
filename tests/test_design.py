"""The design check on the real tables and on tables altered to break each rule."""

from __future__ import annotations

import pytest
from _data import DS001246 as DS

from brainfeat.bids import check_design, load_events
from brainfeat.catalog import Split


@pytest.fixture(scope="module")
def events():
    return {(s, split): load_events(s, split, root=DS)
            for s in ("S1", "S2") for split in ("train", "test", "imagery")}


@pytest.mark.parametrize("subject", ["S1", "S2"])
@pytest.mark.parametrize("split", ["train", "test", "imagery"])
def test_real_tables_follow_the_design(events, subject, split):
    report = check_design(subject, split, events=events[subject, split])
    assert report.ok, report.summary()
    table = events[subject, split]
    assert report.runs_per_session == report.expected_runs_per_session
    if split == "imagery":
        assert report.n_blocks == (table["event_type"] == "imagery").sum() and not report.repeats
    else:
        shown = (table["event_type"] == "stimulus").sum()
        assert report.n_blocks + len(report.repeats) == shown
        assert report.n_blocks == (1200 if split == "train" else 50 * 35)
        for repeat in report.repeats[:20]:  # each flagged block repeats the block before it
            run = table[(table["session"] == repeat.session) & (table["run"] == repeat.run)
                        & (table["event_type"] == "stimulus")].reset_index(drop=True)
            position = run.index[run["trial_no"] == repeat.trial_no][0]
            assert run.loc[position - 1, "stimulus_name"] == repeat.stimulus_name


def test_a_missing_run_is_reported(events):
    table = events["S1", "train"]
    cut = table[~((table["session"] == "perceptionTraining02") & (table["run"] == 3))]
    report = check_design("S1", Split.TRAIN, events=cut)
    checks = {d.check for d in report.deviations}
    assert report.runs_per_session == (10, 9, 4) and not report.ok
    assert checks == {"runs", "missing-stimulus"}
    missing = [d.where for d in report.deviations if d.check == "missing-stimulus"]
    dropped = table[(table["session"] == "perceptionTraining02") & (table["run"] == 3)]
    assert len(missing) == 50 and set(missing) <= set(dropped["stimulus_name"])


def test_a_replaced_image_is_reported_as_unknown_missing_and_doubled(events):
    table = events["S2", "test"].copy()
    first = table.index[table["event_type"] == "stimulus"][0]
    original = table.loc[first, "stimulus_name"]
    table.loc[first, "stimulus_name"] = "n09999999_1"
    report = check_design("S2", "test", events=table)
    found = {(d.check, d.where) for d in report.deviations}
    assert ("unknown-stimulus", "n09999999_1") in found
    assert ("stimulus-count", original) in found
    doubled = table.copy()
    second = doubled.index[doubled["event_type"] == "stimulus"][1]
    doubled.loc[second, "stimulus_name"] = doubled.loc[doubled.index[doubled["event_type"] == "stimulus"][2], "stimulus_name"]
    assert any(d.check == "stimulus-count" for d in check_design("S2", "test", events=doubled).deviations)


def test_an_imagery_run_with_a_repeated_category_is_reported(events):
    table = events["S1", "imagery"].copy()
    blocks = table.index[table["event_type"] == "imagery"]
    table.loc[blocks[1], "category"] = table.loc[blocks[0], "category"]
    table.loc[blocks[2], "category"] = "n09999999"
    report = check_design("S1", "imagery", events=table)
    assert [d.check for d in report.deviations] == ["categories-per-run", "unknown-stimulus"]
    assert "ses-imageryTest01 run-01" in report.deviations[0].where
    assert "expected 25 distinct categories" in report.summary()


def test_cli_design_check_exit_codes(tmp_path, capsys):
    from brainfeat.cli import main

    assert main(["design-check", "S1", "--root", str(DS)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("design holds") == 3 and "1750 blocks, 175 one-back repeats" in printed
    broken = tmp_path / "ds"
    import shutil
    shutil.copytree(DS / "sub-01", broken / "sub-01")
    next((broken / "sub-01").glob("ses-perceptionTest02/func/*run-03_events.tsv")).unlink()
    assert main(["design-check", "S1", "test", "--root", str(broken)]) == 1
    assert "[runs] sub-01" in capsys.readouterr().out
