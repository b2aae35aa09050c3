"""Training curves from ``metrics.csv`` (matplotlib, no display needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from signstgcn.errors import DataError  # noqa: E402

# (panel title, columns drawn in it if present)
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("train_loss", "val_loss", "train_cls_loss", "train_signer_loss", "train_supcon_loss")),
    ("accuracy", ("train_acc", "val_accuracy", "val_top1", "val_top5")),
    ("ranking / F1", ("val_pr_auc", "val_roc_auc", "val_f1", "val_macro_f1")),
    ("signer bias", ("val_worst_signer_acc", "val_signer_gap", "val_signer_probe", "val_signer_probe_chance")),
)


def read_metrics(path: str | Path) -> dict[str, list[float]]:
    """Columns of a ``metrics.csv`` as float lists (blank or non-numeric cells are NaN)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: metrics file not found")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        raise DataError(f"{path}: expected a metrics.csv with an 'epoch' column and one row per epoch")

    def num(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else math.nan
        except ValueError:
            return math.nan

    return {key: [num(r.get(key)) for r in rows] for key in rows[0]}


def plot_metrics(csv_path: str | Path, out_png: str | Path, *, title: str | None = None) -> Path:
    """Draw loss, accuracy, ranking and signer-bias curves per epoch into one PNG (1600×400 px)."""
    cols = read_metrics(csv_path)
    epochs = [e + 1 for e in cols["epoch"]]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(16, 4), dpi=100)
    for ax, (name, keys) in zip(axes, PANELS):
        drawn = 0
        for key in keys:
            values = cols.get(key)
            if values and any(math.isfinite(v) for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=key)
                drawn += 1
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="gray")
    fig.suptitle(title or str(Path(csv_path).parent.name))
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return out_png
