"""Run the ``>>>`` examples of every docstring the API reference shows.

Each object that autodoc documents has its docstring's examples run with :mod:`doctest`
(``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``; ``# doctest: +SKIP`` for the examples that need
the real data). An example that no longer runs, or prints something else, is a warning naming
the object and the failing example (an error under ``-W``).
"""

from __future__ import annotations

import doctest
import inspect
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def failing_examples(name: str, obj: Any) -> list[str]:
    """The report of each failing example in ``obj``'s own docstring (empty when all pass)."""
    module = inspect.getmodule(obj)
    finder = doctest.DocTestFinder(recurse=False)
    try:
        tests = finder.find(obj, name, module=module or False,
                            globs=dict(vars(module)) if module else {})
    except ValueError:  # an object doctest cannot read (e.g. a C extension attribute)
        return []
    reports: list[str] = []
    for test in tests:
        if not test.examples:
            continue
        runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
        runner.run(test, out=reports.append, clear_globs=True)
    return reports


def check_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                    lines: list[str]) -> None:
    """autodoc-process-docstring hook: warn once per object whose examples fail."""
    seen: set[str] = app.env.__dict__.setdefault("_brainfeat_doctested", set())
    if name in seen:
        return
    seen.add(name)
    for report in failing_examples(name, obj):
        logger.warning("docstring example of %s no longer runs:\n%s", name, report.strip())


def setup(app: Sphinx) -> dict:
    app.connect("autodoc-process-docstring", check_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
