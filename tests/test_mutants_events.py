"""Event tables checked against an independent reading and exact error messages.

Written against the surviving mutants of ``brainfeat/bids/events.py`` (issue 13, see
docs/mutation.md): every real table of sub-01 and sub-02 and the three historical schemas is
compared, value by value and dtype by dtype, with a plain-Python reading written from the
dataset's description (not from brainfeat's parsers); each refusal is compared with the whole
message a user sees (file, column, line, value, what was expected, what to do).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from _data import DS001246 as DS
from _data import EVENT_SCHEMAS as SCHEMAS

import brainfeat
from brainfeat.bids import read_events
from brainfeat.bids.events import COLUMNS, EVENT_TYPES, events_files
from brainfeat.catalog import Split, Subject, default_catalog
from brainfeat.demo.server import serve_folder
from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError

RUN = "sub-01_ses-perceptionTraining01_task-perception_run-01_events"
MISSING = {"", "n/a", "null"}
FIX = "Fix or remove the row, or report the release this table comes from."


# --- an independent reading of a real table --------------------------------------------------

def _stimulus(row: dict[str, str]) -> tuple[str, str] | None:
    """(image name, exact decimal id) of a row, from whichever column the release used."""
    for column in ("stimulus_name", "image_file", "stim_file"):
        if row.get(column, "n/a") not in MISSING:
            name = row[column].removesuffix(".JPEG")
            return name, f"{int(name[1:9])}.{int(name[10:]):06d}"
    for column in ("stimulus_id", "stim_id"):
        if row.get(column, "n/a") not in MISSING:
            synset, image = row[column].split(".")
            return f"n{int(synset):08d}_{int(image)}", row[column]
    return None


def _category(row: dict[str, str], stimulus: tuple[str, str] | None) -> str | None:
    if stimulus is not None:
        return stimulus[0].split("_")[0]
    if row.get("category_name", "n/a") not in MISSING:
        return row["category_name"]
    return None


def _optional(row: dict[str, str], column: str, cast):
    value = row.get(column, "n/a")
    return None if value in MISSING else cast(value)


def _independent(path: Path) -> pd.DataFrame:
    """The table as read_events documents it, from the raw text and the file name."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    entities = dict(part.split("-", 1) for part in path.name.split("_") if "-" in part)
    stimuli = [_stimulus(row) for row in rows]
    response = [_optional(row, "response_time", float) for row in rows]
    frame = pd.DataFrame({
        "subject": f"sub-{entities['sub']}", "session": entities["ses"],
        "task": entities["task"], "run": int(entities["run"]),
        "onset": [float(row["onset"]) for row in rows],
        "duration": [float(row["duration"]) for row in rows],
        "trial_no": [int(row["trial_no"]) for row in rows],
        "event_type": pd.Categorical([row["event_type"] for row in rows], categories=EVENT_TYPES),
        "stimulus_name": [None if s is None else s[0] for s in stimuli],
        "stimulus_id": [float("nan") if s is None else float(Decimal(s[1])) for s in stimuli],
        "category": [_category(row, s) for row, s in zip(rows, stimuli, strict=True)],
        "category_label": [None] * len(rows),
        "category_index": pd.array([_optional(row, "category_index", int) for row in rows],
                                   dtype="Int64"),
        "image_index": pd.array([_optional(row, "image_index", int) for row in rows],
                                dtype="Int64"),
        # no press: "n/a", or 0.000000 in the earliest releases
        "response_time": [float("nan") if not r else r for r in response],
        "evaluation": [float("nan") if v is None else v
                       for v in (_optional(row, "evaluation", float) for row in rows)],
    }, index=pd.RangeIndex(len(rows)))
    frame["run"] = frame["run"].astype("Int64")
    for column in ("subject", "session", "task", "stimulus_name", "category", "category_label"):
        frame[column] = frame[column].astype("string")
    return frame


def _real_tables() -> list[Path]:
    return sorted(DS.glob("sub-*/ses-*/func/*_events.tsv")) + sorted(SCHEMAS.glob("*.tsv"))


