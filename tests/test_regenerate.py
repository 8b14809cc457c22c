"""The regeneration loop on a small SYNTHETIC replica: agreement with an independent plain
decoder, loading, provenance, resume after a kill, any model, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("dask")

import brainfeat  # noqa: E402
from brainfeat.catalog import Catalog, Subject  # noqa: E402
from brainfeat.cli import main  # noqa: E402
from brainfeat.demo.loop_replica import plain_decode  # noqa: E402
from brainfeat.demo.run import regenerate_replica  # noqa: E402
from brainfeat.errors import (  # noqa: E402
    BrainfeatError, DataNotFoundError, FormatError, UnknownNameError)
from brainfeat.evaluation.regenerated import (  # noqa: E402
    PAPER_ALEXNET, compare_regenerated, draw_profile, published_profiles)
from brainfeat.io.mat import read_mat_array, write_mat_array  # noqa: E402
from brainfeat.regeneration.output import Layout  # noqa: E402

N_TRAIN, N_TEST = 12, 6


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    """The demo loop, small: replica written and served, fMRI fetched, AlexNet fc8 regenerated."""
    work = tmp_path_factory.mktemp("loop")
    result, comparison = regenerate_replica(work, n_train=N_TRAIN, n_test=N_TEST)
    catalog = Catalog.load(work / "loop-replica" / "catalog.json")
    return work, result, comparison, catalog


def _options(work: Path, catalog: Catalog) -> dict:
    settings = json.loads((work / "loop-replica" / "loop.json").read_text())
    return {"weights": settings["weights"], "n_voxels": settings["n_voxels"],
            "batch_size": settings["batch_size"],
            "fmri": work / "loop-replica" / "fmri", "catalog": catalog, "layers": ["fc8"]}


def test_regenerated_agrees_with_the_independent_plain_decoder(loop) -> None:
    _, result, comparison, catalog = loop
    assert comparison.ok, comparison.format_table()
    assert [(c.layer, c.subject) for c in comparison.checks] == \
        [("fc8", s) for s in ("S1", "S2", "S3", "S4", "S5", "Averaged")]
    for check in comparison.checks:
        assert check.decoded_unit_r_median > 0.999999
        assert check.accuracy_r > 0.9999
    assert set(result.profile["fc8"]["mean_accuracy"]) == {"S1", "S2", "S3", "S4", "S5",
                                                           "Averaged"}


def test_load_reads_the_regenerated_folder_like_published_files(loop) -> None:
    work, result, _, catalog = loop
    out = work / "regenerated"
    kw = {"data_dir": out, "download": False, "catalog": catalog, "progress": False}
    decoded = brainfeat.load("decoded", "AlexNet", "fc8", "S2", **kw)
    true = brainfeat.load("true", "AlexNet", "fc8", **kw)
    accuracy = brainfeat.load("accuracy", "AlexNet", "fc8", "Averaged", **kw)
    rank = brainfeat.load("rank", "AlexNet", "fc8", "S2", **kw)
    assert decoded.values.shape == true.values.shape == (N_TEST, 1000)
    assert decoded.image_ids == catalog.test_image_ids
    averaged = np.mean([brainfeat.load("decoded", "AlexNet", "fc8", s, **kw).values
                        for s in ("S1", "S2", "S3", "S4", "S5")], axis=0, dtype=np.float64)
    np.testing.assert_allclose(accuracy.values, brainfeat.evaluation.metrics.unit_correlation(
        averaged.astype(np.float32), true.values), atol=1e-12)
    s2 = brainfeat.load("accuracy", "AlexNet", "fc8", "S2", **kw).values
    assert rank.values[np.nanargmax(s2)] == 1 and rank.values[np.nanargmin(s2)] == 1000


def test_manifest_records_settings_versions_and_input_hashes(loop) -> None:
    work, result, _, catalog = loop
    manifest = json.loads((work / "regenerated" / "regenerated.json").read_text())
    assert manifest == result.manifest
    assert manifest["network"] == "AlexNet" and manifest["layers"] == {"fc8": [1000]}
    assert manifest["settings"]["roi"] == "VC" and manifest["settings"]["n_voxels"] == 20
    assert {"brainfeat", "numpy", "torch", "dask"} <= set(manifest["versions"])
    image = work / "loop-replica" / "images" / f"{catalog.test_image_ids[0]}.png"
    assert manifest["inputs_sha256"][str(image)] == hashlib.sha256(image.read_bytes()).hexdigest()
    fmri = [path for path in manifest["inputs_sha256"] if path.endswith(".h5")]
    assert len(fmri) == 5  # the fetched Subject1.h5 ... Subject5.h5


def test_a_planted_difference_is_flagged(loop, tmp_path: Path) -> None:
    work, _, _, catalog = loop
    data = shutil.copytree(work / "loop-data", tmp_path / "data")
    path = (data / "decodedDNN" / "accuracy" / "AlexNet" / "fc8" / "accuracy-AlexNet-fc8-S3.mat")
    planted = read_mat_array(path, "accuracy").copy()
    planted[7] += 0.01
    write_mat_array(path, "accuracy", planted, "v5")
    true = data / "decodedDNN" / "true" / "AlexNet" / "fc8"
    path = sorted(true.glob("*.mat"))[2]
    planted = read_mat_array(path, "feat").copy()
    planted.flat[5] += 0.01 * np.abs(planted).max()  # 1e-2 relative: verify-features allows 1e-3
    write_mat_array(path, "feat", planted, "v5")
    comparison = compare_regenerated(work / "regenerated", data_dir=data, download=False,
                                     catalog=catalog)
    assert not comparison.ok
    bad = comparison.disagreements
    assert [(c.subject, round(c.accuracy_fraction_within * 1000)) for c in bad] == [("S3", 999)]
    assert [(t.layer, t.passed) for t in comparison.true] == [("fc8", False)]
    assert comparison.true[0].relative_diff == pytest.approx(0.01, rel=1e-3)


def test_a_killed_run_resumes_to_identical_files(loop, tmp_path: Path, monkeypatch) -> None:
    work, _, _, catalog = loop
    done = work / "regenerated"
    out = tmp_path / "out"
    start_from_features(done, out)
    layout = Layout(out)
    finish = Layout.finish

    def killed(self: Layout, job: str, summary: dict) -> None:
        if job == "decode fc8 S3":
            raise KeyboardInterrupt("killed")
        finish(self, job, summary)

    monkeypatch.setattr(Layout, "finish", killed)
    options = _options(work, catalog)
    with pytest.raises(KeyboardInterrupt):
        brainfeat.regenerate("AlexNet", work / "loop-replica" / "images", out=out, **options)
    assert not (out / "regenerated.json").exists()
    assert not list(out.glob("decodedDNN-*.zip"))
    assert not layout.is_done("decode fc8 S3") and layout.accuracy("fc8", Subject(3)).is_file()
    monkeypatch.setattr(Layout, "finish", finish)
    finished_before = {p: p.stat().st_mtime_ns for p in layout.work.glob("*S[1245].*")}
    brainfeat.regenerate("AlexNet", work / "loop-replica" / "images", out=out, **options)
    assert all(p.stat().st_mtime_ns == t for p, t in finished_before.items())  # not redone
    _assert_same_outputs(done, out)


def _assert_same_outputs(expected: Path, found: Path, checkpoints: bool = True) -> None:
    """Every file byte for byte, but those that hold dates and timings (and, with
    ``checkpoints=False``, the decoders' checkpoints, which record their chunking), and the
    profile figure, which the demo draws after the run."""
    def outputs(root: Path) -> list[Path]:
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()
                      and p.name not in ("regenerated.json", "manifest.json", "profile.png")
                      and p.parent.name != "done" and not p.name.endswith(".lock")
                      and (checkpoints or p.parent.name != "work" or p.suffix != ".h5"
                           or p.name == "features.h5"))

    files = outputs(expected)
    assert files == outputs(found) and len(files) > 4 * N_TEST
    for relative in files:
        assert (found / relative).read_bytes() == (expected / relative).read_bytes(), relative


def start_from_features(source: Path, out: Path, n_images: int = N_TRAIN + N_TEST) -> None:
    """Start ``out`` from the finished features of ``source`` (extraction is tested apart)."""
    layout = Layout(out)
    layout.work.mkdir(parents=True)
    shutil.copy(source / "work" / "features.h5", layout.features)
    assert layout.begin("features")
    layout.finish("features", {"images": n_images})


def test_a_dask_client_gives_the_same_files(loop, tmp_path: Path) -> None:
    """On a cluster every (subject, layer, unit chunk) is a task; the outputs do not change."""
    distributed = pytest.importorskip("distributed")
    work, _, _, catalog = loop
    start_from_features(work / "regenerated", tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:  # the jobs travel pickled to a worker
        with distributed.get_task_stream(client) as stream:
            brainfeat.regenerate("AlexNet", work / "loop-replica" / "images", out=tmp_path,
                                 client=client, chunk_units=300, **_options(work, catalog))
        # the jobs' imports ran once per worker before any job (threads racing to import
        # scipy failed here now and then)
        plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
        assert all("brainfeat-regeneration-imports" in names for names in plugins.values())
    chunk_tasks = [task for task in stream.data if task["key"].startswith("decode_chunk")]
    assert len(chunk_tasks) == 5 * 4  # 5 subjects x ceil(1000 / 300) chunks
    _assert_same_outputs(work / "regenerated", tmp_path, checkpoints=False)


def test_decoders_on_the_torch_backend_agree_with_the_plain_decoder(loop, tmp_path) -> None:
    """``device=`` moves the decoders to torch (here its CPU device; ``cuda`` on a GPU)."""
    work, _, _, catalog = loop
    start_from_features(work / "regenerated", tmp_path)
    brainfeat.regenerate("AlexNet", work / "loop-replica" / "images", out=tmp_path,
                         device="cpu", **_options(work, catalog))
    with h5py.File(Layout(tmp_path).checkpoint("fc8", Subject(1)), "r") as handle:
        assert json.loads(handle.attrs["settings"])["backend"] == "torch"
    comparison = compare_regenerated(tmp_path, data_dir=work / "loop-data", download=False,
                                     catalog=catalog)
    assert comparison.ok, comparison.format_table()


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, kernel_size=8, stride=16)
        self.pool = torch.nn.AdaptiveAvgPool2d(3)
        self.fc = torch.nn.Linear(36, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.conv(x)), 1))


def test_any_model_goes_through_the_loop_to_a_profile(loop, tmp_path: Path) -> None:
    work, _, _, catalog = loop
    torch.manual_seed(0)
    options = {**_options(work, catalog), "layers": ["conv", "fc"]}
    options.pop("weights")
    result = brainfeat.regenerate(_Tiny(), work / "loop-replica" / "images", out=tmp_path,
                                  **options)
    assert result.plan.network is None and not (tmp_path / "decodedDNN").exists()
    assert set(result.profile) == {"conv", "fc"}
    assert result.manifest["layers"] == {"conv": [4, 14, 14], "fc": [10]}
    accuracy = np.load(tmp_path / "work" / "accuracy-fc-S1.npy")
    assert accuracy.shape == (10,)
    assert result.profile["fc"]["mean_accuracy"]["S1"] == pytest.approx(np.nanmean(accuracy))
    assert "fc" in result.format_profile()
    with pytest.raises(UnknownNameError, match="no published files"):
        compare_regenerated(tmp_path)
    assert draw_profile(tmp_path, data_dir=tmp_path / "empty", catalog=catalog).stat().st_size


def test_a_torchvision_model_by_name_goes_through_the_loop(loop, tmp_path: Path) -> None:
    work, _, _, catalog = loop
    torch.manual_seed(0)
    options = {**_options(work, catalog), "layers": ["avgpool", "fc"]}
    options.pop("weights")  # torchvision's random initialisation, seeded above
    result = brainfeat.regenerate("resnet18",
                                  work / "loop-replica" / "images", out=tmp_path, **options)
    assert result.manifest["layers"] == {"avgpool": [512, 1, 1], "fc": [1000]}
    assert set(result.profile) == {"avgpool", "fc"}
    for layer, units in (("avgpool", 512), ("fc", 1000)):
        accuracy = np.load(tmp_path / "work" / f"accuracy-{layer}-S1.npy")
        assert accuracy.shape == (units,) and np.isfinite(accuracy).any()


def test_published_profiles_come_from_cached_files_else_the_paper(loop, tmp_path) -> None:
    work, _, comparison, catalog = loop
    cached = published_profiles(data_dir=work / "loop-data", catalog=catalog)
    (layer, mean, r), = cached["AlexNet (published accuracy files)"]
    _, published = comparison.figure2["fc8"]
    assert (layer, mean, r) == ("fc8", published.mean_accuracy, published.mean_intersubject)
    paper = published_profiles(data_dir=tmp_path)  # nothing cached, the published catalog
    assert list(paper) == [PAPER_ALEXNET]
    assert paper[PAPER_ALEXNET][-1] == ("fc8", 0.48, 0.81)


def test_bad_input_is_refused_before_any_work(loop, tmp_path: Path, monkeypatch) -> None:
    work, _, _, catalog = loop
    images = work / "loop-replica" / "images"
    options = _options(work, catalog)
    partial = tmp_path / "images"
    partial.mkdir()
    for name in catalog.training_image_ids[3:] + catalog.test_image_ids:
        shutil.copy(images / f"{name}.png", partial)
    with pytest.raises(DataNotFoundError, match=r"training images are incomplete.*3 of 12"):
        brainfeat.regenerate("AlexNet", partial, out=tmp_path / "a", **options)
    with pytest.raises(DataNotFoundError, match="fMRI file"):
        brainfeat.regenerate("AlexNet", images, out=tmp_path / "b",
                             **{**options, "fmri": tmp_path})
    with pytest.raises(UnknownNameError, match="Name the layers"):
        brainfeat.regenerate("resnet18", images, out=tmp_path / "c", catalog=catalog)
    other = tmp_path / "other"  # features of another model already in out
    Layout(other).work.mkdir(parents=True)
    shutil.copy(work / "regenerated" / "work" / "features.h5", Layout(other).features)
    with pytest.raises(BrainfeatError, match="GB are free there"):
        monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(free=1000))
        brainfeat.regenerate("AlexNet", images, out=tmp_path / "d", **options)
    monkeypatch.undo()
    assert not any((tmp_path / name).exists() for name in "abcd")
    with pytest.raises(FormatError, match="another run"):
        brainfeat.regenerate(_Tiny(), images, out=other, **{**options, "layers": ["fc"]})
    with pytest.raises(FormatError, match=r"other settings \(n_voxels\)"):
        brainfeat.regenerate("AlexNet", images, out=work / "regenerated",
                             **{**options, "n_voxels": 10})


def test_dry_run_plans_without_writing(loop, tmp_path: Path, capsys) -> None:
    work, _, _, catalog = loop
    replica = work / "loop-replica"
    code = main(["regenerate", "AlexNet", str(replica / "images"), "-o", str(tmp_path / "x"),
                 "--layers", "fc8", "--fmri", str(replica / "fmri"), "--catalog",
                 str(replica / "catalog.json"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and not (tmp_path / "x").exists()
    assert "layer fc8: 1,000 units" in out and "jobs: 10 (5 decoders, 5,000 unit decoders)" in out
    assert "disk needed" in out and "estimated decoding time" in out


@pytest.mark.parametrize("verb", [["verify-regenerated", "{dir}", "--json", "{json}"],
                                  ["verify", "--regenerated", "{dir}", "--out", "{out}"]])
def test_verify_regenerated_command(loop, capsys, tmp_path: Path, verb: list[str]) -> None:
    work, *_ = loop
    names = {"dir": work / "regenerated", "json": tmp_path / "regenerated.json",
             "out": tmp_path}
    code = main([part.format(**names) for part in verb] + [
        "--data-dir", str(work / "loop-data"), "--no-download", "--catalog",
        str(work / "loop-replica" / "catalog.json")])
    out = capsys.readouterr().out
    assert code == 0 and "6/6 (layer, subject) agree" in out
    assert "true features fc8 (verify-features)" in out and "PASS" in out
    report = json.loads((tmp_path / "regenerated.json").read_text())
    assert report["ok"] is True and report["synthetic"] is True
    html = (tmp_path / "regenerated.html").read_text()
    for table in ("regenerated-table", "true-table", "figure2-side-by-side", "provenance"):
        assert f'id="{table}"' in html
    assert html.count('<img class="figure"') == 2 and "SYNTHETIC" in html
    image = next(iter(report["provenance"]["regenerated"]["inputs_sha256"]))
    assert image in html and report["provenance"]["regenerated"]["inputs_sha256"][image] in html


def test_comparison_records_published_hashes_and_figure2_side_by_side(loop) -> None:
    work, _, comparison, catalog = loop
    published = comparison.provenance["comparison"]["published_sha256"]
    assert sorted(published) == sorted(f"decodedDNN-{kind}-AlexNet-fc8.zip" for kind in
                                       ("decoded", "true", "accuracy", "rank"))
    for name, digest in published.items():
        assert hashlib.sha256((work / "loop-replica" / name).read_bytes()).hexdigest() == digest
    assert comparison.provenance["regenerated"] == json.loads(
        (work / "regenerated" / "regenerated.json").read_text())
    ours, theirs = comparison.figure2["fc8"]
    assert (ours.source, theirs.source) == ("regenerated", "published")
    assert ours.subjects == theirs.subjects == ("S1", "S2", "S3", "S4", "S5")
    assert ours.n_scored == sum(
        np.isfinite(np.load(work / "regenerated" / "work" / f"accuracy-fc8-S{i}.npy")).sum()
        for i in range(1, 6))
    assert ours.mean_accuracy == pytest.approx(theirs.mean_accuracy, abs=1e-6)
    assert ours.mean_intersubject == pytest.approx(theirs.mean_intersubject, abs=1e-6)


def test_regenerate_command_writes_the_folder_and_draws_the_profile(loop, tmp_path: Path,
                                                                   monkeypatch, capsys) -> None:
    import importlib.util

    work, *_ = loop
    replica = work / "loop-replica"
    start_from_features(work / "regenerated", tmp_path)
    command = ["regenerate", "AlexNet", str(replica / "images"), "-o", str(tmp_path),
               "--layers", "fc8", "--weights", "random", "--n-voxels", "20", "--fmri",
               str(replica / "fmri"), "--catalog", str(replica / "catalog.json"),
               "--data-dir", str(work / "loop-data"), "--no-download"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert f"profile beside the published ones: {tmp_path / 'profile.png'}" in out
    assert (tmp_path / "profile.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "profile.png").unlink()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no matplotlib
    assert main(command) == 0  # a finished run: nothing redone, only the figure is missing
    assert "profile figure not drawn: matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / "profile.png").exists()


def test_plain_decoder_is_ridge_on_the_selected_voxels() -> None:
    """The replica's reference on a case solved by hand: all voxels kept, alpha 0."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 3.0
    pred = plain_decode(x, y, x[:4], n_voxels=3, alpha=0.0)
    np.testing.assert_allclose(pred, y[:4], rtol=1e-5)


def test_demo_command_runs_both_replicas_and_the_loop(loop, monkeypatch, tmp_path: Path,
                                                      capsys) -> None:
    """`brainfeat demo` (what `make demo` runs): the published-files replica, then the loop.

    The loop itself is the module fixture's (the same function on fewer images), so the
    demo's own run of it is replaced by the fixture's result; its arguments are checked.
    """
    import brainfeat.demo.run as demo_run

    _, result, comparison, _ = loop
    calls = []

    def regenerated(*args, **kwargs):
        calls.append((args, kwargs))
        return result, comparison

    monkeypatch.setattr(demo_run, "regenerate_replica", regenerated)
    assert main(["demo", "--dir", str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert calls == [((tmp_path,), {"seed": 3})]
    assert "SYNTHETIC" in out and "24/24 accuracy files agree" in out
    assert "VGG19    conv1_1  Averaged" in out
    assert "inter-r" in out and "6/6 (layer, subject) agree" in out
    assert 'id="provenance"' in (tmp_path / "verification" / "regenerated.html").read_text()
    figure = result.out / "profile.png"
    assert f"profile: {figure}" in out and figure.read_bytes().startswith(b"\x89PNG")
