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
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from signstgcn.data.canonical import BoneTree
from signstgcn.data.landmarks import isotropic
from signstgcn.data.layout import Layout

__all__ = [
    "Compose",
    "FinishFeatures",
    "JointDropout",
    "NormParams",
    "Normalize",
    "PartDropout",
    "RandomAspect",
    "RandomProportions",
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


DOMINANT_HAND = ("any", "right")


@dataclass(frozen=True)
class NormParams:
    """What :meth:`Normalize.params` measures on a raw window, so single frames can be normalized alike.

    ``cx, cy, scale``: centre and unit (raw image units); ``angle``: shoulder roll removed (radians);
    ``mirror``: the window is left-dominant and is mirrored; ``bone_scales (V,)``: per-bone retargeting
    factors (None = off); ``face``: ``(nose x, nose y, face unit)`` in normalized units (None = off or no
    face in the window).
    """

    cx: float
    cy: float
    scale: float
    angle: float = 0.0
    mirror: bool = False
    bone_scales: np.ndarray | None = None
    face: tuple[float, float, float] | None = None


class Normalize:
    """Raw landmarks to signer- and camera-invariant model coordinates, per window.

    Always: centre on the shoulder midpoint and scale by the shoulder width. Centre = mean shoulder
    midpoint over the frames where both shoulders are present; scale = median shoulder width over those
    frames. Without usable shoulders (no pose part, shoulders missing in the whole window, zero width) the
    centre is the mean of all present joints and the scale their median distance to it. x and y are
    centred and scaled, z (channel 2, MediaPipe only) is scaled by the same factor, further channels are
    untouched. Missing joints (mask False or non-finite x/y) become 0 and stay False in the returned mask.
    The result does not change when the raw window is translated or uniformly scaled.

    Options (each recorded in the checkpoint's data config, applied in this order):

    - ``level_shoulders``: rotate the window so the mean shoulder line is horizontal (camera roll,
      leaning);
    - ``dominant_hand="right"``: mirror a window whose left wrist travels further than its right one
      (left-handed signing becomes right-handed; x -> -x and left/right nodes swapped);
    - ``bone_lengths`` (V,): retarget every bone onto this reference skeleton, keeping its direction
      (:mod:`signstgcn.data.canonical`), so arm length, hand size and build no longer tell signers apart;
    - ``face_channels``: append 2 channels to every joint, its x/y relative to the nose in face units
      (eye-to-mouth distance, or the eye distance without mouth points), from absolute positions: "at the
      chin" means the same for every person and camera. 0 where the joint or the window's face is missing;
    - ``hands_relative``: each hand relative to its own wrist (hand joint 0) in frames where that wrist is
      present (the face channels keep the hand's location).

    The last two are *features* of the final coordinates: :meth:`features`. The training pipeline builds
    ``Normalize(..., defer_features=True)``, augments, then runs :class:`FinishFeatures`, so augmentations
    move absolute positions and the features follow them.
    """

    def __init__(self, layout: Layout, hands_relative: bool = False, *, level_shoulders: bool = False,
                 face_channels: bool = False, dominant_hand: str = "any",
                 bone_lengths: Sequence[float] | None = None, defer_features: bool = False) -> None:
        if dominant_hand not in DOMINANT_HAND:
            raise ValueError(f"Invalid dominant_hand {dominant_hand!r}. Only {', '.join(DOMINANT_HAND)} "
                             f"are supported")
        self.layout = layout
        self.hands_relative = bool(hands_relative)
        self.level_shoulders = bool(level_shoulders)
        self.face_channels = bool(face_channels)
        self.dominant_hand = dominant_hand
        self.defer_features = bool(defer_features)
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
        self._perm = np.asarray(layout.mirror_permutation(), dtype=np.int64)  # (V,)
        self._wrists = _wrist_nodes(layout)
        if self.dominant_hand == "right" and self._wrists is None:
            raise ValueError(f"dominant_hand='right' needs wrists (pose or hands) in layout {layout.name!r}")
        self._face = _face_nodes(layout)
        if self.face_channels and self._face is None:
            raise ValueError(f"face_channels needs the pose's nose and eyes in layout {layout.name!r} "
                             f"(use --include-pose)")
        self.bone_lengths: np.ndarray | None = None
        self._tree: BoneTree | None = None
        if bone_lengths is not None and len(bone_lengths):
            lengths = np.asarray(bone_lengths, dtype=np.float64)
            if lengths.shape != (self._num_nodes,):
                raise ValueError(f"bone_lengths: expected {self._num_nodes} values for layout {layout.name!r}, "
                                 f"got {lengths.shape[0]}")
            self.bone_lengths, self._tree = lengths, BoneTree(layout)

    @property
    def extra_channels(self) -> int:
        """Channels the features add to the input's (2 with ``face_channels``)."""
        return 2 if self.face_channels else 0

    def __repr__(self) -> str:
        opts = "".join(f", {name}=True" for name in ("level_shoulders", "face_channels", "defer_features")
                       if getattr(self, name))
        if self.dominant_hand != "any":
            opts += f", dominant_hand={self.dominant_hand!r}"
        if self.bone_lengths is not None:
            opts += ", canonical_bones=True"
        return f"Normalize(layout={self.layout.name!r}, hands_relative={self.hands_relative}{opts})"

    def params(self, frames: np.ndarray, mask: np.ndarray) -> NormParams:
        """:class:`NormParams` of a raw window ``frames (T, V, C)``, ``mask (T, V)`` (see the class docstring).

        Only the shoulder columns are read for the centre and scale when they are usable (the common case).
        """
        mask = np.asarray(mask, dtype=bool)
        cx, cy, scale, angle = self._frame(frames, mask)
        params = NormParams(cx, cy, scale, angle)
        # the face is measured here only when apply() adds the features; a deferred (training) pipeline
        # measures it on the augmented window in FinishFeatures
        face_here = self.face_channels and not self.defer_features
        whole = self.dominant_hand != "any" or face_here  # measured on the normalized window
        if not (whole or self._tree is not None):
            return params
        mirror, bone_scales, face = False, None, None
        if whole:
            out, valid = self.apply(frames, mask, params, features=False)  # (T, V, C), (T, V)
            mirror = self.dominant_hand == "right" and _left_moves_more(out, valid, self._wrists)
            if mirror:
                out, valid = _mirror_window(out, valid, self._perm)
        if self._tree is not None:
            assert self.bone_lengths is not None
            if whole:
                typical = self._tree.typical(out[..., :2].astype(np.float64), valid)  # (V,)
            else:  # lengths only: the raw window divided by the scale (rotation keeps lengths)
                xy = frames[..., :2].astype(np.float64)  # (T, V, 2)
                present = mask & np.isfinite(xy).all(axis=-1)  # (T, V)
                typical = self._tree.typical(xy, present) / scale
            bone_scales = self._tree.scales(None, None, self.bone_lengths, typical=typical)  # (V,)
            if face_here:  # the face is measured on the retargeted skeleton
                out = out.copy()
                out[..., :2] = self._tree.retarget(out[..., :2], valid, bone_scales)
        if face_here:
            face = self._face_params(out, valid)
        return NormParams(cx, cy, scale, angle, mirror, bone_scales, face)

    def _frame(self, frames: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
        """``(cx, cy, scale, angle)`` of the window: centre, unit and the shoulder roll to remove."""
        if self._shoulders is not None:
            cols = list(self._shoulders)
            sx, sy = frames[:, cols, 0], frames[:, cols, 1]  # (T, 2) each: left, right shoulder
            ok = mask[:, cols] & np.isfinite(sx) & np.isfinite(sy)  # (T, 2)
            both = ok[:, 0] & ok[:, 1]  # (T,)
            if both.any():
                lx, ly, rx, ry = sx[both, 0], sy[both, 0], sx[both, 1], sy[both, 1]  # (F,) each
                width = _median(np.hypot(lx - rx, ly - ry))
                if width > _EPS:
                    angle = 0.0
                    if self.level_shoulders:
                        dx, dy = float((lx - rx).mean()), float((ly - ry).mean())
                        angle = math.atan(dy / dx) if abs(dx) > _EPS else 0.0  # in (-90, 90) degrees
                    return float((lx + rx).mean()) * 0.5, float((ly + ry).mean()) * 0.5, width, angle
        x, y = frames[..., 0], frames[..., 1]  # (T, V) each
        valid = mask & np.isfinite(x) & np.isfinite(y)  # (T, V)
        px, py = x[valid], y[valid]  # (P,) each
        if px.size == 0:
            return 0.0, 0.0, 1.0, 0.0
        cx, cy = float(px.mean()), float(py.mean())
        spread = _median(np.hypot(px - cx, py - cy))
        return cx, cy, spread if spread > _EPS else 1.0, 0.0

    def _face_params(self, frames: np.ndarray, valid: np.ndarray) -> tuple[float, float, float] | None:
        """``(nose x, nose y, face unit)`` of normalized ``frames (T, V, C)``: means / median over the frames
        with the nose and both eyes (and both mouth corners when the layout has them); None without any."""
        assert self._face is not None
        nose, eyes, mouth = self._face
        need = [nose, *eyes, *mouth]
        ok = valid[:, need].all(axis=1)  # (T,)
        if not ok.any():
            return None
        xy = frames[ok][..., :2].astype(np.float64)  # (F, V, 2)
        eye_mid = xy[:, list(eyes)].mean(axis=1)  # (F, 2)
        if mouth:
            size = np.linalg.norm(eye_mid - xy[:, list(mouth)].mean(axis=1), axis=1)  # (F,)
        else:
            size = np.linalg.norm(xy[:, eyes[0]] - xy[:, eyes[1]], axis=1)
        unit = _median(size)
        if unit <= _EPS:
            return None
        return float(xy[:, nose, 0].mean()), float(xy[:, nose, 1].mean()), unit

    def apply(self, frames: np.ndarray, mask: np.ndarray, params: NormParams | tuple[float, float, float],
              *, features: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Normalize ``frames (T, V, C)`` with given ``params`` (from :meth:`params`, maybe of another window).

        ``features`` (default: not ``defer_features``) adds the face channels and hand-relative coordinates.
        """
        if not isinstance(params, NormParams):
            params = NormParams(*params)
        out, valid = self._centred(frames, mask, np.float32(params.cx), np.float32(params.cy),
                                   np.float32(1.0 / params.scale), params.angle)  # (T, V, C), (T, V)
        if params.mirror:
            out, valid = _mirror_window(out, valid, self._perm)
        if params.bone_scales is not None and self._tree is not None:
            out[..., :2] = self._tree.retarget(out[..., :2], valid, params.bone_scales)
        if (not self.defer_features) if features is None else features:
            out = self.features(out, valid, params.face if self.face_channels else None)
        return out, valid

    def _centred(self, frames: np.ndarray, mask: np.ndarray, cx: np.ndarray, cy: np.ndarray, inv_scale: np.ndarray,
                 angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``frames (..., V, C)`` moved by ``-(cx, cy)`` and scaled by ``inv_scale`` (float32, each broadcasting
        against ``(..., V)``: a scalar for one window, ``(B, 1)`` for one frame per row), rotated by ``-angle``;
        missing joints (and a present joint's NaN channel) become 0. Returns ``(out, valid)``."""
        out = np.array(frames, dtype=np.float32)  # (..., V, C) copy
        x, y = out[..., 0], out[..., 1]  # (..., V) views into out
        valid = np.asarray(mask, dtype=bool) & np.isfinite(x) & np.isfinite(y)  # (..., V)
        x -= cx
        y -= cy
        spatial = 3 if (self._scale_z and out.shape[-1] > 2) else 2
        out[..., :spatial] *= np.asarray(inv_scale)[..., None]
        if angle:
            cos, sin = math.cos(angle), math.sin(angle)
            out = _apply_linear(out, np.array([[cos, sin], [-sin, cos]]))  # rotate by -angle
        keep = np.repeat(valid, out.shape[-1]).reshape(out.shape)  # (..., V, C)
        keep &= np.isfinite(out)  # a NaN z/visibility of a present joint becomes 0 too
        return np.where(keep, out, np.float32(0)), valid

    # ---------------------------------------------------------------------- many windows at once (live streams)

    def params_many(self, frames: np.ndarray, mask: np.ndarray, start: np.ndarray) -> list[NormParams]:
        """:meth:`params` of ``B`` windows at once: ``frames (B, T, V, C)``, ``mask (B, T, V)``; row ``b``'s
        window is ``frames[b, start[b]:]`` (frames before ``start[b]`` are padding with ``mask`` False).

        The common case (shoulders in the window, no dominant-hand mirroring, no face measured here) is
        computed for all rows together; other rows go through :meth:`params` one by one. Same values as
        :meth:`params` up to float round-off."""
        B = frames.shape[0]
        if self._shoulders is None or self.dominant_hand != "any" or (self.face_channels and not self.defer_features):
            return [self.params(frames[b, start[b]:], mask[b, start[b]:]) for b in range(B)]
        cols = list(self._shoulders)
        sx, sy = frames[:, :, cols, 0], frames[:, :, cols, 1]  # (B, T, 2) each: left, right shoulder
        ok = mask[:, :, cols] & np.isfinite(sx) & np.isfinite(sy)  # (B, T, 2)
        both = ok[..., 0] & ok[..., 1]  # (B, T)
        count = both.sum(axis=1)  # (B,)
        dx, dy = sx[..., 0] - sx[..., 1], sy[..., 0] - sy[..., 1]  # (B, T) each
        width = np.sort(np.where(both, np.hypot(dx, dy), np.inf), axis=1)  # (B, T), padding last
        rows = np.arange(B)
        lo, hi = np.maximum(count - 1, 0) // 2, count // 2  # the two middle frames, as _median
        width = (width[rows, lo] + width[rows, hi]).astype(np.float64) * 0.5  # (B,)
        n = np.maximum(count, 1).astype(np.float32)
        cx = np.where(both, sx.sum(axis=2), np.float32(0)).sum(axis=1) / n * 0.5  # (B,) mean shoulder midpoint
        cy = np.where(both, sy.sum(axis=2), np.float32(0)).sum(axis=1) / n * 0.5
        angle = np.zeros(B)
        if self.level_shoulders:
            mx = np.where(both, dx, np.float32(0)).sum(axis=1) / n  # (B,)
            my = np.where(both, dy, np.float32(0)).sum(axis=1) / n
            angle = np.where(np.abs(mx) > _EPS, np.arctan(my / np.where(np.abs(mx) > _EPS, mx, 1.0)), 0.0)
        fast = (count > 0) & (width > _EPS)  # (B,) rows whose centre and unit are the shoulders'
        bone_scales = None
        if self._tree is not None:
            assert self.bone_lengths is not None
            xy = frames[..., :2].astype(np.float64)  # (B, T, V, 2)
            present = mask & np.isfinite(xy).all(axis=-1)  # (B, T, V)
            typical = self._tree.typical(xy, present) / np.where(fast, width, 1.0)[:, None]  # (B, V)
            bone_scales = self._tree.scales(None, None, self.bone_lengths, typical=typical)  # (B, V)
        return [NormParams(float(cx[b]), float(cy[b]), float(width[b]), float(angle[b]), False,
                           None if bone_scales is None else bone_scales[b])
                if fast[b] else self.params(frames[b, start[b]:], mask[b, start[b]:]) for b in range(B)]

    def apply_many(self, frames: np.ndarray, mask: np.ndarray,
                   params: Sequence[NormParams]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`apply` of one frame per row, each with its own params: ``frames (B, V, C)``, ``mask (B, V)``
        → ``(B, V, C')``, ``(B, V)``. Rows with a rotation or a mirror, and face channels, go one by one."""
        B = frames.shape[0]
        simple = not self.face_channels and not any(p.angle or p.mirror for p in params)
        if not simple or B == 0:
            rows = [self.apply(frames[b:b + 1], mask[b:b + 1], params[b]) for b in range(B)]
            return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
        out, valid = self._centred(frames, mask, np.array([p.cx for p in params], dtype=np.float32)[:, None],
                                   np.array([p.cy for p in params], dtype=np.float32)[:, None],
                                   (1.0 / np.array([p.scale for p in params])).astype(np.float32)[:, None])
        if self._tree is not None and all(p.bone_scales is not None for p in params):
            scales = np.stack([p.bone_scales for p in params])  # (B, V)
            out[..., :2] = self._tree.retarget(out[:, None, :, :2], valid[:, None], scales)[:, 0]  # (B, V, 2)
        if not self.defer_features:
            out = self.features(out, valid)  # rows are frames: the features are per frame
        return out, valid

    def features(self, frames: np.ndarray, valid: np.ndarray,
                 face: tuple[float, float, float] | None = None) -> np.ndarray:
        """Face channels (``face_channels``) and hand-relative coordinates (``hands_relative``) of normalized
        ``frames (T, V, C)`` → ``(T, V, C + extra_channels)``. ``face`` = ``(nose x, nose y, unit)``; None
        measures it on ``frames`` (a window)."""
        out = frames
        if self.face_channels:
            if face is None:
                face = self._face_params(frames, valid)
            rel = np.zeros((*frames.shape[:2], 2), dtype=np.float32)  # (T, V, 2)
            if face is not None:
                nose = self._face[0]  # type: ignore[index]
                nx, ny, unit = face
                here = valid[:, nose][:, None]  # (T, 1): this frame's nose, else the window's
                ax = np.where(here, frames[:, nose:nose + 1, 0], np.float32(nx))  # (T, 1)
                ay = np.where(here, frames[:, nose:nose + 1, 1], np.float32(ny))
                rel[..., 0] = (frames[..., 0] - ax) / np.float32(unit)
                rel[..., 1] = (frames[..., 1] - ay) / np.float32(unit)
                rel[~valid] = 0.0
            out = np.concatenate([frames, rel], axis=2)  # (T, V, C + 2)
        if self._hands:
            out = out.copy() if out is frames else out
            for part_slice, wrist in self._hands:
                present = valid[:, wrist]  # (T,)
                for c in (0, 1):
                    anchor = np.where(present, out[:, wrist, c], np.float32(0))  # (T,)
                    out[:, part_slice, c] -= anchor[:, None]
                out[:, part_slice, :2] *= valid[:, part_slice, None]  # missing hand joints stay 0
        return out

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


class FinishFeatures:
    """The feature step of a deferred :class:`Normalize` (face channels, hands relative), after augmentation."""

    def __init__(self, normalize: Normalize) -> None:
        self.normalize = normalize

    def __repr__(self) -> str:
        return "FinishFeatures()"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "FinishFeatures")
        return self.normalize.features(frames, mask), mask


def _wrist_nodes(layout: Layout) -> tuple[int, int] | None:
    """(left, right) wrist node: the pose wrists, else the hands' joint 0; None without both."""
    left, right = layout.joint("left_wrist"), layout.joint("right_wrist")
    if left is None or right is None:
        left, right = layout.node("left_hand", 0), layout.node("right_hand", 0)
    return (left, right) if left is not None and right is not None else None


def _face_nodes(layout: Layout) -> tuple[int, tuple[int, int], tuple[int, ...]] | None:
    """(nose, (left eye, right eye), mouth corners or ()) pose nodes; None without nose and eyes."""
    names = ("nose", "left_eye", "right_eye")
    nodes = [layout.joint(n) for n in names]
    if any(n is None for n in nodes):
        return None
    mouth = (layout.joint("mouth_left"), layout.joint("mouth_right"))
    return nodes[0], (nodes[1], nodes[2]), tuple(mouth) if None not in mouth else ()  # type: ignore[return-value]


def _left_moves_more(frames: np.ndarray, valid: np.ndarray, wrists: tuple[int, int] | None) -> bool:
    """Whether the left wrist travels further than the right one over the window (mean step per frame)."""
    if wrists is None or frames.shape[0] < 2:
        return False
    cols = list(wrists)
    xy = frames[:, cols, :2].astype(np.float64)  # (T, 2, 2)
    ok = valid[1:, cols] & valid[:-1, cols]  # (T-1, 2)
    step = np.where(ok, np.linalg.norm(np.diff(xy, axis=0), axis=2), 0.0)  # (T-1, 2)
    travel = step.sum(axis=0) / np.maximum(ok.sum(axis=0), 1)  # (2,) left, right
    return bool(travel[0] > travel[1])


def _mirror_window(frames: np.ndarray, mask: np.ndarray, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The window seen in a mirror: nodes permuted by ``perm`` (each node to its left/right twin), x -> -x."""
    out = frames[:, perm]  # (T, V, C) copy
    out[..., 0] *= -1.0
    out[..., 0] += 0.0  # turn -0.0 into 0.0 so masked joints stay exactly +0
    return out, mask[:, perm]


def _probability(p: float, where: str) -> float:
    """``p`` as a float, or a ValueError naming ``where`` when it is not in [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{where}: expected 0 <= p <= 1, got {p}")
    return float(p)


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


class RandomAspect:
    """Camera aspect ratio: stretch x by a factor drawn log-uniformly from ``[low, high]`` on RAW coordinates.

    MediaPipe's x is a fraction of the frame's width and y of its height, so the same body seen by a 16:9 camera
    and by a 9:16 phone has other proportions (x / y differs by 16/9 / (9/16) = 3.2x). Where a file does not
    record its frame size the coordinates cannot be made isotropic (:func:`~signstgcn.data.landmarks.select_joints`),
    so training draws the camera: x (and MediaPipe's z, which shares x's unit) times ``f``, with
    ``log f`` uniform in ``[log low, log high]`` (default 9:16 .. 16:9). Runs *before* :class:`Normalize`,
    like a camera would, so the shoulder width, levelling and canonical bones see the stretched body.
    """

    def __init__(self, layout: Layout, low: float = 9 / 16, high: float = 16 / 9) -> None:
        if not 0 < low <= high:
            raise ValueError(f"RandomAspect: expected 0 < low <= high, got low={low}, high={high}")
        self.layout, self.low, self.high = layout, float(low), float(high)
        self._mediapipe = layout.skeleton == "mediapipe"  # z shares x's unit; OpenPose channel 2 is a confidence

    def __repr__(self) -> str:
        return f"RandomAspect(low={_fmt(self.low)}, high={_fmt(self.high)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "RandomAspect")
        factor = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        out = isotropic(frames, factor, mediapipe=self._mediapipe)  # (T, V, C); NaN (missing) stays NaN
        return (frames.copy() if out is frames else out), mask.copy()


class RandomMirror:
    """With probability ``p``: x -> -x and swap left/right nodes (hands, pose joints, face points).

    Uses ``layout.mirror_permutation()``; applying the mirror twice gives the input back.
    """

    def __init__(self, layout: Layout, p: float = 0.5) -> None:
        self.layout = layout
        self.p = _probability(p, "RandomMirror")
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
        return _mirror_window(frames, mask, self._perm)


class JointDropout:
    """Drop each joint for the whole window with probability ``p`` (coordinates 0, mask False)."""

    def __init__(self, p: float = 0.05) -> None:
        self.p = _probability(p, "JointDropout")

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


class RandomProportions:
    """Cross-signer augmentation: with probability ``p``, give the window another person's body proportions.

    ``profiles (M, V)`` holds the typical bone lengths of the training videos
    (:func:`~signstgcn.data.canonical.video_profiles`); one row is drawn and every bone is retargeted to it,
    keeping its direction (:meth:`~signstgcn.data.canonical.BoneTree.retarget`). Runs on normalized,
    absolute coordinates (before the hand-relative features).
    """

    def __init__(self, layout: Layout, profiles: np.ndarray, p: float = 0.5) -> None:
        profiles = np.asarray(profiles, dtype=np.float64)
        if profiles.ndim != 2 or profiles.shape[1] != layout.num_nodes or len(profiles) == 0:
            raise ValueError(f"RandomProportions: expected profiles (M>0, {layout.num_nodes}), got {profiles.shape}")
        self.layout, self.p = layout, _probability(p, "RandomProportions")
        self.profiles = np.where(np.isfinite(profiles), profiles, 0.0)  # 0: that bone keeps its length
        self._tree = BoneTree(layout)

    def __repr__(self) -> str:
        return f"RandomProportions(profiles={len(self.profiles)}, p={_fmt(self.p)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "RandomProportions")
        if rng.random() >= self.p:
            return frames.copy(), mask.copy()
        target = self.profiles[rng.integers(len(self.profiles))]  # (V,)
        out = frames.copy()
        xy = out[..., :2]
        out[..., :2] = self._tree.retarget(xy, mask, self._tree.scales(xy, mask, target))
        return out, mask.copy()


class PartDropout:
    """Drop each hand for the whole window with probability ``p`` (as if the detector missed it)."""

    def __init__(self, layout: Layout, p: float = 0.1) -> None:
        self.layout = layout
        self.p = _probability(p, "PartDropout")
        self._parts = [sl for sl in (layout.part_slice("left_hand"), layout.part_slice("right_hand")) if sl]

    def __repr__(self) -> str:
        return f"PartDropout(p={_fmt(self.p)})"

    def __call__(
        self, frames: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        _check_window(frames, mask, "PartDropout")
        out, out_mask = frames.copy(), mask.copy()
        for part in self._parts:
            if rng.random() < self.p:
                out[:, part] = 0.0
                out_mask[:, part] = False
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


AUGMENT_PRESETS = ("standard", "strong", "none")


def default_train_transforms(layout: Layout, hands_relative: bool = False, *, augment: str = "standard",
                             profiles: np.ndarray | None = None, aspect_augment: bool = False,
                             **options: Any) -> Compose:
    """Normalize (``options``: see :class:`Normalize`), then the ``augment`` preset, then the features.

    ``aspect_augment``: :class:`RandomAspect` (9:16 .. 16:9) on the raw window, before the normalization.
    ``standard``: mirror, rotation ±15°, scale 0.9–1.1, shear 0.1, speed 0.8–1.2×, joint dropout 5%.
    ``strong``: mirror, rotation ±20°, scale 0.8–1.25, shear 0.2, speed 0.5–1.5×, joint dropout 5% and
    each hand dropped for the whole window 10% of the time. ``none``: no augmentation. The mirror is left
    out with ``dominant_hand="right"`` (it would undo that normalization). ``profiles`` (M, V): training videos'
    body proportions for :class:`RandomProportions` (p 0.5), first of the augmentations.
    """
    if augment not in AUGMENT_PRESETS:
        raise ValueError(f"Invalid augment {augment!r}. Only {', '.join(AUGMENT_PRESETS)} are supported")
    normalize = Normalize(layout, hands_relative=hands_relative, defer_features=True, **options)
    steps: list[Transform] = [RandomAspect(layout)] if aspect_augment else []
    steps.append(normalize)
    if profiles is not None and augment != "none":
        steps.append(RandomProportions(layout, profiles, p=0.5))
    mirror = [] if normalize.dominant_hand == "right" else [RandomMirror(layout, p=0.5)]
    if augment == "standard":
        steps += [*mirror, RandomRotation(degrees=15.0), RandomScale(0.9, 1.1), RandomShear(0.1),
                  RandomSpeed(0.8, 1.2), JointDropout(p=0.05)]
    elif augment == "strong":
        steps += [*mirror, RandomRotation(degrees=20.0), RandomScale(0.8, 1.25), RandomShear(0.2),
                  RandomSpeed(0.5, 1.5), JointDropout(p=0.05), PartDropout(layout, p=0.1)]
    steps.append(FinishFeatures(normalize))
    return Compose(steps)


def default_eval_transforms(layout: Layout, hands_relative: bool = False, **options: Any) -> Compose:
    """Normalization only (``options``: see :class:`Normalize`; ``augment`` / ``aspect_augment`` are ignored)."""
    options.pop("augment", None)
    options.pop("aspect_augment", None)
    return Compose([Normalize(layout, hands_relative=hands_relative, **options)])
