"""One video's landmarks (:class:`Landmarks`), the validation every reader shares, and joint selection.

The readers (:mod:`signstgcn.data.readers`: ``.npz``, pose-format ``.pose``, OpenPose JSON folders) build
:class:`Landmarks` through :func:`validate_part`, so every format is checked the same way.

A landmark file holds any subset of the parts ``pose`` (T, 33|25|18, C), ``left_hand`` (T, 21, C),
``right_hand`` (T, 21, C) and ``face`` (T, 478|468|70, C), with C = 2..4 channels (x, y[, z[, vis]]).
Undetected joints are NaN or all-zero; both become NaN here, so "missing" has one spelling downstream.

x and y are MediaPipe's normalized image coordinates: fractions of the frame's width and of its height. The same
body therefore has other proportions in a 16:9 and in a 9:16 frame. A file that knows its frame size
(``image_size`` = (width, height) in pixels: extraction, ``.pose`` headers, OpenPose with ``--image-size``) is made
isotropic by :func:`select_joints`: x (and MediaPipe's z, which shares x's unit) times width / height, so one
unit is one frame height on both axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.data.layout import FACE_SUBSETS, POSE_SUBSETS, Layout, LayoutSpec
from signstgcn.errors import DataError

PART_JOINTS: dict[str, tuple[int, ...]] = {
    "pose": (33, 25, 18),
    "left_hand": (21,),
    "right_hand": (21,),
    "face": (478, 468, 70),
}
POSE_SKELETON = {33: "mediapipe", 25: "body25", 18: "coco18"}
MIN_CHANNELS, MAX_CHANNELS = 2, 4
EXPECTED_PARTS = "pose (T,33,C), left_hand (T,21,C), right_hand (T,21,C) or face (T,478,C) with C in 2..4"


@dataclass
class Landmarks:
    """One video's landmarks: ``arrays[part]`` is (T, V_part, C) float32, NaN where undetected."""

    path: Path
    arrays: dict[str, np.ndarray]
    fps: float | None = None
    signer: str | None = None
    image_size: tuple[float, float] | None = None  # (width, height) in pixels of the frame x and y are fractions of

    @property
    def aspect(self) -> float | None:
        """Frame width / height (None when the frame size is unknown)."""
        return None if self.image_size is None else self.image_size[0] / self.image_size[1]

    @property
    def num_frames(self) -> int:
        return next(iter(self.arrays.values())).shape[0]

    @property
    def num_channels(self) -> int:
        """Channels every part has (the most ``--coords`` can ask for)."""
        return min(a.shape[2] for a in self.arrays.values())

    @property
    def skeleton(self) -> str | None:
        """``mediapipe``, ``body25`` or ``coco18`` from the pose joint count (None without pose)."""
        pose = self.arrays.get("pose")
        return None if pose is None else POSE_SKELETON[pose.shape[1]]

    @property
    def face_points(self) -> int | None:
        face = self.arrays.get("face")
        return None if face is None else face.shape[1]


@dataclass(frozen=True)
class PartSelection:
    """Which parts, subsets and coordinate channels to read (DESIGN §2 ``--include-*``, ``--coords``)."""

    include_pose: bool = True
    include_hands: bool = True
    include_face: bool = False
    pose_subset: str = "upper"
    face_subset: str = "compact"
    coords: int = 2
    isotropic: bool = True  # scale x by the frame's width / height where it is known (False: checkpoints before it)

    @classmethod
    def from_flags(cls, include_pose: bool, include_hands: bool, include_face: bool, *, pose_subset: str = "upper",
                   face_subset: str = "compact", coords: int = 2) -> PartSelection:
        """The parts of ``--include-pose/--include-hands/--include-face``: none given means pose + hands."""
        chosen = include_pose or include_hands or include_face
        return cls(include_pose=include_pose or not chosen, include_hands=include_hands or not chosen,
                   include_face=include_face, pose_subset=pose_subset, face_subset=face_subset, coords=coords)

    def __post_init__(self) -> None:
        if not (self.include_pose or self.include_hands or self.include_face):
            raise ValueError("select at least one of pose, hands, face")
        if self.pose_subset not in POSE_SUBSETS:
            raise ValueError(f"Invalid pose subset {self.pose_subset!r}. Only upper, full are supported")
        if self.face_subset not in FACE_SUBSETS:
            raise ValueError(f"Invalid face subset {self.face_subset!r}. Only compact, full are supported")
        if not MIN_CHANNELS <= self.coords <= MAX_CHANNELS:
            raise ValueError(f"coords must be {MIN_CHANNELS}..{MAX_CHANNELS} (x, y[, z[, visibility]]), "
                             f"got {self.coords}")

    def layout_spec(self, skeleton: str = "mediapipe", face_points: int | None = None) -> LayoutSpec:
        """The graph layout for this selection on data of the given skeleton / face size."""
        if face_points is None:
            face_points = 70 if skeleton != "mediapipe" else 478
        return LayoutSpec(
            skeleton=skeleton,
            include_pose=self.include_pose,
            include_hands=self.include_hands,
            include_face=self.include_face,
            pose_subset=self.pose_subset,
            face_subset=self.face_subset,
            face_points=face_points,
        )


