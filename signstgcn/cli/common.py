"""What every ``signstgcn`` command shares: one ``PROG: error: ...`` line and exit status 2 on a known error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from signstgcn.errors import SignSTGCNError

DEBUG_ENV = "SIGNSTGCN_DEBUG"  # set (non-empty): re-raise with the traceback instead of the one-line error
CLI_ERRORS: tuple[type[Exception], ...] = (SignSTGCNError, ValueError, FileNotFoundError)


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
