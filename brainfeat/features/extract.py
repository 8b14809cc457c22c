"""Stream DNN features of many images to one HDF5 file, batch by batch, resumably.

File layout (format ``brainfeat-features/1``)::

    /                 attrs: format, model, weights, relu, preprocessing, batch_size, layers
    /image_ids        (n_images,) str - stimulus names, row order of every layer
    /batches_done     (n_batches,) bool - batches whose rows are written in every layer
    /layers/<layer>   (n_images, n_units) float32, channel-major units (c*H*W + h*W + w),
                      chunks of (batch rows x <= 1 MiB of units); attrs unit_shape, module

Every layer's file space is allocated when it is created, so the bytes of a finished file
do not depend on the order in which batches were written: an interrupted run that is
started again with the same arguments continues with the batches not yet done and ends
with the same file as an uninterrupted run. Memory holds one batch of images and of
layer outputs at a time (never all images x all layers).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from brainfeat.catalog import Catalog, Network
from brainfeat.errors import FormatError
from brainfeat.features.preprocess import ImageList, list_images
from brainfeat.features.specs import ModelSpec, model_spec
from brainfeat.features.store import read_image_ids

__all__ = ["FORMAT", "extract"]

FORMAT = "brainfeat-features/1"
_CHUNK_BYTES = 1 << 20


def _choose_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _settings(spec: ModelSpec, batch_size: int) -> dict[str, str]:
    return {"format": FORMAT, "model": spec.name, "batch_size": str(batch_size),
            "layers": json.dumps(list(spec.taps)), **spec.provenance}


def _open_output(out: Path, spec: ModelSpec, images: ImageList, batch_size: int,
                 overwrite: bool) -> h5py.File:
    """Open ``out`` for a new run, or for continuing the same run."""
    settings = _settings(spec, batch_size)
    if out.exists() and not overwrite:
        handle = h5py.File(out, "r+")
        found = {key: str(handle.attrs.get(key, "")) for key in settings}
        ids = read_image_ids(handle["image_ids"]) if "image_ids" in handle else ()
        if found == settings and ids == images.image_ids:
            return handle
        handle.close()
        differing = [k for k in settings if found[k] != settings[k]]
        differing += ["image_ids"] if ids != images.image_ids else []
        raise FormatError(
            f"{out} holds features of another run (different {', '.join(differing)}): pass "
            "overwrite=True (CLI: --overwrite) to replace it, or choose another output file.")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = h5py.File(out, "w")
    handle.attrs.update(settings)
    handle.create_dataset("image_ids", data=np.array(images.image_ids, dtype=object),
                          dtype=h5py.string_dtype())
    handle.create_dataset("batches_done", shape=(math.ceil(len(images) / batch_size),),
                          dtype=bool, fillvalue=False)
    handle.create_group("layers")
    handle.flush()
    return handle


def _layer_dataset(layers: h5py.Group, name: str, module: str, unit_shape: tuple[int, ...],
                   n_images: int, batch_size: int) -> h5py.Dataset:
    if name in layers:
        dataset = layers[name]
        if tuple(dataset.attrs["unit_shape"]) != unit_shape:
            raise FormatError(f"Layer {name} was written with unit shape "
                              f"{tuple(dataset.attrs['unit_shape'])}, now {unit_shape}: pass "
                              "overwrite=True (CLI: --overwrite) or choose another output file.")
        return dataset
    n_units = math.prod(unit_shape)
    rows = min(batch_size, n_images)
    units = max(1, min(n_units, _CHUNK_BYTES // (4 * rows)))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    dataset = layers.create_dataset(name, shape=(n_images, n_units), dtype=np.float32,
                                    chunks=(rows, units), dcpl=dcpl)
    dataset.attrs["unit_shape"] = np.asarray(unit_shape, dtype=np.int64)
    dataset.attrs["module"] = module
    return dataset


class _Recorder:
    """Forward hooks that copy each tapped module's output to the CPU as float32."""

    def __init__(self, model: nn.Module, taps: dict[str, str]) -> None:
        modules = dict(model.named_modules())
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = []
        by_module: dict[str, list[str]] = {}
        for layer, module in taps.items():
            by_module.setdefault(module, []).append(layer)
        for module, layers in by_module.items():
            self._handles.append(modules[module].register_forward_hook(self._hook(module, layers)))

    def _hook(self, module: str, layers: list[str]) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not torch.is_tensor(output):
                raise FormatError(f"Module {module!r} returns a {type(output).__name__}, not a "
                                  "tensor: record one of its tensor-valued submodules instead.")
            # A copy, taken before any in-place operation that follows can change it.
            copied = output.detach().to("cpu", torch.float32, copy=True)
            for layer in layers:
                self.outputs[layer] = copied

        return hook

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _check_shapes(spec: ModelSpec, outputs: dict[str, torch.Tensor]) -> None:
    for layer, expected in spec.expected_shapes.items():
        found = tuple(outputs[layer].shape[1:])
        if found != expected:
            raise FormatError(f"{spec.name} {layer} has unit shape {found}; the catalog "
                              f"expects {expected}. Check the input size and the weights.")


