"""Hard negatives for signing detection: not-signing windows in which the hands are visible.

Detectors trained on recordings whose idle parts never show a hand learn "a hand is in view = signing" and
call a person who rests the hands in view signing (``mp_detect``'s s34). Moryossef et al.'s segmentation work
adds "null" clips for this. :class:`StillHands` makes such windows from the training clips themselves, with
the label of not signing:

- *held*: one frame of the window (the one with the most detected joints) held for the whole window, with a
  slow drift of the whole body (up to ``drift`` image units over the window) and per-joint, per-frame jitter
  (``jitter``, MediaPipe's frame-to-frame noise on a still person);
- *resting*: the same, but every visible hand (its wrist, the pose's hand points and the hand's 21 points)
  moved down to rest in front of the lower torso, about ``rest_drop`` shoulder widths below the shoulders.

Missing joints stay missing. It acts on raw ``(T, V, C)`` windows, before normalization and augmentation.
"""

from __future__ import annotations

import numpy as np

from signstgcn.data.layout import Layout

__all__ = ["StillHands"]

_POSE_HAND = {"left": ("left_wrist", "left_pinky", "left_index", "left_thumb"),
              "right": ("right_wrist", "right_pinky", "right_index", "right_thumb")}


class StillHands:
    """A hard-negative window from a raw window (see the module docstring); ``p``: share of training windows."""

    def __init__(self, layout: Layout, p: float, *, jitter: float = 0.003, drift: float = 0.02,
                 rest_drop: float = 1.3) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"hard_negatives must be a share in [0, 1], got {p}")
        self.p, self.jitter, self.drift, self.rest_drop = float(p), jitter, drift, rest_drop
        self.layout = layout
        self._hands: dict[str, list[int]] = {}
        for side in ("left", "right"):
            nodes = [layout.joint(name) for name in _POSE_HAND[side]]
            part = layout.part_slice(f"{side}_hand")
            idx = [n for n in nodes if n is not None] + (list(range(part.start, part.stop)) if part else [])
            if idx:
                self._hands[side] = idx
        left, right = layout.joint("left_shoulder"), layout.joint("right_shoulder")
        self._shoulders = (left, right) if left is not None and right is not None else None

    def __repr__(self) -> str:
        return f"StillHands(p={self.p})"

    def wants(self, rng: np.random.Generator) -> bool:
        return self.p > 0 and rng.random() < self.p

    def __call__(self, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``raw (T, V, C)`` → a still ``(T, V, C)`` window (a copy)."""
        T = raw.shape[0]
        detected = np.isfinite(raw[..., :2]).all(axis=-1)  # (T, V)
        source = raw[int(np.argmax(detected.sum(axis=1)))].copy()  # (V, C)
        if rng.random() < 0.5:
            self._rest(source, rng)
        out = np.repeat(source[None], T, axis=0)  # (T, V, C)
        ramp = np.linspace(0.0, 1.0, T, dtype=np.float32)[:, None, None]  # (T, 1, 1)
        out[..., :2] += ramp * rng.uniform(-self.drift, self.drift, size=(1, 1, 2)).astype(np.float32)
        out[..., :2] += rng.normal(0.0, self.jitter, size=(T, raw.shape[1], 2)).astype(np.float32)
        return out  # NaN joints stay NaN

    def _rest(self, frame: np.ndarray, rng: np.random.Generator) -> None:
        """Move every visible hand down in front of the lower torso (in place)."""
        if self._shoulders is None:
            return
        ls, rs = frame[self._shoulders[0], :2], frame[self._shoulders[1], :2]
        if not (np.isfinite(ls).all() and np.isfinite(rs).all()):
            return
        width = float(np.linalg.norm(ls - rs))
        if width <= 0:
            return
        for side, idx in self._hands.items():
            pts = frame[idx, :2]  # (n, 2)
            seen = np.isfinite(pts).all(axis=1)
            if not seen.any():
                continue
            shoulder = ls if side == "left" else rs
            target = np.array([0.5 * (ls[0] + rs[0]) + 0.35 * (shoulder[0] - 0.5 * (ls[0] + rs[0])),
                               0.5 * (ls[1] + rs[1]) + self.rest_drop * width], dtype=np.float32)
            target += rng.normal(0.0, 0.1 * width, size=2).astype(np.float32)
            anchor = pts[seen][0]  # the wrist when detected, else the first detected hand point
            frame[np.asarray(idx)[seen], :2] = pts[seen] + (target - anchor)
