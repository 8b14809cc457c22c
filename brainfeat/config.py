"""Where brainfeat keeps its data, and where it downloads from.

* Data folder: the ``data_dir`` argument, else the ``BRAINFEAT_DATA`` environment
  variable, else ``~/brainfeat_data``.
* Torch device: :func:`torch_device` turns a ``device`` argument into a usable
  ``torch.device`` or a clear error.
* Mirrors: ``BRAINFEAT_MIRRORS="figshare=URL,openneuro=URL"`` replaces the base URL of
  each named source (a lab mirror, a Zenodo copy, a local test server).
* Replica: ``BRAINFEAT_CATALOG`` names the catalog JSON used where no ``catalog`` is given,
  and ``BRAINFEAT_PINS`` a table (``name``, ``size``, ``md5``) whose rows replace the
  registry's pins of those files; ``brainfeat demo --serve`` prints both, for its SYNTHETIC
  mirror.

All are read when a function is called, never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from brainfeat.errors import InvalidValueError, UnknownNameError

DATA_ENV = "BRAINFEAT_DATA"
MIRRORS_ENV = "BRAINFEAT_MIRRORS"
CATALOG_ENV = "BRAINFEAT_CATALOG"
PINS_ENV = "BRAINFEAT_PINS"


def data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the brainfeat data folder (it is not created here).

    Parameters
    ----------
    data_dir : path-like, optional
        Explicit folder; wins over ``BRAINFEAT_DATA`` and the default ``~/brainfeat_data``.

    Raises
    ------
    InvalidValueError
        If ``data_dir`` is not path-like or empty, or the folder named is an existing file.
    """
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike) or not str(data_dir).strip():
            raise InvalidValueError(f"data_dir={data_dir!r} is not a folder name: pass a folder "
                                    "such as '~/brainfeat_data', or None for $BRAINFEAT_DATA.")
        path, origin = Path(data_dir).expanduser(), "data_dir"
    elif os.environ.get(DATA_ENV):
        path, origin = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    else:
        path, origin = Path("~/brainfeat_data").expanduser(), "the default"
    if path.exists() and not path.is_dir():
        raise InvalidValueError(
            f"The data folder {path} (from {origin}) is a file, not a folder: give a folder "
            f"with data_dir= / --data-dir, or set ${DATA_ENV} to one.")
    return path


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


def torch_device(device: Any = None) -> Any:
    """The ``torch.device`` named by ``device``, checked to exist on this machine.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; None picks CUDA when torch sees a GPU,
        else the CPU.

    Raises
    ------
    InvalidValueError
        If torch does not know the name, or names a CUDA device this machine lacks.
    """
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidValueError(f"Unknown torch device {device!r}: expected 'cpu', 'cuda' or "
                                "'cuda:N' (e.g. device='cuda:0').") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (chosen.index or 0) >= count:
            raise InvalidValueError(
                f"device={str(chosen)!r} was asked for but torch sees {count} CUDA device(s): "
                "use device='cpu' (or leave the device out) or run on a machine with a GPU.")
    return chosen
