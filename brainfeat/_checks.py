"""Checks of argument values (numbers, output folders), shared by the API and the CLI.

Each returns the value converted (a plain ``int``, ``float`` or ``Path``) or raises
:class:`~brainfeat.errors.InvalidValueError` naming the argument, the value, what was
expected and what to pass instead.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any

from brainfeat.errors import InvalidValueError


def check_int(name: str, value: Any, *, minimum: int, example: int) -> int:
    """``value`` as an int of at least ``minimum`` (numpy integers accepted, bools refused).

    Parameters
    ----------
    name : str
        The argument's name, quoted in the message (``"batch_size"``).
    value : object
        What the caller passed.
    minimum : int
        Smallest accepted value.
    example : int
        A sensible value, suggested in the message.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidValueError(f"{name}={value!r} is not an integer: pass a whole number "
                                f">= {minimum}, e.g. {name}={example}.")
    if value < minimum:
        raise InvalidValueError(f"{name}={value} is out of range: expected a whole number "
                                f">= {minimum}; pass e.g. {name}={example}.")
    return int(value)


def check_float(name: str, value: Any, *, positive: bool = False, minimum: float = 0.0,
                maximum: float = math.inf, example: float) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (no ``minimum`` if ``positive``).

    Parameters
    ----------
    name : str
        The argument's name, quoted in the message (``"alpha"``).
    value : object
        What the caller passed (int, float, numpy scalar).
    positive : bool
        Refuse ``minimum`` itself: with the default minimum, require a number > 0.
    minimum, maximum : float
        Accepted range.
    example : float
        A sensible value, suggested in the message.
    """
    expected = f"a finite number {'>' if positive else '>='} {minimum:g}"
    if maximum < math.inf:
        expected += f" and <= {maximum:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValueError(f"{name}={value!r} is not a number: expected {expected}; "
                                f"pass e.g. {name}={example}.")
    number = float(value)
    if (not math.isfinite(number) or number < minimum or number > maximum
            or (positive and number == minimum)):
        raise InvalidValueError(f"{name}={value!r} is out of range: expected {expected}; "
                                f"pass e.g. {name}={example}.")
    return number


def check_output_folder(name: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, refused if it exists and is not a folder (it may not exist yet).

    Parameters
    ----------
    name : str
        The argument's name, quoted in the message (``"out_dir"``).
    path : path-like
        A folder to write into.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidValueError(f"{name}={str(path)!r} is a file, not a folder: give a folder "
                                "to write into (it is created if missing).")
    return path
