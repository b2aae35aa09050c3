"""What the ``signstgcn`` commands share: one ``--help`` style (:class:`HelpFormatter`), one ``PROG: error: ...``
line and exit status 2 on a known error, and the parts the ``--include-*`` flags select."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable

from signstgcn.data.landmarks import PartSelection
from signstgcn.errors import SignSTGCNError
from signstgcn.runtime import parse_threads

DEBUG_ENV = "SIGNSTGCN_DEBUG"  # set (non-empty): re-raise with the traceback instead of the one-line error
CLI_ERRORS: tuple[type[Exception], ...] = (SignSTGCNError, ValueError, FileNotFoundError)
_STATED_DEFAULT = re.compile(r"\bdefault:|%\(default\)", re.IGNORECASE)


def format_default(action: argparse.Action) -> str | None:
    """How ``--help`` shows the default of ``action``: ``None`` when it has no meaningful one (``None``,
    ``SUPPRESS``, empty, or a flag that takes no value), a list as a comma list (``64,128,128``) or, for an
    option that takes several values (``nargs``), as the space-separated values one types."""
    value = action.default
    if action.nargs == 0 or value is None or value is argparse.SUPPRESS:
        return None
    if isinstance(value, (str, list, tuple)) and not value:
        return None
    if isinstance(value, (list, tuple)):
        sep = " " if action.nargs in ("*", "+") or isinstance(action.nargs, int) else ","
        return sep.join(str(v) for v in value)
    return str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The ``--help`` style of every command: ``(required)`` after a required option's help, else
    ``(default: X)`` once when the option has a meaningful default (see :func:`format_default`) that its help
    does not already state as ``default: ...``; descriptions and epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.required:
            return text if text.endswith("(required)") else f"{text} (required)".lstrip()
        shown = format_default(action)
        if shown is None or _STATED_DEFAULT.search(text):
            return text
        return f"{text} (default: {shown.replace('%', '%%')})".lstrip()  # the help is %-formatted afterwards


def run_cli(
    prog: str,
    fn: Callable[[argparse.Namespace], object],
    args: argparse.Namespace,
    errors: tuple[type[Exception], ...] = CLI_ERRORS,
) -> int:
    """Run ``fn(args)`` and return its exit status: ``fn``'s result when it is an int, else 0 (a command
    that returns a report or ``None`` succeeded).

    An exception of one of ``errors`` prints ``{prog}: error: {err}`` to stderr and returns 2, or is
    re-raised when the environment variable ``SIGNSTGCN_DEBUG`` is set.
    """
    try:
        status = fn(args)
    except errors as err:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0


def plural(count: int, noun: str) -> str:
    """``1 signing segment``, ``2 signing segments``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _threads_value(text: str) -> int | None:
    try:
        return parse_threads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--threads ")) from None


def add_threads_arg(group: argparse._ActionsContainer) -> None:
    """``--threads auto|N``: torch's intra-op CPU threads (see :mod:`signstgcn.runtime`)."""
    group.add_argument("--threads", type=_threads_value, default="auto",
                       help="CPU threads for torch: auto (the usable cores less one per --workers process) or N; "
                       "on a machine shared with other jobs 1 is often fastest")


def selection_from_args(args: argparse.Namespace) -> PartSelection:
    """The parts of ``--include-pose/--include-hands/--include-face`` (none given: pose + hands),
    ``--pose-subset``, ``--face-subset`` and ``--coords``."""
    return PartSelection.from_flags(args.include_pose, args.include_hands, args.include_face,
                                    pose_subset=args.pose_subset, face_subset=args.face_subset, coords=args.coords)
