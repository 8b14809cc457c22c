"""Resolve cross-references to objects documented under another public name.

brainfeat defines ``load_features`` in ``brainfeat.published`` and documents it as
``brainfeat.load_features``; a docstring may name it either way, or by its short name inside
its own module. A Python reference that Sphinx cannot find is imported (as written, then
relative to the referring module and to the module of the docstring it sits in) and, when
the object it names is documented under some other name, linked there. A reference to an
object that exists but is not part of the public reference (a private helper, a dataclass
field) is shown as plain code, unlinked. A reference to nothing (a removed or misspelt name)
stays unresolved and is reported (``nitpicky``).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.nodes import make_refnode

_DOCSTRING_OF = re.compile(r"docstring of ([\w.]+)")


def import_name(name: str) -> Any:
    """The object a dotted name points at, or None."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            fields = getattr(value, "__dataclass_fields__", {})
            value = fields[attribute] if attribute in fields else getattr(value, attribute, None)
            if value is None:
                return None
        return value
    return None


def _documented(env: BuildEnvironment) -> dict[int, tuple[str, Any]]:
    """id(object) -> (documented name, domain entry) for documented functions and classes."""
    cache = env.__dict__.setdefault("_brainfeat_documented", {})
    objects = env.get_domain("py").objects
    if cache.get("size") != len(objects):
        table = {}
        for fullname, entry in objects.items():
            if entry.objtype in {"function", "class", "exception", "method", "property"}:
                value = import_name(fullname)
                if value is not None and id(value) not in table:
                    table[id(value)] = (fullname, entry)
        cache.update(size=len(objects), table=table)
    return cache["table"]


def candidates(node: nodes.Element) -> list[str]:
    """Dotted names the reference may mean, most specific first."""
    target = node["reftarget"].lstrip("~.")
    prefixes = [node.get("py:module"), node.get("py:class") and
                f"{node.get('py:module')}.{node.get('py:class')}"]
    owner = _DOCSTRING_OF.search(node.source or "")
    if owner:
        parts = owner.group(1).split(".")
        prefixes += [".".join(parts[:end]) for end in range(len(parts), 0, -1)]
    names = [target] + [f"{prefix}.{target}" for prefix in prefixes if prefix]
    return [name for name in names if name.startswith("brainfeat.")]


def resolve(app: Sphinx, env: BuildEnvironment, node: nodes.Element,
            contnode: nodes.Element) -> nodes.Element | None:
    """missing-reference hook for the Python domain."""
    if node.get("refdomain") != "py":
        return None
    documented = _documented(env)
    found = [value for value in map(import_name, candidates(node)) if value is not None]
    for value in found:
        if id(value) in documented:
            _, entry = documented[id(value)]
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                                contnode)
    return contnode if found else None


def setup(app: Sphinx) -> dict:
    app.connect("missing-reference", resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
