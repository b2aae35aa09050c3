"""``signstgcn.plots`` training curves: which series are drawn, integer epoch ticks, legends off the data."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from signstgcn import plots

NAN = math.nan


def write_metrics(path: Path, columns: dict[str, list[float]]) -> Path:
    """A ``metrics.csv`` like ``train_landmarks --log-csv`` writes (NaN as a blank cell)."""
    n = len(columns["epoch"])
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns))
        for i in range(n):
            writer.writerow(["" if isinstance(v[i], float) and math.isnan(v[i]) else f"{v[i]:.6g}"
                             for v in columns.values()])
    return path


def run_columns(epochs: int = 3, **overrides: list[float]) -> dict[str, list[float]]:
    """Columns of a recognition run with signer-adversarial and SupCon losses on, numbered from epoch 1."""
    ramp = [0.1 * (e + 1) for e in range(epochs)]
    cols: dict[str, list[float]] = {
        "epoch": [float(e + 1) for e in range(epochs)],
        "lr": [1e-3] * epochs,
        "grl_lambda": [0.5] * epochs,
        "seconds": [2.0] * epochs,
        "train_loss": [2.0 - r for r in ramp],
        "train_cls_loss": [1.5 - r for r in ramp],
        "train_signer_loss": [0.4 + r for r in ramp],
        "train_supcon_loss": [0.3 - r / 4 for r in ramp],
        "train_acc": [0.3 + r for r in ramp],
        "val_accuracy": [0.25 + r for r in ramp],
        "val_top1": [0.25 + r for r in ramp],
        "val_top5": [0.6 + r for r in ramp],
        "val_macro_f1": [0.2 + r for r in ramp],
        "val_worst_signer_acc": [0.1 + r for r in ramp],
        "val_signer_gap": [0.3 - r / 2 for r in ramp],
        "val_signer_probe": [0.6 - r / 2 for r in ramp],
        "val_signer_probe_chance": [0.4] * epochs,
        "val_loss": [2.1 - r for r in ramp],
    }
    cols.update(overrides)
    return cols


def test_curve_series_draws_every_informative_column():
    series = plots.curve_series(run_columns())
    assert list(series) == [name for name, _ in plots.PANELS]
    assert series["loss"] == ["train_loss", "val_loss", "train_cls_loss", "train_signer_loss", "train_supcon_loss"]
    assert series["accuracy"] == ["train_acc", "val_accuracy", "val_top1", "val_top5"]
    assert series["ranking / F1"] == ["val_macro_f1"]  # absent or all-NaN columns are not drawn
    assert series["signer bias"] == ["val_worst_signer_acc", "val_signer_gap", "val_signer_probe",
                                     "val_signer_probe_chance"]


def test_curve_series_drops_trivial_top5():
    # <= 5 classes: top-5 is 1.0 at every epoch
    assert "val_top5" not in plots.curve_series(run_columns(val_top5=[1.0, 1.0, 1.0]))["accuracy"]
    # a top-5 that reaches 1.0 during the run carries information
    assert "val_top5" in plots.curve_series(run_columns(val_top5=[0.8, 1.0, 1.0]))["accuracy"]


@pytest.mark.parametrize("column", ["train_signer_loss", "train_supcon_loss"])
def test_curve_series_drops_losses_that_are_off(column: str):
    loss = plots.curve_series(run_columns(**{column: [0.0, 0.0, 0.0]}))["loss"]
    assert column not in loss and {"train_loss", "val_loss", "train_cls_loss"} <= set(loss)
    assert column in plots.curve_series(run_columns(**{column: [0.0, 0.2, 0.0]}))["loss"]


@pytest.mark.parametrize("chance", [[1.0, 1.0, 1.0], [NAN, NAN, NAN]])
def test_curve_series_drops_probe_without_several_signers(chance: list[float]):
    # a single validation signer (chance 1.0), or no probe run (NaN): the probe and its chance are not drawn
    bias = plots.curve_series(run_columns(val_signer_probe=[1.0, 1.0, 1.0], val_signer_probe_chance=chance))
    assert bias["signer bias"] == ["val_worst_signer_acc", "val_signer_gap"]


def test_curve_series_all_trivial_panel_is_empty(tmp_path: Path):
    cols = run_columns(val_worst_signer_acc=[NAN] * 3, val_signer_gap=[NAN] * 3, val_signer_probe=[NAN] * 3,
                       val_signer_probe_chance=[NAN] * 3)
    assert plots.curve_series(cols)["signer bias"] == []
    fig = plots.curves_figure(cols)
    try:
        ax = fig.axes[[name for name, _ in plots.PANELS].index("signer bias")]
        assert not ax.lines and ax.get_legend() is None
        assert any("not logged" in t.get_text() for t in ax.texts)
    finally:
        plots.plt.close(fig)


def test_plot_metrics_writes_1600x400_png(tmp_path: Path):
    csv_path = write_metrics(tmp_path / "metrics.csv", run_columns(val_top5=[1.0] * 3, train_supcon_loss=[0.0] * 3))
    png = plots.plot_metrics(csv_path, tmp_path / "out" / "curves.png")
    assert png == tmp_path / "out" / "curves.png"
    assert mpimg.imread(png).shape[:2] == (400, 1600)


def test_curves_figure_epochs_as_logged_with_integer_ticks(tmp_path: Path):
    cols = plots.read_metrics(write_metrics(tmp_path / "metrics.csv", run_columns(epochs=2)))
    fig = plots.curves_figure(cols)
    try:
        fig.canvas.draw()
        for ax in fig.axes:
            for line in ax.lines:  # the CSV's epoch column as-is: 1, 2 (no +1)
                assert list(line.get_xdata()) == [1.0, 2.0]
            labels = [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels()]
            assert labels and all(label.lstrip("-").isdigit() for label in labels), labels
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
    finally:
        plots.plt.close(fig)


def test_curves_figure_legends_do_not_cover_the_data(tmp_path: Path):
    fig = plots.curves_figure(run_columns(epochs=4), title="run")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        width, height = fig.canvas.get_width_height()
        assert (width, height) == (1600, 400)
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert len(legends) == len(plots.PANELS)
        for ax in fig.axes:
            box = ax.get_legend().get_window_extent(renderer)
            assert not box.overlaps(ax.get_window_extent(renderer)), f"legend over the {ax.get_title()} panel"
            assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height  # inside the PNG
            for other in fig.axes:
                assert not box.overlaps(other.get_window_extent(renderer))
    finally:
        plots.plt.close(fig)
