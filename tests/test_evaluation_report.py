"""brainfeat.verify on a published-layout fixture built from the bdpy golden files.

The fixture is served over loopback exactly as figshare serves the real zips; its accuracy
files are bdpy's ``profile_correlation`` and its rank files scipy's ``rankdata`` (see
``scripts/golden_profile_correlation.py``). The planted copy shifts one layer's accuracy,
reverses one rank file, and plants near-threshold errors: one accuracy just above the
tolerance and one just below it, one NaN on the published side only. The report must name
exactly those. (A zip missing a member is refused by the download layer as a whole, so
missing files are tested with an empty data folder.)
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from brainfeat.catalog import Catalog, Kind, Network, Subject
from brainfeat.cli import main
from brainfeat.demo.replica import replica_catalog
from brainfeat.demo.server import serve_folder
from brainfeat.errors import InvalidValueError
from brainfeat.evaluation.report import DEFAULT_TOLERANCE, figure2_statistics, verify
from brainfeat.io.mat import write_mat_array
from brainfeat.published import published_path, variable_name
from brainfeat.remote.registry import default_registry, layer_archive_name
from solve_bounds import FLOAT64_EPS, pearson_error_bound, unit_roundoff

# Read whole at import, the file closed: an open NpzFile shared by processes forked after
# import (mutmut's workers) shares one file offset, and two readers at once got "Bad CRC-32".
with np.load(Path(__file__).parent / "golden" / "evaluation" / "published_layers.npz") as _npz:
    GOLDEN = {name: _npz[name] for name in _npz.files}
#: fixture layer -> (golden layer, .mat flavour)
LAYERS = {"conv1": ("conv_a", "v5"), "fc8": ("fc_b", "v7.3")}
SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "Averaged")
SHIFT = 0.05
DESCENDING_LAST_1 = "descending (first = most accurate), NaN ranked last, 1-based"


def _catalog() -> Catalog:
    return replica_catalog({(Network.ALEXNET, "conv1"): (3, 4, 4),
                            (Network.ALEXNET, "fc8"): (24,)})


def _write_layout(root: Path, catalog: Catalog, *, planted: bool) -> None:
    """Zips in the figshare layout from the golden arrays (optionally with planted errors)."""
    (root / "files").mkdir(parents=True)
    for layer, (golden, flavour) in LAYERS.items():
        info = catalog.layer("AlexNet", layer)
        for kind in Kind:
            name = layer_archive_name(kind, info.network, layer)
            with zipfile.ZipFile(root / name, "w") as archive:
                for subject, image, values in _members(kind, golden, catalog):
                    if planted and layer == "fc8" and subject == "S2" and kind is Kind.ACCURACY:
                        values = values + SHIFT  # one layer's accuracy shifted
                    if planted and layer == "fc8" and subject == "S1" and kind is Kind.ACCURACY:
                        values = values.copy()  # just above and just below the tolerance
                        values.flat[0] += 1.5 * DEFAULT_TOLERANCE
                        values.flat[1] += 0.5 * DEFAULT_TOLERANCE
                    if planted and layer == "conv1" and subject == "S3" and kind is Kind.ACCURACY:
                        values = values.copy()
                        values.flat[1] = np.nan  # NaN on the published side only
                    if planted and layer == "conv1" and subject == "S4" and kind is Kind.RANK:
                        values = values.size + 1 - values  # a rank file reversed
                    who = Subject.parse(subject) if subject else None
                    member = root / "member.mat"
                    write_mat_array(member, variable_name(kind),
                                    np.asarray(values).reshape(info.unit_shape), flavour)
                    archive.write(member, f"decodedDNN/{published_path(kind, info.network, layer, who, image)}")
            file_id = default_registry().get(name).remote_path.rsplit("/", 1)[-1]
            os.link(root / name, root / "files" / file_id)


def _members(kind: Kind, golden: str, catalog: Catalog) -> Iterator[tuple[str | None, str | None, np.ndarray]]:
    if kind is Kind.TRUE:
        for row, image in enumerate(catalog.test_image_ids):
            yield None, image, GOLDEN[f"{golden}/true"][row]
    elif kind is Kind.DECODED:
        for subject in SUBJECTS:
            for row, image in enumerate(catalog.test_image_ids):
                yield subject, image, GOLDEN[f"{golden}/decoded/{subject}"][row]
    else:
        for subject in SUBJECTS:
            yield subject, None, GOLDEN[f"{golden}/{kind.value}/{subject}"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Two fixture layouts (clean and planted) behind one loopback server."""
    root = tmp_path_factory.mktemp("figshare")
    catalog = _catalog()
    for variant in ("clean", "planted"):
        _write_layout(root / variant, catalog, planted=variant == "planted")
    with serve_folder(root) as url:
        yield {"url": url, "catalog": catalog, "root": root}


