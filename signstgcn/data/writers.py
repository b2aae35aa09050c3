"""Writing landmarks back out: our ``.npz`` files, pose-format ``.pose`` files, ``groundtruth.txt``, ``signers.txt``.

Every file is written atomically (a temporary file renamed into place). What :mod:`signstgcn.data.readers` reads
back from a written file equals what was written, to float32 precision:

- ``.npz``: the parts as float32 arrays (NaN = missing) with the ``fps`` and ``signer`` scalars and the
  ``image_size`` (width, height) when known;
- ``.pose``: MediaPipe parts as the Holistic components (``POSE_LANDMARKS`` ... with MediaPipe's point names,
  ``XYZC``; the pose's visibility is the confidence), OpenPose parts as the OpenPose components (``XYC``, the
  confidence channel as confidence), in pixels of the frame (``image_size``) or, where it is unknown, of a nominal
  ``POSE_FRAME`` x ``POSE_FRAME`` frame (pose-format's convention for normalized inputs; read back, such a file
  counts as square, which leaves x and y as they were), with the layout's edges as limbs so pose-format's tools
  can draw them. A missing point is masked with confidence 0; a present pose point whose visibility is exactly 0
  gets the smallest positive float32 instead, or the reader would take it for missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from signstgcn.atomic import atomic_open, write_text_atomic
from signstgcn.data.groundtruth import GroundTruth
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.layout import part_edges
from signstgcn.data.readers.pose_format import MEDIAPIPE_COMPONENTS, MEDIAPIPE_POSE_NAMES, OPENPOSE_COMPONENTS
from signstgcn.errors import DataError

__all__ = ["POSE_FRAME", "write_groundtruth", "write_npz", "write_pose", "write_signers"]

POSE_FRAME = 1000  # pixels of the nominal frame normalized coordinates are stored in
HAND_POINT_NAMES = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP", "INDEX_FINGER_MCP", "INDEX_FINGER_PIP",
    "INDEX_FINGER_DIP", "INDEX_FINGER_TIP", "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP",
    "MIDDLE_FINGER_TIP", "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP", "PINKY_MCP",
    "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)
_PART_ORDER = ("pose", "face", "left_hand", "right_hand")


def write_npz(path: str | Path, landmarks: Landmarks, *, signer: str | None = None) -> Path:
    """``landmarks`` as one of our ``.npz`` files (``signer`` overrides the landmarks' own)."""
    arrays: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.float32) for k, v in landmarks.arrays.items()}
    if landmarks.fps is not None:
        arrays["fps"] = np.float32(landmarks.fps)
    who = signer if signer is not None else landmarks.signer
    if who is not None:
        arrays["signer"] = np.array(str(who))
    if landmarks.image_size is not None:
        arrays["image_size"] = np.asarray(landmarks.image_size, dtype=np.float32)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _family(landmarks: Landmarks) -> str:
    """``mediapipe`` or ``openpose``: which pose-format components the parts become."""
    skeleton = landmarks.skeleton
    if skeleton is not None:
        return "mediapipe" if skeleton == "mediapipe" else "openpose"
    return "openpose" if landmarks.face_points == 70 else "mediapipe"


