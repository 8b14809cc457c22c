"""Pillow's ``Image.resize(size, Image.BICUBIC)`` of 8-bit images, rewritten in numpy.

Written from Pillow's ``src/libImaging/Resample.c`` (the algorithm Pillow has used since 4.0),
not by calling Pillow:

* the bicubic kernel with ``a = -0.5`` and support 2, widened by the downscale factor
  (``filterscale = max(in / out, 1)``) so that downscaling is antialiased;
* for output pixel ``i`` the centre ``(i + 0.5) * in / out``, the taps from
  ``int(centre - support + 0.5)`` to ``int(centre + support + 0.5)`` (clipped to the image),
  weights ``kernel((tap - centre + 0.5) / filterscale)`` normalised to sum 1, then rounded to
  fixed point with 22 fractional bits (``PRECISION_BITS = 32 - 8 - 2``), half away from zero;
* a horizontal and a vertical pass (see :func:`resize_bicubic` for their order), each summing ``pixel * weight`` plus one half
  (``1 << 21``), shifting right by 22 and clipping to 0..255, so the intermediate image is
  8-bit; a pass whose size does not change is skipped.

The sums are integers below 2**53 and are formed in float64 (exact), then shifted.
"""

from __future__ import annotations

import numpy as np

PRECISION_BITS = 32 - 8 - 2


def bicubic_kernel(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


def fixed_point_weights(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)`` integer weights (scaled by ``2**22``) of one pass."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.int64)
    for i in range(out_size):
        centre = (i + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), in_size)
        taps = [bicubic_kernel((tap - centre + 0.5) / filterscale) for tap in range(first, last)]
        total = sum(taps)
        for offset, weight in enumerate(taps):
            weight = weight / total if total != 0.0 else weight
            scaled = weight * (1 << PRECISION_BITS)
            weights[i, first + offset] = int(scaled - 0.5) if weight < 0 else int(scaled + 0.5)
    return weights


def _pass(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One pass along the last axis of ``pixels`` (uint8), back to uint8."""
    sums = (pixels.astype(np.float64) @ weights.T.astype(np.float64)).astype(np.int64)
    return np.clip((sums + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS, 0, 255).astype(np.uint8)


def resize_bicubic(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(H, W, C)`` uint8 -> ``(height, width, C)`` uint8, as Pillow's BICUBIC resize.

    When both passes are needed, the one giving the smaller intermediate image goes first
    (horizontal first on a tie), as Pillow 13 orders them.
    """
    in_height, in_width = pixels.shape[:2]
    image = np.moveaxis(pixels, -1, 0)                  # (C, H, W)

    def horizontal(image: np.ndarray) -> np.ndarray:
        if image.shape[2] == width:
            return image
        return _pass(image, fixed_point_weights(image.shape[2], width))

    def vertical(image: np.ndarray) -> np.ndarray:
        if image.shape[1] == height:
            return image
        weights = fixed_point_weights(image.shape[1], height)
        return np.swapaxes(_pass(np.swapaxes(image, 1, 2), weights), 1, 2)

    if in_height * width > in_width * height:
        image = horizontal(vertical(image))
    else:
        image = vertical(horizontal(image))
    return np.moveaxis(image, 0, -1)
