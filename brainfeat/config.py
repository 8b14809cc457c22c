"""Where brainfeat keeps its data, and where it downloads from.

* Data folder: the ``data_dir`` argument, else the ``BRAINFEAT_DATA`` environment
  variable, else ``~/brainfeat_data``.
* Mirrors: ``BRAINFEAT_MIRRORS="figshare=URL,openneuro=URL"`` replaces the base URL of
  each named source (a lab mirror, a Zenodo copy, a local test server).

Both are read when a function is called, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from brainfeat.errors import UnknownNameError

DATA_ENV = "BRAINFEAT_DATA"
MIRRORS_ENV = "BRAINFEAT_MIRRORS"


def data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the brainfeat data folder (it is not created here).

    Parameters
    ----------
    data_dir : path-like, optional
        Explicit folder; wins over ``BRAINFEAT_DATA`` and the default ``~/brainfeat_data``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/brainfeat_data").expanduser()


def mirrors() -> dict[str, str]:
    """Base-URL overrides from ``BRAINFEAT_MIRRORS``, as ``{source: url}``."""
    text = os.environ.get(MIRRORS_ENV, "").strip()
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        source, sep, url = item.partition("=")
        if not sep or not source.strip() or not url.strip():
            raise UnknownNameError(
                f"Cannot read {MIRRORS_ENV} entry {item!r}: expected 'source=URL', "
                "e.g. BRAINFEAT_MIRRORS='figshare=https://mirror.example.org/figshare'."
            )
        result[source.strip()] = url.strip()
    return result
