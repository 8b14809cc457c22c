"""Event tables of every ds001246 release read into one schema (read_events, load_events)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from _data import DS001246 as DS
from _data import EVENT_SCHEMAS as SCHEMAS

import brainfeat
from brainfeat.bids import read_events
from brainfeat.bids.events import COLUMNS, EVENT_TYPES
from brainfeat.demo.server import serve_folder
from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError
from brainfeat.stimuli import id_to_micro, name_to_micro

RUN = "sub-01_ses-perceptionTraining01_task-perception_run-01_events"


def _raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def _all_real_tables() -> list[Path]:
    return sorted(DS.glob("sub-*/ses-*/func/*_events.tsv"))


def test_every_real_table_of_both_subjects_reads_and_keeps_its_content():
    tables = _all_real_tables()
    assert len(tables) == 2 * (24 + 35 + 20)
    for path in tables:
        events = read_events(path)
        raw = _raw(path)
        assert tuple(events.columns) == COLUMNS and len(events) == len(raw)
        assert events["onset"].tolist() == [float(v) for v in raw["onset"]]
        assert events["event_type"].astype(str).tolist() == raw["event_type"].tolist()
        assert set(events["subject"]) == {path.name[:6]} and events["run"].notna().all()
        if "stimulus_name" in raw:  # perception: names and ids agree exactly
            shown = raw["stimulus_name"] != "n/a"
            assert events.loc[shown, "stimulus_name"].tolist() == raw.loc[shown, "stimulus_name"].tolist()
            micros = [round(v * 1e6) for v in events.loc[shown, "stimulus_id"]]
            assert micros == [id_to_micro(v) for v in raw.loc[shown, "stimulus_id"]]
            assert events.loc[~shown, "stimulus_name"].isna().all()
        else:  # imagery: category synset, vividness evaluation
            cued = raw["category_name"] != "n/a"
            assert events.loc[cued, "category"].tolist() == raw.loc[cued, "category_name"].tolist()
            assert events.loc[cued, "evaluation"].tolist() == [float(v) for v in raw.loc[cued, "evaluation"]]
        answered = raw["response_time"] != "n/a"
        assert events.loc[~answered, "response_time"].isna().all()
        assert events.loc[answered, "response_time"].tolist() == \
            [float(v) for v in raw.loc[answered, "response_time"]]


@pytest.mark.parametrize("schema", ["image_file", "stim_file", "stim_id"])
def test_historical_releases_give_the_same_events_as_the_current_one(schema):
    old = read_events(SCHEMAS / f"{RUN}.{schema}.tsv")
    new = read_events(DS / "sub-01/ses-perceptionTraining01/func" / f"{RUN}.tsv")
    same = ["subject", "session", "task", "run", "onset", "duration", "trial_no", "event_type",
            "stimulus_name", "stimulus_id", "category"]
    pd.testing.assert_frame_equal(old[same], new[same])
    # The old releases wrote "no response" as 0.000000: it becomes NaN, real presses stay.
    raw = _raw(SCHEMAS / f"{RUN}.{schema}.tsv")
    pressed = raw["response_time"].astype(float) > 0
    assert old.loc[~pressed, "response_time"].isna().all()
    assert old.loc[pressed, "response_time"].tolist() == raw.loc[pressed, "response_time"].astype(float).tolist()
    assert pressed.sum() == new["response_time"].notna().sum()


def _write(tmp_path: Path, text: str, name: str = RUN + ".tsv") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("|", "\t"))
    return path


PERCEPTION_VARIANTS = {
    "stimulus_id+stimulus_name": "onset|duration|trial_no|event_type|stimulus_id|stimulus_name|response_time\n"
                                 "0|33|1|rest|null|null|null\n33|9|2|stimulus|1621127.01902|n01621127_19020|40.5\n",
    "image_file": "onset|duration|trial_no|event_type|image_file|response_time\n"
                  "0|33|1|rest|null|0.000000\n33|9|2|stimulus|n01621127_19020.JPEG|40.500000\n",
    "stim_id": "onset|duration|trial_no|event_type|stim_id|response_time\n"
               "0|33|1|rest|n/a|n/a\n33|9|2|stimulus|1621127.019020|40.5\n",
}


@pytest.mark.parametrize("variant", sorted(PERCEPTION_VARIANTS))
def test_synthetic_perception_variants(tmp_path, variant):
    events = read_events(_write(tmp_path, PERCEPTION_VARIANTS[variant]))
    stimulus = events.iloc[1]
    assert stimulus["stimulus_name"] == "n01621127_19020"
    assert round(stimulus["stimulus_id"] * 1e6) == name_to_micro("n01621127_19020")
    assert stimulus["category"] == "n01621127" and stimulus["response_time"] == 40.5
    assert events.iloc[0]["stimulus_name"] is pd.NA and math.isnan(events.iloc[0]["response_time"])


IMAGERY_VARIANTS = {
    "integer id + synset name": ("category_id|category_name", "2690373|n02690373"),
    "synset id, no name": ("category_id", "n02690373"),
    "integer id, no name": ("category_id", "2690373"),
    "synset id + readable name": ("category_id|category_name", "n02690373|airliner"),
}


@pytest.mark.parametrize("variant", sorted(IMAGERY_VARIANTS))
def test_synthetic_imagery_variants(tmp_path, variant):
    header, cells = IMAGERY_VARIANTS[variant]
    blanks = "|".join(["n/a"] * (header.count("|") + 1))
    text = (f"onset|duration|trial_no|event_type|{header}|response_time|evaluation\n"
            f"0|33|1|rest|{blanks}|n/a|n/a\n33|3|2|cue|{cells}|52.7|5.0\n"
            f"36|15|2|imagery|{cells}|52.7|5.0\n51|3|2|evaluation|{cells}|52.7|5.0\n")
    events = read_events(_write(tmp_path, text, "sub-03_ses-imageryTest02_task-imagery_run-04_events.tsv"))
    assert events["category"].tolist()[1:] == ["n02690373"] * 3
    assert events["evaluation"].tolist()[1:] == [5.0] * 3
    assert (events["subject"].iloc[0], events["session"].iloc[0], events["run"].iloc[0]) == \
        ("sub-03", "imageryTest02", 4)
    assert list(events["event_type"].cat.categories) == list(EVENT_TYPES)
    labels = events["category_label"].dropna().tolist()
    assert labels == (["airliner"] * 3 if "readable" in variant else [])


MALFORMED = {
    "unknown column": ("onset|duration|trial_no|event_type|stimulus|response_time\n0|33|1|rest|n/a|n/a\n",
                       "unknown column 'stimulus'"),
    "missing column": ("onset|duration|event_type\n0|33|rest\n", "missing column 'trial_no'"),
    "bad onset": ("onset|duration|trial_no|event_type\nsoon|33|1|rest\n", r"column 'onset', line 2.*'soon'"),
    "bad event type": ("onset|duration|trial_no|event_type\n0|33|1|pause\n", r"column 'event_type'.*'pause'.*one of rest"),
    "bad stimulus id": ("onset|duration|trial_no|event_type|stim_id\n33|9|2|stimulus|1621127.0190201\n",
                        r"column 'stim_id', line 2.*'1621127.0190201'"),
    "names disagree": ("onset|duration|trial_no|event_type|stimulus_id|stimulus_name\n"
                       "33|9|2|stimulus|1621127.01902|n01621127_1902\n", r"column 'stim.*line 2"),
    "stimulus event without stimulus": ("onset|duration|trial_no|event_type|stim_file\n33|9|2|stimulus|n/a\n",
                                        r"column 'stim_file', line 2.*the stimulus shown"),
    "imagery without category": ("onset|duration|trial_no|event_type|category_id\n36|15|2|imagery|null\n",
                                 r"column 'category_id'.*imagined category"),
    "fractional trial": ("onset|duration|trial_no|event_type\n0|33|1.5|rest\n", r"column 'trial_no'.*an integer"),
    "empty file": ("", "Cannot read event table"),
    # each a value once read silently wrong (issue 9 readers, issue 13 survivor 7)
    "n/a onset": ("onset|duration|trial_no|event_type\nn/a|33|1|rest\n", r"column 'onset', line 2: .*'n/a'.*every row"),
    "negative duration": ("onset|duration|trial_no|event_type\n0|-3|1|rest\n", r"column 'duration'.*'-3'.*above 0"),
    "zero duration": ("onset|duration|trial_no|event_type\n0|0|1|rest\n", r"column 'duration'.*'0'.*above 0"),
    "negative onset": ("onset|duration|trial_no|event_type\n-1|3|1|rest\n", r"column 'onset'.*'-1'.*at least 0"),
    "underscored number": ("onset|duration|trial_no|event_type\n0|1_000|1|rest\n", r"column 'duration'.*'1_000'"),
    "infinite onset": ("onset|duration|trial_no|event_type\ninf|3|1|rest\n", r"column 'onset'.*'inf'"),
    "trial 0": ("onset|duration|trial_no|event_type\n0|3|0|rest\n", r"column 'trial_no'.*'0'.*at least 1"),
    "negative stimulus id": ("onset|duration|trial_no|event_type|stim_id\n33|9|2|stimulus|-1\n",
                             r"column 'stim_id', line 2.*'-1'"),
    "id ending in a point": ("onset|duration|trial_no|event_type|stim_id\n33|9|2|stimulus|1970164.\n",
                             r"column 'stim_id', line 2.*'1970164\.'"),
    "id without image number": ("onset|duration|trial_no|event_type|stim_id\n33|9|2|stimulus|1970164\n",
                                r"column 'stim_id', line 2.*'1970164'"),
    "underscored id": ("onset|duration|trial_no|event_type|stim_id\n33|9|2|stimulus|1_970_164.5\n",
                       r"column 'stim_id', line 2.*'1_970_164.5'"),
    "cut mid-line": ("onset|duration|trial_no|event_type\n0|33|1|rest\n33|9|2|re", r"middle of a line.*truncated"),
    "cut mid-number": ("onset|duration|trial_no|event_type\n0|33|1|rest\n33|9|2|rest\n42|1", r"middle of a line"),
    "short row": ("onset|duration|trial_no|event_type\n0|33|1\n", r"line 2: 3 tab-separated fields, the header has 4"),
    "long row": ("onset|duration|trial_no|event_type\n0|33|1|rest|x\n", r"line 2: 5 tab-separated fields"),
    "HTML page": ("<!DOCTYPE html>\n<html><body>Not found</body></html>\n", r"unknown column '<!DOCTYPE html>'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_tables_name_the_file_and_the_column(tmp_path, case):
    text, message = MALFORMED[case]
    path = _write(tmp_path, text)
    with pytest.raises(FormatError, match=message) as error:
        read_events(path)
    assert str(path) in str(error.value)


def test_load_events_joins_all_runs_of_a_split_in_order():
    events = brainfeat.load_events("sub-01", "train", root=DS)
    runs = events[["session", "run"]].drop_duplicates()
    assert len(runs) == 24 and runs.equals(runs.sort_values(["session", "run"]))
    assert events.groupby(["session", "run"])["onset"].apply(lambda o: o.is_monotonic_increasing).all()
    assert set(events["task"]) == {"perception"}
    imagery = brainfeat.load_events(2, "imagery", root=DS)
    assert imagery[["session", "run"]].drop_duplicates().shape[0] == 20
    assert set(imagery["subject"]) == {"sub-02"}


def test_load_events_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="Unknown subject 'S9'"):
        brainfeat.load_events("S9", "train", root=tmp_path)
    with pytest.raises(UnknownNameError, match="Unknown split"):
        brainfeat.load_events("S1", "rehearsal", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="No event table of sub-03"):
        brainfeat.load_events("S3", "test", root=tmp_path)


def test_cli_events_summarises_and_writes_the_table(tmp_path, capsys):
    from brainfeat.cli import main

    out = tmp_path / "events.tsv"
    assert main(["events", "sub-02", "test", "--root", str(DS), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sub-02 test:" in printed and "in 35 runs of 4 sessions" in printed
    written = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert tuple(written.columns) == COLUMNS
    assert (written["event_type"] == "stimulus").sum() == int(printed.split("stimulus")[1].split()[0])
    assert main(["events", "S9", "train", "--root", str(tmp_path)]) == 2
    assert "Unknown subject 'S9'" in capsys.readouterr().err


def test_load_events_fetches_the_tables_through_the_download_path(monkeypatch, tmp_path):
    """No root: the tables come through brainfeat.fetch_bids from a mirror on 127.0.0.1."""
    with serve_folder(DS) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}")
        fetched = brainfeat.load_events("S2", "imagery", data_dir=tmp_path)
        offline = brainfeat.load_events("S2", "imagery", data_dir=tmp_path, download=False)
    pd.testing.assert_frame_equal(fetched, brainfeat.load_events("S2", "imagery", root=DS))
    pd.testing.assert_frame_equal(offline, fetched)
    assert not list(tmp_path.rglob("*_bold*")), "only event tables were asked for"
