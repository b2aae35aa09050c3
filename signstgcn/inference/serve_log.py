"""The log lines of ``signstgcn serve``: plain text, or one JSON object per line (``--log-format json``) with the
time, the level, the message and its fields (``event``, ``stream``, ``client``, ``worker``, ...) for log pipelines."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["LOG_FORMATS", "ServeLog"]

LOG_FORMATS = ("text", "json")


class ServeLog:
    """``log(message, level="info", **fields)``: one line on ``stream`` (stdout) or through ``write`` in ``fmt``;
    ``worker`` adds the worker number (text: a ``[worker k]`` prefix); lines whose ``event`` is in ``skip`` are not
    written."""

    def __init__(self, fmt: str = "text", *, worker: int | None = None, stream: TextIO | None = None,
                 write: Callable[[str], None] | None = None, skip: tuple[str, ...] = ()) -> None:
        if fmt not in LOG_FORMATS:
            raise ValueError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
        self.fmt, self.worker, self.skip = fmt, worker, skip
        self._stream = stream
        self._write = write or self._line

    def _line(self, line: str) -> None:
        """One line in one write: worker processes share the parent's stdout, and lines must not interleave."""
        out = self._stream or sys.stdout
        out.write(line + "\n")
        out.flush()

    def __call__(self, message: str, level: str = "info", **fields: Any) -> None:
        if fields.get("event") in self.skip:
            return
        if self.fmt == "json":
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            record = {"time": now.replace("+00:00", "Z"), "level": level, "message": message}
            if self.worker is not None:
                record["worker"] = self.worker
            record.update(fields)
            self._write(json.dumps(record, default=str))
        else:
            self._write(message if self.worker is None else f"[worker {self.worker}] {message}")
