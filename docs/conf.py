"""Sphinx configuration of the brainfeat site (``make docs``; output in ``docs/_build/html``).

Built offline: the intersphinx inventories are shipped in ``_intersphinx/`` (those that exist
are used, the others are left out without a warning), the furo theme loads no web fonts,
MathJax and sphinx-gallery's timing pages are off: no page loads anything from the internet
(``tests/test_docs_browser.py`` checks it in Chromium).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import brainfeat

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

from figure_scraper import unmanaged_figures  # noqa: E402  (needs _ext on the path)

project = "brainfeat"
author = "brainfeat developers"
copyright = "brainfeat developers (MIT licence)"
version = release = brainfeat.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "cli_reference",
    "docstring_examples",
    "api_coverage",
    "reexports",
]
templates_path = ["_templates"]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_intersphinx", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
nitpicky = True  # every dead cross-reference is a warning, so an error under -W
suppress_warnings = ["config.cache"]  # sphinx_gallery_conf holds functions, rebuilt on change

# -- API reference ------------------------------------------------------------------------
# The stub pages are written anew by every build: a stub left from a name that is no longer
# listed would otherwise linger as a page outside every toctree.
shutil.rmtree(DOCS / "generated", ignore_errors=True)
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- The user guide (Markdown) --------------------------------------------------------------
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- intersphinx: shipped inventories only (nothing is fetched at build time) ---------------
_DOC_SITES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "xarray": "https://docs.xarray.dev/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "h5py": "https://docs.h5py.org/en/stable/",
    "nibabel": "https://nipy.org/nibabel/",
    "bids": "https://bids-standard.github.io/pybids/",
    "dask": "https://docs.dask.org/en/stable/",
}
intersphinx_mapping = {
    name: (url, str(DOCS / "_intersphinx" / f"{name}.inv"))
    for name, url in _DOC_SITES.items()
    if (DOCS / "_intersphinx" / f"{name}.inv").is_file()
}
# Names of a project whose inventory is not shipped stay unlinked, without a warning.
nitpick_ignore_regex = [(r"py:.*", rf"{name}(\..*)?") for name in _DOC_SITES
                        if name not in intersphinx_mapping]

# -- Gallery ------------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example: a failing one fails the build
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "image_scrapers": ("matplotlib", unmanaged_figures),
    "write_computation_times": False,  # those pages load bootstrap and datatables from CDNs
}


def _drop_stale_gallery_pages() -> None:
    """Remove generated pages of examples that were renamed or deleted (they would warn)."""
    gallery = DOCS / "auto_examples"
    examples = {path.stem for path in (DOCS.parent / "examples").glob("*.py")}
    for generated in gallery.glob("*") if gallery.is_dir() else ():
        stem = generated.name.split(".")[0]
        if generated.is_file() and stem not in examples | {"index", "sg_execution_times"}:
            generated.unlink()


_drop_stale_gallery_pages()

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"brainfeat {release}"
html_show_sourcelink = False
html_copy_source = False
mathjax_path = "no-mathjax-offline.js"  # a page with math would fail to load it, never a CDN
