"""The documentation site: built with warnings as errors, and the checks that make it fail.

``test_site_builds_without_warnings`` builds the whole site (API reference, CLI reference,
user guide, gallery run on the demo replica) as ``make docs`` does. The other tests feed each
check of ``docs/_ext`` the bad input it exists for and read its message.
"""

from __future__ import annotations

import re
import sys

import pytest

from docs_build import DOCS, build_site

sys.path.insert(0, str(DOCS / "_ext"))
pytest.importorskip("sphinx", reason="the docs extra is not installed: pip install -e '.[docs]'")

import api_coverage  # noqa: E402
import cli_reference  # noqa: E402
import docstring_examples  # noqa: E402

from brainfeat.cli import build_parser  # noqa: E402

EXAMPLES = sorted(p.stem for p in (DOCS.parent / "examples").glob("[0-9]*.py"))
# A tag that makes the browser fetch something (an <a href> to another site is only a link).
_EXTERNAL = re.compile(r"""<(?:script|img|iframe|source|link|embed|video|audio)\b[^>]*?"""
                       r"""\b(?:src|href)=["'](?:https?:)?//[^"']*""")


@pytest.mark.slow
def test_site_builds_without_warnings() -> None:
    site = build_site()
    assert site.returncode == 0, f"the docs build failed or warned:\n{site.output[-8000:]}"
    pages = {p.relative_to(site.html).as_posix() for p in site.html.rglob("*.html")}
    expected = {"index.html", "install.html", "dataset.html", "api.html", "cli.html",
                "cite.html", "data-access.html", "bids-and-fmri.html", "decoding.html",
                "features.html", "verification.html", "auto_examples/index.html",
                "generated/brainfeat.load.html"}
    expected |= {f"auto_examples/{name}.html" for name in EXAMPLES}
    assert expected <= pages, sorted(expected - pages)
    print(f"docs built in {site.seconds:.0f} s: {len(pages)} pages")


@pytest.mark.slow
def test_built_pages_show_the_code_and_load_nothing_from_the_internet() -> None:
    site = build_site()
    assert site.returncode == 0, site.output[-4000:]
    cli = (site.html / "cli.html").read_text()
    for verb in cli_reference.verbs(build_parser()):
        assert f"brainfeat {verb}" in cli, f"verb {verb} missing from the CLI reference"
    load = (site.html / "generated" / "brainfeat.load.html").read_text()
    assert "Parameters" in load and "FeatureSet" in load
    for page in site.html.rglob("*.html"):
        found = _EXTERNAL.search(page.read_text(errors="replace"))
        assert found is None, f"{page} loads {found.group(0)!r}"
    for asset in [*site.html.rglob("*.css"), *site.html.rglob("*.js")]:
        text = asset.read_text(errors="replace")
        assert not re.search(r"""(@import|url\()\s*["']?https?://""", text), \
            f"{asset} loads a remote resource"


def test_a_documented_cli_option_that_does_not_exist_is_named() -> None:
    page = "Run:\n\n```sh\nbrainfeat verify --network AlexNet --no-such-flag 3\n```\n"
    commands = cli_reference.documented_commands(page)
    assert commands == [(4, "brainfeat verify --network AlexNet --no-such-flag 3")]
    verbs = cli_reference.verbs(build_parser())
    (problem,) = cli_reference.problems(commands[0][1], verbs)
    assert "--no-such-flag" in problem and "brainfeat verify" in problem
    assert cli_reference.problems("brainfeat verify --network AlexNet", verbs) == []


def test_a_documented_verb_that_does_not_exist_is_named() -> None:
    verbs = cli_reference.verbs(build_parser())
    commands = cli_reference.documented_commands("Use `brainfeat frobnicate --all` today.")
    (problem,) = cli_reference.problems(commands[0][1], verbs)
    assert "'frobnicate'" in problem and "does not exist" in problem
    prose = "brainfeat reads the files\n\nand brainfeat checks them."
    assert cli_reference.documented_commands(prose) == []  # prose is not a command


def test_every_documented_command_of_the_guides_exists() -> None:
    verbs = cli_reference.verbs(build_parser())
    for page in [*DOCS.glob("*.md"), *DOCS.glob("*.rst")]:
        for line, command in cli_reference.documented_commands(page.read_text()):
            assert not cli_reference.problems(command, verbs), (page.name, line, command)


def _halve(x: float) -> float:
    """Half of ``x``.

    >>> _halve(3)
    1
    """
    return x / 2


def _double(x: float) -> float:
    """Twice ``x``.

    >>> _double(3)
    6
    >>> _double(undefined_name)  # doctest: +SKIP
    """
    return 2 * x


def test_a_docstring_example_that_no_longer_runs_is_named() -> None:
    (report,) = docstring_examples.failing_examples("brainfeat.halve", _halve)
    assert "brainfeat.halve" in report and "Expected:\n    1" in report and "1.5" in report
    assert docstring_examples.failing_examples("brainfeat.double", _double) == []


def test_a_removed_public_name_still_documented_is_named() -> None:
    page = ".. module:: brainfeat\n\n.. autosummary::\n   :toctree: generated/\n\n" \
           "   load\n   load_everything\n\nText.\n"
    documented = api_coverage.documented_names(page)
    assert documented == {"brainfeat": {"load", "load_everything"}}
    problems = api_coverage.coverage_problems(documented, {"brainfeat": {"load", "verify"}})
    assert problems == [
        "brainfeat.verify is public but not in the API reference: add it",
        "brainfeat.load_everything is documented but is not a public name of brainfeat "
        "(removed or renamed?): update the API reference"]


def test_a_reexported_function_is_documented_once() -> None:
    documented = {"brainfeat": {"load_events"}}
    public = {"brainfeat": {"load_events"}, "brainfeat.bids": {"load_events", "read_events"}}
    assert api_coverage.coverage_problems(documented, public) == [
        "brainfeat.bids.read_events is public but not in the API reference: add it"]


def test_the_api_reference_lists_every_public_name() -> None:
    documented = api_coverage.documented_names((DOCS / "api.rst").read_text())
    public = api_coverage.public_names(api_coverage.PACKAGES)
    assert api_coverage.coverage_problems(documented, public) == []
