"""Frame-level detection metrics: ``signstgcn detect``'s per-frame probability against ground-truth frames.

Window metrics score the training unit (a window and its majority label); a user of a detector sees one
probability per frame. :func:`frame_detection_metrics` runs :func:`signstgcn.inference.predictor.detect` over whole
videos with detect's defaults (every window covering a frame averaged with centre weighting, a 5-frame
moving median, stride ``window // 5``) and compares its probability with every labeled frame:
pooled detection metrics (PR-AUC, ROC-AUC, F1 at a threshold, ...), the PR-AUC of each signer, and segment
precision / recall / F1: detect's segments at the threshold against the runs of signing frames, matched one to
one at IoU >= 0.5 (:mod:`signstgcn.evaluation.segments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from signstgcn.data.groundtruth import GroundTruth
from signstgcn.evaluation.segments import DEFAULT_MIN_IOU, label_runs, match_segments, segment_scores
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    DEFAULT_MIN_SECONDS,
    DEFAULT_SMOOTH,
    DEFAULT_SMOOTH_METHOD,
    Predictor,
    default_stride,
    detect,
    segments_from_probabilities,
)
from signstgcn.metrics import binary_metrics

__all__ = ["FrameScores", "frame_detection_metrics", "frame_scores", "segment_counts"]


@dataclass(frozen=True)
class FrameScores:
    """Per-frame probabilities and labels of the labeled frames of several videos (all ``(F,)``)."""

    video: np.ndarray  # int64 index into the video list
    frame: np.ndarray  # int64 frame number
    raw: np.ndarray  # float64 mean of the covering windows
    probability: np.ndarray  # float64 smoothed (what detect thresholds)
    label: np.ndarray  # int64 0/1
    rates: tuple[float, ...] = ()  # frames per second of each video (the file's, else detect's default)


def frame_scores(
    predictor: Predictor,
    frames: Mapping[str, np.ndarray],
    gt: GroundTruth,
    video_ids: Sequence[str],
    *,
    stride: int | None = None,
    smooth: int = DEFAULT_SMOOTH,
    batch_size: int = 256,
    fps: Mapping[str, float | None] | None = None,
) -> FrameScores:
    """Run ``detect`` on each video's raw ``frames[v] (T, V, C)``; keep the frames whose label is known.
    ``fps``: each video's stored frame rate, so a checkpoint with a training rate resamples it as ``detect``
    does (unknown rates are taken to be the checkpoint's)."""
    stride = default_stride(predictor.window) if stride is None else stride
    parts: list[tuple[np.ndarray, ...]] = []
    rates = [DEFAULT_FPS] * len(video_ids)
    for k, vid in enumerate(video_ids):
        raw = frames[vid]
        labels = gt.frame_labels(vid, len(raw), predictor.data.vocab)  # (T,) 0/1, < 0 unlabeled
        keep = np.flatnonzero(labels >= 0)
        if len(keep) == 0:
            continue
        rate = (fps or {}).get(vid) or 0.0
        rates[k] = rate or DEFAULT_FPS
        det = detect(predictor, raw, fps=rate, stride=min(stride, predictor.window), batch_size=batch_size,
                     smooth=smooth, smooth_method=DEFAULT_SMOOTH_METHOD)
        parts.append((np.full(len(keep), k), keep, det.raw[keep], det.probability[keep], labels[keep]))
    if not parts:
        empty = np.zeros(0)
        return FrameScores(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty.astype(np.int64),
                           tuple(rates))
    video, frame, raw_p, prob, label = (np.concatenate(z) for z in zip(*parts))
    return FrameScores(video.astype(np.int64), frame.astype(np.int64), raw_p.astype(np.float64),
                       prob.astype(np.float64), label.astype(np.int64), tuple(rates))


def segment_counts(scores: FrameScores, threshold: float, min_iou: float = DEFAULT_MIN_IOU) -> tuple[int, int, int]:
    """``(hits, predicted, true)`` signing segments over every video: ``detect``'s segments at ``threshold``
    (its default shortest segment and gap, 0.2 s at the video's rate) against the runs of signing frames, over
    the labeled frames (unlabeled ones count as not signing on both sides)."""
    hits = n_pred = n_true = 0
    for k in np.unique(scores.video):
        rows = scores.video == k
        T = int(scores.frame[rows].max()) + 1
        prob = np.full(T, np.nan)
        prob[scores.frame[rows]] = scores.probability[rows]
        truth = np.zeros(T, dtype=np.int64)
        truth[scores.frame[rows]] = scores.label[rows]
        rate = scores.rates[k] if k < len(scores.rates) else DEFAULT_FPS
        frames = round(DEFAULT_MIN_SECONDS * rate)
        pred = [(s, e) for s, e in segments_from_probabilities(prob, threshold, frames, frames)]
        true = label_runs(truth)
        hits += len(match_segments(pred, true, min_iou))
        n_pred += len(pred)
        n_true += len(true)
    return hits, n_pred, n_true


def frame_detection_metrics(
    scores: FrameScores, video_signers: Sequence[str | None], threshold: float
) -> dict[str, object]:
    """Pooled frame metrics of ``scores`` (smoothed probability) plus the raw PR-AUC and per-signer PR-AUC.

    Returns ``{"metrics": binary_metrics(...) + raw_pr_auc + frames, "per_signer_pr_auc": {signer: value}}``;
    a signer whose frames hold one class only has no PR-AUC (left out).
    """
    metrics: dict[str, float] = {"frames": float(len(scores.label))}
    per_signer: dict[str, float] = {}
    if len(scores.label):
        metrics.update(binary_metrics(scores.probability, scores.label, threshold))
        metrics["raw_pr_auc"] = binary_metrics(scores.raw, scores.label, threshold)["pr_auc"]
        metrics.update(segment_scores(*segment_counts(scores, threshold)))
        names = np.array(list(video_signers), dtype=object)[scores.video]  # (F,)
        for name in sorted({str(n) for n in names if n is not None}):
            rows = names == name
            value = binary_metrics(scores.probability[rows], scores.label[rows], threshold)["pr_auc"]
            if np.isfinite(value):
                per_signer[name] = value
    return {"metrics": metrics, "per_signer_pr_auc": per_signer}
