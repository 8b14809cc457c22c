"""The catalog: what the dataset contains, as data.

Subjects, networks, layers with their unit shapes, the four published kinds, the
stimulus image ids and the run table of Horikawa et al. (2019). Every function of
brainfeat that needs one of these facts takes a ``catalog`` argument, so the real
dataset, the demo's miniature replica and the tests run through one code path.

Nothing here touches the disk at import time: :func:`default_catalog` reads the
packaged stimulus lists on first use and caches the result.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Union

from brainfeat.config import CATALOG_ENV
from brainfeat.errors import DataNotFoundError, FormatError, InvalidValueError, UnknownNameError

__all__ = [
    "AVERAGED",
    "Catalog",
    "Kind",
    "LayerInfo",
    "Network",
    "SessionRuns",
    "Split",
    "Subject",
    "SubjectLike",
    "default_catalog",
    "layer_info",
    "resolve_catalog",
]


def _normalise(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).lower()


class _ParsableEnum(str, Enum):
    """A string enum whose members can be named case-insensitively."""

    @classmethod
    def parse(cls, value: Any) -> Any:
        """Return the member named by ``value`` (a member or its name, any case)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if _normalise(value) in (_normalise(member.value), _normalise(member.name)):
                    return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise UnknownNameError(
            f"Unknown {cls.__name__.lower()} {value!r}: expected one of {valid}."
        )

    def __str__(self) -> str:
        return str(self.value)


class Network(_ParsableEnum):
    """The two DNNs whose features were decoded."""

    ALEXNET = "AlexNet"
    VGG19 = "VGG19"


class Kind(_ParsableEnum):
    """The four kinds of published file."""

    DECODED = "decoded"
    TRUE = "true"
    ACCURACY = "accuracy"
    RANK = "rank"

    @property
    def has_subject(self) -> bool:
        """Whether files of this kind exist per subject (all but ``true``)."""
        return self is not Kind.TRUE

    @property
    def per_image(self) -> bool:
        """Whether files of this kind hold one file per test image."""
        return self in (Kind.DECODED, Kind.TRUE)


class Split(_ParsableEnum):
    """The three parts of the fMRI experiment."""

    TRAIN = "train"
    TEST = "test"
    IMAGERY = "imagery"

    @classmethod
    def parse(cls, value: Any) -> "Split":
        """Return the split named by ``value``; BIDS session names are accepted too.

        ``"training"``/``"perceptionTraining"`` name ``train``, ``"perceptionTest"`` names
        ``test`` and ``"imageryTest"`` names ``imagery``.
        """
        aliases = {"training": "train", "perceptiontraining": "train",
                   "perceptiontest": "test", "imagerytest": "imagery"}
        if isinstance(value, str):
            value = aliases.get(_normalise(value), value)
        return super().parse(value)

    @property
    def session_prefix(self) -> str:
        """Prefix of this split's BIDS session labels in ds001246, e.g. ``perceptionTraining``."""
        return {Split.TRAIN: "perceptionTraining", Split.TEST: "perceptionTest",
                Split.IMAGERY: "imageryTest"}[self]


@dataclass(frozen=True, order=True)
class Subject:
    """One subject of the experiment, or the ``Averaged`` pseudo-subject.

    Parameters
    ----------
    number : int or None
        1-based subject number; ``None`` stands for ``Averaged`` (decoded features
        averaged over the real subjects).

    Examples
    --------
    >>> Subject.parse("sub-01") == Subject.parse("S1") == Subject.parse(1)
    True
    >>> Subject.parse("Subject3").bids
    'sub-03'
    """

    number: int | None

    @property
    def is_averaged(self) -> bool:
        """True for the ``Averaged`` pseudo-subject."""
        return self.number is None

    @property
    def name(self) -> str:
        """The name used in figshare file names: ``S1`` ... ``S5`` or ``Averaged``."""
        return "Averaged" if self.number is None else f"S{self.number}"

    @property
    def bids(self) -> str:
        """The BIDS label, ``sub-01`` ...; an error for ``Averaged``."""
        if self.number is None:
            raise UnknownNameError("The Averaged pseudo-subject has no BIDS data: name S1-S5.")
        return f"sub-{self.number:02d}"

    @property
    def h5_name(self) -> str:
        """The stem of the preprocessed fMRI file, ``Subject1`` ..."""
        if self.number is None:
            raise UnknownNameError("The Averaged pseudo-subject has no fMRI file: name S1-S5.")
        return f"Subject{self.number}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, value: "SubjectLike", catalog: "Catalog | None" = None) -> "Subject":
        """Return the subject named by ``value``.

        Accepts a :class:`Subject`, an integer (numpy integers too), or a string such as
        ``"1"``, ``"S1"``, ``"sub-01"``, ``"Subject1"`` or ``"Averaged"``, checked against
        ``catalog`` (a :class:`Catalog`, a catalog JSON path, or None for the published
        dataset). Signs, floats and bools name nobody: ``"-1"`` is an error, not S1.
        """
        catalog = resolve_catalog(catalog)
        known = catalog.subjects + (AVERAGED,)
        subject = value if isinstance(value, Subject) else _parse_subject_text(value)
        if subject not in known:
            valid = ", ".join(s.name for s in known)
            raise UnknownNameError(
                f"Unknown subject {value!r}: expected one of {valid} "
                "(also written as 1, 'sub-01' or 'Subject1')."
            )
        return subject


