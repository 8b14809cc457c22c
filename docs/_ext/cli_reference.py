"""The CLI reference, generated from ``brainfeat.cli.build_parser()``, and a check of the pages.

* ``.. brainfeat-cli::`` renders every verb of the parser (usage, description, each option with
  its help and default), so a verb added to ``brainfeat/cli/`` appears without editing a page.
* Every ``brainfeat VERB --option`` written in a page's code (fenced or indented blocks, inline
  code) is checked against the same parser: a verb or option that no longer exists is a
  warning naming the page, the line and the option (an error under ``-W``).
"""

from __future__ import annotations

import argparse
import re
import shlex

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from brainfeat.cli import build_parser

logger = logging.getLogger(__name__)

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"``?(brainfeat [^`]+)``?")


def verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Verb name -> its sub-parser, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_line(action: argparse.Action) -> str:
    names = ", ".join(action.option_strings) or action.metavar or action.dest
    if action.option_strings and action.nargs != 0:
        names += f" {action.metavar or action.dest.upper()}"
    return names


def _escape(text: str) -> str:
    """argparse text as literal reStructuredText (no emphasis, roles or substitutions)."""
    return text.replace("*", r"\*").replace("`", r"\`").replace("|", r"\|")


def _help(action: argparse.Action) -> str:
    text = (action.help or "").replace("%(default)s", str(action.default))
    text = text.replace("%(prog)s", "brainfeat")
    shows_default = action.option_strings and action.nargs != 0 and \
        action.default not in (None, argparse.SUPPRESS)
    if shows_default and "default" not in text:
        text += f" (default: {action.default})"
    return _escape(text)


def verb_rst(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """reStructuredText lines of one verb (and of its own sub-verbs, if it has any)."""
    title = f"brainfeat {name}"
    anchor = name.replace(" ", "-")
    lines = [f".. _cli-{anchor}:", "", title, "-" * len(title), "", ".. code-block:: text", ""]
    lines += ["   " + line for line in parser.format_usage().strip().splitlines()]
    lines.append("")
    if parser.description:
        lines += [_escape(parser.description), ""]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) \
                or action.help == argparse.SUPPRESS:
            continue
        lines += [f"``{_option_line(action)}``", f"   {_help(action) or '(no help text)'}", ""]
    for sub_name, sub in verbs(parser).items():
        lines += verb_rst(f"{name} {sub_name}", sub)
    return lines


class BrainfeatCLI(SphinxDirective):
    """``.. brainfeat-cli::`` -- every verb of ``brainfeat``, from the live parser."""

    def run(self) -> list[nodes.Node]:
        parser = build_parser()
        lines = [".. code-block:: text", ""]
        lines += ["   " + line for line in parser.format_usage().strip().splitlines()] + [""]
        for name, sub in verbs(parser).items():
            lines += verb_rst(name, sub)
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="brainfeat-cli"), holder)
        return holder.children


def documented_commands(text: str) -> list[tuple[int, str]]:
    """(line number, command) of every ``brainfeat ...`` written as code in a page."""
    found, in_fence, in_block = [], False, False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        stripped = line.strip().removeprefix("$ ")
        if line.rstrip().endswith("::") and not in_fence:
            in_block = True
            continue
        if in_block and line.strip() and not line[:1].isspace():
            in_block = False
        if (in_fence or in_block) and stripped.startswith("brainfeat "):
            found.append((number, stripped))
        elif not (in_fence or in_block):
            found += [(number, match) for match in _INLINE.findall(line)]
    return found


def problems(command: str, parser_verbs: dict[str, argparse.ArgumentParser]) -> list[str]:
    """What in ``command`` the parser does not know (empty when everything exists)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    if len(words) < 2 or words[1].startswith("-"):
        return []
    verb, rest, choices = words[1], words[2:], parser_verbs
    if verb not in choices:
        return [f"verb {verb!r} does not exist (verbs: {', '.join(choices)})"]
    parser = choices[verb]
    while rest and rest[0] in (choices := verbs(parser)):  # a verb's own sub-verbs
        verb, parser, rest = f"{verb} {rest[0]}", choices[rest[0]], rest[1:]
    known = {s for action in parser._actions for s in action.option_strings}
    return [f"option {word.split('=')[0]} of `brainfeat {verb}` does not exist "
            f"(options: {', '.join(sorted(known))})"
            for word in rest
            if word.startswith("--") and word.split("=")[0] not in known]


def check_source(app: Sphinx, docname: str, source: list[str]) -> None:
    """Warn about every documented ``brainfeat`` verb or option the parser does not have."""
    parser_verbs = verbs(build_parser())
    for number, command in documented_commands(source[0]):
        for problem in problems(command, parser_verbs):
            logger.warning("documented command %r: %s; update the page to the current CLI",
                           command, problem, location=(docname, number))


def setup(app: Sphinx) -> dict:
    app.add_directive("brainfeat-cli", BrainfeatCLI)
    app.connect("source-read", check_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
