"""Stimulus names <-> ids, exactly, and the packaged stimulus lists."""

from __future__ import annotations

import pytest
from _data import GOD_STIMULI as SHARED

from brainfeat import stimuli
from brainfeat.catalog import default_catalog
from brainfeat.errors import FormatError, UnknownNameError


def _published_rows(name: str) -> list[list[str]]:
    return [line.split("\t") for line in (SHARED / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("table", ["stimulus_ImageNetTraining.tsv", "stimulus_ImageNetTest.tsv"])
def test_every_published_name_and_id_convert_both_ways_exactly(table):
    rows = _published_rows(table)
    for name, id_text, *_ in rows:
        assert stimuli.id_to_name(id_text) == name          # from the printed text
        assert stimuli.id_to_name(float(id_text)) == name   # from the float
        assert stimuli.name_to_id(name) == float(id_text)   # the same float as published
        assert stimuli.id_to_micro(id_text) == stimuli.name_to_micro(name)


def test_trailing_zeros_never_matter():
    # Published text drops trailing zeros: 1621127.01902 is image 19020, not 1902.
    assert stimuli.id_to_name("1621127.01902") == "n01621127_19020"
    assert stimuli.id_to_name("1621127.019020") == "n01621127_19020"
    assert stimuli.id_to_name("1621127.001902") == "n01621127_1902"
    assert stimuli.name_to_micro("n01621127_19020.JPEG") == 1621127_019020


@pytest.mark.parametrize("bad", ["1621127.0190201", "abc", "nan", "inf", "-1", "1970164.", "1_000",
                                 "1e3", "+1621127.01902", "123456789.1", ".5", -1, -0.5, 1e8,
                                 float("nan"), True, b"1621127.01902", None])
def test_ids_that_are_not_whole_micro_units_are_errors(bad):
    """Each once read as a wrong id (-1 as n-0000001_0, 1970164. as n01970164_0, 1_000 as 1000)."""
    with pytest.raises(FormatError, match="id"):
        stimuli.id_to_micro(bad)


@pytest.mark.parametrize("bad", ["1_000", "-5", "0", "2690373.5", "1e3", True])
def test_malformed_categories_are_errors(bad):
    with pytest.raises(FormatError, match="Cannot read category"):
        stimuli.category_name(bad)


@pytest.mark.parametrize("bad", ["n1621127_19020", "01621127_19020", "n01621127-19020", ""])
def test_malformed_names_are_errors(bad):
    with pytest.raises(FormatError, match="expected an ImageNet image name"):
        stimuli.name_to_micro(bad)


def test_synset_of_a_micro_unit_id():
    assert stimuli.micro_to_synset(stimuli.name_to_micro("n01621127_19020")) == "n01621127"
    assert stimuli.micro_to_synset(stimuli.id_to_micro("1518878.010042")) == "n01518878"
    for stimulus in stimuli.test_stimuli():
        assert stimuli.micro_to_synset(stimulus.micro) == stimulus.category


def test_category_names_from_synsets_and_numbers():
    assert stimuli.category_name("n02690373") == "n02690373"
    assert stimuli.category_name(2690373) == "n02690373"
    assert stimuli.category_name("2690373.0") == "n02690373"
    with pytest.raises(FormatError, match="synset"):
        stimuli.category_name("airliner")


def test_packaged_lists_match_the_catalog_and_the_published_tables():
    catalog = default_catalog()
    assert tuple(s.name for s in stimuli.training_stimuli()) == catalog.training_image_ids
    assert tuple(s.name for s in stimuli.test_stimuli()) == catalog.test_image_ids
    assert tuple(c.name for c in stimuli.imagery_categories()) == catalog.imagery_categories
    for table, packaged in (("stimulus_ImageNetTest.tsv", stimuli.test_stimuli()),
                            ("stimulus_ImageNetTraining.tsv", stimuli.training_stimuli())):
        rows = _published_rows(table)  # the lab's tables, not the packaged copies
        assert [(s.name, s.category_index, s.image_index) for s in packaged] == \
            [(r[0], int(r[2]), int(r[3])) for r in rows]
    categories = _published_rows("category_GODImagery.tsv")
    assert [c.category_id for c in stimuli.imagery_categories()] == [int(r[1]) for r in categories]


def test_lookup_by_name_or_id():
    first = stimuli.test_stimuli()[0]
    assert stimuli.stimulus_lookup(first.name) == ("test", first)
    assert stimuli.stimulus_lookup(first.stimulus_id) == ("test", first)
    train = stimuli.training_stimuli()[5]
    assert stimuli.stimulus_lookup(str(train.stimulus_id)) == ("train", train)
    with pytest.raises(UnknownNameError, match="n09999999_1"):
        stimuli.stimulus_lookup("n09999999_1")