def _parse_subject_text(value: Any) -> Subject | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):  # int, numpy.int64, ...
        return Subject(int(value))
    if isinstance(value, str):
        if _normalise(value) in ("averaged", "average", "ave", "avg"):
            return AVERAGED
        # A separator only after a prefix: "sub-01" names S1, "-1" names nobody.
        match = re.fullmatch(r"(?:(?:s|sub|subject)[\s_\-]?)?0*(\d+)", value.strip().lower())
        if match:
            return Subject(int(match.group(1)))
    return None


AVERAGED = Subject(None)
SubjectLike = Union[Subject, int, str]  # numpy integers count as int


@dataclass(frozen=True)
class LayerInfo:
    """One published DNN layer.

    Attributes
    ----------
    network : Network
    name : str
        Layer name as in the dataset (``conv1``, ``conv3_4``, ``fc8``).
    unit_shape : tuple of int
        ``(channels, height, width)`` for convolutional layers, ``(units,)`` otherwise.
        Units are numbered channel-major: ``c * H * W + h * W + w``.
    """

    network: Network
    name: str
    unit_shape: tuple[int, ...]

    @property
    def n_units(self) -> int:
        """Number of units (product of ``unit_shape``)."""
        return math.prod(self.unit_shape)

    @property
    def is_conv(self) -> bool:
        """True for convolutional layers (3-D unit grid)."""
        return len(self.unit_shape) == 3


@dataclass(frozen=True)
class SessionRuns:
    """Runs per session of one subject and split (the paper's Table 1)."""

    subject: int
    split: Split
    runs_per_session: tuple[int, ...]

    @property
    def n_runs(self) -> int:
        """Total number of runs over the sessions."""
        return sum(self.runs_per_session)

    @property
    def session_labels(self) -> tuple[str, ...]:
        """BIDS session labels, e.g. ``perceptionTraining01``."""
        return tuple(f"{self.split.session_prefix}{i:02d}"
                     for i in range(1, len(self.runs_per_session) + 1))


