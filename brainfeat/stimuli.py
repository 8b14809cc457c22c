"""Stimulus names and ids of the Generic Object Decoding experiment, converted exactly.

An ImageNet image ``n03626115_19498`` (synset ``n03626115``, image 19498) is encoded by the
lab as the number ``3626115.019498``: the synset number, then the image number in
millionths. Published tables print that number without trailing zeros (``1621127.01902``)
and floats cannot hold every decimal exactly, so brainfeat never compares ids as float
text. Every conversion goes through *micro-units*, the exact integer
``synset * 1_000_000 + image`` (``3626115019498``).

The training (1,200 images), test (50 images, in the published order of the decoded
feature files) and imagery (50 categories) lists are read from the tables packaged in
``brainfeat/_data`` (published by the Kamitani lab under the MIT license).

Examples
--------
>>> name_to_id("n03626115_19498")
3626115.019498
>>> id_to_name(1621127.01902)
'n01621127_19020'
>>> id_to_name("1621127.01902") == id_to_name(1621127.019020)
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from numbers import Real

from brainfeat.catalog import read_packaged_table
from brainfeat.errors import FormatError, UnknownNameError

__all__ = [
    "MICRO",
    "Category",
    "Stimulus",
    "category_name",
    "id_to_micro",
    "id_to_name",
    "imagery_categories",
    "micro_to_name",
    "micro_to_synset",
    "name_to_id",
    "name_to_micro",
    "stimulus_lookup",
    "test_stimuli",
    "training_stimuli",
]

MICRO = 1_000_000
# A stimulus id as text: the synset number, optionally '.' and one to six digits.
_ID_TEXT = re.compile(r"[0-9]{1,8}(\.[0-9]{1,6})?")
# A category as a number: the synset number, possibly written as a float ('2690373.0').
_CATEGORY_TEXT = re.compile(r"([0-9]{1,8})(\.0*)?")
_NAME = re.compile(r"n([0-9]{8})_([0-9]{1,6})")
_SYNSET = re.compile(r"n([0-9]{8})")


def name_to_micro(name: str) -> int:
    """Micro-units of a stimulus name: ``"n03626115_19498"`` -> ``3626115019498``.

    A trailing ``.JPEG`` (the earliest event tables name files) is accepted.

    Raises
    ------
    FormatError
        If ``name`` is not ``n<8 digits>_<1-6 digits>``.
    """
    text = str(name).strip()
    if text.upper().endswith(".JPEG"):
        text = text[: -len(".JPEG")]
    match = _NAME.fullmatch(text)
    if match is None:
        raise FormatError(
            f"Cannot read stimulus name {name!r}: expected an ImageNet image name such as "
            "'n03626115_19498' (synset 'n' + 8 digits, '_', image number)."
        )
    return int(match.group(1)) * MICRO + int(match.group(2))


def micro_to_name(micro: int) -> str:
    """Stimulus name of an exact micro-unit id: ``3626115019498`` -> ``"n03626115_19498"``."""
    synset, image = divmod(int(micro), MICRO)
    return f"n{synset:08d}_{image}"


def micro_to_synset(micro: int) -> str:
    """Synset of an exact micro-unit id: ``3626115019498`` -> ``"n03626115"``."""
    return f"n{int(micro) // MICRO:08d}"


def name_to_id(name: str) -> float:
    """The lab's float id of a stimulus name: ``"n03626115_19498"`` -> ``3626115.019498``.

    The result is the float nearest to the exact decimal, i.e. the number the published
    tables hold; compare ids through :func:`id_to_micro`, never as text.
    """
    return name_to_micro(name) / MICRO


def id_to_micro(stimulus_id: float | int | str) -> int:
    """Exact micro-units of a stimulus id given as a float, an int or decimal text.

    Text is read as an exact decimal (``"1621127.01902"`` -> ``1621127019020``); a float is
    rounded to the nearest micro-unit, which is exact for every id of the dataset (13
    significant digits, well inside float64's 15).

    Raises
    ------
    FormatError
        If text is not plain decimal digits (``"-1"``, ``"1_000"``, ``"1e3"``, ``"1970164."``
        are refused), a number is negative, not finite, from 10**8 up, or not a whole
        number of millionths, or the value is neither text nor a real number.
    """
    if isinstance(stimulus_id, str):
        text = stimulus_id.strip()
        if not _ID_TEXT.fullmatch(text):
            raise FormatError(
                f"Cannot read stimulus id {stimulus_id!r}: expected decimal digits such as "
                "'3626115.019498' (synset number below 10**8, '.', up to six digits of image "
                "number) or a synset number alone.")
        return int(Decimal(text) * MICRO)
    if isinstance(stimulus_id, bool) or not isinstance(stimulus_id, Real):
        raise FormatError(f"Stimulus id {stimulus_id!r} is a {type(stimulus_id).__name__}: "
                          "expected a number such as 3626115.019498 or its decimal text.")
    value_f = float(stimulus_id)
    if not math.isfinite(value_f) or not 0 <= value_f < 10**8:
        raise FormatError(f"Stimulus id {stimulus_id!r} is not a finite number from 0 to "
                          "10**8 (synset number, '.', six-digit image number).")
    micro = round(value_f * MICRO)
    if abs(value_f * MICRO - micro) > 1e-3:
        raise FormatError(
            f"Stimulus id {stimulus_id!r} is not a whole number of millionths: expected "
            "'<synset>.<six-digit image number>'."
        )
    return int(micro)


def id_to_name(stimulus_id: float | int | str) -> str:
    """Stimulus name of a float id (or exact decimal text): ``3626115.019498`` -> ``"n03626115_19498"``."""
    return micro_to_name(id_to_micro(stimulus_id))


def category_name(category: int | float | str) -> str:
    """Synset of a category given as ``2690373``, ``"2690373"`` or ``"n02690373"``.

    Raises
    ------
    FormatError
        If the value is neither a synset nor a whole positive number below 10**8.
    """
    text = str(category).strip()
    if _SYNSET.fullmatch(text):
        return text
    match = _CATEGORY_TEXT.fullmatch(text)
    if isinstance(category, bool) or match is None or int(match.group(1)) == 0:
        raise FormatError(
            f"Cannot read category {category!r}: expected a synset such as 'n02690373' or "
            "its number 2690373."
        )
    return f"n{int(match.group(1)):08d}"


@dataclass(frozen=True)
class Stimulus:
    """One stimulus image of the experiment.

    Attributes
    ----------
    name : str
        ImageNet image name, ``n01443537_22563``.
    category_index, image_index : int
        1-based indices as published (category among the split's categories, image
        among the split's images).
    """

    name: str
    category_index: int
    image_index: int

    @property
    def micro(self) -> int:
        """Exact integer id (``synset * 10**6 + image``)."""
        return name_to_micro(self.name)

    @property
    def stimulus_id(self) -> float:
        """The lab's float id, e.g. ``1443537.022563``."""
        return name_to_id(self.name)

    @property
    def category(self) -> str:
        """Synset of the image, ``n01443537``."""
        return self.name.split("_")[0]


@dataclass(frozen=True)
class Category:
    """One imagery category: its synset and 1-based published index."""

    name: str
    category_index: int

    @property
    def category_id(self) -> int:
        """The synset number, ``1443537`` for ``n01443537``."""
        return int(self.name[1:])


def _stimuli(table: str) -> tuple[Stimulus, ...]:
    result = []
    for row in read_packaged_table(table):
        name, stimulus_id, category_index, image_index = row[:4]
        if name_to_micro(name) != id_to_micro(stimulus_id):
            raise FormatError(
                f"Packaged table {table}: name {name!r} and id {stimulus_id!r} disagree."
            )
        result.append(Stimulus(name, int(category_index), int(image_index)))
    return tuple(result)


@cache
def training_stimuli() -> tuple[Stimulus, ...]:
    """The 1,200 training images, in published order (``stimulus_ImageNetTraining.tsv``)."""
    return _stimuli("stimulus_ImageNetTraining.tsv")


@cache
def test_stimuli() -> tuple[Stimulus, ...]:
    """The 50 test images, in the order of the published decoded/true feature files."""
    return _stimuli("stimulus_ImageNetTest.tsv")


@cache
def imagery_categories() -> tuple[Category, ...]:
    """The 50 imagery categories (``category_GODImagery.tsv``), in published order."""
    result = []
    for row in read_packaged_table("category_GODImagery.tsv"):
        name, category_id, category_index = row[:3]
        if category_name(category_id) != name:
            raise FormatError(
                f"Packaged table category_GODImagery.tsv: {name!r} and id {category_id!r} disagree."
            )
        result.append(Category(name, int(category_index)))
    return tuple(result)


@cache
def _by_micro() -> dict[int, tuple[str, Stimulus]]:
    table = {s.micro: ("train", s) for s in training_stimuli()}
    table.update({s.micro: ("test", s) for s in test_stimuli()})
    return table


def stimulus_lookup(stimulus: str | float | int) -> tuple[str, Stimulus]:
    """Find a stimulus of the experiment by name or id.

    Parameters
    ----------
    stimulus : str, float or int
        A name (``"n01443537_22563"``), a float id or its decimal text.

    Returns
    -------
    split : {"train", "test"}
    stimulus : Stimulus

    Raises
    ------
    UnknownNameError
        If the image is in neither published list.
    """
    text = str(stimulus).strip()
    micro = name_to_micro(text) if text.startswith("n") else id_to_micro(stimulus)
    found = _by_micro().get(micro)
    if found is None:
        raise UnknownNameError(
            f"Stimulus {stimulus!r} ({micro_to_name(micro)}) is neither a training nor a "
            "test image of the experiment: see brainfeat.stimuli.training_stimuli()."
        )
    return found
