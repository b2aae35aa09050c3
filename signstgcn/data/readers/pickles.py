"""Pose pickles of OpenHands (one clip per file) and pyskl (one file of many clips) → Landmarks.

**OpenHands** (``openhands/datasets/pipelines/generate_pose.py``) pickles one dict per clip: ``keypoints``
``(T, 75, 3)`` (MediaPipe Holistic: 33 pose, then 21 left-hand and 21 right-hand points; x, y, z) and
``confidences`` ``(T, 75)`` (the pose's visibility, 1 for a detected hand point, 0 for a missing one). A point with
confidence 0 is NaN; the pose keeps its visibility as a 4th channel. Dumps that kept the face (543 points: 33
pose, 468 face, 21 + 21 hands, the order Holistic returns before OpenHands drops the face) are read too.

**pyskl** (``tools/data/README.md`` of pyskl) pickles ``{"split": {...}, "annotations": [...]}`` (or the list
alone); each annotation has ``frame_dir`` (the clip id), ``label`` (an integer class), ``keypoint``
``(M, T, V, C)`` in pixels, optionally ``keypoint_score`` ``(M, T, V)`` and ``img_shape`` ``(height, width)``.
Two 2-D layouts are mapped onto ours: COCO (V = 17, HRNet's output) onto OpenPose's COCO-18 pose, and
COCO-WholeBody (V = 133) onto BODY_25 pose + both hands + the 68-point face (OpenPose's face without its two
pupils). OpenPose's neck (and BODY_25's mid-hip) are not COCO points: they are the midpoints of the shoulders
(hips), where both are seen. Pixels are divided by ``img_shape``; a point with score 0 is NaN; of ``M`` people
the one with the highest total score is kept. Any other layout (e.g. NTU RGB+D's 25 Kinect joints in 3-D) is
refused with one line.

Unpickling runs code from the file: read only pickles you trust (as with pyskl and OpenHands themselves).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.data.landmarks import Landmarks, validate_part
from signstgcn.errors import DataError

OPENHANDS_PARTS = {75: (("pose", 33), ("left_hand", 21), ("right_hand", 21)),
                   543: (("pose", 33), ("face", 468), ("left_hand", 21), ("right_hand", 21))}
NECK, MIDHIP = -1, -2  # computed points
# COCO-17: nose, l/r eye, l/r ear, l/r shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee, l/r ankle.
_COCO18 = (0, NECK, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)  # OpenPose COCO-18 from COCO-17
# COCO-WholeBody: 0-16 COCO-17, 17-22 feet (left big toe, small toe, heel; right ...), 23-90 face (68 points),
# 91-111 left hand, 112-132 right hand (OpenPose's hand order).
_BODY25 = (0, NECK, 6, 8, 10, 5, 7, 9, MIDHIP, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3, 17, 18, 19, 20, 21, 22)
_PAIRS = {NECK: (5, 6), MIDHIP: (11, 12)}  # COCO shoulders, hips


def unpickle(path: Path) -> Any:
    """The object of a pickle file; a one-line DataError when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - the user's own pose data (see the module docstring)
    except FileNotFoundError:
        raise DataError(f"{path}: pickle file not found") from None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise DataError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from None


def is_pyskl(obj: Any) -> bool:
    """True for a pyskl annotation pickle: a dict with ``annotations``, or a list of dicts with ``keypoint``."""
    if isinstance(obj, Mapping):
        return isinstance(obj.get("annotations"), list)
    return isinstance(obj, list) and bool(obj) and isinstance(obj[0], Mapping) and "keypoint" in obj[0]


def load_pose_pickle(path: str | Path) -> Landmarks:
    """One OpenHands clip pickle (see the module docstring); a pyskl file (many clips) is refused with a hint."""
    path = Path(path)
    obj = unpickle(path)
    if is_pyskl(obj):
        raise DataError(f"{path}: a pyskl pickle of many clips, not one clip; pass it as --data {path.name} or "
                        f"convert it: signstgcn convert {path.name} --to npz OUT")
    return openhands_landmarks(path, obj)


