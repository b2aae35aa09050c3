"""The training progress bar: windows/s and the run's ETA on a terminal, nothing elsewhere."""

from __future__ import annotations

import io
import os
import shutil

import pytest

from signstgcn import progress as progress_mod
from signstgcn.progress import RunProgress, wants_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("quiet,is_main,stream,expected", [
    (False, True, Terminal(), True),
    (True, True, Terminal(), False),      # --quiet
    (False, False, Terminal(), False),    # DDP rank > 0
    (False, True, io.StringIO(), False),  # stderr redirected to a file or pipe
])
def test_wants_progress(quiet, is_main, stream, expected):
    assert wants_progress(quiet, is_main, stream) is expected


def test_bar_shows_windows_per_second_loss_and_run_eta():
    out = Terminal()
    bars = RunProgress(3, enabled=True, file=out)
    bars.start_epoch(0, 100)
    for _ in range(4):
        bars.update(25, 0.5)
    bars.bar.refresh()  # tqdm redraws at most every 0.5 s
    text = out.getvalue()
    assert "epoch 1/3" in text and "win/s" in text and "loss 0.5000" in text and "run ETA" in text
    bars.end_epoch(10.0)
    assert bars.bar is None and bars.epoch_seconds == [10.0]


def test_run_eta_adds_the_remaining_epochs_at_the_mean_epoch_time():
    bars = RunProgress(5, enabled=True, file=Terminal())
    bars.epoch_seconds = [10.0, 20.0]  # epochs 1 and 2 took 15 s on average
    bars.start_epoch(2, 100)
    bars.update(50, 1.0)
    elapsed = bars.bar.format_dict["elapsed"]
    # the rest of epoch 3 at its own rate (as long again as so far), then epochs 4 and 5 at 15 s each
    assert bars.run_eta() == pytest.approx(elapsed + 2 * 15.0, abs=0.05)


def test_disabled_bar_writes_nothing():
    out = Terminal()
    bars = RunProgress(2, enabled=False, file=out)
    bars.start_epoch(0, 10)
    bars.update(10, 0.1)
    bars.end_epoch(1.0)
    assert out.getvalue() == ""


def test_a_terminal_of_size_zero_still_gets_a_visible_bar(monkeypatch):
    """Consoles that report 0 x 0 (``script``, some IDEs and containers) made tqdm hide the bar."""
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=(80, 24): os.terminal_size((0, 0)))
    assert progress_mod._terminal_size() == progress_mod.FALLBACK_SIZE
