"""Evaluation metrics over a whole split (DESIGN §4): numpy in, plain Python floats out.

Every metric here is computed once over all samples of a split, never averaged over batches (a mean of
per-batch F1 / AUC / accuracy is a different, biased number; :class:`MetricAccumulator` collects the
batches). Returned dicts are JSON-serializable; their keys are stable snake_case names that become
``metrics.csv`` columns:

- binary (:func:`binary_metrics`): ``accuracy, precision, recall, f1, pr_auc, roc_auc, pos_rate,
  pred_pos_rate`` (+ ``best_threshold, best_f1`` from :func:`compute_metrics`);
- multi-class (:func:`multiclass_metrics`): ``top1, top5, macro_f1``;
- signer bias (:func:`signer_bias_metrics`): ``per_signer_acc`` (dict, not a column),
  ``mean_signer_acc, worst_signer_acc, best_signer_acc, signer_gap, num_signers``;
- signer probe (:func:`signer_probe`): ``signer_probe, signer_probe_chance`` (lower is better);
- within-class signer probe (:func:`within_class_signer_probe`): ``within_class_signer_probe,
  within_class_signer_probe_chance``: the same probe inside each class, averaged over classes (what the
  class cannot explain; lower is better);
- calibration (:func:`reliability_bins`): ``ece`` (expected calibration error over 15 equal-width bins);
- open set (:func:`open_set_metrics`): ``open_set_auroc, open_set_threshold, unknown_rejected, known_rejected,
  known_correct_kept``: known vs unknown-label samples scored by the top-1 probability.

Undefined values are ``float("nan")`` (e.g. AUCs when the labels hold one class only), never a warning.
Signer id ``-1`` / ``None`` / NaN means "unknown" and is ignored by the signer metrics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "MetricAccumulator",
    "best_f1_threshold",
    "binary_metrics",
    "compute_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "multiclass_metrics",
    "open_set_metrics",
    "reliability_bins",
    "scalar_metrics",
    "signer_bias_metrics",
    "signer_probe",
    "signer_probe_chance",
    "within_class_signer_probe",
]

NAN = float("nan")


# --------------------------------------------------------------------------------------------- helpers
def _safe_div(num: float, den: float) -> float:
    """``num / den`` as float, 0.0 when ``den == 0`` (sklearn's ``zero_division=0``)."""
    return float(num) / float(den) if den else 0.0


def _as_binary(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary scores and labels; returns ``(probs (N,) float64, labels (N,) int64)``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]  # (N,)
    y = np.asarray(labels).reshape(-1)
    if p.ndim != 1 or p.shape[0] != y.shape[0]:
        raise ValueError(f"probs: expected shape ({y.shape[0]},) matching labels, got {p.shape}")
    if p.size == 0:
        raise ValueError("probs: expected at least one sample, got 0")
    if not np.all(np.isfinite(p)):
        raise ValueError("probs: expected finite values, got NaN or inf")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"labels: expected 0/1 for binary metrics, got values {np.unique(y)[:5]}")
    return p, y.astype(np.int64)


