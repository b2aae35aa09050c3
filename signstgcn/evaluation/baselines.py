"""The ``logreg`` floor of cross-validation: a logistic regression on the network's own input windows.

    report = logreg_fold(config, out_dir="cv/logreg/fold0/eval", model_path="cv/logreg/fold0/logreg.npz")

:func:`logreg_fold` builds the fold's data exactly as training does (:func:`~signstgcn.training.fit.prepare_data`:
the ``splits_json`` train videos, the label vocabulary, signers and input representation fitted on them), takes
the *evaluation-time* windows (normalized and resampled, no augmentation) of the training videos, flattens each
window's model input ``x (C, T, V)`` to ``C*T*V`` features, standardizes them and fits scikit-learn's
``LogisticRegression`` (multinomial with more than two classes, L2, ``C=1``). The test videos of ``splits_json``
are scored the same way and written as ``eval/report.json`` in the schema of :mod:`.report` (classification
metrics of :mod:`signstgcn.metrics`, per-signer accuracy, confusion matrix or threshold, worst clips, the plots;
no per-fold HTML page, no calibration section: the probabilities are the regression's own), so the
cross-validation tables show the floor beside the networks. A linear model has no embedding: the signer probe
is not measured (null). The fitted model is stored as plain arrays (``logreg.npz``: scaler mean and scale,
coefficients, intercepts, class names), never pickled.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from signstgcn import __version__
from signstgcn.atomic import atomic_open, write_json_atomic
from signstgcn.data.corpus import GROUNDTRUTH_NAME
from signstgcn.data.groundtruth import DROPPED
from signstgcn.data.pipeline import make_dataset
from signstgcn.data.signers import video_signer_names
from signstgcn.data.splits import load_splits
from signstgcn.data.windows import WindowDataset, build_window_index
from signstgcn.errors import DataError
from signstgcn.evaluation.html import worst_clips
from signstgcn.evaluation.report import REPORT_NAME, REPORT_VERSION, class_sections, parts_text
from signstgcn.metrics import binary_metrics, compute_metrics, scalar_metrics
from signstgcn.training.config import TrainConfig
from signstgcn.training.fit import PreparedData, prepare_data

__all__ = ["LOGREG_NAME", "LogRegSettings", "logreg_fold", "window_features"]

LOGREG_NAME = "logreg.npz"
_THRESHOLD = 0.5  # binary decision threshold (a floor has no validation split to tune one on)


@dataclass(frozen=True)
class LogRegSettings:
    """The logistic regression of the floor: inverse L2 strength ``C``, lbfgs iterations, and a cap on the
    training windows (a seeded subsample beyond it; stride-1 windows of long recordings overlap heavily)."""

    C: float = 1.0
    max_iter: int = 3000
    max_train_windows: int = 20_000

    def __post_init__(self) -> None:
        if not (math.isfinite(self.C) and self.C > 0):
            raise ValueError(f"logreg C must be a positive number, got {self.C}")
        if self.max_iter < 1 or self.max_train_windows < 1:
            raise ValueError(f"logreg max_iter and max_train_windows must be >= 1, got {self.max_iter}, "
                             f"{self.max_train_windows}")


def window_features(dataset: WindowDataset, indices: np.ndarray | None = None) -> np.ndarray:
    """``(N, C*T*V)`` float32: the model input ``x (C, T, V)`` of each window (of ``indices``), flattened."""
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    if not idx.size:
        return np.zeros((0, 0), dtype=np.float32)
    first = dataset[int(idx[0])]["x"].numpy().reshape(-1)  # (C*T*V,)
    out = np.empty((idx.size, first.size), dtype=np.float32)  # (N, C*T*V)
    out[0] = first
    for row, i in enumerate(idx[1:], start=1):
        out[row] = dataset[int(i)]["x"].numpy().reshape(-1)
    return out


def _fit(x: np.ndarray, y: np.ndarray, settings: LogRegSettings, seed: int) -> tuple[StandardScaler,
                                                                                       LogisticRegression, bool]:
    """Standardize and fit; returns (scaler, model, converged)."""
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=settings.C, max_iter=settings.max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(scaler.transform(x), y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return scaler, model, converged


def _probabilities(scaler: StandardScaler, model: LogisticRegression, x: np.ndarray, num_classes: int,
                   binary: bool) -> np.ndarray:
    """Binary: ``(N,)`` positive probability; multi-class: ``(N, K)`` over the whole vocabulary (0 for a class
    absent from the training windows)."""
    p = model.predict_proba(scaler.transform(x))  # (N, K_seen)
    full = np.zeros((x.shape[0], 2 if binary else num_classes), dtype=np.float64)  # (N, K)
    full[:, model.classes_.astype(np.int64)] = p
    return full[:, 1] if binary else full


def _save_model(path: Path, scaler: StandardScaler, model: LogisticRegression, class_names: list[str],
                record: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        np.savez(f, mean=scaler.mean_, scale=scaler.scale_, coef=model.coef_, intercept=model.intercept_,
                 classes=model.classes_, class_names=np.array(class_names, dtype=str),
                 settings=np.array(json.dumps(record)))
    return path


def _out_of_vocab(data: PreparedData, ids: list[str]) -> tuple[dict[str, int], int | None]:
    """Windows of ``ids`` whose label is outside the vocabulary, per label, and all labeled windows (multi-class;
    the network's report counts them the same way)."""
    vocab, gt = data.config.vocab, data.corpus.gt
    assert gt is not None
    if vocab.binary:
        return {}, None
    classes = list(vocab.classes)
    extra = sorted(label for label in gt.labels_present(ids) if vocab.encode(label) == DROPPED)
    mapping = {c: i for i, c in enumerate(classes)} | {label: len(classes) + j for j, label in enumerate(extra)}
    labels = [gt.frame_labels(v, data.corpus.num_frames(v), mapping) for v in ids]
    full = build_window_index(labels, data.config.window, binary=False)
    oov = Counter(extra[int(y) - len(classes)] for y in full.label if y >= len(classes))
    return dict(sorted(oov.items())), len(full)


def logreg_fold(config: TrainConfig, out_dir: str | Path, model_path: str | Path, *,
                settings: LogRegSettings | None = None, progress: bool = False) -> dict[str, Any]:
    """Fit the floor on the ``train`` videos of ``config.data.splits_json`` and score its ``test`` videos.

    Writes ``model_path`` (``logreg.npz``) and ``out_dir/report.json`` + plots (replacing a previous report);
    returns the report. ``config`` is the fold's training config (its data, input and seed settings are used).
    """
    settings = settings or LogRegSettings()
    if not config.data.splits_json:
        raise ValueError("logreg_fold: the fold's config needs splits_json (train and test videos)")
    data = prepare_data(config, progress=progress)
    test_ids = load_splits(config.data.splits_json)["test"]
    if not test_ids:
        raise DataError(f"{config.data.splits_json}: the 'test' split is empty")
    seed, cfg, binary = config.run.seed, data.config, config.data.binary
    train = make_dataset(data.corpus, data.train_ids, cfg, train=False, seed=seed)
    test = make_dataset(data.corpus, test_ids, cfg, train=False, seed=seed)
    if not len(test):
        raise DataError(f"{config.data.splits_json}: the {len(test_ids)} test videos give no window with a label of "
                        f"the training vocabulary")
    rng = np.random.default_rng(seed)
    used = np.arange(len(train))
    if used.size > settings.max_train_windows:
        used = np.sort(rng.choice(used.size, size=settings.max_train_windows, replace=False))
    y_train = np.asarray(train.labels, dtype=np.int64)[used]  # (N_train,)
    if np.unique(y_train).size < 2:
        raise DataError(f"{config.data.splits_json}: the training windows hold one class only; a classifier needs "
                        f"at least two")
    x_train = window_features(train, used)  # (N_train, C*T*V)
    tic = time.perf_counter()
    scaler, model, converged = _fit(x_train, y_train, settings, seed)
    fit_seconds = time.perf_counter() - tic
    num_classes = cfg.vocab.num_classes
    scores = _probabilities(scaler, model, window_features(test), num_classes, binary)  # (N,) or (N, K)
    labels = np.asarray(test.labels, dtype=np.int64)  # (N,)
    videos = np.asarray(test.index.video, dtype=np.int64)  # (N,)
    names, source = video_signer_names(test.video_ids, data.corpus.signers, source=cfg.signer_source,
                                       pseudo_ids=test.signer_ids)
    signers = np.array(names, dtype=object)[videos]  # (N,) None = unknown
    metrics = compute_metrics({"probs": scores, "labels": labels, "signers": signers}, binary=binary,
                              threshold=_THRESHOLD, probe=False)
    truth = scores if not binary else np.stack([1.0 - scores, scores], axis=1)  # (N, K)
    metrics["loss"] = float(-np.mean(np.log(np.clip(truth[np.arange(labels.size), labels], 1e-12, None))))
    preds = (scores >= _THRESHOLD).astype(np.int64) if binary else np.argmax(scores, axis=1).astype(np.int64)

    class_names = list(cfg.vocab.classes)
    record = {**asdict(settings), "iterations": int(np.max(model.n_iter_)), "converged": converged,
              "features": int(scaler.mean_.size), "train_windows": len(train), "train_windows_used": int(used.size),
              "fit_seconds": fit_seconds, "seed": seed}
    path = _save_model(Path(model_path), scaler, model, class_names, record)
    report = _report(config, data, test, test_ids, path, model, record, metrics, labels, preds, scores, signers,
                     names, source)
    report["worst_clips"] = worst_clips(list(test.video_ids), videos, labels, preds, scores, signers, class_names,
                                        threshold=_THRESHOLD if binary else None)
    _save(report, Path(out_dir), scores, labels)
    return report


_OWN_FILES = (REPORT_NAME, "report.html", "predictions.csv", "confusion.png", "pr_curve.png", "roc_curve.png",
              "per_signer.png", "reliability.png")  # what an earlier evaluation of the fold may have left


def _save(report: dict[str, Any], out: Path, scores: np.ndarray, labels: np.ndarray) -> None:
    """``out/report.json`` and the plots of :func:`signstgcn.evaluation.report.save_evaluation` (no HTML page: the
    cross-validation's page shows the fold)."""
    from signstgcn import plots as P

    out.mkdir(parents=True, exist_ok=True)
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    title = f"logreg on {Path(report['data']['dir']).name} (test)"
    written = []
    if report["checkpoint"]["task"] == "binary":
        marks = {"threshold": _THRESHOLD}
        written.append(P.plot_pr_curve(scores, labels, out / "pr_curve.png", thresholds=marks,
                                       title=f"precision-recall: {title}"))
        written.append(P.plot_roc_curve(scores, labels, out / "roc_curve.png", thresholds=marks, title=f"ROC: {title}"))
    else:
        cm = report["confusion_matrix"]
        written.append(P.plot_confusion(cm["counts"], cm["classes"], out / "confusion.png",
                                        title=f"confusion (rows normalized): {title}"))
    if report["per_signer_acc"]:
        written.append(P.plot_per_signer(report["per_signer_acc"], out / "per_signer.png",
                                         counts=report["per_signer_windows"],
                                         title=f"accuracy per signer ({report['signers']['source']} ids)"))
    report["plots"] = [p.name for p in written]
    write_json_atomic(out / REPORT_NAME, report)


def _report(config: TrainConfig, data: PreparedData, test: WindowDataset, test_ids: list[str], path: Path,
            model: LogisticRegression, record: dict[str, Any], metrics: dict[str, Any], labels: np.ndarray,
            preds: np.ndarray, scores: np.ndarray, signers: np.ndarray, names: list[str | None],
            source: str) -> dict[str, Any]:
    """``report.json`` in the schema of :mod:`signstgcn.evaluation.report` (a ``model`` section says what the
    floor is; the signer probe is null)."""
    cfg, corpus = data.config, data.corpus
    binary, classes = cfg.vocab.binary, list(cfg.vocab.classes)
    oov, labeled = _out_of_vocab(data, test_ids)
    present = corpus.gt.labels_present(test_ids) if corpus.gt is not None else Counter()
    absent = ([] if any(cfg.vocab.encode(label) == 1 for label in present) else ["signing"]) if binary else \
        [c for c in classes if c not in present]
    known = np.array([s is not None for s in signers], dtype=bool)
    counts: dict[str, Any] = {
        "videos": len(test_ids), "windows": len(test), "signers": int(metrics.get("num_signers", 0)),
        "videos_without_windows": len(test_ids) - len(np.unique(test.index.video)),
        "windows_out_of_vocab": (labeled - len(test)) if labeled else 0, "labels_out_of_vocab": oov,
        "classes_absent": absent, "videos_seen_in_training": len(set(test_ids) & set(data.train_ids)),
        "same_data_dir_as_training": True,
    }
    extra: dict[str, Any] = {}
    if binary:
        counts["positive_windows"] = int(np.count_nonzero(labels == 1))
        best = float(metrics["best_threshold"])
        threshold = {"used": _THRESHOLD, "source": "default", "best_f1": best if math.isfinite(metrics["best_f1"])
                     else None, "best_f1_value": metrics["best_f1"],
                     "note": "best_f1 is tuned on this split itself: optimistic"}
        extra["metrics_at_best_threshold"] = binary_metrics(scores, labels, best)
    else:
        threshold = None
        sections = class_sections(preds, labels, signers, classes)
        counts.update(sections.pop("counts"))
        extra.update(sections)
        extra["label_warnings"] = extra.pop("warnings")
    win, gt = cfg.window, corpus.gt
    notes = {"real": "real signer ids from signers.txt or the npz 'signer' scalar",
             "pseudo": "pseudo-signers of the K-means fitted on the training videos",
             "none": "the data has no signer ids: no per-signer metrics"}
    warnings_: list[str] = []
    if not record["converged"]:
        warnings_.append(f"the logistic regression did not converge in {record['max_iter']} lbfgs iterations")
    if record["train_windows_used"] < record["train_windows"]:
        warnings_.append(f"fitted on a seeded subsample of {record['train_windows_used']} of the "
                         f"{record['train_windows']} training windows")
    if oov:
        warnings_.append(f"{sum(oov.values())} windows have labels outside the training vocabulary and are not used")
    if source == "none":
        warnings_.append(notes["none"])
    if binary and win.sample_mode != "video":
        warnings_.append("window metrics only: the frame-level detection metrics (frame_*) of signstgcn detect are "
                         "not computed for the logreg floor")
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "signstgcn": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": {
            "path": str(path.resolve()), "epoch": None, "task": "binary" if binary else "multiclass",
            "classes": classes, "signing_labels": list(cfg.vocab.signing_labels) if binary else None,
            "trained_signer_source": cfg.signer_source, "trained_signers": len(cfg.signers),
            "adversarial_head": False, "signer_encoder": False, "attention": "none",
            "parameters": int(model.coef_.size + model.intercept_.size), "model": "logreg",
        },
        "model": {"kind": "logistic regression (scikit-learn, L2, lbfgs; multinomial with more than two classes)",
                  "input": "the network's evaluation-time input windows (normalized, resampled, no augmentation) "
                           "flattened to C*T*V features and standardized on the training windows",
                  **record},
        "data": {"dir": str(corpus.data_dir.resolve()),
                 "groundtruth": str(gt.path) if gt is not None and gt.path is not None
                 else str(corpus.data_dir / GROUNDTRUTH_NAME),
                 "split": "test", "split_source": f"{config.data.splits_json} ('test')"},
        "settings": {"window": win.length, "stride": win.stride, "rule": win.rule, "sample_mode": win.sample_mode,
                     "parts": parts_text(cfg.selection), "layout": corpus.layout.name,
                     "joints": corpus.layout.num_nodes, "overridden": {}},
        "counts": counts,
        "signers": {"source": source, "note": notes[source], "videos_without_signer": sum(s is None for s in names)},
        "threshold": threshold,
        "metrics": scalar_metrics(metrics),
    }
    if "metrics_at_best_threshold" in extra:
        report["metrics_at_best_threshold"] = extra.pop("metrics_at_best_threshold")
    report["per_signer_acc"] = metrics.get("per_signer_acc", {})
    report["per_signer_windows"] = dict(sorted(Counter(str(s) for s in signers[known]).items()))
    report["signer_probe"] = {"accuracy": None, "chance": None, "within_class_accuracy": None,
                              "within_class_chance": None, "embedding": None, "signer_embedding_accuracy": None,
                              "method": "not measured: a linear model on the input has no embedding"}
    label_warnings = extra.pop("label_warnings", [])
    report.update(extra)
    report["adaptation"] = None
    report["plots"] = []
    report["warnings"] = warnings_ + label_warnings
    return report
