"""The verification report as one self-contained HTML page (figures embedded as base64 PNG).

The page needs no network and no other file. A small inline script records, once the page
has loaded, how many embedded figures decoded (``naturalWidth > 0``) in the element
``#render-check``, so a headless browser's ``--dump-dom`` shows whether every figure loaded.
"""

from __future__ import annotations

import base64
from html import escape

from brainfeat.evaluation.results import SubjectCheck, VerificationReport, format_number
from brainfeat.evaluation.statistics import PUBLISHED_TOLERANCE

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; }
td.ok { background: #e6f4ea; } td.mismatch, td.unreadable { background: #fde7e9; }
td.missing { background: #fff4d6; }
.banner { background: #b00020; color: white; padding: 0.6em 1em; font-weight: bold; }
.verdict-ok { color: #1e7e34; } .verdict-bad { color: #b00020; }
img.figure { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.querySelectorAll("img.figure"));
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  var marker = document.getElementById("render-check");
  marker.setAttribute("data-figures-total", String(images.length));
  marker.setAttribute("data-figures-loaded", String(loaded.length));
  marker.textContent = "figures loaded: " + loaded.length + " of " + images.length;
});
"""


def render_html(report: VerificationReport) -> str:
    """Render ``report`` as a self-contained HTML document.

    Parameters
    ----------
    report : VerificationReport

    Returns
    -------
    str
        HTML text; figures (one Figure 2 per network) are embedded as base64 PNG.
    """
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>brainfeat verify: {escape(report.dataset)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>brainfeat verify: {escape(report.dataset)}</h1>",
    ]
    if report.synthetic:
        parts.append('<p class="banner">SYNTHETIC replica: the numbers below check the '
                     "machinery, not the published data.</p>")
    verdict = ("every check agreed" if report.ok
               else f"{len(report.problems)} problem(s) found")
    parts.append(f'<p id="verdict" class="{"verdict-ok" if report.ok else "verdict-bad"}">'
                 f"<strong>{escape(verdict)}</strong> (accuracy tolerance "
                 f"{report.tolerance:g})</p>")
    if report.problems:
        parts.append('<ul id="problems">' + "".join(f"<li>{escape(p)}</li>"
                                                    for p in report.problems) + "</ul>")
    parts += _findings(report), _summary_table(report), _figure2_table(report)
    parts += _figures(report), _layer_details(report)
    parts.append('<p id="render-check" data-figures-total="0" data-figures-loaded="0">'
                 "figures not checked</p>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _findings(report: VerificationReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(f.topic)}</td><td>{escape(f.conclusion)}</td>"
        f"<td>{escape(f.evidence)}</td><td>{'yes' if f.settled else 'no'}</td></tr>"
        for f in report.findings)
    return ("<h2>What the files established</h2><table id=\"findings\"><tr><th>fact</th>"
            "<th>conclusion</th><th>evidence</th><th>settled</th></tr>" + rows + "</table>")


def _summary_row(check: SubjectCheck) -> str:
    status = check.status + (f" ({', '.join(check.missing)})" if check.missing else "")
    cells = [check.network, check.layer, check.subject, str(check.n_units),
             format_number(check.accuracy_max_abs_diff, ".2e"),
             format_number(check.accuracy_fraction_within, ".2%"),
             format_number(check.rank_fraction, ".2%")]
    return ("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
            + f'<td class="{check.status}">{escape(status)}</td></tr>')


def _summary_table(report: VerificationReport) -> str:
    header = ("network", "layer", "subject", "units", "max |d accuracy|", "within tolerance",
              "rank agreement", "status")
    return ("<h2>Published accuracy and rank, recomputed</h2>"
            f"<p>Rank convention: {escape(report.rank_policy or 'none established')}</p>"
            '<table id="summary-table"><tr>' + "".join(f"<th>{h}</th>" for h in header)
            + "</tr>" + "".join(_summary_row(c) for c in report.subject_checks) + "</table>")


def _figure2_table(report: VerificationReport) -> str:
    text = (f"<h2>Figure 2 against the paper (&plusmn;{PUBLISHED_TOLERANCE:g})</h2>"
            f"<p>{escape(report.figure2_note)}</p>")
    if not report.figure2:
        return text
    rows = "".join(
        f"<tr><td>{escape(c.network)}</td><td>{escape(c.layer)}</td><td>{escape(c.statistic)}"
        f"</td><td>{c.published:.2f}</td><td>{c.recomputed:.3f}</td>"
        f'<td class="{"ok" if c.within else "mismatch"}">{"ok" if c.within else "differs"}</td></tr>'
        for c in report.figure2)
    return (text + '<table id="figure2-table"><tr><th>network</th><th>layer</th><th>statistic'
            "</th><th>paper</th><th>recomputed</th><th>agreement</th></tr>" + rows + "</table>")


def _figures(report: VerificationReport) -> str:
    from brainfeat.evaluation.figures import figure2, figure_png

    stats = [layer.figure for layer in report.layers if layer.figure is not None]
    if not stats:
        return "<h2>Figure 2</h2><p>Not drawn: verify all subjects of a layer to draw it.</p>"
    parts = ["<h2>Figure 2</h2>"]
    for network in dict.fromkeys(s.network for s in stats):
        png = figure_png(figure2([s for s in stats if s.network == network],
                                 synthetic=report.synthetic))
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f'<img class="figure" alt="Figure 2, {escape(network)}" '
                     f'src="data:image/png;base64,{encoded}">')
    return "".join(parts)


def _layer_details(report: VerificationReport) -> str:
    rows = []
    for layer in report.layers:
        averaged = layer.averaged
        avg_text = "-" if averaged is None else (
            f"decoded vs mean rel. diff "
            f"{format_number(averaged.decoded_max_relative_diff, '.1e')}; "
            f"mean-then-score within tol. "
            f"{format_number(averaged.mean_then_score_fraction_within, '.1%')}; "
            f"mean of maps within tol. "
            f"{format_number(averaged.mean_of_accuracies_fraction_within, '.1%')}")
        flavours = ", ".join(f"{k}: {v}" for k, v in sorted(layer.mat_flavours.items())) or "-"
        cells = [layer.network, layer.layer, str(layer.n_units),
                 format_number(layer.true_min, ".3g"), flavours, avg_text]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    return ('<h2>Layers</h2><table id="layers-table"><tr><th>network</th><th>layer</th>'
            "<th>units</th><th>min true value</th><th>.mat files</th><th>Averaged</th></tr>"
            + "".join(rows) + "</table>")