# ---------------------------------------------------------------------------------------------- binary
def binary_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Detection metrics; a sample is predicted positive when ``prob >= threshold``.

    Args:
        probs: ``(N,)`` (or ``(N, 1)``) positive-class probabilities (any monotone score works for the
            AUCs; ``threshold`` must then be on the same scale).
        labels: ``(N,)`` 0/1.

    Returns:
        ``accuracy, precision, recall, f1`` (0 when undefined, like sklearn's ``zero_division=0``),
        ``pr_auc`` (average precision), ``roc_auc`` (both NaN when ``labels`` hold a single class),
        ``pos_rate`` (fraction of positive labels = PR-AUC of a random scorer), ``pred_pos_rate``.
    """
    p, y = _as_binary(probs, labels)
    pred = p >= threshold  # (N,)
    pos = y == 1  # (N,)
    tp = int(np.count_nonzero(pred & pos))
    fp = int(np.count_nonzero(pred & ~pos))
    fn = int(np.count_nonzero(~pred & pos))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    both_classes = 0 < np.count_nonzero(pos) < y.size
    return {
        "accuracy": float(np.mean(pred == pos)),
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * tp, 2 * tp + fp + fn),
        "pr_auc": float(average_precision_score(y, p)) if both_classes else NAN,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else NAN,
        "pos_rate": float(np.mean(pos)),
        "pred_pos_rate": float(np.mean(pred)),
    }


def best_f1_threshold(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold maximizing F1 on the precision-recall curve, and that F1.

    Predicting ``prob >= threshold`` reproduces the returned F1 (``binary_metrics(..., threshold)``).
    Returns ``(0.5, nan)`` when ``labels`` have no positive (F1 is undefined at every threshold).
    """
    p, y = _as_binary(probs, labels)
    if not np.any(y == 1):
        return 0.5, NAN
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    den = precision + recall  # (M,)
    f1 = np.divide(2 * precision * recall, den, out=np.zeros_like(den), where=den > 0)  # (M,)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


# ----------------------------------------------------------------------------------------- multi-class
def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts; row = true class, column = predicted class (sklearn's convention)."""
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    if p.shape != y.shape:
        raise ValueError(f"pred: expected shape {y.shape} matching labels, got {p.shape}")
    for name, a in (("pred", p), ("labels", y)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(
                f"{name}: expected class indices in [0, {num_classes}), got {a.min()}..{a.max()}"
            )
    counts = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)  # (K * K,)
    return counts.reshape(num_classes, num_classes)  # (K, K)


def multiclass_metrics(logits_or_probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Recognition metrics from ``(N, K)`` scores (logits or probabilities) and ``(N,)`` class indices.

    Returns:
        ``top1``; ``top5`` = top-``min(5, K)`` accuracy (1.0 when ``K <= 5``); ``macro_f1`` = sklearn
        macro F1 over the classes present in labels or predictions, ``zero_division=0``.
    """
    scores = np.asarray(logits_or_probs, dtype=np.float64)
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    if scores.ndim != 2 or scores.shape[0] != y.shape[0] or scores.shape[0] == 0:
        raise ValueError(f"logits_or_probs: expected (N, K) with N={y.shape[0]} > 0, got {scores.shape}")
    num_classes = scores.shape[1]
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels: expected class indices in [0, {num_classes}), got {y.min()}..{y.max()}")
    k = min(5, num_classes)
    topk = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (N, k)
    hit = topk == y[:, None]  # (N, k)
    pred = topk[:, 0]  # (N,)
    return {
        "top1": float(np.mean(hit[:, 0])),
        "top5": float(np.mean(hit.any(axis=1))),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
    }


# ----------------------------------------------------------------------------------------- calibration
ECE_BINS = 15


def _confidence_and_hits(probs: np.ndarray, labels: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the probability a reliability diagram bins and whether the event it predicts happened.

    Multi-class ``probs (N, K)``: the top-1 probability and whether the top-1 class is right. Binary ``probs (N,)``:
    the positive probability and whether the sample is positive.
    """
    if binary:
        p, y = _as_binary(probs, labels)
        return p, (y == 1).astype(np.float64)
    scores = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != y.shape[0] or scores.shape[0] == 0:
        raise ValueError(f"probs: expected (N, K) with N={y.shape[0]} > 0, got {scores.shape}")
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1 + 1e-6:
        raise ValueError("probs: expected probabilities in [0, 1] (softmax outputs), got other values")
    if y.min() < 0 or y.max() >= scores.shape[1]:
        raise ValueError(f"labels: expected class indices in [0, {scores.shape[1]}), got {y.min()}..{y.max()}")
    top = np.argmax(scores, axis=1)  # (N,)
    return scores[np.arange(y.size), top], (top == y).astype(np.float64)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, *, binary: bool, bins: int = ECE_BINS) -> dict[str, Any]:
    """A reliability diagram's numbers and the expected calibration error (ECE; Guo et al. 2017).

    Multi-class: the top-1 probability (confidence) of each sample is binned into ``bins`` equal-width bins of
    [0, 1] (bin ``b`` holds ``b/bins <= p < (b+1)/bins``, 1.0 in the last); per bin the mean confidence and the
    top-1 accuracy. Binary: the positive probability is binned, and "accuracy" is the share of positives.
    ``ece = sum_b n_b / N * |accuracy_b - confidence_b|``.

    Returns:
        ``edges`` (bins + 1), ``count``, ``confidence``, ``accuracy`` (bins; NaN for empty bins), ``ece``,
        ``what`` (what was binned, in words).
    """
    if bins < 1:
        raise ValueError(f"bins: expected >= 1, got {bins}")
    conf, hit = _confidence_and_hits(probs, labels, binary)
    idx = np.clip((conf * bins).astype(np.int64), 0, bins - 1)  # (N,)
    count = np.bincount(idx, minlength=bins)  # (bins,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=bins) / count  # (bins,) NaN where empty
        accuracy = np.bincount(idx, weights=hit, minlength=bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / conf.size * np.abs(accuracy[filled] - mean_conf[filled])))
    return {"edges": np.linspace(0.0, 1.0, bins + 1).tolist(), "count": count.tolist(),
            "confidence": mean_conf.tolist(), "accuracy": accuracy.tolist(), "ece": ece,
            "what": ("positive probability vs share of positives" if binary
                     else "top-1 probability vs top-1 accuracy")}


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, binary: bool, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` equal-width bins (see :func:`reliability_bins`): 0 = perfectly calibrated."""
    return float(reliability_bins(probs, labels, binary=binary, bins=bins)["ece"])


# ------------------------------------------------------------------------------------------------ open set
def open_set_metrics(known_scores: np.ndarray, known_correct: np.ndarray, unknown_scores: np.ndarray, *,
                     keep: float = 0.95) -> dict[str, float]:
    """How well a confidence score tells samples of known classes from samples of labels the model never saw.

    Args:
        known_scores: ``(N,)`` score (e.g. the calibrated top-1 probability) of the known-class samples.
        known_correct: ``(N,)`` bool, that sample's top-1 prediction is right.
        unknown_scores: ``(M,)`` the same score of the samples whose label is outside the vocabulary.
        keep: share of the *correct* known predictions the threshold keeps.

    Returns:
        ``open_set_auroc`` (ROC-AUC of known (positive) vs unknown by score; NaN without both), ``open_set_threshold``
        (the ``1 - keep`` quantile of the correct known samples' scores, linear interpolation), ``unknown_rejected``
        (share of unknown samples scored below it), ``known_rejected`` (share of all known samples below it),
        ``known_correct_kept`` (share of correct known samples at or above it, about ``keep``), ``num_known``,
        ``num_unknown``; the threshold-based values are NaN when no known sample is correct.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep: expected a share in (0, 1], got {keep}")
    k = np.asarray(known_scores, dtype=np.float64).reshape(-1)
    c = np.asarray(known_correct).reshape(-1).astype(bool)
    u = np.asarray(unknown_scores, dtype=np.float64).reshape(-1)
    if c.shape != k.shape:
        raise ValueError(f"known_correct: expected shape {k.shape} matching known_scores, got {c.shape}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(u))):
        raise ValueError("scores: expected finite values, got NaN or inf")
    both = k.size > 0 and u.size > 0
    y = np.concatenate([np.ones(k.size), np.zeros(u.size)])
    auroc = float(roc_auc_score(y, np.concatenate([k, u]))) if both else NAN
    threshold = float(np.percentile(k[c], 100.0 * (1.0 - keep))) if c.any() else NAN
    finite = math.isfinite(threshold)
    return {
        "open_set_auroc": auroc,
        "open_set_threshold": threshold,
        "unknown_rejected": float(np.mean(u < threshold)) if finite and u.size else NAN,
        "known_rejected": float(np.mean(k < threshold)) if finite and k.size else NAN,
        "known_correct_kept": float(np.mean(k[c] >= threshold)) if finite else NAN,
        "num_known": int(k.size),
        "num_unknown": int(u.size),
    }


# ----------------------------------------------------------------------------------------- signer bias
def _known_signers(signers: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: signer id is known (not ``-1``, ``None`` or NaN)."""
    s = np.asarray(signers).reshape(-1)
    if s.dtype.kind in "iub":
        return s != -1
    if s.dtype.kind == "f":
        return np.isfinite(s) & (s != -1)
    known = np.ones(s.shape[0], dtype=bool)
    for i, v in enumerate(s.tolist()):
        known[i] = not (v is None or (isinstance(v, float) and math.isnan(v)) or v == -1)
    return known


def _signer_key(value: Any) -> str:
    """JSON-stable key of a signer id: integral numbers as ``"3"``, everything else ``str(value)``."""
    integral = isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    )
    if integral and not isinstance(value, bool):
        return str(int(value))
    return str(value)


def signer_bias_metrics(correct: np.ndarray, signers: np.ndarray) -> dict[str, Any]:
    """Per-signer accuracy and its spread.

    Args:
        correct: ``(N,)`` bool, sample classified correctly.
        signers: ``(N,)`` signer ids (int or str); ``-1`` / ``None`` / NaN = unknown, ignored.

    Returns:
        ``per_signer_acc`` ``{str(signer): acc}`` (sorted by id), ``mean_signer_acc`` (unweighted mean
        over signers), ``worst_signer_acc``, ``best_signer_acc``, ``signer_gap`` (best - worst) and
        ``num_signers``; NaN accuracies and ``num_signers = 0`` when no signer is known.
    """
    c = np.asarray(correct).reshape(-1).astype(bool)
    s = np.asarray(signers).reshape(-1)
    if c.shape != s.shape:
        raise ValueError(f"signers: expected shape {c.shape} matching correct, got {s.shape}")
    known = _known_signers(s)
    c, s = c[known], s[known]
    per: dict[str, float] = {}
    if s.size:
        ids, inverse = np.unique(s, return_inverse=True)  # sorted ids, (M,) index into ids
        hits = np.bincount(inverse, weights=c, minlength=ids.size)  # (num_signers,)
        totals = np.bincount(inverse, minlength=ids.size)  # (num_signers,)
        per = {_signer_key(i): float(h / n) for i, h, n in zip(ids.tolist(), hits, totals)}
    accs = list(per.values())
    worst, best = (min(accs), max(accs)) if accs else (NAN, NAN)
    return {
        "per_signer_acc": per,
        "mean_signer_acc": float(np.mean(accs)) if accs else NAN,
        "worst_signer_acc": worst,
        "best_signer_acc": best,
        "signer_gap": best - worst,
        "num_signers": len(per),
    }


def signer_probe_chance(signers: np.ndarray) -> float:
    """Chance level of :func:`signer_probe`: share of the most frequent known signer (NaN if none)."""
    s = np.asarray(signers).reshape(-1)
    s = s[_known_signers(s)]
    if s.size == 0:
        return NAN
    _, counts = np.unique(s, return_counts=True)
    return float(counts.max() / s.size)


def _probe_model(seed: int) -> Pipeline:
    """Standardize + multinomial logistic regression (lbfgs, L2, C=1).

    ``tol=1e-3`` (sklearn default 1e-4) keeps a 2000 x 512 probe with 30 signers well under 2 s on 2 cores;
    the accuracy of the fitted probe is not sensitive to it.
    """
    return make_pipeline(StandardScaler(), LogisticRegression(tol=1e-3, max_iter=300, random_state=seed))


def _probe_splits(
    y: np.ndarray, groups: np.ndarray | None, folds: int, seed: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]] | None:
    """Samples kept and CV splits over them, or None when fewer than 2 signers can be evaluated.

    Without groups a signer needs >= 2 samples; with groups, >= 2 distinct groups (a test group must
    have its signer seen in other training groups). ``folds`` shrinks to that minimum count.
    """
    units = y if groups is None else np.unique(np.stack([y, groups], axis=1), axis=0)[:, 0]  # one per unit
    ids, counts = np.unique(units, return_counts=True)
    ok_ids = ids[counts >= 2]
    if ok_ids.size < 2:
        return None
    keep = np.flatnonzero(np.isin(y, ok_ids))  # (M,)
    n_splits = int(min(folds, counts[counts >= 2].min()))
    yk = y[keep]
    if groups is None:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        splits = list(cv.split(np.zeros((keep.size, 1)), yk))
    else:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        splits = list(cv.split(np.zeros((keep.size, 1)), yk, groups[keep]))
    return keep, splits


def signer_probe(
    embeddings: np.ndarray,
    signers: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    max_samples: int = 4000,
) -> float:
    """How well a linear model recovers the signer from frozen embeddings (lower = less signer info).

    Cross-validated accuracy (pooled over all test folds) of a logistic regression on standardized
    embeddings, stratified by signer. Compare with :func:`signer_probe_chance`.

    Args:
        embeddings: ``(N, E)`` frozen embeddings (one per window).
        signers: ``(N,)`` signer ids; unknown (``-1`` / ``None``) are dropped.
        groups: ``(N,)`` optional group ids (e.g. video index). Strongly advised for overlapping
            windows: folds then never split a group, so the probe cannot recognise the video instead of
            the signer. Signers seen in a single group are dropped (they cannot be tested unseen).
        folds: number of CV folds, reduced to the smallest per-signer sample (or group) count; signers
            with a single sample (group) are dropped.
        seed: seed of the subsampling and fold shuffling.
        max_samples: at most this many windows are used (uniform subsample with ``seed``) for speed.

    Returns:
        Accuracy in [0, 1]; NaN when fewer than 2 signers can be evaluated.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    s = np.asarray(signers).reshape(-1)
    if x.ndim != 2 or x.shape[0] != s.shape[0]:
        raise ValueError(f"embeddings: expected (N, E) with N={s.shape[0]}, got {x.shape}")
    if folds < 2:
        raise ValueError(f"folds: expected >= 2, got {folds}")
    g = None if groups is None else np.asarray(groups).reshape(-1)
    if g is not None and g.shape != s.shape:
        raise ValueError(f"groups: expected shape {s.shape} matching signers, got {g.shape}")
    idx = np.flatnonzero(_known_signers(s))  # (M,)
    if idx.size > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=max_samples, replace=False))
    _, y = np.unique(s[idx], return_inverse=True)  # (M,) signer index
    x = x[idx]  # (M, E)
    g = None if g is None else np.unique(g[idx], return_inverse=True)[1]  # (M,) group index
    plan = _probe_splits(y, g, folds, seed)
    if plan is None:
        return NAN
    keep, splits = plan
    x, y = x[keep], y[keep]
    pred = np.empty_like(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, test in splits:
            pred[test] = _probe_model(seed).fit(x[train], y[train]).predict(x[test])
    return float(np.mean(pred == y))


def within_class_signer_probe(
    embeddings: np.ndarray,
    signers: np.ndarray,
    labels: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    max_samples: int = 4000,
) -> tuple[float, float]:
    """The signer probe run inside each class, averaged over classes: ``(accuracy, chance)``.

    A plain :func:`signer_probe` also succeeds when signers differ only in which classes they sign (or in
    how the model maps their classes); within one class every window carries the same label, so what the
    probe still recovers there is signer information that the class cannot explain. Each class with at
    least two signers that the probe can test (:func:`signer_probe`'s rules) counts once; its chance is
    the share of its most frequent signer. NaN, NaN when no class qualifies.
    """
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(signers).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels: expected shape {s.shape} matching signers, got {y.shape}")
    g = None if groups is None else np.asarray(groups).reshape(-1)
    x = np.asarray(embeddings)
    accs, chances = [], []
    for cls in np.unique(y):
        rows = np.flatnonzero(y == cls)  # (Nc,)
        acc = signer_probe(x[rows], s[rows], groups=None if g is None else g[rows], folds=folds, seed=seed,
                           max_samples=max_samples)
        if math.isfinite(acc):
            accs.append(acc)
            chances.append(signer_probe_chance(s[rows]))
    if not accs:
        return NAN, NAN
    return float(np.mean(accs)), float(np.mean(chances))


# ------------------------------------------------------------------------------------------ whole split
def compute_metrics(
    outputs: Mapping[str, np.ndarray],
    *,
    binary: bool,
    threshold: float = 0.5,
    probe: bool = True,
    probe_seed: int = 0,
) -> dict[str, Any]:
    """All metrics of one split, computed once over every sample.

    Args:
        outputs: arrays over the whole split: ``"labels"`` ``(N,)`` and ``"logits"`` (binary ``(N,)`` /
            ``(N, 1)``, multi-class ``(N, K)``) or ``"probs"`` (same shapes); optional ``"signers"``
            ``(N,)`` (``-1`` unknown), ``"embeddings"`` ``(N, E)`` and ``"groups"`` ``(N,)`` (video
            index, used by the probe).
        binary: detection (binary) or recognition (multi-class) metrics.
        threshold: decision threshold on the positive probability (binary).
        probe: run :func:`signer_probe` and :func:`within_class_signer_probe` when embeddings and signers
            are given.
        probe_seed: seed of the probe.

    Returns:
        ``num_samples``, the classification keys (binary: ``accuracy, precision, recall, f1, pr_auc,
        roc_auc, pos_rate, pred_pos_rate, best_threshold, best_f1``; multi-class: ``accuracy`` (= top1),
        ``top1, top5, macro_f1``), then always the signer keys ``per_signer_acc, mean_signer_acc,
        worst_signer_acc, best_signer_acc, signer_gap, num_signers, signer_probe,
        signer_probe_chance, within_class_signer_probe, within_class_signer_probe_chance`` (NaN / 0 / {}
        when the inputs are missing), so CSV columns are stable.
    """
    labels = np.asarray(outputs["labels"]).reshape(-1)
    scores = _scores(outputs, binary)
    if binary:
        probs = scores.reshape(-1)  # (N,)
        result: dict[str, Any] = {"num_samples": int(labels.size), **binary_metrics(probs, labels, threshold)}
        result["best_threshold"], result["best_f1"] = best_f1_threshold(probs, labels)
        correct = (probs >= threshold) == (labels == 1)  # (N,)
    else:
        mc = multiclass_metrics(scores, labels)
        result = {"num_samples": int(labels.size), "accuracy": mc["top1"], **mc}
        correct = np.argmax(scores, axis=1) == labels  # (N,)
    signers = outputs.get("signers")
    if signers is None:
        signers = np.full(labels.shape, -1, dtype=np.int64)
    result.update(signer_bias_metrics(correct, signers))
    embeddings = outputs.get("embeddings")
    run_probe = probe and embeddings is not None
    groups = outputs.get("groups")
    result["signer_probe"] = (
        signer_probe(embeddings, signers, groups=groups, seed=probe_seed) if run_probe else NAN
    )
    result["signer_probe_chance"] = signer_probe_chance(signers) if run_probe else NAN
    within = (within_class_signer_probe(embeddings, signers, labels, groups=groups, seed=probe_seed)
              if run_probe else (NAN, NAN))
    result["within_class_signer_probe"], result["within_class_signer_probe_chance"] = within
    return result


def _scores(outputs: Mapping[str, np.ndarray], binary: bool) -> np.ndarray:
    """Binary: positive probabilities ``(N,)``; multi-class: the ``(N, K)`` logits or probabilities."""
    if "probs" in outputs:
        scores = np.asarray(outputs["probs"], dtype=np.float64)
    elif "logits" in outputs:
        scores = np.asarray(outputs["logits"], dtype=np.float64)
        if binary:
            scores = expit(scores)
    else:
        raise ValueError(f"outputs: expected a 'logits' or 'probs' entry, got keys {sorted(outputs)}")
    if binary and not (scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1)):
        raise ValueError(f"outputs: binary scores must be (N,) or (N, 1), got {scores.shape}")
    return scores


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float | int]:
    """Only the scalar entries (the ``metrics.csv`` columns), dropping e.g. ``per_signer_acc``."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class MetricAccumulator:
    """Collects per-batch outputs on CPU and computes metrics once over the whole split.

    Usage::

        acc = MetricAccumulator(binary=True)
        for batch in loader:
            out = model(batch["x"], batch["mask"], batch["stats"])
            acc.update(out.logits, batch["label"], signers=batch["signer"], embeddings=out.embedding,
                       groups=batch["video"])
        metrics = acc.compute()

    Optional fields must be given in every batch or in none.
    """

    _FIELDS = ("logits", "labels", "signers", "embeddings", "groups")

    def __init__(self, *, binary: bool, threshold: float = 0.5) -> None:
        self.binary = binary
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        """Forget every batch."""
        self._parts: dict[str, list[np.ndarray]] = {k: [] for k in self._FIELDS}
        self._batches = 0

    def __len__(self) -> int:
        """Number of samples collected so far."""
        return int(sum(a.shape[0] for a in self._parts["labels"]))

    def update(
        self,
        logits: torch.Tensor | np.ndarray,
        labels: torch.Tensor | np.ndarray,
        *,
        signers: torch.Tensor | np.ndarray | None = None,
        embeddings: torch.Tensor | np.ndarray | None = None,
        groups: torch.Tensor | np.ndarray | None = None,
    ) -> None:
        """Add one batch (tensors are detached and copied to CPU numpy)."""
        batch = {"logits": logits, "labels": labels, "signers": signers, "embeddings": embeddings,
                 "groups": groups}
        n = int(labels.shape[0])
        for key, value in batch.items():
            if self._batches > 0 and (value is not None) != bool(self._parts[key]):
                raise ValueError(f"MetricAccumulator.update: '{key}' must be given in every batch or in none")
            if value is None:
                continue
            arr = _to_numpy(value)
            if arr.shape[0] != n:
                raise ValueError(f"MetricAccumulator.update: '{key}' has {arr.shape[0]} rows, labels {n}")
            self._parts[key].append(arr)
        self._batches += 1

    def outputs(self) -> dict[str, np.ndarray]:
        """The concatenated arrays (only the fields that were given)."""
        if self._batches == 0:
            raise ValueError("MetricAccumulator: no batch was added")
        return {k: np.concatenate(v, axis=0) for k, v in self._parts.items() if v}

    def compute(self, *, probe: bool = True, probe_seed: int = 0) -> dict[str, Any]:
        """:func:`compute_metrics` over everything collected."""
        return compute_metrics(
            self.outputs(), binary=self.binary, threshold=self.threshold, probe=probe, probe_seed=probe_seed
        )


def _to_numpy(value: torch.Tensor | np.ndarray) -> np.ndarray:
    """Detached CPU copy; floating tensors as float32 (bf16/fp16 safe)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.is_floating_point():
            t = t.float()
        return t.cpu().numpy().copy()
    return np.array(value, copy=True)
