"""Typed loading of published results, through the real fetch path on a served replica."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from served_replica import served_replica

import brainfeat
from brainfeat.catalog import AVERAGED, Kind, LayerInfo, Network, Subject
from brainfeat.demo.replica import replica_catalog
from brainfeat.errors import DataNotFoundError, FormatError, UnknownNameError
from brainfeat.exports import unit_dims
from brainfeat.io.mat import read_mat_array, write_mat_array
from brainfeat.published import FeatureSet, UnitScores


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory):
    """One replica served for the whole module (BRAINFEAT_MIRRORS is set per test)."""
    root = tmp_path_factory.mktemp("replica")
    monkeypatch = pytest.MonkeyPatch()
    with served_replica(root, monkeypatch) as (catalog, url):
        yield catalog, url
    monkeypatch.undo()


@pytest.fixture
def served(replica, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    catalog, url = replica
    monkeypatch.setenv("BRAINFEAT_MIRRORS", f"figshare={url}")
    return catalog, tmp_path / "data"


# -- .mat flavours ---------------------------------------------------------------------

@pytest.mark.parametrize("flavour", ["v5", "v7.3"])
@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (7,), (1, 7), (3, 4, 5)])
def test_mat_flavours_round_trip_squeezed(tmp_path: Path, flavour: str, shape) -> None:
    array = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    path = write_mat_array(tmp_path / "x.mat", "feat", array, flavour)
    found = read_mat_array(path, "feat")
    assert found.shape == np.squeeze(array).shape
    np.testing.assert_array_equal(found, np.squeeze(array))


def test_v73_file_stores_matlab_order_and_is_hdf5(tmp_path: Path) -> None:
    import h5py

    path = write_mat_array(tmp_path / "x.mat", "feat", np.zeros((2, 3, 4)), "v7.3")
    with h5py.File(path, "r") as handle:
        assert handle["feat"].shape == (4, 3, 2)
    assert path.read_bytes()[:10] == b"MATLAB 7.3"


def test_missing_variable_names_file_and_variables(tmp_path: Path) -> None:
    for flavour in ("v5", "v7.3"):
        path = write_mat_array(tmp_path / f"{flavour}.mat", "feat", np.ones(3), flavour)
        with pytest.raises(FormatError, match=r"no variable 'accuracy'.*feat"):
            read_mat_array(path, "accuracy")


# -- the contract every accessor keeps ---------------------------------------------------

ACCESSORS = {
    "load_features decoded": lambda n, l, c, d: brainfeat.load_features(
        "decoded", n, l, "S2", data_dir=d, catalog=c, progress=False),
    "load_features true": lambda n, l, c, d: brainfeat.load_features(
        "true", n, l, data_dir=d, catalog=c, progress=False),
    "load decoded Averaged": lambda n, l, c, d: brainfeat.load(
        "decoded", n, l, "Averaged", data_dir=d, catalog=c, progress=False),
    "load_accuracy": lambda n, l, c, d: brainfeat.load_accuracy(
        n, l, 1, data_dir=d, catalog=c, progress=False),
    "load_rank": lambda n, l, c, d: brainfeat.load_rank(
        n, l, "sub-03", data_dir=d, catalog=c, progress=False),
    "load accuracy": lambda n, l, c, d: brainfeat.load(
        "accuracy", n, l, "Averaged", data_dir=d, catalog=c, progress=False),
}
LAYERS = [("AlexNet", "conv1"), ("AlexNet", "fc8"), ("VGG19", "conv1_1"), ("VGG19", "fc8")]


@pytest.mark.parametrize("network,layer", LAYERS)
@pytest.mark.parametrize("accessor", list(ACCESSORS))
def test_accessor_contract(served, accessor: str, network: str, layer: str) -> None:
    catalog, data_dir = served
    info = catalog.layer(network, layer)
    result = ACCESSORS[accessor](network, layer, catalog, data_dir)
    assert result.network is Network.parse(network) and result.layer == layer
    assert result.unit_shape == info.unit_shape and result.n_units == info.n_units
    assert isinstance(result.kind, Kind)
    if isinstance(result, FeatureSet):
        assert result.values.dtype == np.float32
        assert result.values.shape == (len(catalog.test_image_ids), info.n_units)
        assert result.image_ids == catalog.test_image_ids
        assert result.reshape_units().shape == (result.n_images, *info.unit_shape)
        assert (result.subject is None) == (result.kind is Kind.TRUE)
        labelled = result.to_xarray()
        assert labelled.dims == ("image", *unit_dims(info.unit_shape))  # the unit grid kept
        assert list(labelled["image"].values) == list(catalog.test_image_ids)
        assert np.isfinite(result.values).all()
    else:
        assert isinstance(result, UnitScores)
        assert result.values.dtype in (np.float32, np.float64)
        assert result.values.shape == (info.n_units,)
        assert result.reshape_units().shape == info.unit_shape
        assert isinstance(result.subject, Subject)
        assert result.to_xarray().dims == unit_dims(info.unit_shape)
    assert layer in result.summary()


# -- behaviour -----------------------------------------------------------------------------

def test_accuracy_files_follow_from_decoded_and_true(served) -> None:
    catalog, data_dir = served
    kw = dict(data_dir=data_dir, catalog=catalog, progress=False)
    decoded = brainfeat.load("decoded", "AlexNet", "conv1", "S1", **kw).values.astype(float)
    true = brainfeat.load("true", "AlexNet", "conv1", **kw).values.astype(float)
    accuracy = brainfeat.load("accuracy", "AlexNet", "conv1", "S1", **kw).values
    d, t = decoded - decoded.mean(0), true - true.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (d * t).sum(0) / np.sqrt((d**2).sum(0) * (t**2).sum(0))
    np.testing.assert_allclose(accuracy, r, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert np.isnan(accuracy).sum() == 1  # the replica's constant unit


def test_hwc_arrays_are_normalised_with_a_warning(tmp_path: Path, monkeypatch) -> None:
    catalog = replica_catalog()
    with served_replica(tmp_path / "plain", monkeypatch, seed=3) as (cat, _):
        plain = brainfeat.load("true", "AlexNet", "conv1", data_dir=tmp_path / "d1",
                               catalog=cat, progress=False)
    with served_replica(tmp_path / "hwc", monkeypatch, seed=3, hwc_layers=["conv1"]) as (cat, _):
        with pytest.warns(UserWarning, match=r"\(H, W, C\)"):
            hwc = brainfeat.load("true", "AlexNet", "conv1", data_dir=tmp_path / "d2",
                                 catalog=cat, progress=False)
    assert cat == catalog
    np.testing.assert_array_equal(plain.values, hwc.values)


def test_wrong_shape_names_file_found_and_expected(served) -> None:
    catalog, data_dir = served
    wrong = replace(catalog, layers=tuple(
        LayerInfo(info.network, info.name, (8, 6, 7)) if info.name == "conv1" else info
        for info in catalog.layers))
    with pytest.raises(FormatError, match=r"true-AlexNet-conv1-n01443537_22563\.mat.*"
                                          r"\(8, 6, 6\); expected \(8, 6, 7\)"):
        brainfeat.load("true", "AlexNet", "conv1", data_dir=data_dir, catalog=wrong,
                       progress=False)


def test_one_layer_reads_only_its_own_files(served) -> None:
    catalog, data_dir = served
    kw = dict(data_dir=data_dir, catalog=catalog, progress=False)
    brainfeat.fetch("true", "AlexNet", "fc8", **kw)
    brainfeat.fetch("true", "AlexNet", "conv1", **kw)
    for path in (data_dir / "decodedDNN" / "true" / "AlexNet" / "fc8").iterdir():
        path.write_bytes(b"not a mat file")  # another layer broken on disk
    features = brainfeat.load("true", "AlexNet", "conv1", download=False, **kw)
    assert features.layer == "conv1"
    # the broken layer's members no longer have their recorded sizes: fetched again
    assert brainfeat.load("true", "AlexNet", "fc8", **kw).values.shape == (50, 40)


def test_missing_member_is_reported_then_fetched_again(served) -> None:
    catalog, data_dir = served
    kw = dict(data_dir=data_dir, catalog=catalog, progress=False)
    folder = brainfeat.fetch("decoded", "VGG19", "fc8", **kw)
    shutil.rmtree(folder / "S4")
    with pytest.raises(DataNotFoundError, match=r"decoded-VGG19-fc8.zip .*damaged \(member .*/S4/.* is missing\)"
                                                r".*brainfeat fetch decoded VGG19 fc8"):
        brainfeat.load("decoded", "VGG19", "fc8", "S4", download=False, **kw)
    assert brainfeat.load("decoded", "VGG19", "fc8", "S4", **kw).n_images == 50


@pytest.mark.parametrize("call,message", [
    (lambda kw: brainfeat.load("true", "AlexNet", "fc8", "S1", **kw), "omit it"),
    (lambda kw: brainfeat.load("decoded", "AlexNet", "fc8", **kw), "per subject"),
    (lambda kw: brainfeat.load("rank", "AlexNet", "fc8", **kw), "per subject"),
    (lambda kw: brainfeat.load("decoded", "AlexNet", "fc8", "S9", **kw), "Unknown subject"),
    (lambda kw: brainfeat.load("decoded", "AlexNet", "conv1_1", "S1", **kw), "Unknown layer"),
    (lambda kw: brainfeat.load_features("accuracy", "AlexNet", "fc8", "S1", **kw), "load_accuracy"),
])
def test_bad_names_are_refused_before_any_download(served, call, message: str) -> None:
    catalog, data_dir = served
    with pytest.raises(UnknownNameError, match=message):
        call(dict(data_dir=data_dir, catalog=catalog, download=False))


def test_averaged_is_the_mean_of_subjects(served) -> None:
    catalog, data_dir = served
    kw = dict(data_dir=data_dir, catalog=catalog, progress=False)
    subjects = [brainfeat.load("decoded", "VGG19", "fc8", s, **kw).values
                for s in catalog.subjects]
    averaged = brainfeat.load("decoded", "VGG19", "fc8", AVERAGED, **kw).values
    np.testing.assert_allclose(averaged, np.mean(subjects, axis=0), rtol=1e-5, atol=1e-6)


def test_published_path_of_a_per_subject_kind_needs_a_subject() -> None:
    from brainfeat.errors import UnknownNameError
    from brainfeat.published import published_path

    with pytest.raises(UnknownNameError, match="per subject: pass subject='S1'"):
        published_path("accuracy", "AlexNet", "fc8")


# -- readers against files written apart from brainfeat's writer -----------------------

SMALL = {(Network.ALEXNET, "conv1"): (2, 3, 4), (Network.ALEXNET, "fc8"): (7,)}


def _image_values(image: str, unit_shape: tuple[int, ...]) -> np.ndarray:
    """Values that only this image has: its own seed, its own offset."""
    seed = int(image[1:9]) * 1_000_000 + int(image.split("_")[1])
    rng = np.random.default_rng(seed)
    return (rng.normal(size=unit_shape) + seed % 997).astype(np.float32)


def _write_independently(path: Path, variable: str, array: np.ndarray, flavour: str) -> None:
    """scipy's savemat (v5), or h5py in MATLAB's column-major order (v7.3): no brainfeat code."""
    import h5py
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    if flavour == "v5":
        savemat(path, {variable: array})
        return
    matlab = array.reshape(1, -1) if array.ndim == 1 else array  # MATLAB has no 1-D arrays
    with h5py.File(path, "w") as handle:
        handle.create_dataset(variable, data=np.ascontiguousarray(matlab.transpose()))
        handle[variable].attrs["MATLAB_class"] = np.bytes_("single")


@pytest.mark.parametrize("flavour", ["v5", "v7.3"])
@pytest.mark.parametrize("layer", ["conv1", "fc8"])
@pytest.mark.parametrize("kind", ["decoded", "true"])
def test_every_row_holds_its_own_image(tmp_path, monkeypatch, flavour, layer, kind) -> None:
    """A row shifted by one image (or any other misordering) cannot pass."""
    catalog = replica_catalog(SMALL)
    info = catalog.layer("AlexNet", layer)
    folder = tmp_path / kind / "AlexNet" / layer
    for image in catalog.test_image_ids:
        name = (f"S1/decoded-AlexNet-{layer}-S1-{image}.mat" if kind == "decoded"
                else f"true-AlexNet-{layer}-{image}.mat")
        _write_independently(folder / name, "feat", _image_values(image, info.unit_shape), flavour)
    monkeypatch.setattr("brainfeat.published._fetch_folder", lambda *args: folder)
    result = brainfeat.load(kind, "AlexNet", layer, "S1" if kind == "decoded" else None,
                            catalog=catalog)
    assert result.image_ids == catalog.test_image_ids
    expected = np.stack([_image_values(i, info.unit_shape).reshape(-1) for i in result.image_ids])
    np.testing.assert_array_equal(result.values, expected)
    np.testing.assert_array_equal(result.reshape_units()[3], _image_values(result.image_ids[3],
                                                                          info.unit_shape))


@pytest.mark.parametrize("flavour", ["v5", "v7.3"])
def test_complex_accuracies_are_refused_not_cut_to_their_real_part(tmp_path, monkeypatch,
                                                                   flavour) -> None:
    import h5py

    catalog = replica_catalog(SMALL)
    folder = tmp_path / "accuracy" / "AlexNet" / "fc8"
    path = folder / "accuracy-AlexNet-fc8-S1.mat"
    values = np.linspace(-1, 1, 7) + 0.5j
    if flavour == "v5":
        _write_independently(path, "accuracy", values, "v5")
    else:  # MATLAB v7.3 stores a complex array as a compound of real and imag
        folder.mkdir(parents=True)
        pair = np.dtype([("real", "<f8"), ("imag", "<f8")])
        with h5py.File(path, "w") as handle:
            stored = np.empty((7, 1), dtype=pair)
            stored["real"], stored["imag"] = values.real[:, None], values.imag[:, None]
            handle.create_dataset("accuracy", data=stored)
            handle["accuracy"].attrs["MATLAB_class"] = np.bytes_("double")
    monkeypatch.setattr("brainfeat.published._fetch_folder", lambda *args: folder)
    with pytest.raises(FormatError, match=f"{path}: variable 'accuracy' holds complex numbers"):
        brainfeat.load_accuracy("AlexNet", "fc8", "S1", catalog=catalog)
