"""Segment-level scores: predicted segments against true ones, matched one to one at an IoU threshold.

A predicted segment is a hit when it overlaps a not yet matched true segment with intersection over union
``>= min_iou`` (0.5, as in action and sign segmentation benchmarks); pairs are matched greedily, highest IoU
first, so each true segment counts once. Precision = hits / predicted, recall = hits / true, F1 their harmonic
mean. Segments are half-open frame ranges ``(start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from signstgcn.inference.predictor import segments_from_probabilities

__all__ = ["DEFAULT_MIN_IOU", "label_runs", "match_segments", "segment_scores"]

DEFAULT_MIN_IOU = 0.5


def label_runs(labels: np.ndarray, value: int = 1) -> list[tuple[int, int]]:
    """Half-open runs of ``labels (T,) == value`` (detect's run finder on a 0/1 indicator: no gap closed, none
    dropped)."""
    return list(segments_from_probabilities((np.asarray(labels) == value).astype(np.float32), 0.5))


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def match_segments(pred: Sequence[tuple[int, int]], true: Sequence[tuple[int, int]],
                   min_iou: float = DEFAULT_MIN_IOU) -> list[tuple[int, int]]:
    """``(pred index, true index)`` pairs matched one to one, highest IoU first, each with IoU >= ``min_iou``."""
    if not 0.0 < min_iou <= 1.0:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    pairs = sorted(((_iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(true)), reverse=True)
    used_p, used_t, out = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j))
    return sorted(out)


def segment_scores(hits: int, num_pred: int, num_true: int) -> dict[str, float]:
    """``segment_precision``, ``segment_recall``, ``segment_f1`` from counts (NaN where undefined)."""
    precision = hits / num_pred if num_pred else float("nan")
    recall = hits / num_true if num_true else float("nan")
    if num_pred == 0 and num_true == 0:
        f1 = float("nan")
    elif hits == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"segment_precision": precision, "segment_recall": recall, "segment_f1": f1,
            "segments_predicted": float(num_pred), "segments_true": float(num_true)}
