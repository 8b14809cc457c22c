"""PyTorch datasets of the decoded features and of the fMRI samples.

Importing this module imports torch (``import brainfeat`` does not):

* :class:`DecodedFeatures` -- decoded (and true) features of the 50 test images, several
  layers and subjects at once, read one image at a time from the cached published files;
* :class:`FMRISamples` -- (voxels, target features) pairs of one subject, ROI and split, for
  training decoders or encoders in torch, targets read row by row from a feature file;
* :class:`ZScore` -- a transform that z-scores features with training statistics.

Both datasets hold file paths, not open files: each process (each ``DataLoader`` worker)
opens what it reads, so they are safe with ``num_workers >= 2`` under fork and spawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from brainfeat.catalog import Catalog, Kind, Network, Split, SubjectLike, resolve_catalog
from brainfeat.errors import (
    InvalidValueError, ShapeMismatchError, UnknownNameError)

__all__ = ["DecodedFeatures", "FMRISamples", "ZScore"]

PathLike = str | os.PathLike[str]
Item = dict[str, Any]


class ZScore:
    """Z-score the features of each layer with training statistics: ``(x - mean) / std``.

    Parameters
    ----------
    mean, std : mapping of layer name -> array of shape (n_units,) or unit_shape
        Per-unit statistics of the training features (e.g. true features of the 1,200
        training images). A ``std`` of 0 is replaced by 1, as the lab's decoders do.
    keys : tuple of str
        Which parts of a :class:`DecodedFeatures` item to z-score.

    Examples
    --------
    >>> zscore = ZScore({"fc8": np.zeros(3)}, {"fc8": np.full(3, 2.0)})
    >>> zscore({"decoded": {"fc8": torch.ones(3)}, "true": {"fc8": torch.ones(3)}})["true"]
    {'fc8': tensor([0.5000, 0.5000, 0.5000])}
    """

    def __init__(self, mean: Mapping[str, np.ndarray], std: Mapping[str, np.ndarray],
                 keys: tuple[str, ...] = ("decoded", "true")) -> None:
        if set(mean) != set(std):
            raise UnknownNameError(f"mean has layers {sorted(mean)} but std has {sorted(std)}.")
        self.mean = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in mean.items()}
        self.std = {k: torch.as_tensor(np.where(np.asarray(v) == 0, 1, v).astype(np.float32))
                    for k, v in std.items()}
        self.keys = keys

    def __call__(self, item: Item) -> Item:
        out = dict(item)
        for key in self.keys:
            out[key] = {layer: self._scale(layer, value) for layer, value in item[key].items()}
        return out

    def _scale(self, layer: str, value: torch.Tensor) -> torch.Tensor:
        if layer not in self.mean:
            raise UnknownNameError(f"ZScore has no statistics of layer {layer!r}: it has "
                                   f"{', '.join(self.mean)}.")
        mean, std = self.mean[layer], self.std[layer]
        if mean.numel() != value.numel():
            raise ShapeMismatchError(f"ZScore statistics of {layer} have {mean.numel()} units;"
                                     f" the features have {value.numel()}.")
        return (value - mean.reshape(value.shape)) / std.reshape(value.shape)


class DecodedFeatures(Dataset):
    """Decoded features of the test images, one item per (subject, image).

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}
    layers : str or iterable of str
        Layer names, e.g. ``["conv1", "fc8"]``.
    subjects : iterable of {1..5, "S1".."S5", "Averaged"}, optional
        Default: S1..S5 (not Averaged).
    split : {"test"}
        The published decoded features exist for the test images only.
    with_true : bool
        Add the true features of each image to the items.
    transform : callable, optional
        Applied to each item (e.g. :class:`ZScore`).
    data_dir, download, progress, catalog
        As in :func:`brainfeat.load`; every layer is fetched when the dataset is made.

    Notes
    -----
    An item is a dict: ``decoded`` and ``true`` (dicts of layer -> float32 tensor of the
    layer's unit shape), ``image_id`` (stimulus name), ``image_index`` (its row in the
    published order), ``synset``, ``category_index`` (the synset's index among the test
    categories, in published order) and ``subject``. Items are ordered subject-major.
    Only the files of one image are read per item: a VGG19 conv1_1 item costs 12.8 MB per
    layer and subject, never the whole layer.
    """

    def __init__(self, network: Network | str, layers: str | Iterable[str],
                 subjects: Iterable[SubjectLike] | None = None, split: Split | str = "test", *,
                 with_true: bool = True, transform: Callable[[Item], Item] | None = None,
                 data_dir: PathLike | None = None, download: bool = True,
                 progress: bool = True, catalog: Catalog | PathLike | None = None) -> None:
        from brainfeat.remote.api import fetch

        if Split.parse(split) is not Split.TEST:
            raise UnknownNameError(
                f"split={split!r}: decoded features were published for the test images only; "
                "use split='test' (FMRISamples gives the training fMRI).")
        self.catalog = resolve_catalog(catalog)
        names = [layers] if isinstance(layers, str) else list(layers)
        self.infos = [self.catalog.layer(network, name) for name in names]
        self.subjects = ([self.catalog.subject(s) for s in subjects] if subjects is not None
                         else list(self.catalog.subjects))
        if not self.infos or not self.subjects:
            raise UnknownNameError(f"DecodedFeatures needs at least one layer and one subject; "
                                   f"got layers={layers!r}, subjects={subjects!r}.")
        kinds = (Kind.DECODED, Kind.TRUE) if with_true else (Kind.DECODED,)
        self.folders = {(kind, info.name): fetch(kind, info.network, info.name, data_dir=data_dir,
                                                 download=download, progress=progress,
                                                 catalog=self.catalog)
                        for kind in kinds for info in self.infos}
        self.image_ids = self.catalog.test_image_ids
        synsets = [image.split("_")[0] for image in self.image_ids]
        self.categories = tuple(dict.fromkeys(synsets))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.subjects) * len(self.image_ids)

    def __getitem__(self, index: int) -> Item:
        from brainfeat.published import read_image_features

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        subject, row = divmod(index % len(self), len(self.image_ids))
        who, image = self.subjects[subject], self.image_ids[row]
        synset = image.split("_")[0]
        item: Item = {"decoded": {}, "image_id": image, "image_index": row, "synset": synset,
                      "category_index": self.categories.index(synset), "subject": who.name}
        for (kind, layer), folder in self.folders.items():
            info = next(i for i in self.infos if i.name == layer)
            values = read_image_features(folder, kind, info, who if kind is Kind.DECODED
                                         else None, image)
            item.setdefault(kind.value, {})[layer] = torch.from_numpy(
                np.ascontiguousarray(values, dtype=np.float32))
        return self.transform(item) if self.transform is not None else item

    def __repr__(self) -> str:
        return (f"<DecodedFeatures {self.infos[0].network.value} "
                f"{', '.join(i.name for i in self.infos)}: "
                f"{', '.join(s.name for s in self.subjects)} x {len(self.image_ids)} images>")


class _RowReader:
    """Rows of one HDF5 dataset, the file opened once per process (fork- and spawn-safe)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self._handle: Any = None
        self._pid = -1

    def __getitem__(self, row: int) -> np.ndarray:
        import h5py

        if self._pid != os.getpid():
            self._handle, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._handle[self.name][row]

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "_handle": None, "_pid": -1}


