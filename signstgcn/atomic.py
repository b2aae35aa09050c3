"""Atomic writes: a temporary file in the same folder, then ``os.replace``.

A reader never sees half a file, and an interrupted write leaves the previous file (or none) and no
temporary file behind. The file gets the permissions of a plain ``open(path, "w")`` (0666 less the umask):
``mkstemp`` creates its temporary file private (0600), which would hide results from colleagues on a shared
machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_open", "atomic_path", "json_safe", "write_json_atomic", "write_text_atomic"]


def _current_umask() -> int:
    """The process umask (read by setting it and back: POSIX has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name beside ``path``, for writers that take a file name (ONNX, TorchScript); when the
    block ends without an error the file replaces ``path``, else it is removed."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # writers that reopen the name keep this mode
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", *, fsync: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` (``"w"``: UTF-8 text, line endings kept as given; ``"wb"``:
    bytes); when the block ends without an error it replaces ``path``, else it is removed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    text = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
    with atomic_path(path) as tmp, open(tmp, mode, **text) as f:
        yield f
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`); return the path."""
    with atomic_open(path, "w", fsync=fsync) as f:
        f.write(text)
    return Path(path)


def json_safe(value: Any) -> Any:
    """Plain JSON types: NaN/inf → None, numpy scalars/arrays → python, tuples → lists, Paths → str."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: str | os.PathLike[str], payload: Any, *, indent: int = 2) -> Path:
    """The one JSON writer of results and settings: :func:`json_safe` (NaN → null), then atomically."""
    return write_text_atomic(path, json.dumps(json_safe(payload), indent=indent, allow_nan=False) + "\n")

