"""Training curves from ``metrics.csv`` (matplotlib, no display needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from signstgcn.errors import DataError  # noqa: E402

# Training curves (``curves.png``): one panel per entry, drawing the columns of ``metrics.csv`` it lists.
#
# Which series a panel draws (:func:`curve_series`): a column is drawn when it is logged (at least one finite
# value) and carries information. It is not drawn when
# - every logged value equals its trivial value in ``TRIVIAL``: ``val_top5`` = 1.0 (top-5 of <= 5 classes is
#   always right), ``train_signer_loss`` / ``train_supcon_loss`` = 0.0 (that loss is off) and
#   ``val_signer_probe_chance`` = 1.0 (a single validation signer: every guess of the probe is right);
# - the column it is read against (``REFERENCE``) is not drawn: the signer probe only with its chance, so a
#   probe without a chance (NaN: no probe run) or with chance 1.0 is dropped together with it.
# A panel left without series says "not logged".
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("train_loss", "val_loss", "train_cls_loss", "train_signer_loss", "train_supcon_loss")),
    ("accuracy", ("train_acc", "val_accuracy", "val_top1", "val_top5")),
    ("ranking / F1", ("val_pr_auc", "val_roc_auc", "val_f1", "val_macro_f1")),
    ("signer bias", ("val_worst_signer_acc", "val_signer_gap", "val_signer_probe", "val_signer_probe_chance")),
)
TRIVIAL: dict[str, float] = {
    "val_top5": 1.0,
    "train_signer_loss": 0.0,
    "train_supcon_loss": 0.0,
    "val_signer_probe_chance": 1.0,
}
REFERENCE: dict[str, str] = {"val_signer_probe": "val_signer_probe_chance"}
CURVES_SIZE = (16.0, 4.0)  # curves.png in inches at FIG_DPI: 1600x400 px
_LEGEND_COLUMNS = 3
_LEGEND_DROP_PT = 34.0  # legend top this far below each panel's bottom edge: under the tick labels and x label


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


def _informative(key: str, cols: dict[str, list[float]]) -> bool:
    """Whether column ``key`` is logged and not constant at its trivial value (see ``TRIVIAL``)."""
    finite = [v for v in cols.get(key, ()) if math.isfinite(v)]
    if not finite:
        return False
    trivial = TRIVIAL.get(key)
    return trivial is None or any(abs(v - trivial) > 1e-9 for v in finite)


def curve_series(cols: dict[str, list[float]]) -> dict[str, list[str]]:
    """The columns each panel of ``curves.png`` draws (panel title → columns in ``PANELS`` order).

    A column is drawn when it is logged, is not constant at its trivial value (``TRIVIAL``) and the column it is
    read against (``REFERENCE``) is drawn too; see the rule above ``PANELS``.
    """
    def drawn(key: str) -> bool:
        return _informative(key, cols) and (key not in REFERENCE or drawn(REFERENCE[key]))

    return {name: [key for key in keys if drawn(key)] for name, keys in PANELS}


def curves_figure(cols: dict[str, list[float]], *, title: str | None = None) -> Figure:
    """The ``curves.png`` figure of :func:`read_metrics` columns (1600x400 px; the caller closes it).

    The x axis is the ``epoch`` column as logged (``metrics.csv`` numbers the first epoch 1) with integer
    ticks; each panel's legend sits below it, outside the axes, so it never covers a curve.
    """
    epochs = cols["epoch"]
    series = curve_series(cols)
    fig, axes = plt.subplots(1, len(PANELS), figsize=CURVES_SIZE, dpi=FIG_DPI)
    for ax, (name, _) in zip(axes, PANELS):
        for key in series[name]:
            ax.plot(epochs, cols[key], marker="o", markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if series[name]:
            below = offset_copy(ax.transAxes, fig=fig, y=-_LEGEND_DROP_PT, units="points")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, fontsize=7,
                      ncols=min(_LEGEND_COLUMNS, len(series[name])), frameon=False)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="gray")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_metrics(csv_path: str | Path, out_png: str | Path, *, title: str | None = None) -> Path:
    """Draw loss, accuracy, ranking and signer-bias curves per epoch into one PNG (1600x400 px).

    Series that carry no information are left out (:func:`curve_series`); the x axis is the CSV's ``epoch``
    column as-is (no +1: ``metrics.csv`` numbers the first epoch 1), with integer ticks. ``title`` defaults
    to the name of the CSV's folder (the run).
    """
    fig = curves_figure(read_metrics(csv_path), title=title or str(Path(csv_path).parent.name))
    return _save(fig, out_png)


# ------------------------------------------------------------------------------ evaluation report plots
# Figure sizes in inches at FIG_DPI; the PNGs are exactly these sizes times FIG_DPI (no tight bbox).
FIG_DPI = 100
CURVE_SIZE = (6.0, 5.0)  # pr_curve.png, roc_curve.png: 600x500 px
PER_SIGNER_HEIGHT = 4.5  # per_signer.png: max(8, 0.4 * signers) x 4.5 in
EMBEDDING_PANEL = (7.0, 6.0)  # embeddings: per panel; 2x2 panels = 1400x1200 px, 1 row = 1400x600 px
_MAX_LEGEND = 20  # categories beyond this get no legend entries


def confusion_size(num_classes: int) -> tuple[float, float]:
    """confusion.png size in inches: 8x7 up to 20 classes, then growing with the class count (max 30)."""
    side = min(30.0, max(8.0, 0.4 * num_classes))
    return side, side - 1.0


def _save(fig, out_png: str | Path) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=FIG_DPI)
    plt.close(fig)
    return out_png


def plot_confusion(counts, class_names, out_png: str | Path, *, title: str = "confusion matrix") -> Path:
    """Row-normalized confusion matrix (row = true class, column = predicted) with class names.

    Cells show the row share (and counts when there are at most 20 classes); rows without samples stay
    empty (grey) rather than dividing by zero.
    """
    cm = np.asarray(counts, dtype=np.float64)  # (K, K)
    k = cm.shape[0]
    if cm.ndim != 2 or cm.shape != (k, k) or len(class_names) != k:
        raise ValueError(f"confusion: expected (K, K) counts with K={len(class_names)} names, got {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)  # (K, 1)
    share = np.divide(cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)  # (K, K)
    fig, ax = plt.subplots(figsize=confusion_size(k), dpi=FIG_DPI)
    cmap = plt.get_cmap("Blues").with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ticks = np.arange(k)
    fontsize = 9 if k <= 10 else 7 if k <= 20 else 5
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=90 if k > 6 else 45,
                  ha="center" if k > 6 else "right", fontsize=fontsize)
    ax.set_yticks(ticks, [str(c) for c in class_names], fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if rows[i, 0] > 0:
                    v = share[i, j]
                    ax.text(j, i, f"{v:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=fontsize - 1,
                            color="white" if v > 0.6 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, out_png)


def _one_class_note(ax, labels) -> bool:
    y = np.asarray(labels).reshape(-1)
    if y.size and 0 < int(np.count_nonzero(y == 1)) < y.size:
        return False
    ax.text(0.5, 0.5, "undefined: the labels hold a single class", ha="center", va="center",
            transform=ax.transAxes, color="gray")
    return True


def plot_pr_curve(probs, labels, out_png: str | Path, *, thresholds: dict[str, float] | None = None,
                  title: str = "precision-recall") -> Path:
    """Precision-recall curve (sklearn) with average precision, the positive-rate baseline and the
    operating points of ``thresholds`` (name → probability threshold)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    fig, ax = plt.subplots(figsize=CURVE_SIZE, dpi=FIG_DPI)
    if not _one_class_note(ax, y):
        precision, recall, _ = precision_recall_curve(y, p)
        ax.step(recall, precision, where="post", label=f"model (AP = {average_precision_score(y, p):.3f})")
        ax.axhline(float(np.mean(y == 1)), color="gray", ls="--", lw=1, label=f"chance ({np.mean(y == 1):.3f})")
        for k, (name, t) in enumerate((thresholds or {}).items()):
            pred = p >= t
            tp = int(np.count_nonzero(pred & (y == 1)))
            prec = tp / max(int(np.count_nonzero(pred)), 1)
            rec = tp / max(int(np.count_nonzero(y == 1)), 1)
            ax.plot([rec], [prec], marker="os^"[k % 3], ls="none", ms=8, clip_on=False, label=f"{name} = {t:.3g}")
        ax.legend(loc="lower left", fontsize=8)
    ax.set(xlim=(-0.01, 1.01), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_roc_curve(probs, labels, out_png: str | Path, *, thresholds: dict[str, float] | None = None,
                   title: str = "ROC") -> Path:
    """ROC curve (sklearn) with its AUC, the diagonal and the operating points of ``thresholds``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    fig, ax = plt.subplots(figsize=CURVE_SIZE, dpi=FIG_DPI)
    if not _one_class_note(ax, y):
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"model (AUC = {roc_auc_score(y, p):.3f})")
        ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="chance")
        for k, (name, t) in enumerate((thresholds or {}).items()):
            pred = p >= t
            tpr_t = np.count_nonzero(pred & (y == 1)) / max(int(np.count_nonzero(y == 1)), 1)
            fpr_t = np.count_nonzero(pred & (y == 0)) / max(int(np.count_nonzero(y == 0)), 1)
            ax.plot([fpr_t], [tpr_t], marker="os^"[k % 3], ls="none", ms=8, clip_on=False, label=f"{name} = {t:.3g}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlim=(-0.01, 1.01), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_png)


RELIABILITY_SIZE = (6.0, 6.0)  # reliability.png: 600x600 px


def plot_reliability(bins: dict, out_png: str | Path, *, title: str = "reliability",
                     before: dict | None = None) -> Path:
    """Reliability diagram: per confidence bin the accuracy (bars) against the mean confidence (the diagonal is
    perfect calibration), the gap shaded, and below it how many samples each bin holds.

    ``bins``: :func:`signstgcn.metrics.reliability_bins` of the calibrated probabilities; ``before``: the same of the
    uncalibrated ones (drawn as a line, when the temperature is not 1).
    """
    edges = np.asarray(bins["edges"], dtype=np.float64)  # (B + 1,)
    count = np.asarray(bins["count"], dtype=np.float64)  # (B,)
    acc = np.asarray([np.nan if v is None else v for v in bins["accuracy"]], dtype=np.float64)  # (B,)
    conf = np.asarray([np.nan if v is None else v for v in bins["confidence"]], dtype=np.float64)  # (B,)
    left, width = edges[:-1], np.diff(edges)
    centre = left + width / 2
    fig, (ax, axn) = plt.subplots(2, 1, figsize=RELIABILITY_SIZE, dpi=FIG_DPI, sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    filled = count > 0
    ax.bar(left[filled], acc[filled], width=width[filled], align="edge", color="#4c78a8", edgecolor="white",
           label=f"accuracy (ECE {bins['ece']:.3f})")
    gap_low, gap_high = np.minimum(acc, conf)[filled], np.maximum(acc, conf)[filled]
    ax.bar(left[filled], gap_high - gap_low, bottom=gap_low, width=width[filled], align="edge", color="#e45756",
           alpha=0.35, edgecolor="#e45756", label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="perfect calibration")
    if before is not None:
        b_conf = np.asarray([np.nan if v is None else v for v in before["confidence"]], dtype=np.float64)
        b_acc = np.asarray([np.nan if v is None else v for v in before["accuracy"]], dtype=np.float64)
        ok = np.isfinite(b_conf) & np.isfinite(b_acc)
        ax.plot(b_conf[ok], b_acc[ok], "o-", color="#f58518", ms=3, lw=1,
                label=f"before temperature (ECE {before['ece']:.3f})")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="accuracy" if "top-1" in bins.get("what", "top-1") else
           "share of positives", title=title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    axn.bar(centre, count, width=width * 0.9, color="#9d9d9d")
    axn.set_yscale("symlog", linthresh=1)
    axn.set(xlabel="confidence (top-1 probability)" if "top-1" in bins.get("what", "top-1") else
            "positive probability", ylabel="samples")
    axn.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, out_png)


def per_signer_size(num_signers: int) -> tuple[float, float]:
    """per_signer.png size in inches: 8 wide up to 20 signers, then 0.4 in per signer (max 40)."""
    return min(40.0, max(8.0, 0.4 * num_signers)), PER_SIGNER_HEIGHT


def plot_per_signer(per_signer_acc: dict[str, float], out_png: str | Path, *,
                    counts: dict[str, int] | None = None, title: str = "accuracy per signer") -> Path:
    """Bar chart of per-signer accuracy (worst in red) with the mean over signers as a line."""
    names = list(per_signer_acc)
    acc = np.array([per_signer_acc[n] for n in names], dtype=np.float64)
    fig, ax = plt.subplots(figsize=per_signer_size(len(names)), dpi=FIG_DPI)
    if names:
        colors = ["#d62728" if v == acc.min() else "#1f77b4" for v in acc]
        bars = ax.bar(np.arange(len(names)), acc, color=colors)
        mean = float(acc.mean())
        ax.axhline(mean, color="black", ls="--", lw=1, label=f"mean over signers {mean:.3f}")
        ax.set_xticks(np.arange(len(names)), names, rotation=45 if len(names) > 8 else 0, ha="right"
                      if len(names) > 8 else "center", fontsize=8)
        if counts is not None and len(names) <= 30:
            for bar, n in zip(bars, names):
                ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, str(counts.get(n, "")),
                        ha="center", va="bottom", fontsize=7, color="gray")
        ax.legend(loc="upper right", fontsize=8)
        ax.set_title(f"{title} (worst {acc.min():.3f}, gap {acc.max() - acc.min():.3f})")
    else:
        ax.text(0.5, 0.5, "no signer ids", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_title(title)
    ax.set(ylim=(0, 1.2), ylabel="accuracy", xlabel="signer" + (" (number = windows)" if counts else ""))
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, out_png)


def _scatter_by(ax, xy, categories, title: str) -> None:
    """Scatter ``xy (N, 2)`` coloured by the string ``categories (N,)``; legend up to 20 categories."""
    cats = np.asarray([str(c) for c in categories], dtype=object)
    names = sorted(set(cats.tolist()))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    size = 12 if len(cats) <= 2000 else 4
    for k, name in enumerate(names):
        sel = cats == name
        color = cmap(k % cmap.N) if len(names) <= 20 else plt.get_cmap("hsv")(k / len(names))
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size, alpha=0.75, color=color, label=name if k < _MAX_LEGEND else None,
                   linewidths=0)
    if names:
        extra = f" (first {_MAX_LEGEND} of {len(names)})" if len(names) > _MAX_LEGEND else ""
        ax.legend(fontsize=7, markerscale=1.5, loc="best", title=extra or None, title_fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_embeddings(panels: dict[str, object], signers, labels, out_png: str | Path, *,
                    method: str = "tsne", title: str | None = None, note: str | None = None) -> Path:
    """2-D embeddings, one row per entry of ``panels`` (name → ``(N, 2)`` coords), coloured by signer
    (left) and by label (right). Two rows (signer + classifier embedding) = 1400x1200 px, one = 1400x600."""
    rows = list(panels.items())
    if not rows:
        raise ValueError("plot_embeddings: nothing to draw (no embedding given)")
    w, h = EMBEDDING_PANEL
    fig, axes = plt.subplots(len(rows), 2, figsize=(2 * w, h * len(rows)), dpi=FIG_DPI, squeeze=False)
    for r, (name, xy) in enumerate(rows):
        _scatter_by(axes[r, 0], xy, signers, f"{name} embedding ({method}) by signer")
        _scatter_by(axes[r, 1], xy, labels, f"{name} embedding ({method}) by label")
    if title or note:
        fig.suptitle("\n".join(t for t in (title, note) if t), fontsize=10)
    fig.tight_layout()
    return _save(fig, out_png)
