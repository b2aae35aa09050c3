"""What a skeleton view draws of a recording (``signstgcn render`` and the replay of the browser page): each part's
edges, the x, y drawn (with the body's true proportions where the frame size is known) and the view's limits."""

from __future__ import annotations

import numpy as np

from signstgcn.data.landmarks import Landmarks, isotropic
from signstgcn.data.layout import FACE_CONTOUR_EDGES, part_edges

__all__ = ["drawn_edges", "drawn_xy", "view_limits"]


def drawn_edges(part: str, points: int, skeleton: str | None) -> tuple[tuple[int, int], ...]:
    """The edges drawn of one part: its skeleton edges, only the contours of a MediaPipe face."""
    if part == "face" and points in (468, 478):
        return FACE_CONTOUR_EDGES  # the contours: the whole mesh would hide the face
    return part_edges(part, points, skeleton or "")


def drawn_xy(landmarks: Landmarks) -> dict[str, np.ndarray]:
    """Every part's ``(T, V, 2)`` x, y as drawn: x times the frame's width / height where it is known, so the body
    keeps its true proportions (normalized x and y are fractions of different lengths)."""
    return {part: isotropic(arr[..., :2], landmarks.aspect) for part, arr in landmarks.arrays.items()}


def view_limits(landmarks: Landmarks, drawn: dict[str, np.ndarray]) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)`` of the view: the drawn points' 0.5-99.5 percentile box with a margin (a stray joint
    does not shrink the body); a ValueError when nothing was detected in any frame."""
    xy = np.concatenate([a.reshape(-1, 2) for a in drawn.values()])
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        raise ValueError(f"{landmarks.path}: no detected landmark in any frame; nothing to draw")
    lo, hi = np.percentile(xy, 0.5, axis=0), np.percentile(xy, 99.5, axis=0)
    pad = 0.08 * float(max(hi - lo))
    return float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad)
