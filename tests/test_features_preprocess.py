"""Caffe preprocessing against hand-computed pixels; image listing and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainfeat.errors import DataNotFoundError, FormatError
from brainfeat.features.preprocess import (
    CAFFE_MEAN_BGR, caffe_preprocess, list_images, resolve_mean)

MEAN = np.array(CAFFE_MEAN_BGR, dtype=np.float32)


def test_one_pixel_by_hand(tmp_path) -> None:
    pixels = np.zeros((227, 227, 3), dtype=np.uint8)
    pixels[5, 7] = (10, 20, 30)  # R, G, B
    Image.fromarray(pixels).save(tmp_path / "a.png")
    out = caffe_preprocess(tmp_path / "a.png", 227)
    assert out.shape == (3, 227, 227) and out.dtype == np.float32
    # BGR order, 0-255 range, minus (104, 117, 123): (30-104, 20-117, 10-123)
    np.testing.assert_array_equal(out[:, 5, 7], [-74.0, -97.0, -113.0])
    np.testing.assert_array_equal(out[:, 0, 0], [-104.0, -117.0, -123.0])


def test_modes_become_rgb_like_the_labs_code() -> None:
    gray = Image.new("L", (227, 227), 50)
    np.testing.assert_array_equal(caffe_preprocess(gray, 227)[:, 3, 3], 50 - MEAN)
    clear = Image.new("RGBA", (227, 227), (0, 0, 0, 0))  # transparent -> white background
    np.testing.assert_array_equal(caffe_preprocess(clear, 227)[:, 0, 0], 255 - MEAN)
    cyan = Image.new("CMYK", (227, 227), (255, 0, 0, 0))  # C=255 -> R=0, G=B=255
    np.testing.assert_array_equal(caffe_preprocess(cyan, 227)[:, 0, 0],
                                  np.array([255, 255, 0]) - MEAN)


def test_whole_image_is_resized_without_crop() -> None:
    pixels = np.zeros((227, 454, 3), dtype=np.uint8)
    pixels[:, :227] = (255, 0, 0)  # left half red
    pixels[:, 227:] = (0, 0, 255)  # right half blue
    out = caffe_preprocess(Image.fromarray(pixels), 227, mean_bgr=(0, 0, 0))
    # squeezed to half width: red stays at the left edge, blue at the right edge
    assert (out[:, 100, :100] == np.array([0, 0, 255.0])[:, None]).all()  # BGR of red
    assert (out[:, 100, 128:] == np.array([255.0, 0, 0])[:, None]).all()  # BGR of blue
    assert not (out[:, 100, 100:128] == out[:, 100, :1]).all()  # the edge is interpolated
    uniform = Image.new("RGB", (640, 480), (1, 2, 3))
    np.testing.assert_array_equal(caffe_preprocess(uniform, 224, mean_bgr=(0, 0, 0)),
                                  np.broadcast_to(np.array([3, 2, 1.0])[:, None, None],
                                                  (3, 224, 224)))


def test_mean_options(tmp_path) -> None:
    image = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    np.save(tmp_path / "mean.npy", image)
    np.testing.assert_array_equal(resolve_mean(tmp_path / "mean.npy", 4), image)
    assert resolve_mean((1, 2, 3), 4).shape == (3, 1, 1)
    with pytest.raises(FormatError, match=r"\(3, 256, 256\)"):
        resolve_mean(np.zeros((3, 256, 256)), 227)


def test_folder_is_listed_in_stimulus_order_and_ids_select(tmp_path) -> None:
    for name in ("n02_1.JPEG", "n01_2.png", "n01_10.jpg", "notes.txt"):
        Image.new("RGB", (8, 8)).save(tmp_path / name) if name != "notes.txt" else \
            (tmp_path / name).write_text("x")
    listed = list_images(tmp_path)
    assert listed.image_ids == ("n01_10", "n01_2", "n02_1")
    assert [p.name for p in listed.paths] == ["n01_10.jpg", "n01_2.png", "n02_1.JPEG"]
    picked = list_images(tmp_path, image_ids=["n02_1", "n01_2"])
    assert picked.image_ids == ("n02_1", "n01_2")


def test_missing_images_say_what_to_get(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="request them from the authors"):
        list_images(tmp_path / "absent")
    with pytest.raises(DataNotFoundError, match="No JPEG or PNG image"):
        list_images(tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "n01_1.JPEG")
    with pytest.raises(DataNotFoundError, match="1 of 2 requested images are missing.*n09_9"):
        list_images(tmp_path, image_ids=["n01_1", "n09_9"])
    Image.new("RGB", (8, 8)).save(tmp_path / "n01_1.png")
    with pytest.raises(FormatError, match="share the stimulus name 'n01_1'"):
        list_images(tmp_path)


def test_unreadable_image_is_named(tmp_path) -> None:
    (tmp_path / "broken.JPEG").write_bytes(b"not an image")
    with pytest.raises(FormatError, match="broken.JPEG"):
        caffe_preprocess(tmp_path / "broken.JPEG", 227)


def test_premultiplied_grey_alpha_is_composited_like_straight_alpha() -> None:
    """``La`` (premultiplied, in memory only) gives the pixels of the same image as ``LA``."""
    from PIL import Image

    from brainfeat.features.preprocess import to_rgb

    rng = np.random.default_rng(0)
    alpha = rng.integers(0, 256, size=(6, 7)).astype(np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255
    grey = rng.integers(0, 256, size=(6, 7)).astype(np.uint8)
    premultiplied = np.rint(grey.astype(float) * alpha / 255).astype(np.uint8)
    straight_image = Image.merge("LA", (Image.fromarray(grey), Image.fromarray(alpha)))
    premultiplied_image = Image.merge("La", (Image.fromarray(premultiplied),
                                             Image.fromarray(alpha)))
    expected = np.asarray(to_rgb(straight_image), dtype=int)
    got = np.asarray(to_rgb(premultiplied_image), dtype=int)
    assert got.shape == expected.shape == (6, 7, 3)
    assert np.abs(got - expected).max() <= 1  # premultiplying rounds grey to 1/alpha steps
    assert (got[0, 0] == 255).all() and (got[0, 1] == expected[0, 1]).all()
