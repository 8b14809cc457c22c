"""Tests written against the mutation survivors of evaluation/report.py and regenerated.py.

``brainfeat.verify`` and ``figure2_statistics`` run here on published files that stand in
for :mod:`brainfeat.published`'s loaders (:class:`_Published`): tiny arrays chosen per
(layer, kind, subject), a file missing or unreadable where wanted, and every call recorded,
so that each test sees exactly what was read, with which options, and checks every number
of the report against a plain numpy computation written here. ``compare_regenerated``,
``published_profiles`` and ``draw_profile`` run the same way on stand-in loaders, manifest
and figure, so the test sees which regenerated file is paired with which published one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import brainfeat.published
import brainfeat.remote.api
from brainfeat.catalog import Kind, Network
from brainfeat.demo.replica import replica_catalog
from brainfeat.errors import DataNotFoundError, FormatError, InvalidValueError
from brainfeat.evaluation.facts import RANK_POLICIES
from brainfeat.evaluation.report import figure2_statistics, verify, write_report

POLICY = "descending (first = most accurate), NaN ranked last, 1-based"
TOLERANCE = 0.01
SUBJECTS = ("S1", "S2", "S3", "S4", "S5")
N_IMAGES, N_UNITS = 8, 6
UNREADABLE = "rank file S4: bad header"


class _Published:
    """Published files by (layer, kind, subject): an array, or an exception to raise."""

    def __init__(self, files: dict) -> None:
        self.files = files
        self.calls: list[tuple] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> _Published:
        monkeypatch.setattr(brainfeat.published, "load_features", self.load_features)
        monkeypatch.setattr(brainfeat.published, "load_accuracy",
                            lambda *args, **options: self._load(Kind.ACCURACY, *args, **options))
        monkeypatch.setattr(brainfeat.published, "load_rank",
                            lambda *args, **options: self._load(Kind.RANK, *args, **options))
        monkeypatch.setattr(brainfeat.remote.api, "fetch", self.fetch)
        return self

    def load_features(self, kind, network, layer, subject=None, **options):
        return self._load(kind, network, layer, subject, **options)

    def _load(self, kind, network, layer, subject, **options):
        name = getattr(subject, "name", subject)
        self.calls.append((kind, network, layer, name, options))
        found = self.files.get((layer, kind, name))
        if found is None:
            raise DataNotFoundError(f"no {kind.value} file of {layer} {name}")
        if isinstance(found, Exception):
            raise found
        return type("Loaded", (), {"values": found})()

    def fetch(self, kind, network, layer, **options):
        self.calls.append(("fetch", kind, network, layer, options))
        raise DataNotFoundError("not extracted")


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column Pearson r of two (images, units) arrays, NaN for a constant column."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.array([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])])


def _ranks(accuracy: np.ndarray) -> np.ndarray:
    """Descending, 1-based, NaN ranked last (the established convention)."""
    order = sorted(range(accuracy.size),
                   key=lambda j: (np.isnan(accuracy[j]), -np.nan_to_num(accuracy[j])))
    ranks = np.empty(accuracy.size)
    ranks[order] = np.arange(1, accuracy.size + 1)
    return ranks


def _compared(mine: np.ndarray, theirs: np.ndarray) -> tuple[float, float, int]:
    """(max |diff| over units both score, fraction within TOLERANCE, NaN on one side)."""
    both = np.isfinite(mine) & np.isfinite(theirs)
    difference = np.abs(mine[both] - theirs[both])
    within = (difference <= TOLERANCE).sum() + (np.isnan(mine) & np.isnan(theirs)).sum()
    nan = int((np.isnan(mine) ^ np.isnan(theirs)).sum())
    return float(difference.max()), within / mine.size, nan


@pytest.fixture(scope="module")
def layer_data() -> dict:
    """True and decoded features of one layer; accuracies and ranks as the test plants them."""
    rng = np.random.default_rng(7)
    true = rng.normal(size=(N_IMAGES, N_UNITS)).astype(np.float32)
    decoded = {s: (true * (0.2 + 0.15 * i) + rng.normal(size=true.shape)).astype(np.float32)
               for i, s in enumerate(SUBJECTS)}
    mean = np.mean([decoded[s].astype(np.float64) for s in SUBJECTS], axis=0)
    averaged = mean.astype(np.float32)
    averaged[2, 3] += 0.5                       # the published Averaged off at one value
    recomputed = {s: _pearson(decoded[s], true) for s in SUBJECTS}
    recomputed["Averaged"] = _pearson(averaged, true)
    published = {s: recomputed[s].copy() for s in (*SUBJECTS, "Averaged")}
    published["S1"][0] += 1.5 * TOLERANCE       # just outside the tolerance
    published["S1"][1] -= 0.5 * TOLERANCE       # just inside it
    published["S2"][[1, 4]] = published["S2"][[4, 1]]   # two units swapped
    published["S3"][4] = np.nan                 # NaN on the published side only
    published["Averaged"] = _pearson(mean, true)        # mean of the decoded, then scored
    return {"true": true, "decoded": decoded, "mean": mean, "averaged": averaged,
            "recomputed": recomputed, "published": published}


def _files(data: dict, layer: str = "fc8") -> dict:
    files = {(layer, Kind.TRUE, None): data["true"],
             (layer, Kind.DECODED, "Averaged"): data["averaged"]}
    for subject, accuracy in data["published"].items():
        files[(layer, Kind.ACCURACY, subject)] = accuracy
        files[(layer, Kind.RANK, subject)] = _ranks(accuracy)
    for subject in SUBJECTS:
        files[(layer, Kind.DECODED, subject)] = data["decoded"][subject]
    files[(layer, Kind.RANK, "S4")] = FormatError(UNREADABLE)       # unreadable
    del files[(layer, Kind.ACCURACY, "S5")]                         # missing
    files[(layer, Kind.RANK, "S5")] = _ranks(data["recomputed"]["S5"])
    return files


def _catalog(*layers: tuple[Network, str]):
    return replica_catalog({key: (N_UNITS,) for key in layers or [(Network.ALEXNET, "fc8")]})


def test_verify_reads_each_file_once_and_reports_every_number(layer_data, tmp_path,
                                                               monkeypatch) -> None:
    catalog = _catalog()
    source = _Published(_files(layer_data)).install(monkeypatch)
    report = verify(catalog=catalog, data_dir=tmp_path, download=False, tolerance=TOLERANCE,
                    progress=False)
    options = {"data_dir": tmp_path, "download": False, "progress": False, "catalog": catalog}
    expected_calls = [(Kind.TRUE, Network.ALEXNET, "fc8", None, options)]
    for subject in (*SUBJECTS, "Averaged"):
        expected_calls += [(kind, Network.ALEXNET, "fc8", subject, options)
                           for kind in (Kind.DECODED, Kind.ACCURACY, Kind.RANK)]
    fetched = {"data_dir": tmp_path, "download": False, "progress": False, "catalog": catalog}
    expected_calls += [("fetch", kind, Network.ALEXNET, "fc8", fetched) for kind in Kind]
    assert source.calls == expected_calls

    (layer,) = report.layers
    assert (layer.network, layer.layer, layer.n_units) == ("AlexNet", "fc8", N_UNITS)
    assert layer.true_min == float(layer_data["true"].min())
    assert layer.mat_flavours == {}
    checks = {c.subject: c for c in layer.subjects}
    assert list(checks) == [*SUBJECTS, "Averaged"]
    recomputed, published = layer_data["recomputed"], layer_data["published"]
    for subject, check in checks.items():
        assert (check.network, check.layer, check.n_units) == ("AlexNet", "fc8", N_UNITS)
        assert check.rank_policy == POLICY
        if subject == "S5":                    # no published accuracy: nothing compared
            assert check.missing == ("accuracy",) and check.errors == ()
            assert check.accuracy_max_abs_diff is None and check.accuracy_fraction_within is None
            assert check.rank_agreement == {}
            continue
        assert check.missing == ()
        assert check.errors == ((f"rank: {UNREADABLE}",) if subject == "S4" else ())
        max_diff, within, nan = _compared(recomputed[subject], published[subject])
        assert check.accuracy_max_abs_diff == pytest.approx(max_diff, abs=1e-12)
        assert check.accuracy_fraction_within == within
        assert check.accuracy_nan_mismatches == nan
    assert [checks[s].accuracy_fraction_within for s in ("S1", "S2", "S3")] == [5 / 6, 4 / 6,
                                                                                   5 / 6]
    # the rank file against the published accuracy, and against the recomputed one
    assert set(checks["S2"].rank_agreement) == {p.label for p in RANK_POLICIES}
    assert checks["S2"].rank_agreement[POLICY] == 1.0
    assert checks["S2"].rank_agreement_recomputed[POLICY] == 4 / 6
    assert checks["S5"].rank_agreement_recomputed[POLICY] == 1.0
    assert checks["S4"].rank_agreement == checks["S4"].rank_agreement_recomputed == {}
    assert [c.status for c in checks.values()] == ["mismatch", "mismatch", "mismatch",
                                                   "unreadable", "missing", "mismatch"]
    assert checks["S3"].problems[0].endswith("tolerance 0.01; 1 NaN on one side only)")

    averaged = layer.averaged
    assert averaged.n_subjects == 5
    mean = layer_data["mean"]
    assert averaged.decoded_max_relative_diff == pytest.approx(
        np.abs(layer_data["averaged"] - mean).max() / np.abs(mean).max(), rel=1e-12)
    assert averaged.mean_then_score_max_abs_diff == pytest.approx(0.0, abs=1e-12)
    assert averaged.mean_then_score_fraction_within == 1.0
    of_maps = np.mean([recomputed[s] for s in SUBJECTS], axis=0)
    max_diff, within, _ = _compared(of_maps, published["Averaged"])
    assert averaged.mean_of_accuracies_max_abs_diff == pytest.approx(max_diff, abs=1e-12)
    assert averaged.mean_of_accuracies_fraction_within == within

    figure = layer.figure
    assert figure.subjects == SUBJECTS and figure.source == "recomputed"
    pooled = np.concatenate([recomputed[s] for s in SUBJECTS])
    assert figure.mean_accuracy == pytest.approx(pooled.mean(), abs=1e-12)
    assert figure.n_scored == pooled.size
    assert report.rank_policy == POLICY and report.tolerance == TOLERANCE
    assert report.dataset == catalog.name and report.synthetic is True


def test_a_subject_without_decoded_features_is_scored_from_its_published_file(
        layer_data, tmp_path, monkeypatch) -> None:
    files = _files(layer_data)
    files[("fc8", Kind.ACCURACY, "S5")] = layer_data["published"]["S3"][::-1].copy()
    del files[("fc8", Kind.DECODED, "S5")]
    del files[("fc8", Kind.DECODED, "Averaged")]
    _Published(files).install(monkeypatch)
    catalog = replace(_catalog(), synthetic=False)          # posing as the real dataset
    report = verify(catalog=catalog, data_dir=tmp_path, tolerance=TOLERANCE, progress=False)
    (layer,) = report.layers
    checks = {c.subject: c for c in layer.subjects}
    assert checks["S5"].missing == checks["Averaged"].missing == ("decoded",)
    assert checks["S5"].accuracy_fraction_within is None
    assert checks["S5"].rank_agreement_recomputed == {}
    assert checks["Averaged"].rank_agreement[POLICY] == 1.0
    # four subjects' decoded features: their mean is not the Averaged one, nothing compared
    assert layer.averaged.n_subjects == 4
    assert layer.averaged.decoded_max_relative_diff is None
    assert layer.averaged.mean_then_score_fraction_within is None
    assert layer.averaged.mean_of_accuracies_fraction_within is None
    assert layer.figure.source == "published+recomputed"
    pooled = np.concatenate([layer_data["recomputed"][s] for s in SUBJECTS[:4]]
                            + [files[("fc8", Kind.ACCURACY, "S5")]])
    assert layer.figure.mean_accuracy == pytest.approx(np.nanmean(pooled), abs=1e-12)
    assert [(c.layer, c.statistic, c.published, c.recomputed) for c in report.figure2] == [
        ("fc8", "mean accuracy", 0.48, layer.figure.mean_accuracy),
        ("fc8", "mean inter-subject r", 0.81, layer.figure.mean_intersubject)]


def test_without_true_features_nothing_is_recomputed(layer_data, tmp_path,
                                                     monkeypatch) -> None:
    files = _files(layer_data)
    del files[("fc8", Kind.TRUE, None)]
    del files[("fc8", Kind.RANK, "S2")]
    _Published(files).install(monkeypatch)
    (layer,) = verify(catalog=_catalog(), data_dir=tmp_path, progress=False).layers
    checks = {c.subject: c for c in layer.subjects}
    assert checks["S1"].missing == ("true",)
    assert checks["S2"].missing == ("true", "rank")
    assert checks["S5"].missing == ("true", "accuracy")
    assert all(c.accuracy_fraction_within is None and c.rank_agreement_recomputed == {}
               for c in checks.values())
    assert checks["S1"].rank_agreement[POLICY] == 1.0
    assert layer.true_min is None and layer.averaged.n_subjects == 0
    assert layer.figure.source == "published" and layer.figure.subjects == SUBJECTS[:4]


def test_averaged_without_its_accuracy_file_compares_only_decoded_features(
        layer_data, tmp_path, monkeypatch) -> None:
    files = _files(layer_data)
    del files[("fc8", Kind.ACCURACY, "Averaged")]
    _Published(files).install(monkeypatch)
    averaged = verify(catalog=_catalog(), data_dir=tmp_path, tolerance=TOLERANCE,
                      progress=False).layers[0].averaged
    assert averaged.n_subjects == 5
    mean = layer_data["mean"]
    assert averaged.decoded_max_relative_diff == pytest.approx(
        np.abs(layer_data["averaged"] - mean).max() / np.abs(mean).max(), rel=1e-12)
    assert averaged.mean_then_score_max_abs_diff is None
    assert averaged.mean_of_accuracies_max_abs_diff is None


def test_verify_selects_the_network_layer_and_subject_asked_for(layer_data, tmp_path,
                                                                monkeypatch) -> None:
    catalog = _catalog((Network.ALEXNET, "fc8"), (Network.VGG19, "conv1_1"),
                       (Network.VGG19, "fc8"))
    source = _Published(_files(layer_data)).install(monkeypatch)
    report = verify("VGG19", "fc8", "S2", catalog=catalog, data_dir=tmp_path, progress=False)
    assert [(c.network, c.layer, c.subject) for c in report.subject_checks] == [
        ("VGG19", "fc8", "S2")]
    assert {call[1:3] if call[0] != "fetch" else call[2:4] for call in source.calls} == {
        (Network.VGG19, "fc8")}
    assert report.layers[0].figure is None and report.layers[0].averaged is None
    assert source.calls[0][4]["download"] is True              # the default downloads


def test_verify_shows_its_progress_on_stderr_unless_told_not_to(layer_data, tmp_path,
                                                                monkeypatch, capsys) -> None:
    catalog = _catalog((Network.ALEXNET, "fc8"), (Network.VGG19, "fc8"))
    _Published({}).install(monkeypatch)
    verify(catalog=catalog, data_dir=tmp_path)
    err = capsys.readouterr().err
    assert "verify:   0%|" in err and "| 0/12 [" in err and "subject/s" in err
    assert "AlexNet fc8" in err and "VGG19 fc8" in err
    assert err.endswith("\r")                                  # the bar is cleared at the end
    verify(catalog=catalog, data_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_tolerance_and_output_folder_are_refused_before_any_file_is_read(
        tmp_path, monkeypatch) -> None:
    source = _Published({}).install(monkeypatch)
    with pytest.raises(InvalidValueError) as error:
        verify(tolerance=-0.5, catalog=_catalog(), data_dir=tmp_path, progress=False)
    assert str(error.value) == ("tolerance=-0.5 is out of range: expected a finite number >= 0; "
                                "pass e.g. tolerance=0.0001.")
    a_file = tmp_path / "report.txt"
    a_file.write_text("not a folder")
    with pytest.raises(InvalidValueError) as error:
        verify(catalog=_catalog(), data_dir=tmp_path, out_dir=a_file, progress=False)
    assert str(error.value) == (f"out_dir={str(a_file)!r} is a file, not a folder: give a "
                                "folder to write into (it is created if missing).")
    assert source.calls == []


def test_write_report_creates_the_folder_and_names_every_file(layer_data, tmp_path,
                                                               monkeypatch) -> None:
    from brainfeat.evaluation import figures
    from brainfeat.evaluation.html import render_html

    _Published(_files(layer_data)).install(monkeypatch)
    report = verify(catalog=_catalog(), data_dir=tmp_path, progress=False)
    drawn = []

    def save_figure2(stats, out_dir, *, synthetic=False):
        drawn.append((stats, out_dir, synthetic))
        return [Path(out_dir) / "figure2-AlexNet.png", Path(out_dir) / "figure2a-AlexNet.svg"]

    monkeypatch.setattr(figures, "save_figure2", save_figure2)
    no_figure = replace(report.layers[0], layer="fc7", figure=None)
    report = replace(report, layers=(no_figure, *report.layers))
    out = tmp_path / "new" / "deeper"
    assert verify(catalog=_catalog(), data_dir=tmp_path, progress=False,
                  out_dir=out).outputs["json"] == str(out / "verification.json")
    del drawn[:]
    written = write_report(report, out)
    ((stats, folder, synthetic),) = drawn
    assert len(stats) == 1 and stats[0] is report.layers[1].figure
    assert folder == out / "figures" and synthetic is True
    assert written.outputs == {
        "figure:figure2-AlexNet.png": str(out / "figures" / "figure2-AlexNet.png"),
        "figure:figure2a-AlexNet.svg": str(out / "figures" / "figure2a-AlexNet.svg"),
        "html": str(out / "verification.html"), "json": str(out / "verification.json")}
    assert (out / "verification.html").read_text(encoding="utf-8") == render_html(written)
    assert json.loads((out / "verification.json").read_text(encoding="utf-8")) == json.loads(
        written.to_json())
    assert json.loads(written.to_json())["outputs"] == written.outputs
    write_report(replace(report, synthetic=False), out)      # the folder exists: rewritten
    assert drawn[-1][2] is False


def test_figure2_statistics_from_the_published_accuracy_files(layer_data, tmp_path,
                                                              monkeypatch, capsys) -> None:
    catalog = _catalog((Network.ALEXNET, "conv1"), (Network.ALEXNET, "fc8"),
                       (Network.VGG19, "fc8"))
    published = layer_data["published"]
    files = {("fc8", Kind.ACCURACY, "S1"): published["S1"],
             ("fc8", Kind.ACCURACY, "S3"): published["S3"],
             ("fc8", Kind.ACCURACY, "S4"): FormatError("unreadable")}
    source = _Published(files).install(monkeypatch)
    stats, vgg19_stats = figure2_statistics(catalog=catalog, data_dir=tmp_path)
    options = {"data_dir": tmp_path, "download": True, "progress": False, "catalog": catalog}
    assert source.calls == [(Kind.ACCURACY, network, layer, s, options)
                            for network, layer in ((Network.ALEXNET, "conv1"),
                                                   (Network.ALEXNET, "fc8"), (Network.VGG19, "fc8"))
                            for s in SUBJECTS]
    vgg19 = vgg19_stats
    assert (vgg19.network, vgg19.subjects) == ("VGG19", ("S1", "S3"))
    assert (stats.network, stats.layer, stats.subjects, stats.source) == (
        "AlexNet", "fc8", ("S1", "S3"), "published")
    pooled = np.concatenate([published["S1"], published["S3"]])
    assert stats.n_scored == 2 * N_UNITS - 1
    assert stats.mean_accuracy == pytest.approx(np.nanmean(pooled), abs=1e-12)
    err = capsys.readouterr().err
    assert "figures:   0%|" in err and "| 0/3 [" in err and "layer/s" in err
    assert err.endswith("\r")
    del source.calls[:]
    figure2_statistics("AlexNet", "fc8", catalog=catalog, data_dir=tmp_path, download=False,
                       progress=False)
    assert capsys.readouterr().err == ""
    assert source.calls == [(Kind.ACCURACY, Network.ALEXNET, "fc8", s,
                             {**options, "download": False}) for s in SUBJECTS]


def test_source_counts_the_mat_flavours_of_every_extracted_archive(tmp_path,
                                                                   monkeypatch) -> None:
    from brainfeat.evaluation.report import _Source

    catalog = _catalog()
    folders = {Kind.TRUE: tmp_path / "true", Kind.ACCURACY: tmp_path / "accuracy",
               Kind.RANK: tmp_path / "rank"}
    (folders[Kind.TRUE] / "sub").mkdir(parents=True)
    for name in ("a.mat", "sub/b.mat"):
        (folders[Kind.TRUE] / name).write_bytes(b"MATLAB 5.0 MAT-file".ljust(600, b" "))
    folders[Kind.ACCURACY].mkdir()
    (folders[Kind.ACCURACY] / "c.mat").write_bytes(b"MATLAB 7.3 MAT-file".ljust(600, b" "))
    (folders[Kind.ACCURACY] / "notes.txt").write_bytes(b"MATLAB 5.0 MAT-file".ljust(600))
    folders[Kind.RANK].mkdir()
    (folders[Kind.RANK] / "d.mat").write_bytes(b"MATLAB 5.0 MAT-file".ljust(600, b" "))
    calls = []

    def fetch(kind, network, layer, **options):
        calls.append((kind, network, layer, options))
        if kind not in folders:
            raise DataNotFoundError("decoded features not downloaded")
        return str(folders[kind])

    monkeypatch.setattr(brainfeat.remote.api, "fetch", fetch)
    info = catalog.layer("AlexNet", "fc8")
    assert list(Kind).index(Kind.DECODED) < list(Kind).index(Kind.RANK)
    assert _Source(catalog, tmp_path, True).mat_flavours(info) == {"v5": 3, "v7.3": 1}
    assert calls == [(kind, Network.ALEXNET, "fc8",
                      {"data_dir": tmp_path, "download": False, "progress": False,
                       "catalog": catalog}) for kind in Kind]


# --- regenerated.py: compare_regenerated on stand-in loaders ----------------------------------

def test_compare_regenerated_pairs_each_regenerated_file_with_its_published_one(
        tmp_path, monkeypatch) -> None:
    import re

    import brainfeat.remote.download
    from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE
    from brainfeat.evaluation.regenerated import compare_regenerated

    catalog = _catalog()
    regenerated, data_dir = tmp_path / "regenerated", tmp_path / "data"
    regenerated.mkdir()
    provenance = {"network": "AlexNet", "model": "AlexNet", "subjects": ["S1", "S2"],
                  "layers": {"fc8": [N_UNITS]}, "date": "2026-01-02"}
    (regenerated / "regenerated.json").write_text(json.dumps(provenance), encoding="utf-8")
    rng = np.random.default_rng(3)
    theirs = {("true", None): rng.normal(size=(N_IMAGES, N_UNITS)).astype(np.float32)}
    ours = {("true", None): theirs[("true", None)] * np.float32(2)}     # image r stays 1
    accuracies = {}
    for i, subject in enumerate(["S1", "S2", "Averaged"]):
        decoded = rng.normal(size=(N_IMAGES, N_UNITS)).astype(np.float32)
        theirs[("decoded", subject)] = decoded
        ours[("decoded", subject)] = decoded.copy()
        ours[("decoded", subject)][0, i] += np.float32(0.25 * (i + 1))      # one value off
        accuracy = np.linspace(-0.5, 0.75, N_UNITS) + 0.0625 * i
        theirs[("accuracy", subject)] = accuracy
        ours[("accuracy", subject)] = accuracy + np.where(np.arange(N_UNITS) == i, 0.5, 0.0)
        accuracies[subject] = (ours[("accuracy", subject)], accuracy)
        theirs[("rank", subject)] = np.arange(1.0, N_UNITS + 1)
        ours[("rank", subject)] = np.arange(1.0, N_UNITS + 1)
        ours[("rank", subject)][: i + 1] = ours[("rank", subject)][i::-1]  # first i+1 reversed
    calls = []

    def load(kind, network, layer, subject=None, **options):
        name = getattr(subject, "name", subject)
        calls.append((kind, network, layer, name, options))
        side = ours if options["data_dir"] == regenerated else theirs
        return type("Loaded", (), {"values": side[(kind.value, name)],
                                   "image_ids": catalog.test_image_ids[:N_IMAGES]})()

    names = {f"decodedDNN-{kind.value}-AlexNet-fc8.zip" for kind in Kind}
    entries = {f"path/{name}": {"name": name, "sha256": name[11:15]} for name in names}
    entries["other"] = {"name": "decodedDNN-true-AlexNet-conv1.zip", "sha256": "x"}
    entries["nameless"] = {"sha256": "y"}
    read = []
    monkeypatch.setattr(brainfeat.published, "load", load)
    monkeypatch.setattr(brainfeat.remote.download, "manifest_entries",
                        lambda folder: read.append(folder) or entries)
    comparison = compare_regenerated(regenerated, data_dir=data_dir, catalog=catalog,
                                     tolerance=0.125)
    mine = {"data_dir": regenerated, "download": False, "catalog": catalog, "progress": False}
    published = {**mine, "data_dir": data_dir, "download": True}
    expected = [(Kind.TRUE, Network.ALEXNET, "fc8", None, options) for options in (mine,
                                                                                   published)]
    for subject in ("S1", "S2", "Averaged"):
        for options in (mine, published):
            expected += [(kind, Network.ALEXNET, "fc8", subject, options)
                         for kind in (Kind.DECODED, Kind.ACCURACY, Kind.RANK)]
    assert calls == expected
    assert read == [data_dir]

    assert [(c.network, c.layer, c.subject, c.n_units) for c in comparison.checks] == [
        ("AlexNet", "fc8", s, N_UNITS) for s in ("S1", "S2", "Averaged")]
    for i, check in enumerate(comparison.checks):
        subject = check.subject
        assert check.decoded_max_abs_diff == 0.25 * (i + 1)
        assert check.decoded_max_rel_diff == pytest.approx(
            0.25 * (i + 1) / np.abs(theirs[("decoded", subject)]).max(), rel=1e-7)
        assert check.accuracy_mean_abs_diff == pytest.approx(0.5 / N_UNITS, rel=1e-12)
        assert check.accuracy_fraction_within == (N_UNITS - 1) / N_UNITS
        assert check.rank_fraction_equal == [1.0, 4 / 6, 4 / 6][i]    # [2 1], [3 2 1]
        assert not check.agrees and check.decoded_max_rel_diff > DECODED_RELATIVE_TOLERANCE
    (true,) = comparison.true
    assert (true.layer, true.max_abs_diff, true.passed) == (
        "fc8", float(np.abs(theirs[("true", None)]).max()), False)
    assert true.relative_diff == 1.0
    largest = float(np.abs(theirs[("true", None)]).max())
    assert true.note == f"max|diff| {largest:.4g} > 0.001 x {largest:.4g}"
    assert true.min_r == pytest.approx(1.0, abs=1e-6)
    ours_stats, theirs_stats = comparison.figure2["fc8"]
    assert (ours_stats.source, theirs_stats.source) == ("regenerated", "published")
    assert ours_stats.subjects == theirs_stats.subjects == ("S1", "S2")
    assert (ours_stats.network, ours_stats.layer) == ("AlexNet", "fc8")
    for stats, side in ((ours_stats, 0), (theirs_stats, 1)):
        pooled = np.concatenate([accuracies[s][side] for s in ("S1", "S2")])
        assert stats.mean_accuracy == pytest.approx(pooled.mean(), rel=1e-12)
    assert comparison.tolerance == 0.125 and comparison.synthetic is True
    assert comparison.provenance["regenerated"] == provenance
    compared = comparison.provenance["comparison"]
    assert compared["published_sha256"] == {name: name[11:15] for name in names}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", compared["date"])
    assert set(compared["versions"]) >= {"brainfeat", "numpy", "python"}


def test_published_profiles_label_each_network_and_fall_back_to_the_paper(
        tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from brainfeat.evaluation import report
    from brainfeat.evaluation.regenerated import PAPER_ALEXNET, published_profiles
    from brainfeat.evaluation.statistics import PUBLISHED_ALEXNET_FIGURE2

    catalog = _catalog((Network.ALEXNET, "fc8"), (Network.VGG19, "fc8"))
    asked = []
    cached = {Network.VGG19: [SimpleNamespace(layer="fc8", mean_accuracy=0.25,
                                              mean_intersubject=0.5)]}

    def figure2_statistics(network, **options):
        asked.append((network, options))
        return cached.get(network, [])

    monkeypatch.setattr(report, "figure2_statistics", figure2_statistics)
    lines = published_profiles(data_dir=tmp_path, catalog=catalog)
    assert lines == {PAPER_ALEXNET: [(layer, mean, r) for layer, (mean, r)
                                     in PUBLISHED_ALEXNET_FIGURE2.items()],
                     "VGG19 (published accuracy files)": [("fc8", 0.25, 0.5)]}
    options = {"data_dir": tmp_path, "download": False, "catalog": catalog, "progress": False}
    assert asked == [(Network.ALEXNET, options), (Network.VGG19, options)]
    cached = {Network.ALEXNET: cached[Network.VGG19]}
    assert published_profiles(data_dir=tmp_path, catalog=catalog) == {
        "AlexNet (published accuracy files)": [("fc8", 0.25, 0.5)]}


def test_draw_profile_hands_the_regenerated_line_and_the_published_ones_to_the_figure(
        tmp_path, monkeypatch) -> None:
    from brainfeat.evaluation import figures, report
    from brainfeat.evaluation.regenerated import PAPER_ALEXNET, draw_profile

    (tmp_path / "regenerated.json").write_text(json.dumps(
        {"model": "resnet18", "subjects": ["S1", "S3"], "network": None}), encoding="utf-8")
    profile = {"conv": {"mean_accuracy": {"S1": 0.25, "S3": 0.5, "S2": 9.0},
                        "intersubject_r": 0.75},
               "fc": {"mean_accuracy": {"S1": None, "S3": 0.125}, "intersubject_r": None},
               "pool": {"mean_accuracy": {"S1": None}, "intersubject_r": 0.5}}
    (tmp_path / "profile.json").write_text(json.dumps(profile), encoding="utf-8")
    drawn, asked = [], []

    class Figure:
        def savefig(self, path, **options):
            drawn.append((path, options))

    def profile_figure(lines, **options):
        drawn.append((lines, options))
        return Figure()

    monkeypatch.setattr(figures, "profile_figure", profile_figure)
    monkeypatch.setattr(report, "figure2_statistics",
                        lambda network, **options: asked.append((network, options)) or [])
    catalog = _catalog()
    assert draw_profile(tmp_path, data_dir=tmp_path / "data", catalog=catalog) == (
        tmp_path / "profile.png")
    (lines, options), saved = drawn
    label = "resnet18 (regenerated)"
    assert list(lines) == [label, PAPER_ALEXNET]
    assert lines[label] == [("conv", 0.375, 0.75), ("fc", 0.125, None), ("pool", None, 0.5)]
    assert options == {"title": "Decodability profile of resnet18 (S1, S3)",
                       "subject_means": {label: [[0.25, 0.5], [0.125], []]}, "synthetic": True}
    assert saved == (tmp_path / "profile.png", {"dpi": 110})
    assert asked == [(Network.ALEXNET, {"data_dir": tmp_path / "data", "download": False,
                                        "catalog": catalog, "progress": False})]