def openhands_landmarks(path: Path, obj: Any) -> Landmarks:
    """Landmarks of an unpickled OpenHands clip dict."""
    if not isinstance(obj, Mapping) or "keypoints" not in obj:
        raise DataError(f"{path}: expected an OpenHands pose pickle (a dict with 'keypoints' (T, 75, C) and "
                        f"'confidences' (T, 75)) or a pyskl annotation pickle")
    kps = np.asarray(obj["keypoints"], dtype=np.float32)
    if kps.ndim != 3 or kps.shape[1] not in OPENHANDS_PARTS or not 2 <= kps.shape[2] <= 3:
        raise DataError(f"{path}: OpenHands keypoints of shape {kps.shape}; expected (T, 75, 2|3) (MediaPipe "
                        f"pose 33 + hands 21 + 21) or (T, 543, 2|3) (with the 468-point face)")
    T, V, _ = kps.shape
    conf = np.asarray(obj.get("confidences", np.ones((T, V))), dtype=np.float32)
    if conf.shape != (T, V):
        raise DataError(f"{path}: OpenHands confidences of shape {conf.shape}; expected {(T, V)}")
    kps = np.where((conf > 0)[..., None], kps, np.float32(np.nan))  # (T, V, C)
    arrays, start = {}, 0
    for part, n in OPENHANDS_PARTS[V]:
        block = kps[:, start:start + n]  # (T, n, C)
        if part == "pose":  # its confidence is MediaPipe's visibility: keep it as channel 3
            vis = np.where(np.isfinite(block[..., :1]), conf[:, start:start + n, None], np.float32(np.nan))
            block = np.concatenate([block, vis], axis=2) if block.shape[2] == 3 else block
        arrays[part] = validate_part(path, part, block)
        start += n
    return Landmarks(path=path, arrays=arrays, fps=obj.get("fps") if isinstance(obj.get("fps"), float) else None)


@dataclass
class PysklClips:
    """The clips of a pyskl pickle: landmarks and label by clip id (its named ``split`` lists are not read)."""

    path: Path
    videos: dict[str, Landmarks]
    labels: dict[str, str]


def read_pyskl(path: str | Path, obj: Any = None) -> PysklClips:
    """Every clip of a pyskl annotation pickle (see the module docstring); ``obj``: the file's object, when
    already unpickled."""
    path = Path(path)
    obj = unpickle(path) if obj is None else obj
    if not is_pyskl(obj):
        raise DataError(f"{path}: not a pyskl annotation pickle (expected a dict with 'annotations', a list of "
                        f"dicts with 'frame_dir', 'label' and 'keypoint' (M, T, V, C))")
    annotations = obj["annotations"] if isinstance(obj, Mapping) else obj
    videos: dict[str, Landmarks] = {}
    labels: dict[str, str] = {}
    for k, ann in enumerate(annotations):
        where = f"{path} annotation {k}"
        if not isinstance(ann, Mapping) or "keypoint" not in ann:
            raise DataError(f"{where}: expected a dict with 'frame_dir', 'label' and 'keypoint'")
        vid = str(ann.get("frame_dir", k))
        if vid in videos:
            raise DataError(f"{where}: frame_dir {vid!r} appears twice")
        videos[vid] = _pyskl_landmarks(path, where, ann)
        if "label" in ann:
            labels[vid] = str(int(ann["label"]))
    return PysklClips(path, videos, labels)


def _pyskl_landmarks(path: Path, where: str, ann: Mapping[str, Any]) -> Landmarks:
    kp = np.asarray(ann["keypoint"], dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] < 2:
        raise DataError(f"{where}: keypoint of shape {kp.shape}; expected (M, T, V, C)")
    M, T, V, C = kp.shape
    if V not in (17, 133) or C != 2:
        layout = "NTU RGB+D's 25 Kinect joints" if V == 25 else f"{V} joints with {C} channels"
        raise DataError(f"{where}: keypoint layout {layout} cannot be mapped; SignSTGCN reads pyskl's 2-D COCO "
                        f"(V=17) and COCO-WholeBody (V=133) keypoints")
    score = np.asarray(ann.get("keypoint_score", np.ones((M, T, V))), dtype=np.float32)
    if score.shape != (M, T, V):
        raise DataError(f"{where}: keypoint_score of shape {score.shape}; expected {(M, T, V)}")
    person = int(np.argmax(score.reshape(M, -1).sum(axis=1))) if M > 1 else 0
    h, w = ann.get("img_shape", (1, 1))
    points = np.concatenate([kp[person] / np.array([w, h], dtype=np.float32),
                             score[person][..., None]], axis=2)  # (T, V, 3): x, y, score
    points[~(points[..., 2] > 0)] = np.nan
    arrays = {"pose": _remap(points, _COCO18 if V == 17 else _BODY25)}
    if V == 133:
        face = np.full((T, 70, 3), np.nan, dtype=np.float32)  # OpenPose face: 68 points + 2 pupils (absent)
        face[:, :68] = points[:, 23:91]
        arrays.update(face=face, left_hand=points[:, 91:112], right_hand=points[:, 112:133])
    size = (float(w), float(h)) if "img_shape" in ann and w > 0 and h > 0 else None  # pixels / frame size
    return Landmarks(path=path, arrays={k: validate_part(path, k, v) for k, v in arrays.items()}, fps=None,
                     image_size=size)


def _remap(points: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``points (T, V, C)`` in COCO order → ``(T, len(order), C)``; NECK / MIDHIP are the midpoint of a pair."""
    out = np.empty((points.shape[0], len(order), points.shape[2]), dtype=np.float32)
    for j, src in enumerate(order):
        if src >= 0:
            out[:, j] = points[:, src]
        else:
            a, b = _PAIRS[src]
            out[:, j] = (points[:, a] + points[:, b]) * 0.5  # NaN unless both are seen
    return out
