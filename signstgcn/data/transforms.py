"""Window normalization and training augmentations: small numpy callables with a ``__repr__``.

Every transform is called as ``t(frames, mask, rng) -> (frames, mask)`` where ``frames`` is a window
``(T, V, C)`` float32 and ``mask`` ``(T, V)`` bool marks the joints that are present. Inputs are never
mutated; new arrays are returned. Deterministic transforms ignore ``rng``.

``Normalize`` takes RAW landmark coordinates (MediaPipe image coordinates, NaN for missing joints) and
returns shoulder-centred, shoulder-width-scaled coordinates with missing joints set to 0. The training
augmentations run after it, on normalized coordinates, and keep masked joints at exactly 0.

Channels: 0 = x, 1 = y, 2 = z (MediaPipe) or a confidence (OpenPose), further channels (visibility) are
passed through. Spatial operations touch x and y only; ``Normalize`` also scales z by the same factor.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from signstgcn.graph import Layout

__all__ = [
    "Compose",
    "JointDropout",
    "Normalize",
    "RandomMirror",
    "RandomRotation",
    "RandomScale",
    "RandomShear",
    "RandomSpeed",
    "TemporalCrop",
    "Transform",
    "default_eval_transforms",
    "default_train_transforms",
]

_EPS = 1e-6


class Transform(Protocol):
    """A window transform: ``(frames (T, V, C), mask (T, V), rng) -> (frames, mask)``."""

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]: ...


def _check_window(frames: np.ndarray, mask: np.ndarray, where: str) -> None:
    if frames.ndim != 3 or frames.shape[-1] < 2:
        raise ValueError(f"{where}: expected frames (T, V, C) with C >= 2, got {tuple(frames.shape)}")
    if mask.shape != frames.shape[:2]:
        raise ValueError(
            f"{where}: expected mask of shape (T, V)={tuple(frames.shape[:2])}, got {tuple(mask.shape)}"
        )


def _fmt(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------------


class Normalize:
    """Centre on the shoulder midpoint and scale by the shoulder width, per window.

    Centre = mean shoulder midpoint over the frames where both shoulders are present; scale = median
    shoulder width over those frames. Without usable shoulders (no pose part, shoulders missing in the
    whole window, zero width) the centre is the mean of all present joints and the scale their median
    distance to it. x and y are centred and scaled, z (channel 2, MediaPipe only) is scaled by the same
    factor, further channels are untouched. With ``hands_relative`` each hand is expressed relative to
    its own wrist (hand joint 0) in frames where that wrist is present. Missing joints (mask False or
    non-finite x/y) become 0 and stay False in the returned mask. The result does not change when the
    raw window is translated or uniformly scaled (camera position and distance).
    """

    def __init__(self, layout: Layout, hands_relative: bool = False) -> None:
        self.layout = layout
        self.hands_relative = bool(hands_relative)
        self._num_nodes = layout.num_nodes
        left, right = layout.joint("left_shoulder"), layout.joint("right_shoulder")
        self._shoulders = (left, right) if left is not None and right is not None else None
        self._scale_z = layout.skeleton == "mediapipe"  # OpenPose channel 2 is a confidence
        self._hands: list[tuple[slice, int]] = []
        if self.hands_relative:
            for part in ("left_hand", "right_hand"):
                part_slice, wrist = layout.part_slice(part), layout.node(part, 0)
                if part_slice is not None and wrist is not None:
                    self._hands.append((part_slice, wrist))

    def __repr__(self) -> str:
        return f"Normalize(layout={self.layout.name!r}, hands_relative={self.hands_relative})"

    def params(self, frames: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
        """``(cx, cy, scale)`` of a raw window ``frames (T, V, C)``, ``mask (T, V)`` (see the class docstring).

        Only the shoulder columns are read when they are usable (the common case, and the cheap one).
        """
        mask = np.asarray(mask, dtype=bool)
        if self._shoulders is not None:
            cols = list(self._shoulders)
            sx, sy = frames[:, cols, 0], frames[:, cols, 1]  # (T, 2) each: left, right shoulder
            ok = mask[:, cols] & np.isfinite(sx) & np.isfinite(sy)  # (T, 2)
            both = ok[:, 0] & ok[:, 1]  # (T,)
            if both.any():
                lx, ly, rx, ry = sx[both, 0], sy[both, 0], sx[both, 1], sy[both, 1]  # (F,) each
                width = _median(np.hypot(lx - rx, ly - ry))
                if width > _EPS:
                    return float((lx + rx).mean()) * 0.5, float((ly + ry).mean()) * 0.5, width
        x, y = frames[..., 0], frames[..., 1]  # (T, V) each
        valid = mask & np.isfinite(x) & np.isfinite(y)  # (T, V)
        px, py = x[valid], y[valid]  # (P,) each
        if px.size == 0:
            return 0.0, 0.0, 1.0
        cx, cy = float(px.mean()), float(py.mean())
        spread = _median(np.hypot(px - cx, py - cy))
        return cx, cy, spread if spread > _EPS else 1.0

    def apply(
        self, frames: np.ndarray, mask: np.ndarray, params: tuple[float, float, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalize ``frames (T, V, C)`` with given ``params`` (from :meth:`params`, maybe of another window)."""
        out = np.array(frames, dtype=np.float32)  # (T, V, C) copy
        x, y = out[..., 0], out[..., 1]  # (T, V) views into out
        valid = np.asarray(mask, dtype=bool) & np.isfinite(x) & np.isfinite(y)  # (T, V)
        cx, cy, scale = params
        x -= np.float32(cx)
        y -= np.float32(cy)
        spatial = 3 if (self._scale_z and out.shape[2] > 2) else 2
        out[..., :spatial] *= np.float32(1.0 / scale)
        for part_slice, wrist in self._hands:
            present = valid[:, wrist]  # (T,)
            anchor_x = np.where(present, x[:, wrist], np.float32(0))  # (T,)
            anchor_y = np.where(present, y[:, wrist], np.float32(0))
            x[:, part_slice] -= anchor_x[:, None]
            y[:, part_slice] -= anchor_y[:, None]
        keep = np.repeat(valid, out.shape[2]).reshape(out.shape)  # (T, V, C)
        keep &= np.isfinite(out)  # a NaN z/visibility of a present joint becomes 0 too
        return np.where(keep, out, np.float32(0)), valid

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "Normalize")
        if frames.shape[1] != self._num_nodes:
            raise ValueError(
                f"Normalize: expected V={self._num_nodes} joints for layout {self.layout.name!r}, "
                f"got {frames.shape[1]}"
            )
        return self.apply(frames, mask, self.params(frames, mask))


