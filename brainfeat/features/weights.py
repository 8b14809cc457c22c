"""Weights of the paper's networks: where to get them, where to put them, how to load them.

Neither the weights nor the images may be redistributed by brainfeat. The user fetches the
files once (``docs/features.md`` has the commands) into ``<data_dir>/weights/<network>/``
or passes their path; only the lab's VGG19 conversion, which the lab publishes on figshare,
is downloaded on request (``weights="download"``, through the registry):

* AlexNet: ``bvlc_alexnet.caffemodel`` from the Caffe model zoo.
* VGG19: ``VGG_ILSVRC_19_layers.caffemodel`` from the Oxford VGG page, or the lab's PyTorch
  conversion of it (a zip, checked against its MD5), or the ``.pt`` inside that zip.

A ``.caffemodel`` is parsed by :mod:`brainfeat.features.caffemodel`; a ``.pt``/``.pth``
state dict is read with ``torch.load(weights_only=True)``; keys may be module paths
(``features.0.weight``, the lab's layout), dataset layer names (``conv1_1.weight``), or
either with a ``module.`` prefix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from brainfeat.catalog import Network
from brainfeat.config import data_dir as resolve_data_dir
from brainfeat.errors import DataNotFoundError, FormatError, IntegrityError
from brainfeat.features.caffemodel import caffe_state_dict, read_caffemodel
from brainfeat.features.layers import tap_modules
from brainfeat.features.models import paper_architecture

__all__ = ["DOWNLOAD", "RANDOM", "RANDOM_SEED", "VGG19_CONVERSION_MD5", "VGG19_CONVERSION_URL",
           "WeightsLike", "load_paper_model", "seeded", "weights_folder"]

#: Pass as ``weights`` to use random initial weights (tests, demos; features meaningless).
RANDOM = "random"
#: Pass as ``weights`` to fetch the weights through the registry (VGG19: the lab's conversion).
DOWNLOAD = "download"
#: Registry rows of weights that may be downloaded on the user's request.
REGISTRY_WEIGHTS = {Network.VGG19: "VGG19-caffe-pytorch.zip"}
#: Seed of the random initial weights (the global torch RNG is left untouched).
RANDOM_SEED = 0
#: The lab's PyTorch conversion of the Caffe VGG19 (a zip).
VGG19_CONVERSION_URL = "https://figshare.com/ndownloader/files/38225868"
VGG19_CONVERSION_MD5 = "49f4d6dbf1024f33149352dfd309dc4d"

WeightsLike = Union[str, os.PathLike, Mapping[str, Any], None]


@dataclass(frozen=True)
class _Source:
    files: tuple[str, ...]
    instructions: str


_SOURCES = {
    Network.ALEXNET: _Source(
        files=("bvlc_alexnet.caffemodel",),
        instructions=(
            "download bvlc_alexnet.caffemodel from the Caffe model zoo "
            "(http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel; unrestricted use "
            "per BVLC) and save it as {folder}/bvlc_alexnet.caffemodel")),
    Network.VGG19: _Source(
        files=("VGG_ILSVRC_19_layers.caffemodel", "VGG_ILSVRC_19_layers.pt",
               "vgg19-caffe-pytorch.zip"),
        instructions=(
            "download VGG_ILSVRC_19_layers.caffemodel (CC BY-NC 4.0) from "
            "https://www.robots.ox.ac.uk/~vgg/research/very_deep/ and save it as "
            "{folder}/VGG_ILSVRC_19_layers.caffemodel, or download the lab's PyTorch "
            f"conversion {VGG19_CONVERSION_URL} (zip, md5 {VGG19_CONVERSION_MD5}) and save "
            "it as {folder}/vgg19-caffe-pytorch.zip (weights='download' fetches it)")),
}


def seeded(build: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """Call ``build`` with torch's RNG seeded to :data:`RANDOM_SEED`, then restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build(*args, **kwargs)


