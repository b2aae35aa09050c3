"""Frame-level detection metrics: ``signstgcn detect``'s per-frame probability against ground-truth frames.

Window metrics score the training unit (a window and its majority label); a user of a detector sees one
probability per frame. :func:`frame_detection_metrics` runs :func:`signstgcn.inference.predictor.detect` over whole
videos with detect's defaults (every window covering a frame averaged with centre weighting, a 5-frame
moving median, stride ``window // 5``) and compares its probability with every labeled frame:
pooled detection metrics (PR-AUC, ROC-AUC, F1 at a threshold, ...) and the PR-AUC of each signer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from signstgcn.data.groundtruth import GroundTruth
from signstgcn.inference.predictor import DEFAULT_SMOOTH, DEFAULT_SMOOTH_METHOD, Predictor, default_stride, detect
from signstgcn.metrics import binary_metrics

__all__ = ["FrameScores", "frame_detection_metrics", "frame_scores"]


@dataclass(frozen=True)
class FrameScores:
    """Per-frame probabilities and labels of the labeled frames of several videos (all ``(F,)``)."""

    video: np.ndarray  # int64 index into the video list
    frame: np.ndarray  # int64 frame number
    raw: np.ndarray  # float64 mean of the covering windows
    probability: np.ndarray  # float64 smoothed (what detect thresholds)
    label: np.ndarray  # int64 0/1


def frame_scores(
    predictor: Predictor,
    frames: Mapping[str, np.ndarray],
    gt: GroundTruth,
    video_ids: Sequence[str],
    *,
    stride: int | None = None,
    smooth: int = DEFAULT_SMOOTH,
    batch_size: int = 256,
) -> FrameScores:
    """Run ``detect`` on each video's raw ``frames[v] (T, V, C)``; keep the frames whose label is known."""
    stride = default_stride(predictor.window) if stride is None else stride
    parts: list[tuple[np.ndarray, ...]] = []
    for k, vid in enumerate(video_ids):
        raw = frames[vid]
        labels = gt.frame_labels(vid, len(raw), predictor.data.vocab)  # (T,) 0/1, < 0 unlabeled
        keep = np.flatnonzero(labels >= 0)
        if len(keep) == 0:
            continue
        det = detect(predictor, raw, fps=0.0, stride=min(stride, predictor.window), batch_size=batch_size,
                     smooth=smooth, smooth_method=DEFAULT_SMOOTH_METHOD)
        parts.append((np.full(len(keep), k), keep, det.raw[keep], det.probability[keep], labels[keep]))
    if not parts:
        empty = np.zeros(0)
        return FrameScores(empty.astype(np.int64), empty.astype(np.int64), empty, empty, empty.astype(np.int64))
    video, frame, raw_p, prob, label = (np.concatenate(z) for z in zip(*parts))
    return FrameScores(video.astype(np.int64), frame.astype(np.int64), raw_p.astype(np.float64),
                       prob.astype(np.float64), label.astype(np.int64))


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
        names = np.array(list(video_signers), dtype=object)[scores.video]  # (F,)
        for name in sorted({str(n) for n in names if n is not None}):
            rows = names == name
            value = binary_metrics(scores.probability[rows], scores.label[rows], threshold)["pr_auc"]
            if np.isfinite(value):
                per_signer[name] = value
    return {"metrics": metrics, "per_signer_pr_auc": per_signer}
