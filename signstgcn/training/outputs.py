"""A run's folder: which files a run writes, refusing to mix runs, ``config.json`` and ``metrics.csv``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signstgcn.atomic import write_json_atomic

if TYPE_CHECKING:
    from signstgcn.model.config import ModelConfig
    from signstgcn.training.config import TrainConfig

RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "config.json", "curves.png")


def check_out_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """``resume`` needs ``out/last.pt``; a new run refuses a folder with a previous run unless ``overwrite``."""
    previous = [name for name in RUN_FILES if (out / name).exists()]
    if resume:
        if not (out / "last.pt").is_file():
            raise ValueError(f"--resume: {out / 'last.pt'} not found; nothing to continue")
        return
    if previous and not overwrite:
        raise ValueError(f"{out} holds a previous run ({', '.join(previous)}); pass --resume to continue it "
                         f"or --overwrite to replace it")


def start_run_dir(out: Path, config: TrainConfig, model: ModelConfig, data_record: dict[str, Any],
                  split_source: str, world_size: int) -> None:
    """Create ``out`` (with ``overwrite``: remove the previous run's files) and write ``config.json``."""
    out.mkdir(parents=True, exist_ok=True)
    if config.run.overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    data = {k: v for k, v in data_record.items() if k != "pseudo_signers"}
    write_json_atomic(out / "config.json", {"args": config.flat(), "config": config.to_dict(),
                                            "model": model.to_dict(), "data": data, "split_source": split_source,
                                            "world_size": world_size})


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class CsvLog:
    """``metrics.csv``: one row per epoch, numbered from 1; appends on --resume (header written once)."""

    def __init__(self, path: Path, resume: bool, completed: int) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if resume and path.is_file():  # drop rows of epochs that will be re-run after the checkpoint
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.fields = list(rows[0].keys())
                if int(rows[0]["epoch"]) == 0:  # written before epochs were numbered from 1
                    rows = [{**r, "epoch": str(int(r["epoch"]) + 1)} for r in rows]
                kept = [r for r in rows if int(r["epoch"]) <= completed]
                self._rewrite(kept)
        elif path.exists():
            path.unlink()

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        assert self.fields is not None
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row.keys())
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(v) for k, v in row.items()})
