"""Tidy exports: unit-grid xarray, long tables, load_all, repr and new values, on a replica."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from served_replica import served_replica

import brainfeat
from brainfeat.errors import ShapeMismatchError, UnknownNameError


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """A replica served for the whole module, fetched once into one data folder."""
    root = tmp_path_factory.mktemp("replica")
    monkeypatch = pytest.MonkeyPatch()
    with served_replica(root, monkeypatch) as (catalog, url):
        yield catalog, url, {"data_dir": root / "data", "catalog": catalog, "progress": False}
    monkeypatch.undo()


@pytest.fixture
def replica(served, monkeypatch: pytest.MonkeyPatch):
    """(catalog, options for brainfeat.load), with BRAINFEAT_MIRRORS set for this test."""
    catalog, url, options = served
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
    return catalog, options


def test_conv_features_keep_their_grid_in_xarray(replica) -> None:
    catalog, options = replica
    decoded = brainfeat.load("decoded", "AlexNet", "conv1", "S2", **options)
    array = decoded.to_xarray()
    assert array.dims == ("image", "channel", "y", "x")
    assert array.shape == (50, 8, 6, 6)
    assert tuple(array["image"].values) == catalog.test_image_ids
    # unit c*H*W + h*W + w sits at (c, h, w)
    c, h, w = 5, 2, 3
    np.testing.assert_array_equal(array[7, c, h, w].item(), decoded.values[7, c * 36 + h * 6 + w])
    assert array.attrs["subject"] == "S2" and array.attrs["layer"] == "conv1"
    assert np.shares_memory(array.values, decoded.values)
    fc = brainfeat.load("accuracy", "VGG19", "fc8", "S1", **options).to_xarray()
    assert fc.dims == ("unit",) and fc.shape == (40,)
    conv_scores = brainfeat.load("rank", "VGG19", "conv1_1", "S1", **options).to_xarray()
    assert conv_scores.dims == ("channel", "y", "x") and conv_scores.shape == (4, 7, 7)


def test_to_frame_is_long_and_labelled(replica) -> None:
    _, options = replica
    decoded = brainfeat.load("decoded", "AlexNet", "conv1", "S1", **options)
    frame = decoded.to_frame()
    assert len(frame) == 50 * 8 * 6 * 6
    row = frame.iloc[288 * 3 + 100]  # image 3, unit 100 = (2, 4, 4)
    assert (row["image"], row["unit"], row["channel"], row["y"], row["x"]) == (
        decoded.image_ids[3], 100, 2, 4, 4)
    assert row["value"] == decoded.values[3, 100]
    assert set(frame["subject"]) == {"S1"} and set(frame["layer"]) == {"conv1"}
    true = brainfeat.load("true", "AlexNet", "fc8", **options).to_frame()
    assert list(true.columns) == ["network", "layer", "subject", "image", "unit", "value"]
    scores = brainfeat.load("accuracy", "AlexNet", "fc8", "Averaged", **options).to_frame()
    assert len(scores) == 40 and "image" not in scores
    np.testing.assert_array_equal(scores["value"], brainfeat.load(
        "accuracy", "AlexNet", "fc8", "Averaged", **options).values)


def test_load_all_has_a_subject_dimension_and_every_layer(replica) -> None:
    _, options = replica
    data = brainfeat.load_all("decoded", "AlexNet", ["conv1", "fc8"], ["S1", 3, "Averaged"],
                              **options)
    assert list(data.data_vars) == ["conv1", "fc8"]
    assert data["conv1"].dims == ("subject", "image", "conv1_channel", "conv1_y", "conv1_x")
    assert data["fc8"].dims == ("subject", "image", "fc8_unit")
    assert list(data["subject"].values) == ["S1", "S3", "Averaged"]
    s3 = brainfeat.load("decoded", "AlexNet", "fc8", "S3", **options)
    np.testing.assert_array_equal(data["fc8"].sel(subject="S3").values, s3.values)
    true = brainfeat.load_all("true", "VGG19", **options)
    assert list(true.data_vars) == ["conv1_1", "fc8"] and "subject" not in true.dims
    accuracy = brainfeat.load_all("accuracy", "VGG19", ["fc8"], **options)
    assert list(accuracy["subject"].values) == ["S1", "S2", "S3", "S4", "S5", "Averaged"]


@pytest.mark.parametrize("call, named", [
    (dict(kind="decoded", network="AlexNet", layers=["conv9"]), "conv9"),
    (dict(kind="decoded", network="AlexNet", layers=["fc8"], subjects=["S7"]), "S7"),
    (dict(kind="true", network="AlexNet", layers=["fc8"], subjects=["S1"]), "S1"),
    (dict(kind="decoded", network="AlexNet", layers=[]), "at least one layer"),
])
def test_load_all_refuses_unknown_names(replica, call, named) -> None:
    _, options = replica
    with pytest.raises(UnknownNameError, match=named):
        brainfeat.load_all(**call, **options)


def test_repr_is_short_and_values_can_be_replaced(replica) -> None:
    _, options = replica
    decoded = brainfeat.load("decoded", "VGG19", "conv1_1", "S1", **options)
    assert repr(decoded) == ("<FeatureSet decoded VGG19 conv1_1 S1: 50 images x 196 units "
                             "(4, 7, 7) float32>")
    with pytest.raises(FrozenInstanceError):
        decoded.values = decoded.values * 2  # the result stays frozen
    mean = decoded.values.mean(axis=0)
    centred = decoded.with_values(decoded.values - mean)
    assert centred.image_ids == decoded.image_ids and centred.subject == decoded.subject
    np.testing.assert_allclose(centred.values.mean(axis=0), 0, atol=1e-6)
    grid = decoded.with_values(decoded.reshape_units())  # (50, 4, 7, 7) is accepted
    assert grid.values.shape == (50, 196)
    copy = decoded.copy()
    copy.values[:] = 0
    assert decoded.values.any()
    with pytest.raises(ShapeMismatchError, match=r"\(50, 195\).*\(50, 196\)"):
        decoded.with_values(decoded.values[:, :-1])
    with pytest.raises(ShapeMismatchError, match="one row per image"):
        decoded.with_values(decoded.values.T)
    scores = brainfeat.load("accuracy", "AlexNet", "fc8", "S1", **options)
    assert repr(scores) == "<UnitScores accuracy AlexNet fc8 S1: 40 units (40,) float64>"
    with pytest.raises(ShapeMismatchError):
        scores.with_values(np.zeros(41))


def test_verification_report_to_frame_has_one_row_per_check() -> None:
    from brainfeat.evaluation.results import LayerCheck, SubjectCheck, VerificationReport

    good = SubjectCheck("AlexNet", "fc8", "S1", 40, accuracy_max_abs_diff=1e-7,
                        accuracy_fraction_within=1.0, accuracy_nan_mismatches=0,
                        rank_agreement={"descending": 1.0}, rank_policy="descending")
    bad = SubjectCheck("AlexNet", "fc8", "S2", 40, accuracy_max_abs_diff=0.3,
                       accuracy_fraction_within=0.9, accuracy_nan_mismatches=2,
                       problems=("4 units differ", "2 NaN on one side"))
    missing = SubjectCheck("AlexNet", "conv1", "S1", 288, missing=("rank",))
    report = VerificationReport(
        "replica", True, 1e-4,
        (LayerCheck("AlexNet", "fc8", 40, (good, bad)),
         LayerCheck("AlexNet", "conv1", 288, (missing,))),
        (), (), "not applicable (synthetic)", "descending")
    frame = report.to_frame()
    assert list(zip(frame["layer"], frame["subject"], frame["status"])) == [
        ("fc8", "S1", "ok"), ("fc8", "S2", "mismatch"), ("conv1", "S1", "missing")]
    assert frame["rank_fraction"].iloc[0] == 1.0 and np.isnan(frame["rank_fraction"].iloc[2])
    assert frame["accuracy_max_abs_diff"].tolist()[:2] == [1e-7, 0.3]
    assert frame["problems"].iloc[1] == "4 units differ; 2 NaN on one side"
