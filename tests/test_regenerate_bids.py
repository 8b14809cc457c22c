"""The regeneration loop's BIDS route (ds001246 event tables, masks and preprocessed BOLD
through build_samples) on a small SYNTHETIC replica: end to end, the same files as the
Subject*.h5 route on the same samples, route conflicts and missing files, the command line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("dask")

import brainfeat  # noqa: E402
from brainfeat.catalog import Catalog, Kind  # noqa: E402
from brainfeat.cli import main  # noqa: E402
from brainfeat.demo.bids_replica import PINS_FILE, write_bids_replica  # noqa: E402
from brainfeat.demo.loop_replica import BATCH_SIZE, loop_catalog, write_loop_replica  # noqa: E402
from brainfeat.demo.server import serve_folder  # noqa: E402
from brainfeat.errors import DataNotFoundError, FormatError, InvalidValueError  # noqa: E402
from brainfeat.fmri.preprocessed import read_fmri  # noqa: E402
from brainfeat.fmri.samples import build_samples  # noqa: E402
from brainfeat.io.bdata import BDataBuilder, write_bdata  # noqa: E402
from brainfeat.stimuli import name_to_id  # noqa: E402
from test_regenerate import start_from_features  # noqa: E402

# The catalog's run table is the paper's (S1: 24 training, 35 test runs): one training
# image per training run, every test image once per test run.
N_TRAIN, N_TEST, N_VOXELS = 24, 6, 20
SUBJECTS = ("S1", "S2")


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Images, their AlexNet fc8 features (random weights) and a ds001246 subset with BOLD."""
    from brainfeat.features.extraction import extract
    from brainfeat.features.store import read_extracted

    root = tmp_path_factory.mktemp("bids-route")
    catalog = loop_catalog(N_TRAIN, N_TEST, n_subjects=len(SUBJECTS))
    write_loop_replica(root / "loop", catalog)
    ids = catalog.training_image_ids + catalog.test_image_ids
    features = extract("AlexNet", root / "loop" / "images", ["fc8"], root / "features.h5",
                       weights="random", image_ids=ids, batch_size=BATCH_SIZE, device="cpu",
                       progress=False, catalog=catalog)
    values = read_extracted(features, "fc8").values
    write_bids_replica(root / "mirror", catalog, features={"fc8": (values[:N_TRAIN],
                                                                   values[N_TRAIN:])})
    (root / "catalog.json").write_text(catalog.to_json(), encoding="utf-8")
    return SimpleNamespace(root=root, catalog=catalog, images=root / "loop" / "images",
                           tree=root / "mirror" / "ds001246")


def _options(replica: SimpleNamespace) -> dict:
    return {"layers": ["fc8"], "weights": "random", "n_voxels": N_VOXELS,
            "batch_size": BATCH_SIZE, "catalog": replica.catalog}


@pytest.fixture(scope="module")
def bids_run(replica: SimpleNamespace):
    """The loop on the BIDS route, from the images to the published layout."""
    return brainfeat.regenerate("AlexNet", replica.images, out=replica.root / "bids-out",
                                bids=replica.tree, **_options(replica))



def _bids_files(tree: Path) -> set[str]:
    """Every event table and BOLD run of the perception sessions, and every mask (VC is all
    of them), of the replica's subjects: what the route reads."""
    found = set()
    for label in ("sub-01", "sub-02"):
        found |= set(tree.glob(f"{label}/ses-perception*/func/*_events.tsv"))
        found |= set(tree.glob(f"derivatives/preproc-spm/output/{label}/ses-perception*/"
                               "func/*_bold_preproc.nii.gz"))
        found |= set(tree.glob(f"sourcedata/{label}/anat/*_mask_*.nii.gz"))
    return {str(path) for path in found}


def test_the_bids_route_runs_end_to_end_and_load_reads_it(replica, bids_run) -> None:
    out = replica.root / "bids-out"
    kw = {"data_dir": out, "download": False, "catalog": replica.catalog, "progress": False}
    decoded = brainfeat.load("decoded", "AlexNet", "fc8", "S2", **kw)
    true = brainfeat.load("true", "AlexNet", "fc8", **kw)
    accuracy = brainfeat.load("accuracy", "AlexNet", "fc8", "Averaged", **kw)
    assert decoded.values.shape == true.values.shape == (N_TEST, 1000)
    assert decoded.image_ids == true.image_ids == replica.catalog.test_image_ids
    assert accuracy.values.shape == (1000,) and np.isfinite(accuracy.values).all()
    assert bids_run.plan.route == "bids" and "samples S1" in bids_run.plan.jobs
    # the samples job wrote what build_samples gives, in the published files' layout
    for split in ("train", "test"):
        built = build_samples("S1", split, "VC", root=replica.tree, catalog=replica.catalog)
        read = read_fmri(out / "work" / "fmri" / "Subject1.h5", "S1", "VC", split)
        assert read.stimulus_names == built.stimulus_names
        assert np.array_equal(read.X, built.X) and np.array_equal(read.runs, built.runs)
        assert np.array_equal(read.voxel_xyz, built.voxel_xyz)
    assert built.n_samples == 35 * N_TEST  # every test image once in each of 35 runs


