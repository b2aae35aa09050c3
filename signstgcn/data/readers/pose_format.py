"""``.pose`` files (the ``pose-format`` library) → :class:`~signstgcn.data.landmarks.Landmarks`.

A ``.pose`` file stores, per frame and person, the points of named components in pixels plus a
confidence per point. Two header families are understood and mapped to our parts (DESIGN §2):

- MediaPipe Holistic: ``POSE_LANDMARKS`` → ``pose`` (T, 33, 4: x, y, z, visibility),
  ``LEFT_HAND_LANDMARKS`` / ``RIGHT_HAND_LANDMARKS`` → ``left_hand`` / ``right_hand`` (T, 21, 3),
  ``FACE_LANDMARKS`` → ``face`` (T, 468 | 478, 3). Reduced Holistic headers (e.g. 8 pose points, 128
  face points) are placed by point name into the full arrays; the joints they lack are NaN.
  ``POSE_WORLD_LANDMARKS`` (metric 3-D) is ignored.
- OpenPose: ``pose_keypoints_2d`` → ``pose`` (T, 25 BODY_25 | 18 COCO, 3: x, y, confidence),
  ``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d`` → hands (T, 21, 3), ``face_keypoints_2d`` →
  ``face`` (T, 70, 3).

x and y are divided by the header's frame width and height (normalized image coordinates, like
MediaPipe's own output), and the frame size is kept as ``image_size``; MediaPipe z is kept as stored
(pose-format stores it unscaled). A point with confidence 0 or masked in the file is NaN. The first person is
used. ``fps`` comes from the body.
Anything else (other components only, no frame size, unreadable bytes) raises a one-line DataError.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from signstgcn.data.landmarks import Landmarks, validate_part
from signstgcn.errors import DataError

log = logging.getLogger(__name__)

# MediaPipe PoseLandmark names in index order (mediapipe.solutions.pose.PoseLandmark).
MEDIAPIPE_POSE_NAMES: tuple[str, ...] = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE",
    "RIGHT_ANKLE", "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)

# component name -> (our part, skeleton family)
MEDIAPIPE_COMPONENTS = {
    "POSE_LANDMARKS": "pose",
    "LEFT_HAND_LANDMARKS": "left_hand",
    "RIGHT_HAND_LANDMARKS": "right_hand",
    "FACE_LANDMARKS": "face",
}
OPENPOSE_COMPONENTS = {
    "pose_keypoints_2d": "pose",
    "hand_left_keypoints_2d": "left_hand",
    "hand_right_keypoints_2d": "right_hand",
    "face_keypoints_2d": "face",
}
IGNORED_COMPONENTS = ("POSE_WORLD_LANDMARKS",)
_MAX_MEDIAPIPE_Z = 10.0  # MediaPipe z is of the order of the image width (|z| < ~3); larger = another unit


def _import_pose_format(path: Path):
    try:
        from pose_format import Pose
    except ImportError:
        raise DataError(f"{path}: reading .pose files needs the pose-format package "
                        "(pip install 'signstgcn[pose]' or pip install pose-format)") from None
    return Pose


def _target_index(path: Path, component, part: str, family: str) -> tuple[np.ndarray, int]:
    """(indices into our part array for each of the component's points, size of our part array)."""
    names = [str(p) for p in component.points]
    n = len(names)
    where = f"{path}: component {component.name!r} ({n} points)"
    if part in ("left_hand", "right_hand"):
        if n != 21:
            raise DataError(f"{where}: expected 21 hand points")
        return np.arange(21), 21
    if part == "pose" and family == "mediapipe":
        if n == 33:
            return np.arange(33), 33
        index = {name: i for i, name in enumerate(MEDIAPIPE_POSE_NAMES)}
        unknown = [name for name in names if name.upper() not in index]
        if unknown:
            raise DataError(f"{where}: unknown MediaPipe pose point names {unknown[:5]}")
        return np.array([index[name.upper()] for name in names]), 33
    if part == "pose":  # OpenPose
        if n not in (25, 18):
            raise DataError(f"{where}: expected 25 (BODY_25) or 18 (COCO) OpenPose body points")
        return np.arange(n), n
    if family == "openpose":  # face
        if n != 70:
            raise DataError(f"{where}: expected 70 OpenPose face points")
        return np.arange(70), 70
    # MediaPipe face: full (468 / 478 in order) or a subset named by mesh index ("0", "7", ...)
    if all(name.isdigit() for name in names):
        idx = np.array([int(name) for name in names])
        if len(set(idx.tolist())) == n and idx.max() < 478:
            return idx, 468 if idx.max() < 468 else 478
    if n in (468, 478):
        return np.arange(n), n
    raise DataError(f"{where}: expected 468 or 478 face points, or points named by face-mesh index")


def load_pose(path: str | Path) -> Landmarks:
    """Read one ``.pose`` file (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such landmark file")
    pose_cls = _import_pose_format(path)
    try:
        pose = pose_cls.read(path.read_bytes())
    except Exception as err:  # the library raises struct / value / index errors on bad bytes
        raise DataError(f"{path}: not a readable .pose file ({type(err).__name__}: {err})") from None
    header, body = pose.header, pose.body
    names = [c.name for c in header.components]
    known = {**MEDIAPIPE_COMPONENTS, **OPENPOSE_COMPONENTS}
    if not any(name in known for name in names):
        raise DataError(f"{path}: no MediaPipe Holistic or OpenPose components (found {names}); expected some of "
                        f"{', '.join(known)}")
    width, height = float(header.dimensions.width), float(header.dimensions.height)
    if not (width > 0 and height > 0):
        raise DataError(f"{path}: the header has no frame size ({width:g}x{height:g}); "
                        "cannot convert pixels to normalized image coordinates")
    data = np.ma.getdata(body.data)  # (T, P, N, D) pixels
    hidden = np.ma.getmaskarray(body.data)  # (T, P, N, D)
    conf = np.asarray(body.confidence)  # (T, P, N)
    if data.ndim != 4 or data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(f"{path}: has {data.shape[0] if data.ndim == 4 else 0} frames or no person "
                        f"(data shape {tuple(data.shape)})")
    if data.shape[1] > 1:
        log.warning("%s: %d people per frame; using the first", path, data.shape[1])
    data, hidden, conf = data[:, 0], hidden[:, 0].any(-1), conf[:, 0]  # (T, N, D), (T, N), (T, N)
    T = data.shape[0]
    arrays: dict[str, np.ndarray] = {}
    mediapipe = False
    offset = 0
    for component in header.components:
        n, start = len(component.points), offset
        offset += n
        part = known.get(component.name)
        if part is None:
            if component.name not in IGNORED_COMPONENTS:
                log.info("%s: component %r is not used", path, component.name)
            continue
        family = "mediapipe" if component.name in MEDIAPIPE_COMPONENTS else "openpose"
        mediapipe |= family == "mediapipe"
        if part in arrays:
            raise DataError(f"{path}: two components map to the {part!r} part ({names})")
        target, size = _target_index(path, component, part, family)
        pts = data[:, start:start + n].astype(np.float64)  # (T, n, D)
        c = conf[:, start:start + n].astype(np.float64)  # (T, n)
        missing = hidden[:, start:start + n] | ~(c > 0)  # (T, n)
        x, y = pts[..., 0] / width, pts[..., 1] / height  # (T, n) each
        channels = [x, y]
        if family == "mediapipe" and pts.shape[-1] >= 3:
            channels.append(pts[..., 2])  # z
            if part == "pose":
                channels.append(c)  # visibility
        elif family == "openpose":
            channels.append(c)  # OpenPose channel 2 is the confidence
        values = np.stack(channels, axis=-1)  # (T, n, C)
        values[missing] = np.nan
        out = np.full((T, size, values.shape[-1]), np.nan)  # (T, V_part, C)
        out[:, target] = values
        arrays[part] = out
    if mediapipe and any(a.shape[-1] > 2 for a in arrays.values()):
        z = np.concatenate([a[..., 2][np.isfinite(a[..., 2])] for a in arrays.values() if a.shape[-1] > 2])
        if z.size and np.median(np.abs(z)) > _MAX_MEDIAPIPE_Z:
            log.warning("%s: z is not in MediaPipe units (median |z| %.3g); keeping x, y only", path,
                        float(np.median(np.abs(z))))
            arrays = {k: a[..., :2] for k, a in arrays.items()}
    arrays = {k: validate_part(path, k, a) for k, a in arrays.items()}
    fps = float(body.fps) if np.isfinite(body.fps) and body.fps > 0 else None
    return Landmarks(path=path, arrays=arrays, fps=fps, image_size=(width, height))