class FMRISamples(Dataset):
    """(voxels, target features) pairs of one subject, ROI and split.

    Parameters
    ----------
    subject : {1..5, "S1".."S5"}
    roi : str
        ``V1 V2 V3 hV4 LOC FFA PPA LVC HVC VC``.
    split : {"train", "test", "imagery"}
    features : path-like, optional
        A feature file written by :func:`brainfeat.features.extract` holding every image of
        the split; targets are its rows of ``layer``, aligned by stimulus name. Without it,
        the target of an item is its stimulus name.
    layer : str, optional
        Required with ``features``.
    average_repeats : bool
        Test and imagery only: one sample per image (category) averaged over its repeats;
        otherwise one sample per presentation (single trial).
    transform, target_transform : callable, optional
        Applied to the voxel tensor and to the target tensor of each item.
    data_dir, download, catalog
        As in :func:`brainfeat.load_fmri`.

    Notes
    -----
    The voxels (a few MB) are held in memory; the targets are read row by row from the
    feature file, which each worker opens for itself. Imagery samples are labelled by
    category, which a feature file of images does not hold: ``features`` is refused there.
    """

    def __init__(self, subject: SubjectLike, roi: str = "VC", split: Split | str = "train",
                 features: PathLike | None = None, layer: str | None = None, *,
                 average_repeats: bool = False, transform: Callable | None = None,
                 target_transform: Callable | None = None, data_dir: PathLike | None = None,
                 download: bool = True, catalog: Catalog | PathLike | None = None) -> None:
        from brainfeat.fmri.preprocessed import load_fmri

        if (features is None) != (layer is None):
            raise InvalidValueError("pass features= and layer= together (a feature file and "
                                   f"one of its layers); got features={features!r}, "
                                   f"layer={layer!r}.")
        if features is not None and Split.parse(split) is Split.IMAGERY:
            raise InvalidValueError(
                "imagery samples are labelled by category, not by image: a feature file of "
                "images has no target for them; omit features= (targets are then the "
                "category names) and pair them with category averages yourself.")
        self.fmri = load_fmri(subject, roi, split, average_repeats, data_dir=data_dir,
                              download=download, catalog=resolve_catalog(catalog))
        self.transform, self.target_transform = transform, target_transform
        self.rows: np.ndarray | None = None
        self.unit_shape: tuple[int, ...] = ()
        if features is not None and layer is not None:
            self._align(Path(features), layer)

    def _align(self, path: Path, layer: str) -> None:
        from brainfeat.features.store import extracted_layer_header

        ids, self.unit_shape = extracted_layer_header(path, layer)
        position = {name: row for row, name in enumerate(ids)}
        missing = sorted({n for n in self.fmri.stimulus_names if n not in position})
        if missing:
            raise UnknownNameError(
                f"{len(missing)} stimuli of {self.fmri.subject.name} "
                f"{self.fmri.split.value} are not in {path}: {', '.join(missing[:5])}; "
                "extract features of every image of the split.")
        self.rows = np.array([position[name] for name in self.fmri.stimulus_names])
        self._reader = _RowReader(path, f"layers/{layer}")

    def __len__(self) -> int:
        return self.fmri.n_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        voxels = torch.from_numpy(self.fmri.X[index])
        if self.transform is not None:
            voxels = self.transform(voxels)
        if self.rows is None:
            return voxels, self.fmri.stimulus_names[index]
        target = torch.from_numpy(
            np.asarray(self._reader[int(self.rows[index])], np.float32).reshape(self.unit_shape))
        if self.target_transform is not None:
            target = self.target_transform(target)
        return voxels, target

    def __repr__(self) -> str:
        return (f"<FMRISamples {self.fmri.subject.name} {self.fmri.roi} {self.fmri.split.value}:"
                f" {self.fmri.n_samples} samples x {self.fmri.n_voxels} voxels>")