def weights_folder(network: Network | str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<data_dir>/weights/<network>``, where the weights of ``network`` are looked for."""
    return resolve_data_dir(data_dir) / "weights" / Network.parse(network).value


def _registry_row(network: Network):
    from brainfeat.remote.registry import default_registry

    return default_registry().get(REGISTRY_WEIGHTS[network])


def _default_file(network: Network, data_dir: str | os.PathLike[str] | None) -> Path:
    folder = weights_folder(network, data_dir)
    candidates = [folder / name for name in _SOURCES[network].files]
    if network in REGISTRY_WEIGHTS:  # fetched earlier with weights="download"
        candidates.append(resolve_data_dir(data_dir) / _registry_row(network).local_path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise DataNotFoundError(
        f"No {network.value} weights in {folder}. brainfeat may not redistribute them: "
        + _SOURCES[network].instructions.format(folder=folder)
        + ", or pass weights=<path>. For a test without real weights pass weights='random'.")


def _download(network: Network, data_dir: str | os.PathLike[str] | None,
              progress: bool) -> Path:
    """Fetch the registry's weights of ``network`` (verified by the fetch engine)."""
    from brainfeat.remote.download import fetch_file

    if network not in REGISTRY_WEIGHTS:
        raise DataNotFoundError(
            f"brainfeat has no download of {network.value} weights: "
            + _SOURCES[network].instructions.format(folder=weights_folder(network, data_dir))
            + ".")
    return fetch_file(_registry_row(network), resolve_data_dir(data_dir), download=True,
                      progress=progress, command=f"brainfeat features {network.value} IMAGES "
                      "-o OUT --weights download")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _state_dict_file_from_zip(network: Network, archive: Path) -> Path:
    """The ``.pt`` of a weights zip, extracted beside it once (MD5-checked for VGG19)."""
    with zipfile.ZipFile(archive) as zipped:
        members = [m for m in zipped.namelist() if m.lower().endswith((".pt", ".pth"))]
        if len(members) > 1:
            members = [m for m in members if "19" in Path(m).name] or members
        if len(members) != 1:
            raise FormatError(f"{archive} holds {len(members)} .pt/.pth files "
                              f"({', '.join(members) or 'none'}): extract the {network.value} "
                              "state dict yourself and pass its path as weights.")
        target = archive.with_suffix("") / Path(members[0]).name
        if target.is_file() and target.stat().st_size == zipped.getinfo(members[0]).file_size:
            return target
        if network is Network.VGG19 and (found := _md5(archive)) != VGG19_CONVERSION_MD5:
            raise IntegrityError(
                f"{archive} has MD5 {found}, not {VGG19_CONVERSION_MD5} of the lab's VGG19 "
                f"conversion ({VGG19_CONVERSION_URL}): download it again, or extract your "
                "own state dict and pass the .pt path as weights.")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with zipped.open(members[0]) as source, open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        partial.replace(target)
        return target


def _read_torch_state_dict(path: Path) -> dict[str, Any]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad or pickled-model file
        raise FormatError(f"Cannot read a state dict from {path}: {error}. Expected a file "
                          "written by torch.save(model.state_dict(), path).") from error
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise FormatError(f"{path} holds a {type(loaded).__name__}, not a state dict.")
    return dict(loaded)


def _renamed(state: Mapping[str, Any], network: Network) -> dict[str, torch.Tensor]:
    """Accept module-path keys, dataset-layer keys, and a ``module.`` prefix."""
    by_layer = tap_modules(network, relu=False)
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        layer, _, suffix = key.rpartition(".")
        if layer in by_layer:
            key = f"{by_layer[layer]}.{suffix}"
        renamed[key] = torch.as_tensor(np.asarray(value)) if not torch.is_tensor(value) else value
    return renamed


def load_paper_model(network: Network | str, weights: WeightsLike = None, *,
                     data_dir: str | os.PathLike[str] | None = None,
                     progress: bool = True) -> tuple[nn.Module, str]:
    """Build AlexNet or VGG19 and load its weights.

    Parameters
    ----------
    network : {"AlexNet", "VGG19"}
    weights : path-like, mapping, ``"download"``, ``"random"`` or None
        None looks in :func:`weights_folder`; a path names a ``.caffemodel``, a ``.pt``/``.pth``
        state dict or the lab's conversion zip; a mapping is a state dict; ``"download"``
        fetches the registry's weights (VGG19 only: the lab's conversion); ``"random"`` keeps
        random initial weights, drawn with seed :data:`RANDOM_SEED` (the same in every
        process, so an interrupted run with random weights resumes consistently).
    data_dir : path-like, optional
        Data folder (argument > ``BRAINFEAT_DATA`` > ``~/brainfeat_data``).
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    model : torch.nn.Module
        In evaluation mode, on the CPU.
    description : str
        What the weights are (a file name, ``"random"`` or ``"state dict"``), for provenance.

    Raises
    ------
    DataNotFoundError
        If the weights are missing: the message says what to download and where to put it.
    IntegrityError
        If the lab's VGG19 zip does not have its published MD5.
    FormatError
        If the file cannot be read or does not fit the network.
    """
    network = Network.parse(network)
    if weights is None:
        weights = _default_file(network, data_dir)
    elif isinstance(weights, str) and weights == DOWNLOAD:
        weights = _download(network, data_dir, progress)
    if isinstance(weights, str) and weights == RANDOM:
        return seeded(paper_architecture, network), RANDOM
    # Read (and check) the weights before building the model: errors come fast.
    caffe_blobs = None
    if isinstance(weights, Mapping):
        state, description = _renamed(weights, network), "state dict"
    else:
        path = Path(weights)
        if not path.is_file():
            raise DataNotFoundError(
                f"Weights file {path} does not exist: "
                + _SOURCES[network].instructions.format(folder=path.parent) + ".")
        description = path.name
        if path.suffix == ".caffemodel":
            caffe_blobs = read_caffemodel(path)
        else:
            if path.suffix == ".zip":
                path = _state_dict_file_from_zip(network, path)
            state = _renamed(_read_torch_state_dict(path), network)
    model = seeded(paper_architecture, network)
    if caffe_blobs is not None:
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        state = {k: torch.from_numpy(v)
                 for k, v in caffe_state_dict(caffe_blobs, network, shapes).items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise FormatError(
            f"The {description} weights do not fit {network.value}: {error}") from error
    return model.eval(), description
