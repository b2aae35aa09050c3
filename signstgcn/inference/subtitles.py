"""Subtitles: SubRip (``.srt``) and WebVTT (``.vtt``) files of timed text cues, which any video player shows.

:func:`srt_text` / :func:`vtt_text` format :class:`Cue` s (seconds, text), sorted by start time; overlapping cues
are allowed by both formats and kept. Times are rounded to milliseconds; a cue must last at least 1 ms. WebVTT
text escapes ``&``, ``<`` and ``>``; a cue's line breaks become spaces in both (one line per cue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from signstgcn.atomic import write_text_atomic

__all__ = ["Cue", "srt_text", "vtt_text", "write_srt", "write_vtt"]


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str


def _millis(cues: Sequence[Cue]) -> list[tuple[int, int, str]]:
    out = []
    for k, cue in enumerate(sorted(cues, key=lambda c: (c.start, c.end))):
        t0, t1 = round(cue.start * 1000), round(cue.end * 1000)
        if t0 < 0 or t1 <= t0:
            raise ValueError(f"cue {k}: expected 0 <= start < end (seconds, at least 1 ms apart), got "
                             f"({cue.start}, {cue.end})")
        out.append((t0, t1, " ".join(str(cue.text).split())))
    return out


def _clock(ms: int, sep: str) -> str:
    """``HH:MM:SS<sep>mmm``."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def srt_text(cues: Sequence[Cue]) -> str:
    """SubRip: numbered blocks ``n``, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, the text, a blank line."""
    return "".join(f"{n}\n{_clock(t0, ',')} --> {_clock(t1, ',')}\n{text}\n\n"
                   for n, (t0, t1, text) in enumerate(_millis(cues), start=1))


def vtt_text(cues: Sequence[Cue]) -> str:
    """WebVTT: the ``WEBVTT`` header, then blocks ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` and the (escaped) text."""
    blocks = "".join(f"{_clock(t0, '.')} --> {_clock(t1, '.')}\n"
                     f"{text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}\n\n"
                     for t0, t1, text in _millis(cues))
    return "WEBVTT\n\n" + blocks


def write_srt(path: str | Path, cues: Sequence[Cue]) -> Path:
    """:func:`srt_text` to ``path``, atomically (UTF-8)."""
    return write_text_atomic(path, srt_text(cues))


def write_vtt(path: str | Path, cues: Sequence[Cue]) -> Path:
    """:func:`vtt_text` to ``path``, atomically (UTF-8)."""
    return write_text_atomic(path, vtt_text(cues))