def validate_part(path: Path, name: str, value: np.ndarray) -> np.ndarray:
    allowed = PART_JOINTS[name]
    if value.ndim != 3 or value.shape[1] not in allowed or not MIN_CHANNELS <= value.shape[2] <= MAX_CHANNELS:
        joints = "|".join(str(j) for j in allowed)
        raise DataError(f"{path}: array {name!r} has shape {tuple(value.shape)}, "
                        f"expected (T, {joints}, C) with C in {MIN_CHANNELS}..{MAX_CHANNELS}")
    if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.complexfloating):
        raise DataError(f"{path}: array {name!r} has dtype {value.dtype}, expected real numbers")
    arr = value.astype(np.float32, copy=True)  # (T, V, C)
    xy = arr[..., :2]
    missing = ~np.isfinite(arr).all(axis=-1) | (xy == 0).all(axis=-1)  # (T, V)
    arr[missing] = np.nan
    return arr


def check_image_size(path: Path | str, value: object) -> tuple[float, float]:
    """``value`` as a positive, finite ``(width, height)``; a one-line DataError naming ``path`` otherwise."""
    try:
        size = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        size = np.array([])
    if size.shape != (2,) or not (np.isfinite(size).all() and (size > 0).all()):
        raise DataError(f"{path}: 'image_size' must be the frame's (width, height) in pixels, two positive "
                        f"numbers, got {value!r}")
    return float(size[0]), float(size[1])


def isotropic(points: np.ndarray, aspect: float | None, *, mediapipe: bool = True) -> np.ndarray:
    """``points (..., C)`` with x (and MediaPipe's z, channel 2) times ``aspect`` = width / height: one unit is one
    frame height on both axes. ``aspect`` None (unknown) or 1 returns ``points`` unchanged (no copy)."""
    if aspect is None or aspect == 1.0:
        return points
    out = np.array(points, dtype=np.float32)  # copy
    out[..., 0] *= np.float32(aspect)
    if mediapipe and out.shape[-1] > 2:
        out[..., 2] *= np.float32(aspect)  # MediaPipe z has x's unit; OpenPose channel 2 is a confidence
    return out


def select_joints(landmarks: Landmarks, layout: Layout, coords: int, *, isotropic_xy: bool = True) -> np.ndarray:
    """Gather ``layout``'s nodes from ``landmarks`` → (T, V, coords) float32, NaN for missing joints.

    A part the layout wants but the file lacks is all NaN (undetected), so files may omit parts. With
    ``isotropic_xy`` and a known ``image_size``, x (and MediaPipe z) are scaled by width / height (:func:`isotropic`).
    """
    t = landmarks.num_frames
    out = np.full((t, layout.num_nodes, coords), np.nan, dtype=np.float32)  # (T, V, C)
    start = 0
    for part, source in layout.parts:
        arr = landmarks.arrays.get(part)
        if arr is not None:
            if max(source) >= arr.shape[1]:
                raise DataError(f"{landmarks.path}: {part!r} has {arr.shape[1]} joints but the "
                                f"{layout.name} layout needs joint {max(source)}")
            if arr.shape[2] < coords:
                raise DataError(f"{landmarks.path}: {part!r} has {arr.shape[2]} channels, "
                                f"coords={coords} needs at least {coords}")
            out[:, start:start + len(source)] = arr[:, source, :coords]
        start += len(source)
    if isotropic_xy:
        out = isotropic(out, landmarks.aspect, mediapipe=layout.skeleton == "mediapipe")
    return out


class JointSelector:
    """Gather one layout's joints from file after file: ``selector(landmarks)`` → (T, V, C) float32.

    The layout is ``layout_spec`` when given (e.g. from a checkpoint), else inferred from the first file
    (its pose skeleton and face size) and then fixed; every file is checked against it.
    """

    def __init__(self, selection: PartSelection, layout_spec: LayoutSpec | None = None) -> None:
        self.selection = selection
        self.spec: LayoutSpec | None = layout_spec
        self.layout: Layout | None = None if layout_spec is None else layout_spec.build()

    def __call__(self, landmarks: Landmarks) -> np.ndarray:
        if self.spec is None:
            skeleton = landmarks.skeleton or "mediapipe"
            self.spec = self.selection.layout_spec(skeleton=skeleton, face_points=landmarks.face_points)
        if self.layout is None:
            self.layout = self.spec.build()
        check_skeleton(landmarks, self.spec)
        return select_joints(landmarks, self.layout, self.selection.coords,
                             isotropic_xy=self.selection.isotropic)  # (T, V, C)


def check_skeleton(landmarks: Landmarks, spec: LayoutSpec) -> None:
    """Raise a DataError when the file's pose format differs from the layout's skeleton."""
    skeleton = landmarks.skeleton
    if skeleton is not None and spec.include_pose and skeleton != spec.skeleton:
        raise DataError(f"{landmarks.path}: pose has {landmarks.arrays['pose'].shape[1]} joints "
                        f"({skeleton}) but the data set / checkpoint uses the {spec.skeleton} skeleton")
