"""Read Caffe ``.caffemodel`` weights without Caffe or the protobuf package.

A ``.caffemodel`` is a binary protocol buffer of Caffe's ``NetParameter``. Only the few
fields needed to recover weights are decoded, straight from the wire format:

* ``NetParameter.layer`` (field 100, ``LayerParameter``, current format): ``name`` (1),
  ``blobs`` (7);
* ``NetParameter.layers`` (field 2, ``V1LayerParameter``, the format of the 2014 model-zoo
  files such as ``bvlc_alexnet`` and ``VGG_ILSVRC_19_layers``): ``name`` (4), ``blobs`` (6);
* ``BlobProto``: ``num`` 1, ``channels`` 2, ``height`` 3, ``width`` 4 (legacy 4-D shape),
  ``data`` 5 (packed float32), ``shape`` 7 (``BlobShape.dim`` 1, int64), ``double_data`` 8.

Everything else is skipped by wire type. Blob data are read with :func:`numpy.frombuffer`
from a memory map, so a 550 MB file is parsed in seconds with one copy of each blob.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from brainfeat.catalog import Network
from brainfeat.errors import FormatError
from brainfeat.features.layers import tap_modules

__all__ = ["caffe_state_dict", "read_caffemodel"]

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _Reader:
    """Iterate over ``(field, wire_type, value)`` of one protobuf message."""

    def __init__(self, buffer: memoryview, start: int, end: int, where: str) -> None:
        self.buffer, self.start, self.end, self.where = buffer, start, end, where

    def _varint(self, pos: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            if pos >= self.end:
                raise FormatError(f"{self.where}: truncated varint at byte {pos}.")
            byte = self.buffer[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result, pos
            shift += 7

    def fields(self):
        """Yield ``(field, wire_type, value)``; ``value`` is an int or a ``(start, end)`` span."""
        pos = self.start
        while pos < self.end:
            key, pos = self._varint(pos)
            field, wire = key >> 3, key & 7
            if wire == _VARINT:
                value, pos = self._varint(pos)
                yield field, wire, value
            elif wire == _LENGTH:
                length, pos = self._varint(pos)
                if pos + length > self.end:
                    raise FormatError(f"{self.where}: field {field} runs past the end of its "
                                      f"message (byte {pos} + {length} > {self.end}).")
                yield field, wire, (pos, pos + length)
                pos += length
            elif wire in (_FIXED32, _FIXED64):
                width = 4 if wire == _FIXED32 else 8
                yield field, wire, (pos, pos + width)
                pos += width
            else:
                raise FormatError(f"{self.where}: unsupported protobuf wire type {wire} "
                                  f"(field {field}) at byte {pos}: is this a .caffemodel?")

    def sub(self, span: tuple[int, int]) -> "_Reader":
        return _Reader(self.buffer, span[0], span[1], self.where)

    def text(self, span: tuple[int, int]) -> str:
        return bytes(self.buffer[span[0]:span[1]]).decode("utf-8", errors="replace")

    def packed_varints(self, span: tuple[int, int]) -> list[int]:
        values, pos = [], span[0]
        while pos < span[1]:
            value, pos = self._varint(pos)
            values.append(value)
        return values


def _read_blob(reader: _Reader) -> np.ndarray:
    legacy = {1: 1, 2: 1, 3: 1, 4: 1}  # num, channels, height, width
    shape: list[int] = []
    chunks: list[np.ndarray] = []
    for field, wire, value in reader.fields():
        if field in legacy and wire == _VARINT:
            legacy[field] = value
        elif field == 7 and wire == _LENGTH:  # BlobShape
            for dim_field, dim_wire, dim in reader.sub(value).fields():
                if dim_field == 1 and dim_wire == _LENGTH:
                    shape.extend(reader.packed_varints(dim))
                elif dim_field == 1 and dim_wire == _VARINT:
                    shape.append(dim)
        elif field in (5, 8):  # data (float32) or double_data (float64)
            dtype = "<f4" if field == 5 else "<f8"
            start, end = value
            chunks.append(np.frombuffer(reader.buffer, dtype=dtype, count=(end - start)
                                        // np.dtype(dtype).itemsize, offset=start))
    if len(chunks) == 1:
        data = chunks[0].astype(np.float32)  # a copy: the file's memory map is closed later
    else:
        data = np.concatenate(chunks or [np.empty(0)]).astype(np.float32, copy=False)
    del chunks
    if not shape:
        shape = [legacy[1], legacy[2], legacy[3], legacy[4]]
    if int(np.prod(shape)) != data.size:
        raise FormatError(f"{reader.where}: a blob declares shape {tuple(shape)} "
                          f"({int(np.prod(shape))} values) but holds {data.size} values: "
                          "the file is damaged; download it again.")
    return data.reshape(shape)


def read_caffemodel(path: str | os.PathLike[str]) -> dict[str, list[np.ndarray]]:
    """Read every layer's parameter blobs from a ``.caffemodel`` file.

    Parameters
    ----------
    path : path-like
        A Caffe ``NetParameter`` binary (V1 ``layers`` or current ``layer`` format).

    Returns
    -------
    dict of str to list of numpy.ndarray
        Layer name -> its blobs (float32, in the blob's declared shape; a convolution has
        ``[weight (out, in / group, kh, kw), bias]``), for layers that have blobs, in file order.

    Raises
    ------
    FormatError
        If the file is not a readable ``NetParameter`` or holds no weights.
    """
    path = Path(path)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buffer = memoryview(mm)
        try:
            layers = _read_layers(_Reader(buffer, 0, len(buffer), str(path)))
        finally:
            buffer.release()
    if not layers:
        raise FormatError(f"{path}: no layer with weights found: expected a Caffe .caffemodel "
                          "(binary NetParameter), not a .prototxt or another file.")
    return layers


def _read_layers(net: _Reader) -> dict[str, list[np.ndarray]]:
    # (field of the layer list, field of the layer name, field of its blobs)
    formats = {100: (1, 7), 2: (4, 6)}
    layers: dict[str, list[np.ndarray]] = {}
    for field, wire, value in net.fields():
        if field not in formats or wire != _LENGTH:
            continue
        name_field, blob_field = formats[field]
        name, blobs = None, []
        layer = net.sub(value)
        for sub_field, sub_wire, sub_value in layer.fields():
            if sub_field == name_field and sub_wire == _LENGTH:
                name = layer.text(sub_value)
            elif sub_field == blob_field and sub_wire == _LENGTH:
                blobs.append(_read_blob(layer.sub(sub_value)))
        if blobs and name is not None:
            layers[name] = blobs
    return layers


def caffe_state_dict(blobs: dict[str, list[np.ndarray]], network: Network | str,
                     expected_shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Map Caffe layer blobs onto the state dict of the paper's torch model.

    Parameters
    ----------
    blobs : dict
        As returned by :func:`read_caffemodel`; layers are found by their dataset names
        (``conv1`` ... ``fc8``, ``conv1_1`` ...).
    network : {"AlexNet", "VGG19"}
    expected_shapes : dict of str to tuple of int
        The torch model's parameter shapes (``{"features.0.weight": (96, 3, 11, 11), ...}``);
        a blob is reshaped to its parameter (Caffe's legacy ``(1, 1, out, in)`` inner-product
        blobs included) after its value count is checked.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"features.0.weight": ..., "features.0.bias": ...}`` for every weighted layer.
    """
    network = Network.parse(network)
    state: dict[str, np.ndarray] = {}
    for layer, module in tap_modules(network, relu=False).items():
        if layer not in blobs:
            found = ", ".join(blobs) or "none"
            raise FormatError(f"The .caffemodel has no layer {layer!r} of {network.value}: "
                              f"found layers {found}. Is it the {network.value} model?")
        for blob, suffix in zip(blobs[layer], ("weight", "bias")):
            key = f"{module}.{suffix}"
            target = tuple(expected_shapes[key])
            if blob.size != int(np.prod(target)) or (
                    tuple(d for d in blob.shape if d != 1) != tuple(d for d in target if d != 1)):
                raise FormatError(f"Caffe blob {layer}.{suffix} has shape {blob.shape}; "
                                  f"{network.value} expects {target}.")
            state[key] = blob.reshape(target)
    return state
