"""Check the API reference page against the package's public names, both ways.

The public names are ``brainfeat.__all__``, the ``__all__`` of each package named in the
``api_packages`` setting (default :data:`PACKAGES`) and, for a package without ``__all__``, the ``__all__`` of each of
its public modules. A public name the page does not list, or a name the page lists that is no
longer public, is a warning naming it (an error under ``-W``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The public subpackages (and modules) whose names the API reference must list.
PACKAGES = ["brainfeat.bids", "brainfeat.fmri", "brainfeat.decoding", "brainfeat.features",
            "brainfeat.evaluation", "brainfeat.io", "brainfeat.remote", "brainfeat.exports",
            "brainfeat.regeneration"]

_MODULE = re.compile(r"^\.\. (?:py:module|currentmodule|module)::\s*(\S+)")
_ENTRY = re.compile(r"^ {3}([A-Za-z_][\w.]*)\s*$")


def public_names(packages: list[str]) -> dict[str, set[str]]:
    """Module -> its public names: ``brainfeat`` and ``packages`` as described above."""
    names: dict[str, set[str]] = {}
    for name in ["brainfeat", *packages]:
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            names[name] = set(module.__all__)
            continue
        for info in pkgutil.iter_modules(module.__path__, prefix=f"{name}."):
            if not info.name.rsplit(".", 1)[1].startswith("_"):
                submodule = importlib.import_module(info.name)
                if hasattr(submodule, "__all__"):
                    names[info.name] = set(submodule.__all__)
    return names


def documented_names(text: str) -> dict[str, set[str]]:
    """Module -> the names listed in the page's autosummary tables under that module."""
    names: dict[str, set[str]] = {}
    module, in_table = None, False
    for line in text.splitlines():
        if match := _MODULE.match(line):
            module = match.group(1)
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and line.strip() and not line.startswith(" "):
            in_table = False
        elif in_table and module and (entry := _ENTRY.match(line)):
            names.setdefault(module, set()).add(entry.group(1))
    return names


def _identity(module: str, name: str) -> int | None:
    """id() of a public function or class (an object documented once wherever it is listed)."""
    value = getattr(importlib.import_module(module), name, None)
    return id(value) if callable(value) else None


def coverage_problems(documented: dict[str, set[str]], public: dict[str, set[str]]) -> list[str]:
    """One sentence per public name missing from the page and per listed name not public.

    A function or class re-exported by several modules (``brainfeat.load_events`` is
    ``brainfeat.bids.load_events``) is documented once: listing it under any of them counts.
    """
    listed_objects = {_identity(module, name) for module, names in documented.items()
                      for name in names if name in public.get(module, set())} - {None}
    problems = []
    for module in sorted(set(documented) | set(public)):
        listed, exported = documented.get(module, set()), public.get(module, set())
        problems += [f"{module}.{name} is public but not in the API reference: add it"
                     for name in sorted(exported - listed)
                     if _identity(module, name) not in listed_objects]
        problems += [f"{module}.{name} is documented but is not a public name of {module} "
                     "(removed or renamed?): update the API reference"
                     for name in sorted(listed - exported)]
    return problems


def check_api_page(app: Sphinx, docname: str, source: list[str]) -> None:
    """source-read hook: run the check on the page named by ``api_page``."""
    if docname != app.config.api_page:
        return
    public = public_names(app.config.api_packages)
    for problem in coverage_problems(documented_names(source[0]), public):
        logger.warning(problem, location=docname)


def setup(app: Sphinx) -> dict:
    app.add_config_value("api_page", "api", "env")
    app.add_config_value("api_packages", PACKAGES, "env")
    app.connect("source-read", check_api_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
