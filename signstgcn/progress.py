"""The training progress bar: one tqdm bar per epoch on stderr, counting windows, with windows/s and the time
left for the whole run (this epoch's remainder plus the remaining epochs at the mean epoch time so far).

Shown only where a person watches: stderr is a terminal, rank 0, and not ``--quiet``
(:func:`wants_progress`).
"""

from __future__ import annotations

import shutil
import sys
from typing import IO

from tqdm import tqdm

FALLBACK_SIZE = (100, 20)  # a terminal that reports no size (0 x 0) would otherwise get a hidden, empty bar


def wants_progress(quiet: bool, is_main: bool = True, stream: IO[str] | None = None) -> bool:
    """Progress bars for rank 0 only, unless ``--quiet``, and only when ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return is_main and not quiet and bool(getattr(stream, "isatty", lambda: False)())


def _terminal_size() -> tuple[int, int]:
    """Columns and rows; tqdm hides a bar on a terminal of 0 rows (``script``, some IDE and container consoles)."""
    size = shutil.get_terminal_size(FALLBACK_SIZE)
    return size.columns or FALLBACK_SIZE[0], size.lines or FALLBACK_SIZE[1]


class RunProgress:
    """Per-epoch bars of one training run of ``epochs`` epochs (0-based epoch indices, shown from 1)."""

    def __init__(self, epochs: int, *, enabled: bool, file: IO[str] | None = None) -> None:
        self.epochs = epochs
        self.enabled = enabled
        self.file = file
        self.epoch_seconds: list[float] = []
        self.bar: tqdm | None = None
        self.epoch = 0

    def start_epoch(self, epoch: int, windows: int) -> None:
        """Open the bar of 0-based ``epoch``, which trains on ``windows`` windows."""
        self.epoch = epoch
        columns, rows = _terminal_size()
        self.bar = tqdm(total=windows, desc=f"epoch {epoch + 1}/{self.epochs}", unit="win",
                        file=self.file if self.file is not None else sys.stderr, disable=not self.enabled,
                        leave=False, ncols=columns, nrows=rows, mininterval=0.5)

    def update(self, windows: int, loss: float) -> None:
        """``windows`` more windows trained; ``loss`` is the epoch's running mean."""
        bar = self.bar
        if bar is None or bar.disable:
            return
        bar.update(windows)
        bar.set_postfix_str(f"loss {loss:.4f}, run ETA {tqdm.format_interval(self.run_eta())}", refresh=False)

    def run_eta(self) -> float:
        """Seconds left for the run: the rest of this epoch at its current rate, then the remaining epochs at
        the mean time of the finished ones (of this one, projected, before any finished)."""
        bar = self.bar
        if bar is None or not bar.n:
            return 0.0
        elapsed = bar.format_dict["elapsed"]
        this_epoch = elapsed * bar.total / bar.n
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else this_epoch
        return max(0.0, this_epoch - elapsed) + per_epoch * (self.epochs - self.epoch - 1)

    def end_epoch(self, seconds: float) -> None:
        """Close the bar; ``seconds`` is the whole epoch (training and validation) for the run ETA."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.epoch_seconds.append(seconds)
