"""Tidy exports of published results: labelled xarray objects and long pandas tables.

* :func:`to_xarray` -- a :class:`~brainfeat.published.FeatureSet` or
  :class:`~brainfeat.published.UnitScores` as an ``xarray.DataArray`` that keeps the unit
  grid: dims ``(image, channel, y, x)`` for conv layers, ``(image, unit)`` for fc layers
  (without ``image`` for unit scores).
* :func:`to_frame` -- the same result as a long ``pandas.DataFrame``, one row per value.
* :func:`load_all` -- several layers and subjects of one kind in one ``xarray.Dataset``
  with a ``subject`` dimension.

The arrays are shared with the result, not copied. xarray and pandas are imported when a
function is called, never by ``import brainfeat``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from brainfeat.catalog import Catalog, Kind, Network, SubjectLike, resolve_catalog
from brainfeat.errors import ShapeMismatchError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import xarray

    from brainfeat.published import FeatureSet, UnitScores

__all__ = ["load_all", "to_frame", "to_xarray", "unit_dims"]

CITATION = "Horikawa et al. (2019) Sci Data 6:190012, doi:10.1038/sdata.2019.12"


def unit_dims(unit_shape: Sequence[int], prefix: str = "") -> tuple[str, ...]:
    """Dimension names of a layer's unit grid.

    Parameters
    ----------
    unit_shape : sequence of int
        ``(C, H, W)`` of a conv layer or ``(n,)`` of an fc layer.
    prefix : str, optional
        Put before each name (``load_all`` uses ``"<layer>_"`` so layers of different
        grids can share one Dataset).

    Returns
    -------
    tuple of str
        ``("channel", "y", "x")`` or ``("unit",)``, each with ``prefix``.

    Examples
    --------
    >>> unit_dims((96, 55, 55)), unit_dims((1000,), "fc8_")
    (('channel', 'y', 'x'), ('fc8_unit',))
    """
    if len(unit_shape) not in (1, 3):
        raise ShapeMismatchError(
            f"unit_shape {tuple(unit_shape)} has {len(unit_shape)} axes: expected (C, H, W) "
            "for a conv layer or (n,) for an fc layer.")
    names = ("channel", "y", "x") if len(unit_shape) == 3 else ("unit",)
    return tuple(prefix + name for name in names)


def _attrs(result: FeatureSet | UnitScores) -> dict[str, Any]:
    return {"network": result.network.value, "layer": result.layer, "kind": result.kind.value,
            "subject": result.subject.name if result.subject is not None else "",
            "unit_shape": list(result.unit_shape), "citation": CITATION}


def to_xarray(result: FeatureSet | UnitScores) -> xarray.DataArray:
    """A labelled ``xarray.DataArray`` over the unit grid of ``result``.

    Parameters
    ----------
    result : FeatureSet or UnitScores

    Returns
    -------
    xarray.DataArray
        Dims ``("image", "channel", "y", "x")`` for conv layers and ``("image", "unit")``
        for fc layers; unit scores have no ``image`` dim. Coordinates: stimulus names on
        ``image``, 0-based integers on the unit axes. ``attrs`` hold network, layer, kind,
        subject, unit shape and the citation. The values are a view of ``result.values``.
    """
    import xarray

    grid = result.reshape_units()
    dims = unit_dims(result.unit_shape)
    coords: dict[str, Any] = {dim: np.arange(size) for dim, size in zip(dims, result.unit_shape)}
    if grid.ndim > len(dims):
        dims = ("image", *dims)
        coords["image"] = list(result.image_ids)
    return xarray.DataArray(grid, dims=dims, coords=coords,
                            name=f"{result.kind.value}-{result.network.value}-{result.layer}",
                            attrs=_attrs(result))


def to_frame(result: FeatureSet | UnitScores) -> pandas.DataFrame:
    """``result`` as a long table, one row per (image,) unit.

    Parameters
    ----------
    result : FeatureSet or UnitScores

    Returns
    -------
    pandas.DataFrame
        Columns ``network``, ``layer``, ``subject`` (categorical; subject is ``""`` for true
        features), ``image`` (feature sets only), ``unit`` (flat channel-major index),
        ``channel``, ``y``, ``x`` (conv layers only) and ``value``. A feature set has
        ``n_images * n_units`` rows: use it on fc layers or small grids, and
        :func:`to_xarray` for full conv layers.
    """
    import pandas

    n_units = int(np.prod(result.unit_shape))
    n_rows = result.values.size
    n_images = n_rows // n_units
    columns: dict[str, Any] = {
        "network": pandas.Categorical([result.network.value]).repeat(n_rows),
        "layer": pandas.Categorical([result.layer]).repeat(n_rows),
        "subject": pandas.Categorical(
            [result.subject.name if result.subject is not None else ""]).repeat(n_rows),
    }
    if result.values.ndim == 2:
        columns["image"] = pandas.Categorical(list(result.image_ids)).repeat(n_units)
    unit = np.tile(np.arange(n_units), n_images)
    columns["unit"] = unit
    if len(result.unit_shape) == 3:
        for name, index in zip(("channel", "y", "x"), np.unravel_index(unit, result.unit_shape)):
            columns[name] = index
    columns["value"] = result.values.reshape(-1)
    frame = pandas.DataFrame(columns)
    frame.attrs.update(_attrs(result))
    return frame


def load_all(kind: Kind | str, network: Network | str, layers: Iterable[str] | None = None,
             subjects: Iterable[SubjectLike] | None = None, *,
             data_dir: str | os.PathLike[str] | None = None, download: bool = True,
             progress: bool = True, catalog: Catalog | None = None) -> xarray.Dataset:
    """Several layers and subjects of one published kind in one labelled ``xarray.Dataset``.

    Parameters
    ----------
    kind : {"decoded", "true", "accuracy", "rank"}
    network : {"AlexNet", "VGG19"}
    layers : iterable of str, optional
        Layer names; defaults to every layer of ``network`` in depth order.
    subjects : iterable of {1..5, "S1".."S5", "Averaged"}, optional
        Defaults to S1..S5 and Averaged for decoded, accuracy and rank; must be omitted for
        true features, which do not depend on the subject.
    data_dir, download, progress, catalog
        As in :func:`brainfeat.load`.

    Returns
    -------
    xarray.Dataset
        One data variable per layer, named by the layer. Dims: ``subject`` (not for true
        features), ``image`` (decoded and true), and the layer's unit grid prefixed with
        its name (``conv1_channel``, ``conv1_y``, ``conv1_x`` or ``fc8_unit``), so layers of
        different grids sit side by side. Every subject's array is loaded in memory: a
        VGG19 conv1_1 of six subjects takes 6 x 50 x 3.2 M x 4 bytes = 3.9 GB.

    Raises
    ------
    UnknownNameError
        An unknown kind, network, layer or subject (the message lists the valid ones), a
        subject given for true features, or an empty list of layers or subjects.
    """
    import xarray

    from brainfeat.published import load

    catalog = resolve_catalog(catalog)
    kind, network = Kind.parse(kind), Network.parse(network)
    infos = [catalog.layer(network, name) for name in
             (layers if layers is not None else [i.name for i in catalog.layers_of(network)])]
    if kind.has_subject:
        who = [catalog.subject(s) for s in subjects] if subjects is not None else list(
            catalog.subjects_for(kind))
    elif subjects is not None:
        raise UnknownNameError(
            f"true features do not depend on the subject; got subjects={subjects!r}: omit it.")
    else:
        who = [None]
    if not infos or not who:
        raise UnknownNameError(
            f"load_all needs at least one layer and one subject; got layers={layers!r}, "
            f"subjects={subjects!r}.")
    options = {"data_dir": data_dir, "download": download, "progress": progress,
               "catalog": catalog}
    variables = {}
    for info in infos:
        arrays = [to_xarray(load(kind, network, info.name, subject, **options)) for subject in who]
        renamed = [a.rename({d: f"{info.name}_{d}" for d in unit_dims(info.unit_shape)})
                   for a in arrays]
        if kind.has_subject:
            variable = xarray.concat(renamed, dim="subject", coords="minimal",
                                     combine_attrs="drop_conflicts")
            variable = variable.assign_coords(subject=[s.name for s in who])
        else:
            variable = renamed[0]
        variable.attrs.pop("subject", None)
        variables[info.name] = variable
    return xarray.Dataset(
        variables, attrs={"network": network.value, "kind": kind.value, "citation": CITATION,
                          "dataset": catalog.name, "synthetic": int(catalog.synthetic)})