def test_the_manifest_records_the_route_and_hashes_every_file_read(replica, bids_run) -> None:
    manifest = json.loads((replica.root / "bids-out" / "regenerated.json").read_text())
    assert manifest["fmri"]["route"] == "bids"
    assert manifest["fmri"]["root"] == str(replica.tree)
    inputs = manifest["inputs_sha256"]
    images = {str(replica.images / f"{name}.png") for name in
              replica.catalog.training_image_ids + replica.catalog.test_image_ids}
    assert set(inputs) - images == _bids_files(replica.tree)
    assert len(set(inputs) - images) == 2 * (24 + 35) * 2 + 2 * 22  # events + BOLD, masks
    bold = next(path for path in inputs if path.endswith("_bold_preproc.nii.gz"))
    assert inputs[bold] == hashlib.sha256(Path(bold).read_bytes()).hexdigest()


def _write_subject_h5(folder: Path, subject: str, catalog: Catalog, tree: Path) -> None:
    """``SubjectN.h5`` from build_samples, written plainly with the published keys."""
    splits = [build_samples(subject, split, "VC", root=tree, catalog=catalog)
              for split in ("train", "test")]
    builder = BDataBuilder()
    builder.add(np.vstack([s.X for s in splits]), "VoxelData")
    builder.add(np.concatenate([np.full(s.n_samples, code) for s, code in zip(splits, (1, 2))]),
                "DataType")
    builder.add(np.concatenate([s.runs for s in splits]), "Run")
    builder.add(np.array([name_to_id(n) for s in splits for n in s.stimulus_names]),
                "stimulus_id")
    builder.add_metadata("ROI_VC", np.ones(splits[0].n_voxels), "1 = ROI VC", where="VoxelData")
    write_bdata(folder / f"Subject{subject[1]}.h5", builder.build())


def test_the_h5_route_on_the_same_samples_writes_the_same_numbers(replica, bids_run,
                                                                  tmp_path: Path) -> None:
    """Same samples, same decoders: every decoded, accuracy and rank value is equal, and the
    test samples are averaged and lined up with the true features the same way."""
    fmri = tmp_path / "fmri"
    fmri.mkdir()
    for subject in SUBJECTS:
        _write_subject_h5(fmri, subject, replica.catalog, replica.tree)
    out = tmp_path / "h5-out"
    start_from_features(replica.root / "bids-out", out, N_TRAIN + N_TEST)
    result = brainfeat.regenerate("AlexNet", replica.images, out=out, fmri=fmri,
                                  **_options(replica))
    assert result.plan.route == "h5" and result.manifest["fmri"]["route"] == "h5"
    compared = 0
    for kind in (Kind.DECODED, Kind.ACCURACY, Kind.RANK):
        for subject in (*SUBJECTS, "Averaged"):
            ours, theirs = (brainfeat.load(kind, "AlexNet", "fc8", subject, data_dir=folder,
                                           download=False, catalog=replica.catalog,
                                           progress=False)
                            for folder in (replica.root / "bids-out", out))
            assert getattr(ours, "image_ids", None) == getattr(theirs, "image_ids", None)
            assert np.array_equal(ours.values, theirs.values, equal_nan=True), (kind, subject)
            compared += 1
    assert compared == 9
    with pytest.raises(FormatError, match=r"other settings \(fmri\)"):  # h5 run, BIDS rerun
        brainfeat.regenerate("AlexNet", replica.images, out=out, bids=replica.tree,
                             **_options(replica))


def test_route_conflicts_are_refused_before_any_work(replica, bids_run, tmp_path) -> None:
    options = _options(replica)
    with pytest.raises(InvalidValueError, match=r"fmri=.* and bids=.* were both given"):
        brainfeat.regenerate("AlexNet", replica.images, out=tmp_path / "a", fmri=tmp_path,
                             bids=replica.tree, **options)
    for bad in (3, " "):  # an empty path would be the current folder
        with pytest.raises(InvalidValueError, match=r"bids=.*: expected the root folder"):
            brainfeat.regenerate("AlexNet", replica.images, out=tmp_path / "a", bids=bad,
                                 **options)
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        brainfeat.regenerate("AlexNet", replica.images, out=tmp_path / "a",
                             bids=tmp_path / "nowhere", **options)
    assert not (tmp_path / "a").exists()
    with pytest.raises(FormatError, match=r"other settings \(fmri\)"):  # BIDS run, h5 rerun
        brainfeat.regenerate("AlexNet", replica.images, out=replica.root / "bids-out",
                             download=False, **options)


