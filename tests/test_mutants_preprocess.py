"""Behaviour of features/preprocess.py that mutation testing found unpinned (docs/mutation.md).

Image lists given as files, the stimulus-name order of a folder, the five-name limit of error
messages, the image mean's accepted shapes and errors, premultiplied and palette-alpha modes.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainfeat.errors import DataNotFoundError, FormatError
from brainfeat.features.preprocess import (CAFFE_MEAN_BGR, caffe_preprocess, list_images,
                                           resolve_mean)


def _images(folder, names):
    for name in names:
        Image.new("RGB", (4, 4)).save(folder / name)
    return [folder / name for name in names]


def test_files_keep_the_given_order_and_ids_pick_their_paths(tmp_path) -> None:
    b, a, c = _images(tmp_path, ["n02_1.png", "n01_1.png", "n03_1.png"])
    listed = list_images([str(b), a, c])
    assert listed.image_ids == ("n02_1", "n01_1", "n03_1")
    assert listed.paths == (b, a, c)
    picked = list_images([b, a, c], image_ids=["n03_1", "n02_1"])
    assert picked.paths == (c, b) and len(picked) == 2
    assert list_images(tmp_path, image_ids=["n03_1", "n01_1"]).paths == (c, a)


def test_folder_order_is_by_stimulus_name_not_file_name(tmp_path) -> None:
    # by file name "n01-5.png" < "n01.png" ('-' < '.'); by stimulus name "n01" < "n01-5"
    _images(tmp_path, ["n01-5.png", "n01.png"])
    assert list_images(tmp_path).image_ids == ("n01", "n01-5")


def test_folder_errors_say_what_the_path_is(tmp_path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="a.png is a file, not a folder"):
        list_images(tmp_path / "a.png")
    with pytest.raises(DataNotFoundError, match="absent does not exist"):
        list_images(tmp_path / "absent")


@pytest.mark.parametrize("n_missing", [5, 6])
def test_missing_files_are_named_up_to_five(tmp_path, n_missing) -> None:
    names = [f"gone{i}.png" for i in range(n_missing)]
    with pytest.raises(DataNotFoundError) as raised:
        list_images([tmp_path / name for name in names])
    message = str(raised.value)
    listed = ", ".join(str(tmp_path / name) for name in names[:5])
    ellipsis = " ..." if n_missing > 5 else ""
    assert message.startswith(f"Image files not found: {listed}{ellipsis}. The stimulus images")


@pytest.mark.parametrize("n_missing", [5, 6])
def test_missing_ids_are_named_up_to_five(tmp_path, n_missing) -> None:
    files = _images(tmp_path, ["n01_1.png"])
    wanted = ["n01_1"] + [f"n09_{i}" for i in range(n_missing)]
    with pytest.raises(DataNotFoundError) as raised:
        list_images(files, image_ids=wanted)
    ellipsis = " ..." if n_missing > 5 else ""
    assert str(raised.value).startswith(
        f"{n_missing} of {n_missing + 1} requested images are missing from the given files: "
        f"n09_0, n09_1, n09_2, n09_3, n09_4{ellipsis}. The stimulus images")
    with pytest.raises(DataNotFoundError, match=f"missing from {tmp_path}: n09_0"):
        list_images(tmp_path, image_ids=wanted)


@pytest.mark.parametrize("mode", ["RGBa", "PA"])
def test_alpha_in_premultiplied_and_palette_modes_is_composited_on_white(mode) -> None:
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (10, 200, 30, 0))    # fully transparent: white
    rgba.putpixel((1, 0), (10, 200, 30, 255))  # fully opaque: the colour itself
    if mode == "PA":
        image = Image.new("PA", (2, 1))
        image.putpalette(bytes([10, 200, 30] * 256))
        image.putpixel((0, 0), (7, 0))
        image.putpixel((1, 0), (7, 255))
    else:
        image = rgba.convert(mode)
    assert image.mode == mode
    out = caffe_preprocess(image, 2, mean_bgr=(0, 0, 0))
    np.testing.assert_array_equal(out[:, 0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[:, 0, 1], [30, 200, 10])  # BGR


def test_mean_accepts_three_numbers_a_column_or_a_batch_of_one(tmp_path) -> None:
    column = np.array([1.0, 2.0, 3.0]).reshape(3, 1, 1)
    for mean in ((1, 2, 3), column, np.ones((1, 3, 1, 1)) * column):
        np.testing.assert_array_equal(resolve_mean(mean, 5), column)
    image = np.arange(3 * 5 * 5, dtype=np.float32).reshape(3, 5, 5)
    np.testing.assert_array_equal(resolve_mean(image[None], 5), image)
    assert resolve_mean(image, 5).dtype == np.float32
    np.testing.assert_array_equal(resolve_mean(None, 5).ravel(), CAFFE_MEAN_BGR)
    with pytest.raises(FormatError, match=r"shape \(2, 3, 5, 5\)"):
        resolve_mean(np.zeros((2, 3, 5, 5)), 5)
    with pytest.raises(FormatError, match=r"shape \(1, 3\): expected \(3,\) or \(3, 5, 5\)"):
        resolve_mean(np.zeros((1, 3)), 5)
    with pytest.raises(FormatError, match=r"shape \(4,\)"):
        resolve_mean((1, 2, 3, 4), 5)


def test_bad_means_are_refused_with_what_to_pass(tmp_path) -> None:
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(FormatError, match="Cannot read the image mean .*broken.npy.*104,117,123"):
        resolve_mean(tmp_path / "broken.npy", 227)
    np.save(tmp_path / "pickled.npy", np.array([104, 117, 123], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match="pickled.npy"):  # never unpickle a file
        resolve_mean(str(tmp_path / "pickled.npy"), 227)
    with pytest.raises(FormatError, match=r"\['blue', 1, 2\] is not numeric"):
        resolve_mean(["blue", 1, 2], 227)
    with pytest.raises(FormatError, match=r"holds NaN or infinite values"):
        resolve_mean((104, float("nan"), 123), 227)


@pytest.mark.parametrize(("mode", "kind"), [("I", "integer"), ("F", "float")])
def test_refusals_name_the_pixel_type_and_the_fix(mode, kind, tmp_path) -> None:
    with pytest.raises(FormatError, match=rf"mode '{mode}' \(32-bit {kind} pixels\) has no fixed "
                                          r"range .*save it as an 8-bit RGB or grayscale JPEG/PNG"):
        caffe_preprocess(Image.new(mode, (3, 2)), 227)
    (tmp_path / "n01.JPEG").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(FormatError, match=r"n01.JPEG: .*Replace the file with a readable "
                                          "JPEG or PNG"):
        caffe_preprocess(tmp_path / "n01.JPEG", 227)


def test_a_full_mean_image_is_subtracted_pixel_by_pixel() -> None:
    mean = np.arange(3 * 6 * 6, dtype=np.float32).reshape(3, 6, 6)
    image = Image.new("RGB", (6, 6), (10, 20, 30))
    expected = np.array([30, 20, 10], dtype=np.float32)[:, None, None] - mean
    np.testing.assert_array_equal(caffe_preprocess(image, 6, mean_bgr=mean), expected)


def test_mean_errors_say_what_was_expected_and_what_to_pass(tmp_path) -> None:
    """The whole message: each names the value, the accepted forms and an example to pass."""
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    cases = [
        (tmp_path / "broken.npy", "): expected a .npy file of shape (3,) or (3, side, side), BGR; "
                                  "or pass three numbers such as 104,117,123."),
        (("a", 1, 2), "Image mean ('a', 1, 2) is not numeric: expected three BGR numbers such as "
                      "(104, 117, 123) or a .npy file."),
        ((1, 2, np.inf), "Image mean (1, 2, inf) holds NaN or infinite values: every feature "
                         "would be NaN; pass finite BGR numbers such as 104,117,123."),
        ((1, 2), "Image mean has shape (2,): expected (3,) or (3, 9, 9) in BGR order (resize or "
                 "average a larger mean image first)."),
    ]
    for mean, ending in cases:
        with pytest.raises(FormatError) as raised:
            resolve_mean(mean, 9)
        assert str(raised.value).endswith(ending)
    with pytest.raises(FormatError) as raised:
        caffe_preprocess(Image.new("F", (2, 2)), 9)
    assert str(raised.value) == ("Image of mode 'F' (32-bit float pixels) has no fixed range to "
                                 "map to 0-255: save it as an 8-bit RGB or grayscale JPEG/PNG "
                                 "first.")
