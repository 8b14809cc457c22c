import pytest

import brainfeat
from brainfeat.catalog import AVERAGED, Catalog, Kind, Network, Split, Subject, default_catalog
from brainfeat.errors import UnknownNameError


@pytest.mark.parametrize("name", [1, "1", "S1", "s1", "sub-01", "sub-1", "Subject1", Subject(1)])
def test_every_spelling_of_a_subject_names_the_same_subject(name):
    subject = Subject.parse(name)
    assert subject == Subject(1)
    assert (subject.name, subject.bids, subject.h5_name) == ("S1", "sub-01", "Subject1")


def test_averaged_is_a_subject_without_bids_data():
    assert Subject.parse("Averaged") == AVERAGED and AVERAGED.is_averaged
    assert AVERAGED.name == "Averaged" and str(AVERAGED) == "Averaged"
    with pytest.raises(UnknownNameError, match="S1-S5"):
        _ = AVERAGED.bids


@pytest.mark.parametrize("bad", [0, 6, "S6", "sub-07", "nobody", True])
def test_unknown_subject_error_lists_the_valid_ones(bad):
    with pytest.raises(UnknownNameError, match="expected one of S1, S2, S3, S4, S5, Averaged"):
        Subject.parse(bad)


def test_layer_counts_match_the_published_unit_totals():
    catalog = default_catalog()
    alexnet = catalog.layers_of("alexnet")
    vgg = catalog.layers_of(Network.VGG19)
    assert len(alexnet) == 8 and len(vgg) == 19
    assert sum(layer.n_units for layer in alexnet) == 659_272
    assert sum(layer.n_units for layer in vgg) == 14_861_288


def test_layer_info_and_unknown_layer_error():
    assert brainfeat.layer_info("AlexNet", "conv1").unit_shape == (96, 55, 55)
    assert brainfeat.layer_info("vgg19", "CONV5_4").unit_shape == (512, 14, 14)
    with pytest.raises(UnknownNameError, match="conv6.*expected one of conv1 conv2"):
        brainfeat.layer_info("AlexNet", "conv6")
    with pytest.raises(ValueError, match="Unknown network 'resnet'"):
        brainfeat.layer_info("resnet", "fc8")


def test_image_lists_and_run_table():
    catalog = default_catalog()
    assert len(catalog.test_image_ids) == 50 and catalog.test_image_ids[0] == "n01443537_22563"
    assert len(catalog.training_image_ids) == 1200
    assert len(set(catalog.training_image_ids) & set(catalog.test_image_ids)) == 0
    for subject in catalog.subjects:
        assert catalog.runs_of(subject, "train").n_runs == 24
        assert catalog.runs_of(subject, "test").n_runs == 35
        assert catalog.runs_of(subject, "imagery").n_runs == 20
    assert catalog.runs_of("sub-05", Split.TRAIN).session_labels[-1] == "perceptionTraining05"


def test_kinds_know_whether_they_have_subjects():
    catalog = default_catalog()
    assert catalog.subjects_for("true") == ()
    assert catalog.subjects_for(Kind.RANK)[-1] == AVERAGED


def test_catalog_json_round_trip():
    catalog = default_catalog()
    assert Catalog.from_json(catalog.to_json()) == catalog


def test_missing_run_table_names_subject_split_and_known_subjects():
    from dataclasses import replace

    catalog = default_catalog()
    partial = replace(catalog, runs=tuple(r for r in catalog.runs if r.subject == 1))
    with pytest.raises(UnknownNameError, match=r"subject 'S2', split 'test'.*tables for S1;"):
        partial.runs_of("S2", "test")
