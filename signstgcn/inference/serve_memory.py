"""Keeping a long-running server's memory from creeping up under glibc's allocator (Linux; nothing elsewhere).

A server that runs for hours frees and allocates per frame from several threads (the event loop, the tick thread,
PyTorch's). glibc gives each thread that contends an arena of its own (up to 8 per core), and memory freed in one
arena is not reused by another, so the resident size creeps up long after the working set has stopped growing.
``bench/soak.py`` measured it (after the bfloat16 shape fix of :mod:`signstgcn.model.incremental`): after the
warm-up minute the server grew 9.9 % in 4 minutes with the default arenas and 4.7 % in 3 minutes with two; with
the cap and the trim, 5.3 % from the first to the last 5 minutes of a 30-minute run. So :func:`limit_arenas` caps
the arenas (``MALLOC_ARENA_MAX``, unless the user set it: then theirs holds; worker processes inherit it) and
:func:`trim` hands the free pages of every arena back to the system (``malloc_trim``), which the server calls once a
minute from a thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

__all__ = ["ARENAS", "limit_arenas", "trim"]

ARENAS = 2  # malloc arenas per process: the event loop and the tick thread
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - glibc only (musl has no arenas to cap)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas of this process (and of processes it starts, through the environment) at
    ``arenas``, unless ``MALLOC_ARENA_MAX`` is set already. True when the cap is in force."""
    libc = _glibc()
    if libc is None:
        return False
    if "MALLOC_ARENA_MAX" in os.environ:
        return True  # the user's (or a parent server's) setting, applied by glibc at start-up
    os.environ["MALLOC_ARENA_MAX"] = str(arenas)
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def trim() -> None:
    """Return the free memory of every malloc arena to the system (no-op without glibc)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