def _median(values: np.ndarray) -> float:
    """Median of a small non-empty 1-D array (faster than np.median for a few dozen values)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(ordered[(n - 1) // 2] + ordered[n // 2]) * 0.5


# --------------------------------------------------------------------------------------------------
# Spatial augmentations (normalized coordinates: linear maps keep masked joints at 0)
# --------------------------------------------------------------------------------------------------


def _apply_linear(frames: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """``(x', y') = linear @ (x, y)`` on channels 0, 1 of ``frames`` (T, V, C); other channels unchanged."""
    matrix = np.eye(frames.shape[2], dtype=np.float32)  # (C, C), acts on the right of each joint's row
    matrix[:2, :2] = linear.T
    return frames @ matrix  # (T, V, C)


class _RandomLinear2D(ABC):
    """Draw one 2x2 matrix per window (:meth:`_sample_matrix`) and apply it to x/y about the origin."""

    @abstractmethod
    def _sample_matrix(self, rng: np.random.Generator) -> np.ndarray:
        """The linear map ``[[a, b], [c, d]]`` (2, 2): ``x' = a*x + b*y``, ``y' = c*x + d*y``."""

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, type(self).__name__)
        return _apply_linear(frames, self._sample_matrix(rng)), mask.copy()


class RandomRotation(_RandomLinear2D):
    """Rotate x/y about the origin by an angle drawn uniformly from ``[-degrees, degrees]``."""

    def __init__(self, degrees: float = 15.0) -> None:
        if degrees < 0:
            raise ValueError(f"RandomRotation: expected degrees >= 0, got {degrees}")
        self.degrees = float(degrees)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={_fmt(self.degrees)})"

    def _sample_matrix(self, rng: np.random.Generator) -> np.ndarray:
        angle = math.radians(rng.uniform(-self.degrees, self.degrees))
        cos, sin = math.cos(angle), math.sin(angle)
        return np.array([[cos, -sin], [sin, cos]])  # (2, 2)


class RandomScale(_RandomLinear2D):
    """Scale x/y about the origin by one factor drawn uniformly from ``[low, high]``."""

    def __init__(self, low: float = 0.9, high: float = 1.1) -> None:
        if not 0 < low <= high:
            raise ValueError(f"RandomScale: expected 0 < low <= high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def __repr__(self) -> str:
        return f"RandomScale(low={_fmt(self.low)}, high={_fmt(self.high)})"

    def _sample_matrix(self, rng: np.random.Generator) -> np.ndarray:
        factor = rng.uniform(self.low, self.high)
        return np.array([[factor, 0.0], [0.0, factor]])  # (2, 2)


class RandomShear(_RandomLinear2D):
    """Shear x/y: ``x += a*y``, ``y += b*x`` with a, b drawn uniformly from ``[-shear, shear]``."""

    def __init__(self, shear: float = 0.1) -> None:
        if shear < 0:
            raise ValueError(f"RandomShear: expected shear >= 0, got {shear}")
        self.shear = float(shear)

    def __repr__(self) -> str:
        return f"RandomShear(shear={_fmt(self.shear)})"

    def _sample_matrix(self, rng: np.random.Generator) -> np.ndarray:
        a, b = rng.uniform(-self.shear, self.shear, size=2)
        return np.array([[1.0, a], [b, 1.0]])  # (2, 2)


class RandomMirror:
    """With probability ``p``: x -> -x and swap left/right nodes (hands, pose joints, face points).

    Uses ``layout.mirror_permutation()``; applying the mirror twice gives the input back.
    """

    def __init__(self, layout: Layout, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomMirror: expected 0 <= p <= 1, got {p}")
        self.layout = layout
        self.p = float(p)
        self._perm = np.asarray(layout.mirror_permutation(), dtype=np.int64)  # (V,)

    def __repr__(self) -> str:
        return f"RandomMirror(layout={self.layout.name!r}, p={_fmt(self.p)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "RandomMirror")
        if frames.shape[1] != len(self._perm):
            raise ValueError(
                f"RandomMirror: expected V={len(self._perm)} joints for layout {self.layout.name!r}, "
                f"got {frames.shape[1]}"
            )
        if rng.random() >= self.p:
            return frames.copy(), mask.copy()
        out = frames[:, self._perm]  # (T, V, C) copy
        out[..., 0] *= -1.0
        out[..., 0] += 0.0  # turn -0.0 into 0.0 so masked joints stay exactly +0
        return out, mask[:, self._perm]


class JointDropout:
    """Drop each joint for the whole window with probability ``p`` (coordinates 0, mask False)."""

    def __init__(self, p: float = 0.05) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"JointDropout: expected 0 <= p <= 1, got {p}")
        self.p = float(p)

    def __repr__(self) -> str:
        return f"JointDropout(p={_fmt(self.p)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "JointDropout")
        drop = rng.random(frames.shape[1]) < self.p  # (V,)
        out, out_mask = frames.copy(), mask.copy()
        out[:, drop] = 0.0
        out_mask[:, drop] = False
        return out, out_mask


# --------------------------------------------------------------------------------------------------
# Temporal augmentations: resample back to the same T, mask-aware
# --------------------------------------------------------------------------------------------------


def _sample_at_times(
    frames: np.ndarray, mask: np.ndarray, source_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sample a window at fractional ``source_times`` (one per output frame).

    Joints present at both neighbouring frames are interpolated linearly, others take the nearest
    frame; the mask is taken from the nearest frame. Times outside ``[0, T-1]`` give masked frames.
    """
    num_frames, num_nodes, channels = frames.shape
    flat = frames.reshape(num_frames, num_nodes * channels)  # (T, V*C)
    last = num_frames - 1
    inside = (source_times > -0.5) & (source_times < last + 0.5)  # (T',)
    times = np.clip(source_times, 0.0, last)
    lo = np.floor(times).astype(np.int64)  # (T',)
    hi = np.minimum(lo + 1, last)
    weight = (times - lo).astype(np.float32)[:, None]  # (T', 1)
    nearest = np.where(weight[:, 0] < 0.5, lo, hi)
    out_mask = mask[nearest] & inside[:, None]  # (T', V)
    both = np.repeat(mask[lo] & mask[hi], channels, axis=1)  # (T', V*C)
    keep = np.repeat(out_mask, channels, axis=1)  # (T', V*C)
    start, end = flat[lo], flat[hi]  # (T', V*C)
    out = np.where(both, start + (end - start) * weight, flat[nearest])
    out = np.where(keep, out, np.float32(0))
    return out.reshape(len(source_times), num_nodes, channels).astype(np.float32, copy=False), out_mask