def _component(part: str, values: np.ndarray, family: str, frame: tuple[float, float]):
    """(PoseHeaderComponent, data (T, n, D), confidence (T, n)) of one part, in pixels of ``frame`` (width, height)."""
    from pose_format.pose_header import PoseHeaderComponent

    n, C = values.shape[1], values.shape[2]
    present = np.isfinite(values[..., :2]).all(axis=-1)  # (T, n)
    xy = values[..., :2] * np.asarray(frame, dtype=np.float32)  # (T, n, 2) pixels
    if family == "mediapipe":
        name = {v: k for k, v in MEDIAPIPE_COMPONENTS.items()}[part]
        dims = [xy] + ([values[..., 2:3]] if C >= 3 else [])  # z kept as stored
        conf = values[..., 3] if (part == "pose" and C >= 4) else np.ones(values.shape[:2], dtype=np.float32)
        points = (list(MEDIAPIPE_POSE_NAMES) if part == "pose" else list(HAND_POINT_NAMES) if "hand" in part
                  else [str(i) for i in range(n)])
        point_format = "XYZC" if C >= 3 else "XYC"
    else:
        name = {v: k for k, v in OPENPOSE_COMPONENTS.items()}[part]
        dims = [xy]
        conf = values[..., 2] if C >= 3 else np.ones(values.shape[:2], dtype=np.float32)
        points = list(HAND_POINT_NAMES) if "hand" in part else [str(i) for i in range(n)]
        point_format = "XYC"
    data = np.concatenate(dims, axis=-1).astype(np.float32)  # (T, n, D)
    conf = np.where(present, np.maximum(np.nan_to_num(conf, nan=1.0), np.finfo(np.float32).tiny), 0.0)
    skeleton = "mediapipe" if family == "mediapipe" else {25: "body25", 18: "coco18"}.get(n, "")
    limbs = list(part_edges(part, n, skeleton))
    colors = [(255, 255, 255)] * len(points)
    return PoseHeaderComponent(name, points, limbs, colors, point_format), data, conf.astype(np.float32)


def write_pose(path: str | Path, landmarks: Landmarks) -> Path:
    """``landmarks`` as a pose-format ``.pose`` file (needs ``pip install 'signstgcn[pose]'``)."""
    path = Path(path)
    try:
        from pose_format import Pose
        from pose_format.numpy.pose_body import NumPyPoseBody
        from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    except ImportError:
        raise DataError(f"{path}: writing .pose files needs the pose-format package "
                        "(pip install 'signstgcn[pose]')") from None
    family = _family(landmarks)
    parts = [p for p in _PART_ORDER if p in landmarks.arrays]
    frame = landmarks.image_size or (POSE_FRAME, POSE_FRAME)
    built = [_component(p, landmarks.arrays[p], family, frame) for p in parts]
    width = max(d.shape[-1] for _, d, _ in built)
    data = np.concatenate([np.pad(d, ((0, 0), (0, 0), (0, width - d.shape[-1]))) for _, d, _ in built], axis=1)
    conf = np.concatenate([c for _, _, c in built], axis=1)  # (T, N)
    hidden = np.repeat((conf <= 0)[..., None], width, axis=-1)  # (T, N, D)
    body = NumPyPoseBody(fps=float(landmarks.fps or 0.0), data=np.ma.masked_array(
        np.where(hidden, 0.0, data)[:, None], mask=hidden[:, None]), confidence=conf[:, None])  # (T, 1, N, D)
    header = PoseHeader(version=0.1, dimensions=PoseHeaderDimensions(round(frame[0]), round(frame[1]), 0),
                        components=[c for c, _, _ in built])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        Pose(header, body).write(f)
    return path


def write_groundtruth(path: str | Path, gt: GroundTruth, video_ids: list[str] | None = None) -> Path:
    """``<video_id> <frame_idx> <label>`` lines of ``gt`` (only ``video_ids`` when given), sorted."""
    ids = sorted(gt.annotations) if video_ids is None else [v for v in video_ids if v in gt.annotations]
    lines = [f"{vid} {frame} {label}" for vid in ids for frame, label in gt.annotations[vid]]
    return write_text_atomic(path, "".join(line + "\n" for line in lines))


def write_signers(path: str | Path, signers: Mapping[str, str]) -> Path:
    """``<video_id> <signer_id>`` lines."""
    bad = [s for s in signers.values() if not s or len(s.split()) != 1]
    if bad:
        raise DataError(f"{path}: signer ids must be one word each, got {bad[0]!r}")
    return write_text_atomic(path, "".join(f"{vid} {who}\n" for vid, who in sorted(signers.items())))
