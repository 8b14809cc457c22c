"""Decoders of DNN features from fMRI: fastl2lir's voxel-selecting ridge regression, fast.

* :class:`VoxelSelectRidge` -- the scikit-learn estimator (numpy or torch, CPU or CUDA).
* :func:`decode_layer` -- one subject and layer, streamed by unit chunks into HDF5,
  resumable, optionally spread over a Dask cluster.
* :func:`decode_jobs` -- several (subject, layer) jobs spread over a Dask cluster.

See ``docs/decoding.md``.
"""

from __future__ import annotations

from brainfeat.decoding.estimator import VoxelSelectRidge
from brainfeat.decoding.layer import decode_jobs, decode_layer

__all__ = ["VoxelSelectRidge", "decode_jobs", "decode_layer"]
