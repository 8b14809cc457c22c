"""Caffe preprocessing against the lab's recipe, computed here without brainfeat's code.

The lab's recipe (``bdpy.dl.caffe``): the whole image, any aspect ratio, resized to the input
side with Pillow's BICUBIC, no crop; RGB -> BGR; float32 in 0-255; minus the BGR mean. The
resize comes from ``tests/reference/pillow_bicubic.py`` (Pillow's fixed-point algorithm in
numpy); the mode conversions are written out below from their definitions. Both are exact in
integers, so the comparison is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from reference.pillow_bicubic import resize_bicubic

from brainfeat.errors import FormatError
from brainfeat.features.preprocess import caffe_preprocess

MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)  # Caffe's default, BGR


def lab_recipe(rgb: np.ndarray, side: int, mean_bgr: np.ndarray = MEAN_BGR) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> float32 ``(3, side, side)``, BGR, 0-255 minus the mean."""
    resized = rgb if rgb.shape[:2] == (side, side) else resize_bicubic(rgb, side, side)
    bgr = resized.transpose(2, 0, 1)[::-1].astype(np.float32)
    return bgr - np.asarray(mean_bgr, np.float32).reshape(3, 1, 1)


def div255(x: np.ndarray) -> np.ndarray:
    """Integer ``round(x / 255)`` for ``0 <= x <= 255 * 255``, as Pillow's DIV255."""
    x = x.astype(np.int64) + 128
    return ((x >> 8) + x) >> 8


def on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite onto white: ``round((rgb * a + 255 * (255 - a)) / 255)``."""
    a = alpha.astype(np.int64)[..., None]
    return div255(rgb.astype(np.int64) * a + 255 * (255 - a)).astype(np.uint8)


def test_sharp_content_is_resampled_bicubic_like_the_lab() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (61, 97, 3), dtype=np.uint8)
    expected = lab_recipe(rgb, 227)
    np.testing.assert_array_equal(caffe_preprocess(Image.fromarray(rgb), 227), expected)
    # these pixels tell the resampling filters apart by tens of grey levels
    bilinear = np.asarray(Image.fromarray(rgb).resize((227, 227), Image.BILINEAR))
    assert np.abs(lab_recipe(bilinear, 227) - expected).max() > 10


@pytest.mark.parametrize(("height", "width"), [(37, 53), (300, 131), (1, 500), (480, 640),
                                               (227, 500), (224, 224), (227, 227), (2, 2)])
@pytest.mark.parametrize("side", [227, 224])
def test_whole_image_of_any_size_and_aspect(height, width, side, tmp_path) -> None:
    rng = np.random.default_rng(height * 1000 + width)
    ramp = np.linspace(0, 255, width)[None, :, None] * np.ones((height, 1, 3))
    rgb = np.clip(ramp + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "stimulus.png"  # lossless, so the file holds exactly these pixels
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(caffe_preprocess(path, side), lab_recipe(rgb, side))


def _modes(rng: np.random.Generator, height: int, width: int):
    """(PIL image in a non-RGB mode, the RGB pixels the recipe starts from)."""
    size = (width, height)
    gray = rng.integers(0, 256, (height, width), dtype=np.uint8)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    alpha[0, :] = 0      # fully transparent row: white
    alpha[1, :] = 255    # fully opaque row: the colour itself
    yield "L", Image.frombytes("L", size, gray.tobytes()), np.repeat(gray[..., None], 3, axis=2)
    bilevel = np.where(gray > 127, 255, 0).astype(np.uint8)
    yield "1", Image.frombytes("L", size, bilevel.tobytes()).convert("1"), \
        np.repeat(bilevel[..., None], 3, axis=2)
    yield "LA", Image.frombytes("LA", size, np.stack([gray, alpha], -1).tobytes()), \
        on_white(np.repeat(gray[..., None], 3, axis=2), alpha)
    yield "RGBA", Image.frombytes("RGBA", size, np.dstack([rgb, alpha]).tobytes()), \
        on_white(rgb, alpha)
    cmyk = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    not_k = 255 - cmyk[..., 3:].astype(np.int64)  # R = (255 - K) - round(C (255 - K) / 255)
    yield "CMYK", Image.frombytes("CMYK", size, cmyk.tobytes()), \
        (not_k - div255(cmyk[..., :3] * not_k)).astype(np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    index = rng.integers(0, 256, (height, width), dtype=np.uint8)
    indexed = Image.frombytes("P", size, index.tobytes())
    indexed.putpalette(palette.tobytes())
    yield "P", indexed, palette[index]
    transparent = indexed.copy()
    transparent.info["transparency"] = int(index[0, 0])
    yield "P+transparency", transparent, \
        on_white(palette[index], np.where(index == index[0, 0], 0, 255).astype(np.uint8))
    deep = rng.integers(0, 65536, (height, width), dtype=np.uint16)
    deep[0, :3] = (0, 128, 129)  # round(v / 257): 0, 0, 1
    eight = ((deep.astype(np.int64) + 128) // 257).astype(np.uint8)
    yield "I;16", Image.fromarray(deep), np.repeat(eight[..., None], 3, axis=2)


@pytest.mark.parametrize(("height", "width", "side"), [(45, 61, 227), (301, 257, 224)])
def test_every_image_mode_becomes_the_recipes_rgb(height, width, side) -> None:
    for mode, image, rgb in _modes(np.random.default_rng(side), height, width):
        assert image.mode == mode.split("+")[0]
        np.testing.assert_array_equal(caffe_preprocess(image, side, MEAN_BGR),
                                      lab_recipe(rgb, side), err_msg=mode)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path) -> None:
    deep = np.random.default_rng(3).integers(0, 65536, (40, 50), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    eight = ((deep.astype(np.int64) + 128) // 257).astype(np.uint8)
    np.testing.assert_array_equal(caffe_preprocess(tmp_path / "deep.png", 224),
                                  lab_recipe(np.repeat(eight[..., None], 3, axis=2), 224))


@pytest.mark.parametrize("mode", ["I", "F"])
def test_images_without_a_fixed_range_are_refused(mode) -> None:
    with pytest.raises(FormatError, match=f"mode '{mode}'.*8-bit RGB"):
        caffe_preprocess(Image.new(mode, (30, 20)), 227)
