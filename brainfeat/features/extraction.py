"""Stream DNN features of many images to one HDF5 file, batch by batch, resumably.

File layout (format ``brainfeat-features/1``)::

    /                 attrs: format, model, weights, relu, preprocessing, batch_size, layers
    /image_ids        (n_images,) str - stimulus names, row order of every layer
    /batches_done     (n_batches,) bool - batches whose rows are written in every layer
    /layers/<layer>   (n_images, n_units) float32, channel-major units (c*H*W + h*W + w),
                      chunks of (batch rows x <= 1 MiB of units); attrs unit_shape, module

A new file is written whole before any batch: the first batch is computed to learn every
layer's unit shape, then the attributes and every layer's file space are written under a
temporary name and renamed to ``out`` (:mod:`brainfeat.io.jobfile`). After that a batch
only writes raw bytes at fixed places and is marked done after they are flushed, so the
bytes of a finished file do not depend on the order in which batches were written: a run
killed at any moment and started again with the same arguments continues with the batches
not yet done and ends with the same bytes as an uninterrupted run. A run holds
``<out>.lock`` while it writes: a second process writing the same output stops with
:class:`~brainfeat.errors.OutputLockedError`. Memory holds one batch of images and of
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

from brainfeat._checks import check_int
from brainfeat.catalog import Catalog, Network
from brainfeat.config import torch_device
from brainfeat.errors import FormatError
from brainfeat.features.preprocess import ImageList, list_images
from brainfeat.features.specs import ModelSpec, model_spec
from brainfeat.features.store import read_image_ids
from brainfeat.io.jobfile import create_whole, exclusive_output, open_to_resume

__all__ = ["FORMAT", "extract"]

FORMAT = "brainfeat-features/1"
_CHUNK_BYTES = 1 << 20


def _settings(spec: ModelSpec, batch_size: int) -> dict[str, str]:
    return {"format": FORMAT, "model": spec.name, "batch_size": str(batch_size),
            "layers": json.dumps(list(spec.taps)), **spec.provenance}


def _header(handle: h5py.File, spec: ModelSpec, images: ImageList, batch_size: int,
            outputs: dict[str, torch.Tensor]) -> None:
    """Write a new file's attributes and allocate every dataset (shapes from ``outputs``)."""
    handle.attrs.update(_settings(spec, batch_size))
    handle.create_dataset("image_ids", data=np.array(images.image_ids, dtype=object),
                          dtype=h5py.string_dtype())
    handle.create_dataset("batches_done", shape=(math.ceil(len(images) / batch_size),),
                          dtype=bool, fillvalue=False)
    layers = handle.create_group("layers")
    for name, module in spec.taps.items():
        unit_shape = tuple(outputs[name].shape[1:])
        n_units = math.prod(unit_shape)
        rows = min(batch_size, len(images))
        units = max(1, min(n_units, _CHUNK_BYTES // (4 * rows)))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        dataset = layers.create_dataset(name, shape=(len(images), n_units), dtype=np.float32,
                                        chunks=(rows, units), dcpl=dcpl)
        dataset.attrs["unit_shape"] = np.asarray(unit_shape, dtype=np.int64)
        dataset.attrs["module"] = module


def _resume(out: Path, spec: ModelSpec, images: ImageList, batch_size: int) -> h5py.File:
    """Open an existing ``out`` to continue the same run."""
    rerun = "pass overwrite=True (CLI: --overwrite)"
    handle = open_to_resume(out, rerun)
    settings = _settings(spec, batch_size)
    found = {key: str(handle.attrs.get(key, "")) for key in settings}
    ids = read_image_ids(handle["image_ids"]) if "image_ids" in handle else ()
    differing = [k for k in settings if found[k] != settings[k]]
    differing += ["image_ids"] if ids != images.image_ids else []
    missing = [name for name in spec.taps if f"layers/{name}" not in handle]
    if differing or missing or "batches_done" not in handle:
        handle.close()
        if differing:
            raise FormatError(
                f"{out} holds features of another run (different {', '.join(differing)}): "
                f"{rerun} to replace it, or choose another output file.")
        raise FormatError(f"{out} lacks part of its header ({', '.join(missing) or 'batches_done'})"
                          f": it was written by an older brainfeat; {rerun} to start again.")
    return handle


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
    InvalidValueError
        ``batch_size`` below 1, or a ``device`` torch does not know or this machine lacks.
    OutputLockedError
        Another process is writing ``out`` (the message names ``<out>.lock``).

    Examples
    --------
    >>> extract("AlexNet", "stimuli/", out="alexnet.h5",
    ...         image_ids=brainfeat.default_catalog().test_image_ids)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    batch_size = check_int("batch_size", batch_size, minimum=1, example=8)
    target = torch_device(device)
    image_list = list_images(images, image_ids)
    spec = model_spec(network_or_model, layers=layers, weights=weights, relu=relu,
                      transform=transform, mean_bgr=mean_bgr, data_dir=data_dir, catalog=catalog,
                      progress=progress)
    out = Path(out)
    model = spec.model.to(target)
    recorder = _Recorder(model, spec.taps)

    def forward(batch: int) -> dict[str, torch.Tensor]:
        start = batch * batch_size
        arrays = [spec.preprocess(path) for path in image_list.paths[start:start + batch_size]]
        recorder.outputs.clear()
        with torch.inference_mode():
            model(torch.from_numpy(np.stack(arrays)).to(target))
        _check_shapes(spec, recorder.outputs)
        return dict(recorder.outputs)

    try:
        with exclusive_output(out):
            first = None
            if overwrite or not out.exists():  # the first batch's outputs give the shapes
                first = forward(0)
                create_whole(out, lambda handle: _header(handle, spec, image_list, batch_size,
                                                         first))
            with _resume(out, spec, image_list, batch_size) as handle:
                done = handle["batches_done"]
                pending = [b for b, finished in enumerate(done[()]) if not finished]
                for batch in tqdm(pending, desc=f"{spec.name} features", unit="batch",
                                  disable=not progress):
                    if batch == 0 and first is not None:
                        outputs, first = first, None  # one batch of outputs in memory at a time
                    else:
                        outputs = forward(batch)
                    start = batch * batch_size
                    stop = min(start + batch_size, len(image_list))
                    for layer in spec.taps:
                        rows = outputs[layer].reshape(stop - start, -1).numpy()
                        handle["layers"][layer][start:stop] = rows
                    handle.flush()
                    done[batch] = True
                    handle.flush()
    finally:
        recorder.close()
    return out
