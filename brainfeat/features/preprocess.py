"""Stimulus images -> network input, exactly as the lab's Caffe feature extraction did it.

Caffe preprocessing (``bdpy.dl.caffe.extract_image_features``, the lab's own code):

1. Open the image with Pillow and convert it to RGB: CMYK and grayscale (``L``) with
   Pillow's ``convert("RGB")``; an alpha channel is composited onto a **white** background.
   (The lab's code stops on palette and 16-bit images; here a palette is looked up, and
   16-bit grayscale is scaled to 8 bits, ``round(v / 257)``, where ``convert("RGB")`` would
   clip every value above 255 to white. 32-bit integer and float images are refused.)
2. Resize the whole image (no crop, aspect ratio not kept) to the network's input side
   (227 for AlexNet, 224 for VGG19) with ``PIL.Image.BICUBIC`` - Pillow's bicubic
   convolution (a = -0.5), whose support widens with the downscale factor (antialiased).
   The Pillow release in use decides the exact pixels; record it beside any features.
3. ``uint8`` HWC -> CHW, RGB -> BGR, ``float32`` in the 0-255 range.
4. Subtract the per-channel mean (BGR). The default is ``CAFFE_MEAN_BGR`` = (104, 117, 123);
   ``ILSVRC_2012_MEAN_BGR`` is the exact per-channel mean of Caffe's ``ilsvrc_2012_mean.npy``.
   A full mean image ``(3, side, side)`` may be given instead.

Image folders are listed in stimulus-name order (file stem, e.g. ``n01443537_22563``) so
that features line up with the fMRI labels; ``image_ids`` picks and orders a subset.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from brainfeat.errors import DataNotFoundError, FormatError

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image as PILImage

__all__ = [
    "CAFFE_MEAN_BGR",
    "ILSVRC_2012_MEAN_BGR",
    "IMAGE_SUFFIXES",
    "ImageList",
    "as_rgb",
    "caffe_preprocess",
    "list_images",
    "open_rgb",
    "resolve_mean",
    "to_rgb",
]

#: Default per-channel mean, BGR order, 0-255 range.
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)
#: Per-channel mean of Caffe's ``python/caffe/imagenet/ilsvrc_2012_mean.npy`` (BGR).
ILSVRC_2012_MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)
#: File suffixes taken from an image folder (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_IMAGES_HELP = (
    "The stimulus images are ImageNet images and cannot be redistributed: request them from "
    "the authors (Kamitani Lab, https://github.com/KamitaniLab/GenericObjectDecoding) and put "
    "them in one folder, one file per stimulus named <stimulus id>.JPEG (e.g. "
    "n01443537_22563.JPEG)."
)


@dataclass(frozen=True)
class ImageList:
    """Stimulus images in the order features are written.

    Attributes
    ----------
    image_ids : tuple of str
        Stimulus names (file stems), one per image.
    paths : tuple of Path
        The image files, aligned with ``image_ids``.
    """

    image_ids: tuple[str, ...]
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.paths)


def list_images(images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
                image_ids: Sequence[str] | None = None) -> ImageList:
    """List stimulus images in stimulus-name order.

    Parameters
    ----------
    images : path-like or iterable of path-like
        A folder (its JPEG/PNG files, sorted by file stem) or image files (kept in the
        given order).
    image_ids : sequence of str, optional
        Stimulus names to take, in this order (e.g. ``catalog.test_image_ids``).

    Returns
    -------
    ImageList

    Raises
    ------
    DataNotFoundError
        If the folder or a file is missing, no image is found, or an id in ``image_ids``
        has no image.
    FormatError
        If two files share one stimulus name.
    """
    if isinstance(images, (str, os.PathLike)):
        folder = Path(images)
        if not folder.is_dir():
            state = "is a file, not a folder" if folder.exists() else "does not exist"
            raise DataNotFoundError(f"Image folder {folder} {state}. {_IMAGES_HELP}")
        paths = sorted((p for p in folder.iterdir()
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: (p.stem, p.name))
        if not paths:
            raise DataNotFoundError(f"No JPEG or PNG image in {folder}. {_IMAGES_HELP}")
    else:
        paths = [Path(p) for p in images]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DataNotFoundError(f"Image files not found: {', '.join(missing[:5])}"
                                    f"{' ...' if len(missing) > 5 else ''}. {_IMAGES_HELP}")
    by_id: dict[str, Path] = {}
    for path in paths:
        if path.stem in by_id:
            raise FormatError(f"Two images share the stimulus name {path.stem!r}: "
                              f"{by_id[path.stem]} and {path}; keep one.")
        by_id[path.stem] = path
    if image_ids is None:
        return ImageList(tuple(by_id), tuple(by_id.values()))
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        where = images if isinstance(images, (str, os.PathLike)) else "the given files"
        raise DataNotFoundError(
            f"{len(missing)} of {len(image_ids)} requested images are missing from {where}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}. {_IMAGES_HELP}")
    return ImageList(tuple(image_ids), tuple(by_id[i] for i in image_ids))


def open_rgb(path: str | os.PathLike[str]) -> PILImage:
    """Open an image file as an RGB :class:`PIL.Image.Image` (see :func:`to_rgb`).

    An unreadable file raises :class:`FormatError` naming it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened
    except (UnidentifiedImageError, OSError) as error:
        raise FormatError(f"Cannot read image {path}: {error}. Replace the file with a "
                          "readable JPEG or PNG.") from error
    return to_rgb(image)