def extract(network_or_model: str | Network | nn.Module,
            images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
            layers: Sequence[str] | None = None, out: str | os.PathLike[str] = "features.h5",
            *, device: str | torch.device | None = None, batch_size: int = 8,
            weights: Any = None, relu: bool = False, image_ids: Sequence[str] | None = None,
            transform: Callable[[Any], Any] | None = None, mean_bgr: Any = None,
            overwrite: bool = False, progress: bool = True,
            data_dir: str | os.PathLike[str] | None = None,
            catalog: Catalog | None = None) -> Path:
    """Compute DNN features of images and write every layer to one HDF5 file.

    Parameters
    ----------
    network_or_model : str, Network or torch.nn.Module
        ``"AlexNet"`` or ``"VGG19"`` (the paper's Caffe models with Caffe preprocessing), a
        torchvision model name (``"resnet18"``; ``"torchvision:alexnet"`` for torchvision's
        own AlexNet), or any module.
    images : path-like or iterable of path-like
        A folder of JPEG/PNG images (taken in stimulus-name order) or image files.
    layers : sequence of str, optional
        Dataset layer names for the paper's networks (default: all published layers);
        module names from ``named_modules()`` otherwise (default: the top-level children).
    out : path-like
        The HDF5 file written (see the module docstring for its layout).
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else the CPU.
    batch_size : int
        Images per forward pass; memory grows with it. Part of the run's identity.
    weights : optional
        Paper networks: a ``.caffemodel``, ``.pt`` or the lab's VGG19 zip, a state dict,
        ``"download"`` (VGG19: fetch the lab's conversion through the registry),
        ``"random"``, or None for the file in ``<data_dir>/weights/<network>/``.
        torchvision names: a weights enum or its name (``"DEFAULT"``), None for random.
    relu : bool
        Paper networks: record after the ReLU instead of before (fc8 stays logits).
    image_ids : sequence of str, optional
        Stimulus names to take, in this order (e.g. ``catalog.test_image_ids``).
    transform : callable, optional
        PIL image -> tensor ``(3, H, W)`` for torchvision names and modules (default: the
        weights' bundled transforms, else the standard ImageNet transform).
    mean_bgr : optional
        Paper networks: the BGR mean (see :func:`brainfeat.features.preprocess.resolve_mean`).
    overwrite : bool
        Replace an ``out`` file of another run instead of raising.
    progress : bool
        Show a tqdm progress bar over batches.
    data_dir : path-like, optional
        Where default weights are looked for (and downloaded ones are kept).
    catalog : Catalog, optional
        Layer names, unit shapes and input sizes (default: the published dataset).

    Returns
    -------
    pathlib.Path
        ``out``, complete.

    Raises
    ------
    DataNotFoundError
        Missing images or weights (the message says what to get and where to put it).
    FormatError
        ``out`` belongs to another run, an image is unreadable, or a layer's shape differs
        from the catalog.

    Examples
    --------
    >>> extract("AlexNet", "stimuli/", out="alexnet.h5",
    ...         image_ids=brainfeat.default_catalog().test_image_ids)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    image_list = list_images(images, image_ids)
    spec = model_spec(network_or_model, layers=layers, weights=weights, relu=relu,
                      transform=transform, mean_bgr=mean_bgr, data_dir=data_dir, catalog=catalog,
                      progress=progress)
    out = Path(out)
    target = _choose_device(device)
    model = spec.model.to(target)
    with _open_output(out, spec, image_list, batch_size, overwrite) as handle:
        done = handle["batches_done"]
        pending = [b for b, finished in enumerate(done[()]) if not finished]
        recorder = _Recorder(model, spec.taps)
        try:
            for batch in tqdm(pending, desc=f"{spec.name} features", unit="batch",
                              disable=not progress):
                start = batch * batch_size
                stop = min(start + batch_size, len(image_list))
                arrays = [spec.preprocess(path) for path in image_list.paths[start:stop]]
                inputs = torch.from_numpy(np.stack(arrays)).to(target)
                recorder.outputs.clear()
                with torch.inference_mode():
                    model(inputs)
                _check_shapes(spec, recorder.outputs)
                for layer, module in spec.taps.items():
                    values = recorder.outputs.pop(layer)
                    dataset = _layer_dataset(handle["layers"], layer, module,
                                             tuple(values.shape[1:]), len(image_list), batch_size)
                    dataset[start:stop] = values.reshape(stop - start, -1).numpy()
                handle.flush()
                done[batch] = True
                handle.flush()
        finally:
            recorder.close()
    return out
