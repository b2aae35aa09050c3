"""Training speed on a CPU shared with another process: windows/s of one training epoch of the demo detector,
idle and beside a competing busy process, for torch's default OpenMP settings and for ours.

    python bench/busy_cpu.py                   # every load x setting, one JSON line each (~4 min on 2 cores)
    python bench/busy_cpu.py --loads idle,torch --settings default,threads1

Each run is a fresh ``python -m train_landmarks`` process (libgomp reads its settings when torch loads), on the
demo's detection data and compact model, one epoch without validation; windows/s = training windows / epoch
seconds from ``metrics.csv``. Loads: ``idle``; ``python``: one process spinning in a Python loop (one core
taken); ``torch``: another torch job with torch's default threads and OpenMP spin (what the issue hit).
Settings: ``torch-default``: libgomp's default spin (300,000) and all cores, what ``python -m train_landmarks``
did before; ``default``: SignSTGCN's defaults now (spin 3,000, ``--threads auto``); ``threads1``: ``--threads 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signstgcn.cli.demo import DEMO_MODEL  # noqa: E402
from signstgcn.data.synthetic import generate_dataset  # noqa: E402
from signstgcn.runtime import USER_ENV  # noqa: E402

COMPETITORS = {
    "python": "while True: pass",
    "torch": ("import torch\nx = torch.randn(32, 64, 25, 67)\nw = torch.randn(64, 64, 3, 1)\n"
              "while True:\n    torch.nn.functional.conv2d(x, w, padding=(1, 0)).relu_().sum()"),
}
SETTINGS = {  # name -> (extra environment, extra train flags)
    "torch-default": ({"GOMP_SPINCOUNT": "300000"}, []),
    "default": ({}, []),
    "threads1": ({}, ["--threads", "1"]),
}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--loads", default="idle,python,torch", help="comma list of idle, python, torch")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {', '.join(SETTINGS)}")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per run (the mean is reported)")
    return p


def emit(figure: str, **fields: object) -> None:
    print(json.dumps({"figure": figure, **fields}), flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*USER_ENV, "OMP_NUM_THREADS")}
    return {**env, **extra}


@contextlib.contextmanager
def competitor(load: str) -> Iterator[None]:
    """Run the competing process of ``load`` (none for idle) while the block runs."""
    if load == "idle":
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", COMPETITORS[load]], env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.0)  # let it reach its steady state
        yield
    finally:
        proc.kill()
        proc.wait()


def train_rate(data: Path, out: Path, setting: str, epochs: int) -> tuple[float, str]:
    """Training windows per second of one ``train_landmarks`` run, and its start-up line's thread text."""
    env, flags = SETTINGS[setting]
    cmd = [sys.executable, "-m", "train_landmarks", "--data", str(data), "--binary", "--signing-labels", "s",
           "--window", "25", "--stride", "4", "--epochs", str(epochs), "--batch", "32", "--lr", "2e-3",
           "--val-fraction", "0", "--log-csv", "--quiet", "--overwrite", "--out", str(out), *DEMO_MODEL, *flags]
    result = subprocess.run(cmd, env=clean_env(**env), capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"training failed: {result.stderr[-1000:]}")
    first = result.stdout.splitlines()[0]
    windows = int(re.search(r"(\d+) samples", first).group(1))
    with (out / "metrics.csv").open(newline="") as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    threads = re.search(r"(\d+ CPU threads? \(OpenMP spin [^)]*\))", first)
    return windows / (sum(seconds) / len(seconds)), threads.group(1) if threads else "?"


def bench_busy_cpu(loads: list[str], settings: list[str], epochs: int, tmp: Path) -> dict[tuple[str, str], float]:
    """One ``train_busy_cpu`` JSON line per load x setting; returns the rates."""
    data = tmp / "detection"
    if not data.is_dir():
        generate_dataset(data, task="detection", seed=0)
    rates = {}
    for load in loads:
        with competitor(load):
            for setting in settings:
                rate, threads = train_rate(data, tmp / f"run-{load}-{setting}", setting, epochs)
                rates[(load, setting)] = rate
                idle = rates.get(("idle", setting))
                emit("train_busy_cpu", load=load, setting=setting, windows_per_s=round(rate, 1), threads=threads,
                     vs_idle=None if idle is None else round(rate / idle, 2))
    return rates


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    loads = [x for x in args.loads.split(",") if x]
    settings = [x for x in args.settings.split(",") if x]
    unknown = [x for x in loads if x not in ("idle", *COMPETITORS)] + [x for x in settings if x not in SETTINGS]
    if unknown:
        raise SystemExit(f"busy_cpu.py: error: unknown load or setting {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="signstgcn-busy-") as name:
        bench_busy_cpu(loads, settings, args.epochs, Path(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