@dataclass(frozen=True)
class Catalog:
    """Everything brainfeat knows about one dataset (the real one or a replica).

    Attributes
    ----------
    name : str
        Human-readable name; replicas say that they are synthetic.
    synthetic : bool
        True for replicas whose numbers mean nothing.
    layers : tuple of LayerInfo
        Every published layer, in network order.
    input_sizes : tuple of (Network, int)
        Image side length each network takes.
    subjects : tuple of Subject
        The real subjects (``Averaged`` is always added where a kind allows it).
    test_image_ids, training_image_ids : tuple of str
        Stimulus names (``n01443537_22563``) in published order.
    imagery_categories : tuple of str
        Synsets of the imagery categories.
    runs : tuple of SessionRuns
        Runs per session, per subject and split.
    """

    name: str
    synthetic: bool
    layers: tuple[LayerInfo, ...]
    input_sizes: tuple[tuple[Network, int], ...]
    subjects: tuple[Subject, ...]
    test_image_ids: tuple[str, ...]
    training_image_ids: tuple[str, ...]
    imagery_categories: tuple[str, ...] = ()
    runs: tuple[SessionRuns, ...] = field(default=())

    @property
    def networks(self) -> tuple[Network, ...]:
        """Networks present in this catalog, in order of first appearance."""
        return tuple(dict.fromkeys(layer.network for layer in self.layers))

    def layers_of(self, network: Network | str) -> tuple[LayerInfo, ...]:
        """All layers of one network, in depth order."""
        network = Network.parse(network)
        return tuple(layer for layer in self.layers if layer.network is network)

    def layer(self, network: Network | str, layer: str | LayerInfo) -> LayerInfo:
        """The :class:`LayerInfo` of ``layer`` in ``network``; an error names the valid layers."""
        if isinstance(layer, LayerInfo):
            layer = layer.name
        candidates = self.layers_of(network)
        for info in candidates:
            if _normalise(info.name) == _normalise(str(layer)):
                return info
        valid = " ".join(info.name for info in candidates)
        raise UnknownNameError(
            f"Unknown layer {layer!r} of {Network.parse(network).value}: expected one of {valid}."
        )

    def input_size(self, network: Network | str) -> int:
        """Side length in pixels of the images ``network`` takes."""
        return dict(self.input_sizes)[Network.parse(network)]

    def subjects_for(self, kind: "Kind | str") -> tuple[Subject, ...]:
        """Subjects that have files of ``kind``: none for ``true``, S1..Sn and Averaged otherwise."""
        return (self.subjects + (AVERAGED,)) if Kind.parse(kind).has_subject else ()

    def subject(self, value: SubjectLike) -> Subject:
        """Parse ``value`` into a :class:`Subject` of this catalog."""
        return Subject.parse(value, self)

    def runs_of(self, subject: SubjectLike, split: Split | str) -> SessionRuns:
        """Runs per session of one subject and split."""
        number = self.subject(subject).number
        split = Split.parse(split)
        for entry in self.runs:
            if entry.subject == number and entry.split is split:
                return entry
        known = sorted({Subject(entry.subject).name for entry in self.runs if entry.split is split})
        raise UnknownNameError(
            f"No run table for subject {subject!r}, split {split.value!r} in catalog "
            f"{self.name!r}: it has run tables for {', '.join(known) or 'no subject'}; pass a "
            "catalog whose `runs` include this subject.")

    # -- serialisation, so a replica's catalog can travel beside its files --
    def to_json(self) -> str:
        """Serialise to JSON (:meth:`from_json` reads it back)."""
        data = asdict(self)
        data["layers"] = [[layer.network.value, layer.name, list(layer.unit_shape)]
                          for layer in self.layers]
        data["input_sizes"] = [[net.value, size] for net, size in self.input_sizes]
        data["subjects"] = [s.number for s in self.subjects]
        data["runs"] = [[r.subject, r.split.value, list(r.runs_per_session)] for r in self.runs]
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "catalog JSON") -> "Catalog":
        """Read a catalog written by :meth:`to_json`.

        Raises
        ------
        FormatError
            If ``text`` is not JSON or lacks a field (the message names ``source``).
        """
        try:
            return cls._from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if isinstance(error, UnknownNameError):
                raise FormatError(f"{source} is not a brainfeat catalog: {error} Write it "
                                  "with Catalog.to_json (as `brainfeat demo` does).") from None
            what = f"no field {error}" if isinstance(error, KeyError) else str(error)
            raise FormatError(
                f"{source} is not a brainfeat catalog ({type(error).__name__}: {what}): "
                "expected the JSON written by Catalog.to_json, such as "
                "brainfeat_demo/replica/catalog.json; write it again with `brainfeat demo` "
                "or Catalog.to_json.") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> "Catalog":
        return cls(
            name=data["name"],
            synthetic=data["synthetic"],
            layers=tuple(LayerInfo(Network.parse(n), name, tuple(shape))
                         for n, name, shape in data["layers"]),
            input_sizes=tuple((Network.parse(n), size) for n, size in data["input_sizes"]),
            subjects=tuple(Subject(n) for n in data["subjects"]),
            test_image_ids=tuple(data["test_image_ids"]),
            training_image_ids=tuple(data["training_image_ids"]),
            imagery_categories=tuple(data["imagery_categories"]),
            runs=tuple(SessionRuns(s, Split.parse(sp), tuple(r)) for s, sp, r in data["runs"]),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Catalog":
        """Read a catalog JSON file.

        Raises
        ------
        DataNotFoundError
            If ``path`` is not a readable file.
        FormatError
            If it does not hold a catalog.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{path} is not a brainfeat catalog: it is not UTF-8 text. "
                              "Expected the JSON written by Catalog.to_json, such as "
                              "brainfeat_demo/replica/catalog.json.") from None
        except OSError as error:
            reason = ("it is a folder" if path.is_dir() else
                      "it does not exist" if not path.exists() else
                      f"it cannot be read ({error.strerror})")
            raise DataNotFoundError(
                f"Cannot read the catalog {path}: {reason}. Expected a catalog JSON file such "
                "as brainfeat_demo/replica/catalog.json (written by `brainfeat demo`); give its "
                "path, or leave the catalog out for the published dataset.") from None
        return cls.from_json(text, source=str(path))


# ----------------------------------------------------------------------------------------
# The published dataset (DATASET.md 1.3, 1.5)

_ALEXNET_LAYERS = {
    "conv1": (96, 55, 55), "conv2": (256, 27, 27), "conv3": (384, 13, 13),
    "conv4": (384, 13, 13), "conv5": (256, 13, 13),
    "fc6": (4096,), "fc7": (4096,), "fc8": (1000,),
}


def _vgg19_layers() -> dict[str, tuple[int, ...]]:
    blocks = [(64, 224, 2), (128, 112, 2), (256, 56, 4), (512, 28, 4), (512, 14, 4)]
    layers: dict[str, tuple[int, ...]] = {}
    for block, (channels, side, count) in enumerate(blocks, start=1):
        for index in range(1, count + 1):
            layers[f"conv{block}_{index}"] = (channels, side, side)
    layers.update({"fc6": (4096,), "fc7": (4096,), "fc8": (1000,)})
    return layers


# Runs per session (Table 1 of the paper; imagery from the ds001246 1.2.1 file list).
_RUNS = {
    1: {"train": (10, 10, 4), "test": (10, 10, 5, 10), "imagery": (8, 8, 4)},
    2: {"train": (10, 10, 4), "test": (10, 10, 10, 5), "imagery": (8, 8, 4)},
    3: {"train": (8, 8, 8), "test": (8, 9, 8, 6, 4), "imagery": (4, 7, 9)},
    4: {"train": (8, 8, 8), "test": (9, 9, 9, 8), "imagery": (8, 7, 5)},
    5: {"train": (8, 4, 6, 3, 3), "test": (7, 7, 5, 4, 5, 7), "imagery": (5, 8, 4, 2, 1)},
}


def read_packaged_table(name: str) -> list[list[str]]:
    """Rows of a tab-separated table shipped in ``brainfeat/_data``.

    Parameters
    ----------
    name : str
        File name inside ``brainfeat/_data``, e.g. ``"stimulus_ImageNetTest.tsv"``.

    Returns
    -------
    list of list of str
        One list of cells per line; blank lines and ``#`` comment lines are skipped (a
        header line, if the table has one, is the first row).
    """
    text = resources.files("brainfeat").joinpath("_data", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


@cache
def default_catalog() -> Catalog:
    """The catalog of the published dataset (read once from packaged tables)."""
    layers = [LayerInfo(Network.ALEXNET, n, s) for n, s in _ALEXNET_LAYERS.items()]
    layers += [LayerInfo(Network.VGG19, n, s) for n, s in _vgg19_layers().items()]
    runs = tuple(
        SessionRuns(subject, Split.parse(split), counts)
        for subject, splits in _RUNS.items() for split, counts in splits.items()
    )
    return Catalog(
        name="Horikawa et al. (2019) Sci Data 6:190012",
        synthetic=False,
        layers=tuple(layers),
        input_sizes=((Network.ALEXNET, 227), (Network.VGG19, 224)),
        subjects=tuple(Subject(n) for n in range(1, 6)),
        test_image_ids=tuple(r[0] for r in read_packaged_table("stimulus_ImageNetTest.tsv")),
        training_image_ids=tuple(
            r[0] for r in read_packaged_table("stimulus_ImageNetTraining.tsv")),
        imagery_categories=tuple(r[0] for r in read_packaged_table("category_GODImagery.tsv")),
        runs=runs,
    )


def resolve_catalog(catalog: Catalog | str | os.PathLike[str] | None) -> Catalog:
    """The catalog a ``catalog=`` argument names.

    Parameters
    ----------
    catalog : Catalog, path-like or None
        A :class:`Catalog`, the path of a catalog JSON file (read with
        :meth:`Catalog.load`), or None: the catalog JSON named by ``$BRAINFEAT_CATALOG``
        where it is set (e.g. by ``brainfeat demo --serve``), else the published dataset.

    Raises
    ------
    InvalidValueError
        If ``catalog`` is none of these.
    """
    if catalog is None:
        named = os.environ.get(CATALOG_ENV, "").strip()
        if not named:
            return default_catalog()
        try:
            return Catalog.load(named)
        except (DataNotFoundError, FormatError) as error:
            raise type(error)(f"${CATALOG_ENV} names a catalog brainfeat cannot use: {error} "
                              f"Or unset {CATALOG_ENV} for the published dataset.") from None
    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, str | os.PathLike):
        return Catalog.load(catalog)
    raise InvalidValueError(
        f"catalog={catalog!r} is neither a Catalog nor a path: pass Catalog.load('catalog.json'),"
        " the path of a catalog JSON file, or None for the published dataset.")


def layer_info(network: Network | str, layer: str,
               catalog: Catalog | str | os.PathLike[str] | None = None) -> LayerInfo:
    """Describe one published layer.

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}
    layer : str
        Layer name, e.g. ``"conv1"`` or ``"conv5_4"``.
    catalog : Catalog, optional
        Defaults to the published dataset.

    Returns
    -------
    LayerInfo

    Examples
    --------
    >>> layer_info("AlexNet", "conv1").unit_shape
    (96, 55, 55)
    """
    return resolve_catalog(catalog).layer(network, layer)