def _verify(served: dict[str, object], variant: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
            **kwargs: object):
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={served['url']}/{variant}")
    kwargs.setdefault("catalog", served["catalog"])
    return verify(data_dir=data_dir, progress=False, **kwargs)


@pytest.fixture(scope="module")
def clean_report(served, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _verify(served, "clean", tmp_path_factory.mktemp("data"), monkeypatch,
                       out_dir=tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def planted_report(served, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _verify(served, "planted", tmp_path_factory.mktemp("data"), monkeypatch)


def _accuracy_bound(golden: str, subject: str) -> float:
    """Largest difference allowed between bdpy's and brainfeat's accuracy of a scored unit:
    the same float32 features scored twice in float64 (:func:`pearson_error_bound`)."""
    bound = pearson_error_bound(GOLDEN[f"{golden}/decoded/{subject}"], GOLDEN[f"{golden}/true"])
    return float(bound[np.isfinite(bound)].max())


def test_clean_layout_agrees_with_bdpy_everywhere(clean_report) -> None:
    assert clean_report.problems == ()
    assert clean_report.ok
    checks = clean_report.subject_checks
    assert [(c.layer, c.subject) for c in checks] == [(l, s) for l in LAYERS for s in SUBJECTS]
    for check in checks:
        assert check.status == "ok"
        assert check.accuracy_max_abs_diff <= _accuracy_bound(LAYERS[check.layer][0],
                                                              check.subject)
        assert check.accuracy_fraction_within == 1.0
        assert check.accuracy_nan_mismatches == 0
        assert check.rank_fraction == 1.0


def test_clean_layout_settles_the_open_facts(clean_report) -> None:
    rank = clean_report.finding("rank")
    assert rank.settled
    assert clean_report.rank_policy == DESCENDING_LAST_1
    assert "12 of 12 rank files" in rank.evidence
    averaged = clean_report.finding("averaged")
    assert averaged.settled and averaged.conclusion.startswith(
        "Averaged = the subjects' decoded features averaged, then scored")
    for layer in clean_report.layers:
        assert layer.averaged.n_subjects == 5
        assert layer.averaged.mean_then_score_fraction_within == 1.0
        assert layer.averaged.mean_of_accuracies_fraction_within < 0.5
        # The golden Averaged is the float32 mean of five float32 arrays: at most (5 + 1)
        # float32 roundings of the mean magnitude, relative to max |Averaged|.
        golden = LAYERS[layer.layer][0]
        magnitude = np.mean([np.abs(GOLDEN[f"{golden}/decoded/{s}"].astype(np.float64))
                             for s in SUBJECTS[:5]], axis=0)
        averaged = np.abs(GOLDEN[f"{golden}/decoded/Averaged"]).max()
        bound = 6 * unit_roundoff("float32") * magnitude.max() / averaged
        assert layer.averaged.decoded_max_relative_diff <= bound
    assert clean_report.finding("relu").conclusion.startswith("true features are pre-ReLU")
    assert clean_report.finding("mat").conclusion == "met v5 (362 files), v7.3 (362 files)"


def test_clean_layout_figure2_statistics_match_golden(clean_report) -> None:
    for layer, (golden, _) in LAYERS.items():
        figure = next(l.figure for l in clean_report.layers if l.layer == layer)
        assert figure.source == "recomputed"
        assert figure.subjects == SUBJECTS[:5]
        for pair, r in figure.pairs.items():
            # Accuracies recomputed here and by bdpy differ by their own bound, which moves
            # r by at most twice that relative to the accuracies' spread (pearson_error_bound).
            a, b = (GOLDEN[f"{golden}/accuracy/{s}"] for s in pair.split("-"))
            keep = ~(np.isnan(a) | np.isnan(b))
            error = max(_accuracy_bound(golden, s) for s in pair.split("-"))
            bound = pearson_error_bound(a[keep], b[keep], error / np.abs(a[keep]).max())
            assert abs(r - float(GOLDEN[f"{golden}/intersubject/{pair}"])) <= bound[0]
        pooled = np.concatenate([GOLDEN[f"{golden}/accuracy/{s}"] for s in SUBJECTS[:5]])
        scored = pooled[np.isfinite(pooled)]
        # Each accuracy within its bound, plus the rounding of the float64 mean itself.
        mean_bound = (max(_accuracy_bound(golden, s) for s in SUBJECTS[:5])
                      + 2 * scored.size * FLOAT64_EPS * np.abs(scored).mean())
        assert abs(figure.mean_accuracy - scored.mean()) <= mean_bound
        assert figure.n_scored == int(np.isfinite(pooled).sum())
        assert sum(figure.histogram) == figure.n_scored
        assert len(figure.scatter[0]) == int(np.isfinite(GOLDEN[f"{golden}/accuracy/S1"]).sum())
    assert clean_report.figure2 == ()
    assert clean_report.figure2_note == "not applicable (synthetic)"


def test_planted_mismatches_are_flagged_precisely(planted_report) -> None:
    problems = planted_report.problems
    assert len(problems) == 5, problems
    assert problems[0].startswith("AlexNet conv1 S3: published accuracy differs from the "
                                  "recomputation in 1 of 48 units")
    assert problems[0].endswith("; 1 NaN on one side only)")
    # The NaN moves the unit to the end of the ranking of the published accuracy.
    assert problems[1].startswith("AlexNet conv1 S3: rank file follows the established convention")
    assert problems[2].startswith("AlexNet conv1 S4: rank file follows the established convention")
    assert ("closest convention: ascending (first = least accurate), NaN ranked first"
            in problems[2])
    assert problems[3].startswith("AlexNet fc8 S1: published accuracy differs from the "
                                  "recomputation in 1 of 24 units (max |diff| 0.00015, "
                                  f"tolerance {DEFAULT_TOLERANCE:g}; 0 NaN on one side only)")
    assert problems[4].startswith("AlexNet fc8 S2: published accuracy differs from the "
                                  "recomputation in 23 of 24 units")
    assert f"max |diff| {SHIFT:.3g}" in problems[4]
    statuses = {(c.layer, c.subject): c.status for c in planted_report.subject_checks}
    bad = {("conv1", "S3"), ("conv1", "S4"), ("fc8", "S1"), ("fc8", "S2")}
    assert statuses == {key: "mismatch" if key in bad else "ok" for key in statuses}
    assert planted_report.rank_policy == DESCENDING_LAST_1
    fc8 = {c.subject: c for c in planted_report.layers[1].subjects}
    assert fc8["S1"].accuracy_fraction_within == 23 / 24
    assert fc8["S1"].accuracy_max_abs_diff == pytest.approx(1.5 * DEFAULT_TOLERANCE, rel=1e-6)


@pytest.mark.parametrize("tolerance", [-1, -1e-12, float("nan"), float("inf"), "0.1"])
def test_a_tolerance_that_is_not_a_finite_number_at_least_0_is_refused(tmp_path,
                                                                     tolerance) -> None:
    with pytest.raises(InvalidValueError, match="tolerance="):
        verify(tolerance=tolerance, data_dir=tmp_path, download=False, progress=False)
    assert not any(tmp_path.iterdir())


def test_cli_refuses_a_negative_tolerance(tmp_path, capsys) -> None:
    assert main(["verify", "--tolerance", "-1", "--data-dir", str(tmp_path), "--quiet"]) != 0
    assert "tolerance=-1" in capsys.readouterr().err


def test_report_files_json_html_and_figures(clean_report) -> None:
    outputs = clean_report.outputs
    data = json.loads(Path(outputs["json"]).read_text())
    assert data["ok"] is True and data["synthetic"] is True
    assert len(data["layers"]) == 2 and len(data["layers"][0]["subjects"]) == 6
    assert data["findings"][0]["topic"] == "rank"
    html = Path(outputs["html"]).read_text()
    assert html.count('<img class="figure"') == 1 and 'id="summary-table"' in html
    figures = sorted(Path(p).name for k, p in outputs.items() if k.startswith("figure:"))
    assert figures == sorted(f"{n}-AlexNet.{e}" for n in ("figure2", "figure2a", "figure2b",
                                                          "figure2c") for e in ("png", "svg"))
    for path in outputs.values():
        if path.endswith(".png"):
            assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        elif path.endswith(".svg"):
            assert ElementTree.parse(path).getroot().tag.endswith("svg")


def test_paper_comparison_on_a_non_synthetic_catalog(served, tmp_path, monkeypatch) -> None:
    catalog = replace(served["catalog"], name="fixture posing as real", synthetic=False)
    report = _verify(served, "clean", tmp_path, monkeypatch, catalog=catalog, network="AlexNet",
                     layer="fc8")
    figure = report.layers[0].figure
    assert [(c.statistic, c.published) for c in report.figure2] == [
        ("mean accuracy", 0.48), ("mean inter-subject r", 0.81)]
    assert report.figure2[0].recomputed == figure.mean_accuracy
    assert report.figure2[1].recomputed == figure.mean_intersubject
    for comparison in report.figure2:
        expected = abs(comparison.recomputed - comparison.published) <= 0.02
        assert comparison.within is expected
        assert any("Figure 2" in p for p in report.problems) is not all(
            c.within for c in report.figure2)


def test_one_subject_and_missing_everything(served, tmp_path, monkeypatch) -> None:
    report = _verify(served, "clean", tmp_path / "a", monkeypatch, subject="S3", layer="fc8")
    assert [(c.layer, c.subject, c.status) for c in report.subject_checks] == [("fc8", "S3", "ok")]
    assert report.layers[0].figure is None and report.layers[0].averaged is None
    empty = verify(data_dir=tmp_path / "empty", download=False, catalog=served["catalog"],
                   progress=False)
    assert {c.status for c in empty.subject_checks} == {"missing"}
    assert empty.subject_checks[0].missing == ("true", "decoded", "accuracy", "rank")
    assert not empty.finding("rank").settled and not empty.ok


def test_cli_verify_and_figures(served, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={served['url']}/planted")
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(served["catalog"].to_json())
    common = ["--catalog", str(catalog_file), "--data-dir", str(tmp_path / "data"), "--quiet"]
    code = main(["verify", "--network", "alexnet", "--layer", "fc8", *common,
                 "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "AlexNet fc8 S2: published accuracy differs" in printed
    assert "AlexNet fc8 S1: published accuracy differs" in printed
    assert (tmp_path / "out" / "verification.html").is_file()
    assert main(["figures", "--report", str(tmp_path / "out" / "verification.json"),
                 "--out", str(tmp_path / "from-report"), "--network", "alexnet"]) == 0
    assert (tmp_path / "from-report" / "figure2b-AlexNet.svg").is_file()
    assert main(["figures", *common, "--out", str(tmp_path / "from-files")]) == 0
    assert (tmp_path / "from-files" / "figure2-AlexNet.png").is_file()
    stats = figure2_statistics("AlexNet", "fc8", data_dir=tmp_path / "data",
                               catalog=served["catalog"], progress=False)
    assert stats[0].source == "published" and stats[0].subjects == SUBJECTS[:5]
