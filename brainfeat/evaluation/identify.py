"""Identification of the published decoded features: per subject, per layer, per image.

:func:`identify` loads the decoded and true features of the requested layers and subjects
and scores every test image with one of the definitions of
:mod:`brainfeat.evaluation.identification`; the :class:`IdentificationResult` prints itself
as a subject x layer table with the chance level and exports a long table
(:meth:`IdentificationResult.to_frame`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from brainfeat.catalog import Catalog, Kind, Network, SubjectLike, resolve_catalog
from brainfeat.errors import FormatError, InvalidValueError, UnknownNameError
from brainfeat.evaluation.identification import (
    Metric,
    category_averages,
    category_identification,
    nway_identification,
    pairwise_identification,
)
from brainfeat.published import FeatureSet, load_features

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["METHODS", "IdentificationResult", "identify"]

Method = Literal["pairwise", "nway", "category"]
METHODS: tuple[str, ...] = ("pairwise", "nway", "category")
Candidates = str | os.PathLike[str] | tuple[np.ndarray, Sequence[str]]


@dataclass(frozen=True, eq=False)
class IdentificationResult:
    """Identification scores of decoded test images.

    Attributes
    ----------
    method : {"pairwise", "nway", "category"}
    description : str
        The candidate set and parameters in words (e.g. ``"10-way top-1, 100 draws"``).
    network : str
    layers, subjects : tuple of str
    image_ids : tuple of str
    scores : numpy.ndarray of float64, shape (n_subjects, n_layers, n_images)
        One score per image in [0, 1]; NaN where a score is undefined.
    chance : float
        The expected score of random features.
    """

    method: str
    description: str
    network: str
    layers: tuple[str, ...]
    subjects: tuple[str, ...]
    image_ids: tuple[str, ...]
    scores: np.ndarray
    chance: float

    def table(self) -> pandas.DataFrame:
        """Mean score per subject (rows) and layer (columns), NaN images left out."""
        import pandas

        return pandas.DataFrame(np.nanmean(self.scores, axis=2), index=list(self.subjects),
                                columns=list(self.layers))

    def to_frame(self) -> pandas.DataFrame:
        """A long table: ``subject``, ``layer``, ``image``, ``score``, ``method``, ``chance``."""
        import pandas

        index = pandas.MultiIndex.from_product(
            [self.subjects, self.layers, self.image_ids], names=["subject", "layer", "image"])
        frame = pandas.DataFrame({"score": self.scores.reshape(-1)}, index=index).reset_index()
        return frame.assign(method=self.method, chance=self.chance)

    def format_table(self) -> str:
        """The subject x layer table as text, with the chance level under it."""
        table = self.table()
        width = max(8, *(len(layer) for layer in self.layers))
        lines = [f"{self.network} {self.method} identification ({self.description}), "
                 f"mean over {len(self.image_ids)} images",
                 "subject   " + " ".join(f"{layer:>{width}}" for layer in self.layers)]
        for subject, row in table.iterrows():
            lines.append(f"{subject:<9} " + " ".join(f"{v:>{width}.3f}" for v in row))
        lines.append(f"chance level: {self.chance:.3f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<IdentificationResult {self.network} {self.method}: {len(self.subjects)} "
                f"subjects x {len(self.layers)} layers x {len(self.image_ids)} images>")


def identify(network: Network | str, layers: Iterable[str] | None = None,
             subjects: Iterable[SubjectLike] | None = None, *, method: Method = "pairwise",
             candidates: Candidates | None = None, n_way: int = 10, top_k: int = 1,
             n_draws: int = 100, seed: int = 0, metric: Metric = "correlation",
             data_dir: str | os.PathLike[str] | None = None, download: bool = True,
             progress: bool = True, catalog: Catalog | None = None) -> IdentificationResult:
    """Identify the test images from the published decoded features.

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}
    layers : iterable of str, optional
        Default: every layer of ``network``.
    subjects : iterable of {1..5, "S1".."S5", "Averaged"}, optional
        Default: S1..S5 and Averaged.
    method : {"pairwise", "nway", "category"}
        ``"pairwise"``: :func:`~brainfeat.evaluation.identification.pairwise_identification`
        among the test images (chance 0.5). ``"nway"``:
        :func:`~brainfeat.evaluation.identification.nway_identification` with ``n_way``,
        ``top_k``, ``n_draws`` and ``seed`` (chance ``top_k / n_way``). ``"category"``:
        :func:`~brainfeat.evaluation.identification.category_identification` of each image's
        synset among ``candidates`` (chance 0.5).
    candidates : path or (array, categories), optional
        Category method only: a features file written by :func:`brainfeat.features.extract`
        for ``network`` (averaged per synset; one layer at a time), the GOD release's
        ``ImageFeatures.h5`` (AlexNet fc8 only, see
        :mod:`brainfeat.evaluation.god_candidates`), or category-averaged features with
        their synsets. Must include the 50 test synsets.
    n_way, top_k, n_draws, seed, metric
        See :mod:`brainfeat.evaluation.identification`.
    data_dir, download, progress, catalog
        As in :func:`brainfeat.load`.

    Returns
    -------
    IdentificationResult

    Raises
    ------
    UnknownNameError
        An unknown network, layer, subject or method.
    InvalidValueError
        Candidates given for another method or missing for the category method.
    DataNotFoundError
        A candidates file that does not exist.
    FormatError
        A candidates file that is not HDF5, or a features file of another network.
    ShapeMismatchError
        Candidates of another width than the layer.
    """
    if method not in METHODS:
        raise UnknownNameError(f"method={method!r}: expected one of {', '.join(METHODS)}.")
    if (method == "category") != (candidates is not None):
        raise InvalidValueError(
            "candidates= is needed by method='category' and used by no other method; got "
            f"method={method!r} with candidates={'given' if candidates is not None else None}.")
    catalog = resolve_catalog(catalog)
    network = Network.parse(network)
    infos = [catalog.layer(network, name) for name in
             (layers if layers is not None else [i.name for i in catalog.layers_of(network)])]
    who = ([catalog.subject(s) for s in subjects] if subjects is not None
           else list(catalog.subjects_for(Kind.DECODED)))
    if not infos or not who:
        raise UnknownNameError(f"identify needs at least one layer and one subject; got "
                               f"layers={layers!r}, subjects={subjects!r}.")
    options: dict[str, Any] = {"data_dir": data_dir, "download": download,
                               "progress": progress, "catalog": catalog}
    scores = np.empty((len(who), len(infos), len(catalog.test_image_ids)))
    for column, info in enumerate(infos):
        true = load_features(Kind.TRUE, network, info.name, **options)
        score = _scorer(method, true, candidates, n_way=n_way, top_k=top_k, n_draws=n_draws,
                        seed=seed, metric=metric)
        for row, subject in enumerate(who):
            decoded = load_features(Kind.DECODED, network, info.name, subject, **options)
            scores[row, column] = score(decoded.values)
    description = {"pairwise": "each image against the other test images",
                   "nway": f"{n_way}-way top-{top_k}, {n_draws} draws, seed {seed}",
                   "category": "each image's synset among category-averaged candidates"}
    return IdentificationResult(
        method=method, description=description[method], network=network.value,
        layers=tuple(i.name for i in infos), subjects=tuple(s.name for s in who),
        image_ids=catalog.test_image_ids, scores=scores,
        chance=top_k / n_way if method == "nway" else 0.5)


def _scorer(method: str, true: FeatureSet, candidates: Candidates | None, **kw: Any):
    """A function of the decoded values of one layer returning one score per image."""
    metric = kw.pop("metric")
    if method == "pairwise":
        return lambda decoded: pairwise_identification(decoded, true.values, metric=metric)
    if method == "nway":
        return lambda decoded: nway_identification(decoded, true.values, metric=metric, **kw)
    features, synsets = _category_candidates(candidates, true)
    categories = [image.split("_")[0] for image in true.image_ids]
    return lambda decoded: category_identification(decoded, categories, features, synsets,
                                                   metric=metric)


def _category_candidates(candidates: Candidates | None, true: FeatureSet,
                         ) -> tuple[np.ndarray, Sequence[str]]:
    if isinstance(candidates, tuple):
        return candidates
    from brainfeat.features.store import read_extracted
    from brainfeat.io.hdf5 import open_hdf5

    with open_hdf5(candidates, what="candidates file",
                   fix="pass a features file written by brainfeat.features.extract or the GOD "
                       "release's ImageFeatures.h5") as handle:
        is_bdata = "metadata" in handle or "metaData" in handle
    if is_bdata:
        from brainfeat.evaluation.god_candidates import god_category_features

        return god_category_features(candidates, true)
    extracted = read_extracted(candidates, true.layer)
    if extracted.model != true.network.value:
        raise FormatError(
            f"{candidates} holds features of {extracted.model!r}, not {true.network.value}: "
            f"extract {true.network.value} features for candidates of its {true.layer}.")
    return category_averages(extracted.values, extracted.image_ids)