class RandomSpeed:
    """Play the window at a speed drawn uniformly from ``[min_speed, max_speed]``, keeping T frames.

    Output frame t shows source time ``offset + t * speed``. Slower than 1 crops a random span of the
    window and stretches it; faster than 1 compresses the window, and the output frames that fall
    outside it are masked (like the padding of a short video).
    """

    def __init__(self, min_speed: float = 0.8, max_speed: float = 1.2) -> None:
        if not 0 < min_speed <= max_speed:
            raise ValueError(
                f"RandomSpeed: expected 0 < min_speed <= max_speed, got {min_speed}, {max_speed}"
            )
        self.min_speed, self.max_speed = float(min_speed), float(max_speed)

    def __repr__(self) -> str:
        return f"RandomSpeed(min_speed={_fmt(self.min_speed)}, max_speed={_fmt(self.max_speed)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "RandomSpeed")
        num_frames = frames.shape[0]
        speed = rng.uniform(self.min_speed, self.max_speed)
        slack = (num_frames - 1) * (1.0 - speed)  # > 0: room to slide the crop; < 0: overflow
        offset = rng.uniform(min(0.0, slack), max(0.0, slack))
        return _sample_at_times(frames, mask, offset + np.arange(num_frames) * speed)


class TemporalCrop:
    """Crop a random span of ``ratio * T`` frames (ratio uniform in ``[min_ratio, max_ratio]``) and
    resample it back to T frames."""

    def __init__(self, min_ratio: float = 0.8, max_ratio: float = 1.0) -> None:
        if not 0 < min_ratio <= max_ratio <= 1:
            raise ValueError(
                f"TemporalCrop: expected 0 < min_ratio <= max_ratio <= 1, got {min_ratio}, {max_ratio}"
            )
        self.min_ratio, self.max_ratio = float(min_ratio), float(max_ratio)

    def __repr__(self) -> str:
        return f"TemporalCrop(min_ratio={_fmt(self.min_ratio)}, max_ratio={_fmt(self.max_ratio)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "TemporalCrop")
        num_frames = frames.shape[0]
        ratio = rng.uniform(self.min_ratio, self.max_ratio)
        start = rng.uniform(0.0, (num_frames - 1) * (1.0 - ratio))
        return _sample_at_times(frames, mask, start + np.arange(num_frames) * ratio)


# --------------------------------------------------------------------------------------------------
# Composition and presets
# --------------------------------------------------------------------------------------------------


class Compose:
    """Apply transforms in order, passing the same ``rng`` to each."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{body}\n])" if body else "Compose([])"

    def __len__(self) -> int:
        return len(self.transforms)

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if rng is None:
            rng = np.random.default_rng()
        for transform in self.transforms:
            frames, mask = transform(frames, mask, rng)
        return frames, mask


def default_train_transforms(layout: Layout, hands_relative: bool = False) -> Compose:
    """Normalize, then mirror, rotation, scale, shear, speed and joint dropout."""
    return Compose(
        [
            Normalize(layout, hands_relative=hands_relative),
            RandomMirror(layout, p=0.5),
            RandomRotation(degrees=15.0),
            RandomScale(0.9, 1.1),
            RandomShear(0.1),
            RandomSpeed(0.8, 1.2),
            JointDropout(p=0.05),
        ]
    )


def default_eval_transforms(layout: Layout, hands_relative: bool = False) -> Compose:
    """Normalization only."""
    return Compose([Normalize(layout, hands_relative=hands_relative)])