@pytest.mark.parametrize("dry_run", [False, True])
def test_missing_runs_and_masks_are_named_before_any_work(replica, tmp_path: Path,
                                                          dry_run: bool) -> None:
    tree = shutil.copytree(replica.tree, tmp_path / "ds001246")
    session = "ses-perceptionTest02/func/sub-02_ses-perceptionTest02_task-perception_run-03"
    bold = tree / "derivatives/preproc-spm/output/sub-02" / f"{session}_bold_preproc.nii.gz"
    bold.unlink()
    (tree / "sub-01/ses-perceptionTraining01/func/"
     "sub-01_ses-perceptionTraining01_task-perception_run-04_events.tsv").unlink()
    (tree / "sourcedata/sub-01/anat/sub-01_mask_RH_FFA.nii.gz").write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="3 file") as error:
        brainfeat.regenerate("AlexNet", replica.images, out=tmp_path / "out", bids=tree,
                             dry_run=dry_run, **_options(replica))
    for name in (bold.name, "sub-01_ses-perceptionTraining01_task-perception_run-04_events.tsv",
                 "sub-01_mask_RH_FFA.nii.gz"):
        assert name in str(error.value)
    assert not (tmp_path / "out").exists()


def test_the_replica_refuses_bold_runs_without_blocks_or_features_without_images(
        tmp_path: Path) -> None:
    catalog = loop_catalog(12, N_TEST, n_subjects=1)  # S1 has 24 training runs
    features = {"fc8": (np.zeros((12, 1000)), np.zeros((N_TEST, 1000)))}
    with pytest.raises(InvalidValueError, match="S1 24 training runs for 12 training images"):
        write_bids_replica(tmp_path, catalog, features=features)
    features = {"fc8": (np.zeros((12, 1000)), np.zeros((N_TEST - 1, 1000)))}
    with pytest.raises(InvalidValueError, match=r"features\['fc8'\] has 12 training and 5 test"):
        write_bids_replica(tmp_path, catalog, features=features)
    assert not list(tmp_path.iterdir())


def test_regenerate_command_takes_bids_path_or_fetch(replica, bids_run, tmp_path: Path,
                                                     monkeypatch, capsys) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no profile figure
    base = ["regenerate", "AlexNet", str(replica.images), "--layers", "fc8", "--weights",
            "random", "--n-voxels", str(N_VOXELS), "--catalog",
            str(replica.root / "catalog.json"), "--data-dir", str(tmp_path / "data")]
    assert main([*base, "-o", str(tmp_path / "dry"), "--bids", str(replica.tree),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"fMRI: ds001246 BIDS tree {replica.tree} (118 event tables, 118 BOLD runs, " \
           "44 mask files)" in out and "jobs: 9 (2 decoders" in out
    assert not (tmp_path / "dry").exists()
    assert main([*base, "-o", str(tmp_path / "x"), "--bids", str(replica.tree),
                 "--fmri", str(tmp_path)]) == 2
    assert "were both given" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:  # an unset shell variable, not the current folder
        main([*base, "-o", str(tmp_path / "x"), "--bids", ""])
    assert stopped.value.code == 2 and "give a path" in capsys.readouterr().err
    # --bids fetch: the files come through the real download path from a local mirror
    fetched = tmp_path / "fetched"
    start_from_features(replica.root / "bids-out", fetched, N_TRAIN + N_TEST)
    monkeypatch.setenv("BRAINFEAT_PINS", str(replica.root / "mirror" / PINS_FILE))
    with serve_folder(replica.root / "mirror") as url:
        monkeypatch.setenv("BRAINFEAT_MIRRORS", f"openneuro={url}/ds001246")
        assert main([*base, "-o", str(fetched), "--bids", "fetch"]) == 0
    manifest = json.loads((fetched / "regenerated.json").read_text())
    assert manifest["fmri"]["root"] == str(tmp_path / "data" / "ds001246")
    for subject in SUBJECTS:  # the same samples as from the local tree
        path = f"work/fmri/Subject{subject[1]}.h5"
        assert (fetched / path).read_bytes() == (replica.root / "bids-out" / path).read_bytes()
