"""Verification reports as self-contained HTML pages (figures embedded as base64 PNG).

:func:`render_html` renders ``brainfeat verify``'s report, :func:`render_regenerated_html`
the comparison of a regenerated folder with the published files.

The page needs no network and no other file. A small inline script records, once the page
has loaded, how many embedded figures decoded (``naturalWidth > 0``) in the element
``#render-check``, so a headless browser's ``--dump-dom`` shows whether every figure loaded.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import TYPE_CHECKING, Any

from brainfeat.evaluation.results import SubjectCheck, VerificationReport, format_number
from brainfeat.evaluation.statistics import PUBLISHED_TOLERANCE

if TYPE_CHECKING:  # pragma: no cover
    from brainfeat.evaluation.regenerated import RegeneratedComparison

__all__ = ["render_html", "render_regenerated_html"]

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


def render_regenerated_html(comparison: RegeneratedComparison) -> str:
    """Render regenerated vs published (``verify --regenerated``) as a self-contained page.

    Parameters
    ----------
    comparison : RegeneratedComparison

    Returns
    -------
    str
        HTML text: verdict, the per-(layer, subject) table, true features, Figure 2's
        statistics side by side with both figures embedded, and the provenance.
    """
    from brainfeat.evaluation.facts import DECODED_RELATIVE_TOLERANCE

    title = "brainfeat verify --regenerated"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{title}</title><style>{_STYLE}</style></head><body>", f"<h1>{title}</h1>"]
    if comparison.synthetic:
        parts.append('<p class="banner">SYNTHETIC replica: the numbers below check the '
                     "machinery, not the published data.</p>")
    agree = len(comparison.checks) - len(comparison.disagreements)
    parts.append(f'<p id="verdict" class="{"verdict-ok" if comparison.ok else "verdict-bad"}">'
                 f"<strong>{agree}/{len(comparison.checks)} (layer, subject) agree</strong> "
                 f"(accuracy tolerance {comparison.tolerance:g}, decoded features relative "
                 f"{DECODED_RELATIVE_TOLERANCE:g})</p>")
    header = ("network", "layer", "subject", "units", "decoded unit r (median)",
              "decoded unit r (min)", "decoded max |d|", "decoded max rel. d", "accuracy map r",
              "accuracy mean |d|", "accuracies within tolerance", "ranks equal")
    rows = []
    for c in comparison.checks:
        cells = [c.network, c.layer, c.subject, str(c.n_units),
                 format_number(c.decoded_unit_r_median, ".6f"),
                 format_number(c.decoded_unit_r_min, ".6f"),
                 format_number(c.decoded_max_abs_diff, ".2e"),
                 format_number(c.decoded_max_rel_diff, ".2e"),
                 format_number(c.accuracy_r, ".5f"),
                 format_number(c.accuracy_mean_abs_diff, ".2e"),
                 format_number(c.accuracy_fraction_within, ".2%"),
                 format_number(c.rank_fraction_equal, ".2%")]
        rows.append(_row(cells, "ok" if c.agrees else "mismatch"))
    parts.append(_table("Decoded features, accuracies and ranks", "regenerated-table",
                        header + ("agrees",), rows))
    rows = [_row([t.layer, format_number(t.max_abs_diff, ".3g"),
                  format_number(t.relative_diff, ".2e"), format_number(t.min_r, ".6f"),
                  t.note], "ok" if t.passed else "mismatch") for t in comparison.true]
    parts.append(_table("True features (the check of verify-features)", "true-table",
                        ("layer", "max |d|", "relative", "min image r", "note", "passes"), rows))
    rows = [_row([layer, format_number(ours.mean_accuracy, ".4f"),
                  format_number(theirs.mean_accuracy, ".4f"),
                  format_number(ours.mean_intersubject, ".4f"),
                  format_number(theirs.mean_intersubject, ".4f")], None)
            for layer, (ours, theirs) in comparison.figure2.items()]
    parts.append(_table("Figure 2 statistics, side by side", "figure2-side-by-side",
                        ("layer", "mean accuracy (regenerated)", "mean accuracy (published)",
                         "mean inter-subject r (regenerated)",
                         "mean inter-subject r (published)"), rows))
    parts.append(_side_by_side_figures(comparison))
    parts.append(_provenance(comparison.provenance))
    parts.append('<p id="render-check" data-figures-total="0" data-figures-loaded="0">'
                 "figures not checked</p>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _row(cells: list[str], status: str | None) -> str:
    verdict = ("" if status is None
               else f'<td class="{status}">{"yes" if status == "ok" else "NO"}</td>')
    return "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + verdict + "</tr>"


def _table(title: str, table_id: str, header: tuple[str, ...], rows: list[str]) -> str:
    return (f'<h2>{escape(title)}</h2><table id="{table_id}"><tr>'
            + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>" + "".join(rows)
            + "</table>")


def _side_by_side_figures(comparison: RegeneratedComparison) -> str:
    from brainfeat.evaluation.figures import figure2, figure_png

    if not comparison.figure2:
        return ""
    parts = ["<h2>Figure 2: regenerated, then published</h2>"]
    for side, label in ((0, "regenerated"), (1, "published")):
        png = figure_png(figure2([pair[side] for pair in comparison.figure2.values()],
                                 synthetic=comparison.synthetic))
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{label}</h3><img class=\"figure\" alt=\"Figure 2, {label}\" "
                     f'src="data:image/png;base64,{encoded}">')
    return "".join(parts)


def _provenance(provenance: dict[str, Any]) -> str:
    regenerated = provenance.get("regenerated", {})
    compared = provenance.get("comparison", {})
    facts = [("regenerated on", regenerated.get("date", "?")),
             ("command", regenerated.get("command") or "Python call"),
             ("model", str(regenerated.get("model"))),
             ("settings", json.dumps(regenerated.get("settings", {}), sort_keys=True)),
             ("versions (regeneration)", json.dumps(regenerated.get("versions", {}))),
             ("compared on", compared.get("date", "?")),
             ("versions (comparison)", json.dumps(compared.get("versions", {})))]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    files = [*regenerated.get("inputs_sha256", {}).items(),
             *compared.get("published_sha256", {}).items()]
    listed = "".join(f"<tr><td>{escape(name)}</td><td><code>{escape(str(digest))}</code></td></tr>"
                     for name, digest in files)
    return ('<h2>Provenance</h2><table id="provenance">' + rows + "</table>"
            f"<details><summary>{len(files)} input files (SHA-256)</summary>"
            '<table id="inputs"><tr><th>file</th><th>SHA-256</th></tr>' + listed
            + "</table></details>")
