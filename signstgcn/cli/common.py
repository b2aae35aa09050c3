"""What the ``signstgcn`` commands share: one ``PROG: error: ...`` line and exit status 2 on a known error, and
the parts the ``--include-*`` flags select."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from signstgcn.data.landmarks import PartSelection
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


def selection_from_args(args: argparse.Namespace) -> PartSelection:
    """The parts of ``--include-pose/--include-hands/--include-face`` (none given: pose + hands),
    ``--pose-subset``, ``--face-subset`` and ``--coords``."""
    chosen = args.include_pose or args.include_hands or args.include_face
    return PartSelection(
        include_pose=args.include_pose or not chosen,
        include_hands=args.include_hands or not chosen,
        include_face=args.include_face,
        pose_subset=args.pose_subset,
        face_subset=args.face_subset,
        coords=args.coords,
    )
