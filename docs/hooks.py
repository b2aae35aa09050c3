"""MkDocs hooks: every ``<!-- cli-help: COMMAND -->`` in a page becomes that command's real ``--help`` output, and
``<!-- cli-commands -->`` becomes a section per ``signstgcn`` command with its ``--help``; generated from the
parsers at build time, never pasted, so the pages cannot drift from the code. In the API reference, the
reStructuredText roles of the docstrings (``:class:`Predictor```) are shown as plain code names."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
from typing import Any

WIDTH = "100"  # argparse wraps --help to $COLUMNS


def command_help(command: str) -> str:
    """``--help`` of ``signstgcn`` (the command list) or of ``signstgcn NAME`` (``NAME`` alone works too)."""
    from signstgcn.cli.main import COMMANDS, main

    old, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), WIDTH
    try:
        if command == "signstgcn":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                main(["--help"])
            return out.getvalue()
        name = command.removeprefix("signstgcn ")
        module = importlib.import_module(COMMANDS[name][0])
        return module.get_args_parser(prog=f"signstgcn {name}").format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```"


def all_commands() -> str:
    from signstgcn.cli.main import COMMANDS

    parts = []
    for name, (_, line) in COMMANDS.items():
        parts.append(f"## `signstgcn {name}`\n\n{line[0].upper() + line[1:]}.\n\n{_block(command_help(name))}\n")
    return "\n".join(parts)


def _indented(indent: str, text: str) -> str:
    return "\n".join(indent + line if line else line for line in text.split("\n"))


def on_page_markdown(markdown: str, **_: Any) -> str:
    markdown = markdown.replace("<!-- cli-commands -->", all_commands())
    return re.sub(r"(?m)^([ \t]*)<!-- cli-help: ([^>]+?) -->",
                  lambda m: _indented(m.group(1), _block(command_help(m.group(2).strip()))), markdown)


ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):(<code>)~?")


def on_page_content(html: str, **_: Any) -> str:
    return ROLE.sub(r"\1", html)