def test_every_real_table_equals_an_independent_reading_value_and_dtype():
    tables = _real_tables()
    assert len(tables) == 2 * (24 + 35 + 20) + 3
    for path in tables:
        events = read_events(path)
        assert tuple(events.columns) == COLUMNS
        pd.testing.assert_frame_equal(events, _independent(path), check_exact=True, obj=path.name)


# --- values that only synthetic tables hold -------------------------------------------------

def _write(tmp_path: Path, text: str, name: str = RUN + ".tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("|", "\t").encode())
    return path


def _one(tmp_path: Path, header: str, row: str, name: str = RUN + ".tsv") -> pd.Series:
    return read_events(_write(tmp_path, f"{header}\n{row}\n", name)).iloc[0]


CATEGORY_CASES = {
    # category_id alone, as a number or a synset; category_name as a synset or a label
    "id number": ("category_id", "2690373", "n02690373", None),
    "id synset": ("category_id", "n02690373", "n02690373", None),
    "name synset": ("category_name", "n02690373", "n02690373", None),
    "id + label": ("category_id|category_name", "2690373|airliner", "n02690373", "airliner"),
    "id + synset name": ("category_id|category_name", "2690373|n02690373", "n02690373", None),
}


@pytest.mark.parametrize("case", sorted(CATEGORY_CASES))
@pytest.mark.parametrize("event_type", ["cue", "imagery", "evaluation"])
def test_imagery_category_columns(tmp_path, case, event_type):
    columns, cells, synset, label = CATEGORY_CASES[case]
    event = _one(tmp_path, f"onset|duration|trial_no|event_type|{columns}",
                 f"33|3|2|{event_type}|{cells}")
    assert event["category"] == synset
    assert (event["category_label"] is pd.NA) if label is None else event["category_label"] == label
    assert event["stimulus_name"] is pd.NA


def test_a_label_alone_keeps_the_label_and_leaves_the_category_missing(tmp_path):
    event = _one(tmp_path, "onset|duration|trial_no|event_type|category_name",
                 "51|3|2|evaluation|airliner")
    assert event["category_label"] == "airliner" and event["category"] is pd.NA


@pytest.mark.parametrize("columns, cells", [
    ("image_file|stim_id", "n01621127_19020.JPEG|1621127.01902"),
    ("stim_file|stimulus_id", "n01621127_19020.jpeg|1621127.019020"),
    ("stimulus_name|stim_id|stimulus_id", "n01621127_19020|1621127.01902|1621127.019020"),
    ("stimulus_id|category_id", "1621127.01902|1621127"),
    ("stimulus_name|category_name", "n01621127_19020|n01621127"),
])
def test_columns_that_name_the_same_stimulus_twice_agree(tmp_path, columns, cells):
    event = _one(tmp_path, f"onset|duration|trial_no|event_type|{columns}",
                 f"33|9|2|stimulus|{cells}")
    assert (event["stimulus_name"], event["category"]) == ("n01621127_19020", "n01621127")
    assert event["stimulus_id"] == 1621127019020 / 10**6


NUMBERS = {  # column -> (cell as written, value read)
    "onset": [("0", 0.0), ("+3", 3.0), ("2.", 2.0), (".5", 0.5), ("1e2", 100.0), ("1E-3", 0.001)],
    "duration": [("1e-9", 1e-9), ("9", 9.0)],
    "trial_no": [("1", 1), ("2.0", 2), ("1e1", 10)],
    "response_time": [("0.5", 0.5), ("1", 1.0), ("1.000000", 1.0), ("0", None), ("0.000000", None), ("NULL", None),
                      ("N/A", None), ("nan", None), ("None", None), (" n/a ", None)],
    "evaluation": [("5.0", 5.0), ("-1", -1.0), ("n/a", None), ("", None)],
    "category_index": [("1", 1), ("16", 16), ("n/a", None)],
    "image_index": [("1", 1), ("324.0", 324), ("null", None)],
}


DTYPES = {"onset": "float64", "duration": "float64", "trial_no": "int64",
          "response_time": "float64", "evaluation": "float64", "category_index": "Int64",
          "image_index": "Int64"}


@pytest.mark.parametrize("column, cell, value",
                         [(c, cell, v) for c, cases in NUMBERS.items() for cell, v in cases])
def test_numbers_at_and_inside_their_bounds_and_the_missing_tokens(tmp_path, column, cell, value):
    cells = {"onset": "33", "duration": "9", "trial_no": "2", "event_type": "rest", column: cell}
    events = read_events(_write(tmp_path, f"{'|'.join(cells)}\n{'|'.join(cells.values())}\n"))
    assert events[column].dtype == DTYPES[column]
    assert pd.isna(events[column].iloc[0]) if value is None else events[column].iloc[0] == value


@pytest.mark.parametrize("name, entities", [
    (RUN + ".tsv", ("sub-01", "perceptionTraining01", "perception", 1)),
    ("sub-A1_ses-x_task-imagery_run-10_events.tsv", ("sub-A1", "x", "imagery", 10)),
    ("sub-02_task-perception_events.tsv", ("sub-02", None, "perception", None)),
    ("events.tsv", (None, None, None, None)),
])
def test_file_name_entities(tmp_path, name, entities):
    events = read_events(_write(tmp_path, "onset|duration|trial_no|event_type\n0|33|1|rest\n"
                                          "33|9|2|rest\n", name))
    assert events[["subject", "session", "task", "run"]].dtypes.tolist() == \
        ["string", "string", "string", "Int64"]
    for column, expected in zip(("subject", "session", "task", "run"), entities, strict=True):
        values = events[column].tolist()
        assert values == [pd.NA if expected is None else expected] * 2, column


def test_crlf_and_byte_order_mark_read_like_plain_text(tmp_path):
    text = "onset|duration|trial_no|event_type|stim_id\n0|33|1|rest|n/a\n33|9|2|stimulus|1621127.01902\n"
    plain = read_events(_write(tmp_path, text))
    (tmp_path / "crlf").mkdir()
    crlf = _write(tmp_path / "crlf", text.replace("\n", "\r\n"))
    (tmp_path / "bom").mkdir()
    bom = tmp_path / "bom" / (RUN + ".tsv")
    bom.write_bytes(b"\xef\xbb\xbf" + text.replace("|", "\t").encode())
    pd.testing.assert_frame_equal(read_events(crlf), plain)
    pd.testing.assert_frame_equal(read_events(bom), plain)
    spaced = _write(tmp_path, "onset | duration|trial_no|event_type|stim_id\n"
                              " 0 |33|1| rest |n/a\n33|9|2|stimulus| 1621127.01902\n")
    pd.testing.assert_frame_equal(read_events(spaced), plain)


def test_a_header_without_events_reads_as_an_empty_table_of_the_same_dtypes(tmp_path):
    header = "onset|duration|trial_no|event_type|stim_id|category_index|response_time|evaluation"
    full = read_events(_write(tmp_path, f"{header}\n0|33|1|rest|n/a|n/a|n/a|n/a\n"))
    (tmp_path / "empty").mkdir()
    empty = read_events(_write(tmp_path / "empty", f"{header}\n"))
    pd.testing.assert_frame_equal(empty, full.iloc[:0])


# --- every refusal, with the whole message -------------------------------------------------

H = "onset|duration|trial_no|event_type"


def _cell(column: str, line: int, value: str, expected: str) -> str:
    return (f"{{path}}: column {column!r}, line {line}: cannot interpret {value!r}; "
            f"expected {expected}. {FIX}")


IMAGE = "an image name such as 'n02766534_15976' or 'n02766534_15976.JPEG'"
ID = "a stimulus id such as '2766534.015976' (image number after the point)"
SYNSET = "a synset such as 'n02690373' or its number 2690373"
KNOWN = ("category_id, category_index, category_name, evaluation, image_file, image_index, "
         "response_time, stim_file, stim_id, stimulus_id, stimulus_name")
REFUSED = {
    "empty": ("", "Cannot read event table {path}: it is empty. Expected a header line and one "
                  "line per event; fetch it again."),
    "blank lines": ("\n \n", "Cannot read event table {path}: it is empty. Expected a header "
                             "line and one line per event; fetch it again."),
    "no final newline": (f"{H}\n0|33|1|rest", "Cannot read event table {path}: it ends in the "
                         "middle of a line (no final newline), so it is truncated. Fetch it "
                         "again."),
    "column twice": ("onset|trial_no|onset|duration|trial_no\n",
                     "{path}: column 'onset' appears more than once in the header line. "
                     "Expected each column once; fetch the table again."),
    "short third line": (f"{H}\n0|33|1|rest\n33|9|2\n",
                         "{path}, line 3: 3 tab-separated fields, the header has 4. Expected a "
                         "BIDS *_events.tsv; the file may be damaged: fetch it again."),
    "unknown column": (f"{H}|stimulus\n0|33|1|rest|x\n",
                       "{path}: unknown column 'stimulus' (columns: onset, duration, trial_no, "
                       "event_type, stimulus). Expected the columns of a ds001246 event table: "
                       f"onset, duration, trial_no, event_type and some of {KNOWN}."),
    "column name with a space": (f"{H}|stim id\n0|33|1|rest|n/a\n",
                                 "{path}: unknown column 'stim id' (columns: onset, duration, "
                                 "trial_no, event_type, stim id). Expected the columns of a "
                                 "ds001246 event table: onset, duration, trial_no, event_type and "
                                 f"some of {KNOWN}."),
    "unnamed last column": (f"{H}|\n0|33|1|rest|\n",
                            "{path}: unknown column '' (columns: onset, duration, trial_no, "
                            "event_type, ). Expected the columns of a ds001246 event table: "
                            f"onset, duration, trial_no, event_type and some of {KNOWN}."),
    "missing column": ("onset|trial_no|event_type\n0|1|rest\n",
                       "{path}: missing column 'duration' (columns: onset, trial_no, "
                       "event_type). Expected the columns of a ds001246 event table: onset, "
                       f"duration, trial_no, event_type and some of {KNOWN}."),
    "event type": (f"{H}\n0|33|1|rest\n33|9|2|Rest\n",
                   _cell("event_type", 3, "Rest",
                         "one of rest, stimulus, cue, imagery, evaluation, inter_rest")),
    "missing event type": (f"{H}\n0|33|1|n/a\n", _cell("event_type", 2, "", "one of rest, "
                           "stimulus, cue, imagery, evaluation, inter_rest")),
    "negative onset": (f"{H}\n0|33|1|rest\n-0.5|9|2|rest\n",
                       _cell("onset", 3, "-0.5", "a number of at least 0 written in decimal digits")),
    "zero duration": (f"{H}\n0|0|1|rest\n",
                      _cell("duration", 2, "0", "a number above 0 written in decimal digits")),
    "hex trial": (f"{H}\n0|33|0x1|rest\n",
                  _cell("trial_no", 2, "0x1", "an integer of at least 1 written in decimal digits")),
    "trial 0.5": (f"{H}\n0|33|0.5|rest\n",
                  _cell("trial_no", 2, "0.5", "an integer of at least 1 written in decimal digits")),
    "trial 1.5": (f"{H}\n0|33|1.5|rest\n",
                  _cell("trial_no", 2, "1.5", "an integer of at least 1 written in decimal digits")),
    "negative response": (f"{H}|response_time\n0|33|1|rest|-0.1\n",
                          _cell("response_time", 2, "-0.1",
                                "a number of at least 0 written in decimal digits")),
    "evaluation word": (f"{H}|evaluation\n0|33|1|rest|vivid\n",
                        _cell("evaluation", 2, "vivid", "a number written in decimal digits")),
    "category index 0": (f"{H}|category_index\n0|33|1|rest|0\n",
                         _cell("category_index", 2, "0",
                               "an integer of at least 1 written in decimal digits")),
    "image index 2.5": (f"{H}|image_index\n0|33|1|rest|2.5\n",
                        _cell("image_index", 2, "2.5",
                              "an integer of at least 1 written in decimal digits")),
    "n/a duration": (f"{H}\n0|33|1|rest\n33|n/a|2|rest\n42|null|3|rest\n",
                     _cell("duration", 3, "n/a", "a value in every row")),
    "n/a trial": (f"{H}\n0|33||rest\n", _cell("trial_no", 2, "n/a", "a value in every row")),
    "image name": (f"{H}|image_file\n33|9|2|stimulus|n0162112_19020.JPEG\n",
                   _cell("image_file", 2, "n0162112_19020.JPEG", IMAGE)),
    "stim_file": (f"{H}|stim_file\n0|33|1|rest|n/a\n33|9|2|stimulus|19020.JPEG\n",
                  _cell("stim_file", 3, "19020.JPEG", IMAGE)),
    "stimulus name": (f"{H}|stimulus_name\n33|9|2|stimulus|n01621127-19020\n",
                      _cell("stimulus_name", 2, "n01621127-19020", IMAGE)),
    "stim_id without image": (f"{H}|stim_id\n33|9|2|stimulus|1621127.000000\n",
                              _cell("stim_id", 2, "1621127.000000", ID)),
    "stimulus_id": (f"{H}|stimulus_id\n33|9|2|stimulus|n01621127_19020\n",
                    _cell("stimulus_id", 2, "n01621127_19020", ID)),
    "category id": (f"{H}|category_id\n33|3|2|cue|airliner\n",
                    _cell("category_id", 2, "airliner", SYNSET)),
    "name and id disagree": (f"{H}|stimulus_id|stimulus_name\n33|9|2|stimulus|1621127.01902|"
                             "n01621127_1902\n",
                             _cell("stimulus_id", 2, "1621127.01902",
                                   "the same stimulus as the other columns "
                                   f"('n01621127_1902'); {ID}")),
    "file and name disagree": (f"{H}|image_file|stimulus_name\n33|9|2|stimulus|"
                               "n01621127_19020.JPEG|n01621127_19021\n",
                               _cell("stimulus_name", 2, "n01621127_19021",
                                     "the same stimulus as the other columns "
                                     f"('n01621127_19020'); {IMAGE}")),
    "category and stimulus disagree": (f"{H}|stim_id|category_id\n33|9|2|stimulus|"
                                       "1621127.01902|n02690373\n",
                                       _cell("category_id", 2, "n02690373",
                                             "the same stimulus as the other columns "
                                             f"('n01621127'); {SYNSET}")),
    "category name disagrees": (f"{H}|category_id|category_name\n33|3|2|cue|2690373|n02690374\n",
                                _cell("category_name", 2, "n02690374",
                                      "the same stimulus as the other columns "
                                      f"('n02690373'); {SYNSET}")),
    "stimulus missing, name column": (f"{H}|stimulus_id|stimulus_name\n33|9|2|stimulus|n/a|n/a\n",
                                      _cell("stimulus_name", 2, "n/a",
                                            "the stimulus shown in a 'stimulus' event")),
    "stimulus missing, id column": (f"{H}|stimulus_id\n0|33|1|rest|n/a\n33|9|2|stimulus|null\n",
                                    _cell("stimulus_id", 3, "n/a",
                                          "the stimulus shown in a 'stimulus' event")),
    "stimulus missing, stim_id": (f"{H}|stim_id|image_file\n33|9|2|stimulus|n/a|n/a\n",
                                  _cell("stim_id", 2, "n/a",
                                        "the stimulus shown in a 'stimulus' event")),
    "stimulus missing, stim_file": (f"{H}|stim_file|image_file\n33|9|2|stimulus|n/a|n/a\n",
                                    _cell("stim_file", 2, "n/a",
                                          "the stimulus shown in a 'stimulus' event")),
    "stimulus missing, image_file": (f"{H}|image_file\n33|9|2|stimulus|null\n",
                                     _cell("image_file", 2, "n/a",
                                           "the stimulus shown in a 'stimulus' event")),
    "stimulus missing, no column": (f"{H}\n0|33|1|rest\n33|9|2|stimulus\n",
                                    _cell("stimulus", 3, "n/a",
                                          "the stimulus shown in a 'stimulus' event")),
    "cue without category": (f"{H}|category_id\n0|33|1|rest|n/a\n33|3|2|cue|n/a\n",
                             _cell("category_id", 3, "n/a",
                                   "the imagined category of an 'cue' event")),
    "imagery with a label only": (f"{H}|category_name\n36|15|2|imagery|airliner\n",
                                  _cell("category_id", 2, "n/a",
                                        "the imagined category of an 'imagery' event")),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_give_the_whole_message(tmp_path, case):
    text, message = REFUSED[case]
    path = _write(tmp_path, text)
    with pytest.raises(FormatError) as error:
        read_events(path)
    assert str(error.value) == message.format(path=path)


def test_bytes_that_are_not_utf8_are_refused_with_the_decoder_reason(tmp_path):
    data = b"onset\tduration\ttrial_no\tevent_type\n0\t33\t1\tr\xe9st\n"
    path = tmp_path / (RUN + ".tsv")
    path.write_bytes(data)
    with pytest.raises(UnicodeDecodeError) as reason:
        data.decode("utf-8")
    with pytest.raises(FormatError) as error:
        read_events(path)
    assert str(error.value) == (f"Cannot read event table {path}: {reason.value}. Expected "
                                "UTF-8 text; the file may be damaged: fetch it again.")


def test_a_missing_file_is_data_not_found(tmp_path):
    path = tmp_path / (RUN + ".tsv")
    with pytest.raises(DataNotFoundError) as error:
        read_events(path)
    assert str(error.value) == (f"Event table {path} does not exist: pass the path of a "
                                "*_events.tsv, or fetch it with brainfeat.fetch_bids().")
    with pytest.raises(DataNotFoundError):
        read_events(tmp_path)  # a folder is no table either


# --- every run of a subject and split -------------------------------------------------------

def _key(path: Path) -> tuple[str, int]:
    parts = dict(part.split("-", 1) for part in path.name.split("_") if "-" in part)
    return parts["ses"], int(parts.get("run", 0))


@pytest.mark.parametrize("subject, split, sessions, runs", [
    ("sub-01", "train", "perceptionTraining", 24), ("sub-02", "test", "perceptionTest", 35),
    ("sub-01", "imagery", "imageryTest", 20),
])
def test_events_files_lists_one_split_in_session_and_numeric_run_order(subject, split, sessions,
                                                                       runs):
    files = events_files(DS, subject, Split.parse(split))
    expected = sorted(DS.glob(f"{subject}/ses-{sessions}*/func/*_events.tsv"), key=_key)
    assert files == expected and len(files) == runs


def test_events_files_puts_a_table_without_run_first_and_names_what_is_missing(tmp_path):
    func = tmp_path / "sub-04" / "ses-perceptionTest01" / "func"
    func.mkdir(parents=True)
    names = ["sub-04_ses-perceptionTest01_task-perception_run-2_events.tsv",
             "sub-04_ses-perceptionTest01_task-perception_run-10_events.tsv",
             "sub-04_ses-perceptionTest01_task-perception_events.tsv"]
    for name in names:
        (func / name).write_text("onset\tduration\ttrial_no\tevent_type\n0\t33\t1\trest\n")
    assert [f.name for f in events_files(tmp_path, "sub-04", Split.parse("test"))] == \
        [names[2], names[0], names[1]]
    with pytest.raises(DataNotFoundError) as error:
        events_files(tmp_path, "sub-04", Split.parse("train"))
    assert str(error.value) == (
        f"No event table of sub-04 (train) under {tmp_path}: expected "
        "sub-04/ses-perceptionTrainingNN/func/*_events.tsv. Pass the root of a ds001246 copy, "
        "or fetch it with brainfeat.fetch_bids().")


@pytest.mark.parametrize("listing", [0, 1, 2])
def test_events_files_order_does_not_depend_on_the_file_system_listing(tmp_path, monkeypatch,
                                                                        listing):
    func = tmp_path / "sub-04" / "ses-imageryTest01" / "func"
    func.mkdir(parents=True)
    names = ["sub-04_ses-imageryTest01_task-imagery_events.tsv",
             "sub-04_ses-imageryTest01_task-imagery_run-01_events.tsv",
             "sub-04_ses-imageryTest01_task-imagery_run-02_events.tsv"]
    listed = [func / name for name in names[listing:] + names[:listing]]
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(listed))
    assert [f.name for f in events_files(tmp_path, "sub-04", Split.parse("imagery"))] == names


def test_load_events_sorts_each_run_by_onset_and_numbers_the_rows_afresh(tmp_path):
    func = tmp_path / "sub-03" / "ses-perceptionTest01" / "func"
    func.mkdir(parents=True)
    for run, onsets in ((2, (9, 0)), (1, (42, 0, 33))):
        lines = ["onset\tduration\ttrial_no\tevent_type"]
        lines += [f"{onset}\t9\t{n}\trest" for n, onset in enumerate(onsets, start=1)]
        name = f"sub-03_ses-perceptionTest01_task-perception_run-0{run}_events.tsv"
        (func / name).write_text("\n".join(lines) + "\n")
    events = brainfeat.load_events("S3", "test", root=tmp_path)
    assert events[["run", "onset", "trial_no"]].values.tolist() == \
        [[1, 0, 2], [1, 33, 3], [1, 42, 1], [2, 0, 2], [2, 9, 1]]
    assert events.index.equals(pd.RangeIndex(5))


def test_load_events_takes_its_subjects_from_the_catalog_passed(tmp_path):
    catalog = dataclasses.replace(default_catalog(), subjects=(Subject(7),))
    func = tmp_path / "sub-07" / "ses-imageryTest01" / "func"
    func.mkdir(parents=True)
    (func / "sub-07_ses-imageryTest01_task-imagery_run-01_events.tsv").write_text(
        "onset\tduration\ttrial_no\tevent_type\n0\t33\t1\trest\n")
    events = brainfeat.load_events("S7", "imagery", root=tmp_path, catalog=catalog)
    assert events["subject"].tolist() == ["sub-07"]
    with pytest.raises(UnknownNameError, match="'S1'"):
        brainfeat.load_events("S1", "imagery", root=tmp_path, catalog=catalog)


def test_load_events_without_root_fetches_only_event_tables_into_data_dir(monkeypatch, tmp_path):
    with serve_folder(DS) as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}")
        with pytest.raises(DataNotFoundError):
            brainfeat.load_events("S2", "imagery", data_dir=tmp_path / "offline", download=False)
        fetched = brainfeat.load_events("S2", "imagery", data_dir=tmp_path / "online")
    pd.testing.assert_frame_equal(fetched, brainfeat.load_events("S2", "imagery", root=DS))
    files = [p for p in (tmp_path / "online").rglob("sub-*") if p.is_file()]
    assert {p.name for p in files if p.name.endswith("_events.tsv")} == \
        {p.name for p in DS.glob("sub-02/ses-*/func/*_events.tsv")}
    assert {p.suffix for p in files} == {".tsv", ".lock"}, "event tables (and their locks) only"
    assert not list((tmp_path / "offline").rglob("*_events.tsv"))


def test_load_events_is_every_run_read_and_joined_in_order():
    events = brainfeat.load_events("S2", "test", root=str(DS))
    files = events_files(DS, "sub-02", Split.parse("test"))
    joined = pd.concat([_independent(f) for f in files], ignore_index=True)
    expected = joined.sort_values(["session", "run", "onset"], ignore_index=True)
    pd.testing.assert_frame_equal(events, expected, check_exact=True)
