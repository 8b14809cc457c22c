"""A sphinx-gallery image scraper for matplotlib figures built without pyplot.

brainfeat draws its figures on :class:`matplotlib.figure.Figure` directly (no pyplot state),
so sphinx-gallery's own scraper, which asks pyplot, does not see them. This one shows every
such figure that an example's code block left in a variable, once.
"""

from __future__ import annotations

from typing import Any


def unmanaged_figures(block, block_vars: dict[str, Any], gallery_conf: dict[str, Any]) -> str:
    """Save each new pyplot-less Figure of the example's globals; return the images' rST."""
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    shown: set[int] = block_vars.setdefault("brainfeat_figures_shown", set())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and value.canvas.manager is None and id(value) not in shown:
            shown.add(id(value))
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=100)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