def to_rgb(image: PILImage) -> PILImage:
    """Convert a :class:`PIL.Image.Image` to RGB the way the lab's code did.

    CMYK, grayscale and other modes use Pillow's ``convert("RGB")``; palette images with
    transparency and images with an alpha channel are composited onto white; 16-bit
    grayscale (``I;16``) is scaled to 8 bits. 32-bit (``I``, ``F``) images raise
    :class:`FormatError`: their range is unknown.
    """
    from PIL import Image

    if image.mode.startswith("I;16"):
        levels = np.asarray(image).astype(np.uint32)
        image = Image.fromarray(((levels + 128) // 257).astype(np.uint8))  # round(v / 257)
    elif image.mode in ("I", "F"):
        kind = "float" if image.mode == "F" else "integer"
        raise FormatError(f"Image of mode {image.mode!r} (32-bit {kind} pixels) has no fixed "
                          "range to map to 0-255: save it as an 8-bit RGB or grayscale "
                          "JPEG/PNG first.")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "La":  # premultiplied grey + alpha: Pillow converts it to nothing else
        grey, alpha = (np.asarray(band, dtype=np.float64) for band in image.split())
        straight = np.where(alpha > 0, np.minimum(255.0, np.rint(grey * 255.0 / np.maximum(
            alpha, 1.0))), 0.0)
        image = Image.merge("LA", (Image.fromarray(straight.astype(np.uint8)),
                                   image.split()[1]))
    if image.mode in ("LA", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def as_rgb(image: PILImage | str | os.PathLike[str]) -> PILImage:
    """An image, or an image file, as an RGB :class:`PIL.Image.Image`.

    See :func:`to_rgb` and :func:`open_rgb`.
    """
    from PIL import Image

    return to_rgb(image) if isinstance(image, Image.Image) else open_rgb(image)


def resolve_mean(mean_bgr: Sequence[float] | np.ndarray | str | os.PathLike[str] | None,
                 side: int) -> np.ndarray:
    """The mean to subtract, as float32 ``(3, 1, 1)`` or ``(3, side, side)`` (BGR).

    ``mean_bgr`` is three numbers, an array of shape ``(3,)`` or ``(3, side, side)``, the
    path of a ``.npy`` file holding one, or None for :data:`CAFFE_MEAN_BGR`.
    """
    if mean_bgr is None:
        mean_bgr = CAFFE_MEAN_BGR
    if isinstance(mean_bgr, (str, os.PathLike)):
        try:
            mean_bgr = np.load(mean_bgr, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise FormatError(f"Cannot read the image mean {mean_bgr} ({error}): expected a .npy "
                              "file of shape (3,) or (3, side, side), BGR; or pass three "
                              "numbers such as 104,117,123.") from None
    try:
        mean = np.asarray(mean_bgr, dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError(f"Image mean {mean_bgr!r} is not numeric: expected three BGR numbers "
                          "such as (104, 117, 123) or a .npy file.") from None
    if not np.isfinite(mean).all():
        raise FormatError(f"Image mean {mean_bgr!r} holds NaN or infinite values: every "
                          "feature would be NaN; pass finite BGR numbers such as 104,117,123.")
    if mean.ndim == 4 and mean.shape[0] == 1:
        mean = mean[0]
    if mean.shape in ((3,), (3, 1, 1)):
        return mean.reshape(3, 1, 1)
    if mean.shape == (3, side, side):
        return mean
    raise FormatError(f"Image mean has shape {mean.shape}: expected (3,) or (3, {side}, {side}) "
                      "in BGR order (resize or average a larger mean image first).")


def caffe_preprocess(image: PILImage | str | os.PathLike[str], side: int,
                     mean_bgr: np.ndarray | Sequence[float] | None = None) -> np.ndarray:
    """Caffe-exact network input of one image.

    Parameters
    ----------
    image : PIL.Image.Image or path-like
        The stimulus (any mode; see :func:`to_rgb`).
    side : int
        Input side length: 227 (AlexNet) or 224 (VGG19).
    mean_bgr : array-like, optional
        Per-channel or per-pixel BGR mean (see :func:`resolve_mean`).

    Returns
    -------
    numpy.ndarray
        float32 ``(3, side, side)``, BGR, 0-255 minus the mean.
    """
    from PIL import Image

    image = as_rgb(image)
    if image.size != (side, side):
        image = image.resize((side, side), Image.BICUBIC)
    pixels = np.asarray(image, dtype=np.uint8)  # (H, W, RGB)
    bgr = pixels.transpose(2, 0, 1)[::-1].astype(np.float32)
    return bgr - resolve_mean(mean_bgr, side)

