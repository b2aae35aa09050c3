"""OpenPose JSON output (a folder of ``*_keypoints.json``, one file per frame) → Landmarks.

OpenPose writes ``<name>_<frame:012d>_keypoints.json`` per frame, each with a ``people`` list whose
entries hold flat ``[x0, y0, c0, x1, y1, c1, ...]`` lists: ``pose_keypoints_2d`` (25 BODY_25 or 18 COCO
points), ``hand_left_keypoints_2d`` / ``hand_right_keypoints_2d`` (21) and ``face_keypoints_2d`` (70).
The folder is one video (id = folder name); a file's frame index is the number before ``_keypoints``
(a missing number is an empty frame, as in pose-format), or its rank when the names carry no numbers.

Mapping: ``pose`` (T, 25|18, 3), ``left_hand`` / ``right_hand`` (T, 21, 3), ``face`` (T, 70, 3), channels
x, y, confidence (OpenPose channel 2 is a confidence, see :mod:`signstgcn.data.transforms`). A point with
confidence 0 is NaN; a frame without people is all NaN. With several people the one with the highest
total body confidence is used. Pixel coordinates are divided by ``image_size`` (default 1000x1000, the
pose-format convention, so a folder and the ``.pose`` file pose-format makes from it load the same);
coordinates already in [0, 1] (OpenPose ``--keypoint_scale 3``) are kept. The divisor is recorded as the frame's
``image_size`` (pixels are square, so x and y become isotropic again downstream); normalized input has one only
when ``image_size`` is given. OpenPose JSON has no fps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from signstgcn.data.landmarks import Landmarks, validate_part
from signstgcn.errors import DataError

KEYPOINT_SUFFIX = "_keypoints.json"
DEFAULT_IMAGE_SIZE = (1000, 1000)  # (width, height): pose-format's load_openpose_directory default
KEYS = {
    "pose_keypoints_2d": ("pose", (25, 18)),
    "hand_left_keypoints_2d": ("left_hand", (21,)),
    "hand_right_keypoints_2d": ("right_hand", (21,)),
    "face_keypoints_2d": ("face", (70,)),
}
_FRAME_NUMBER = re.compile(r"(\d+)_keypoints\.json$")


def keypoint_files(folder: str | Path) -> list[Path]:
    """The folder's ``*_keypoints.json`` files in frame order (not recursive)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.name.endswith(KEYPOINT_SUFFIX)]

    def key(p: Path) -> tuple[int, str]:
        m = _FRAME_NUMBER.search(p.name)
        return (int(m.group(1)) if m else -1, p.name)

    return sorted(files, key=key)


def is_openpose_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding at least one ``*_keypoints.json`` file."""
    path = Path(path)
    return path.is_dir() and any(p.name.endswith(KEYPOINT_SUFFIX) for p in path.iterdir())


def _person_points(file: Path, person: dict, key: str, sizes: tuple[int, ...]) -> np.ndarray | None:
    values = person.get(key)
    if values is None or len(values) == 0:
        return None
    flat = np.asarray(values, dtype=np.float64)
    if flat.ndim != 1 or flat.size % 3 or flat.size // 3 not in sizes:
        raise DataError(f"{file}: {key!r} has {flat.size} numbers, expected 3 x "
                        f"{' or '.join(str(s) for s in sizes)} (x, y, confidence per point)")
    return flat.reshape(-1, 3)  # (n, 3)


def load_openpose_dir(folder: str | Path, image_size: tuple[int, int] | None = None) -> Landmarks:
    """Read one OpenPose JSON folder (see module docstring). ``image_size`` = (width, height) in pixels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of OpenPose *{KEYPOINT_SUFFIX} files")
    files = keypoint_files(folder)
    if not files:
        raise DataError(f"{folder}: no OpenPose *{KEYPOINT_SUFFIX} files in this folder")
    numbers = [_FRAME_NUMBER.search(f.name) for f in files]
    index = [int(m.group(1)) for m in numbers if m]
    if len(index) != len(files) or len(set(index)) != len(index) or max(index) >= 2 * len(files) + 100:
        index = list(range(len(files)))  # no usable frame numbers (or not frame indices): file order
    T = max(index) + 1
    parts: dict[str, list[np.ndarray | None]] = {key: [None] * T for key in KEYS}
    for t, file in zip(index, files):
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"{file}: not a readable OpenPose JSON file ({type(err).__name__}: {err})") from None
        people = doc.get("people") if isinstance(doc, dict) else None
        if not isinstance(people, list):
            raise DataError(f"{file}: expected an OpenPose JSON object with a 'people' list")
        best, best_score = None, -1.0
        for person in people:
            if not isinstance(person, dict):
                raise DataError(f"{file}: 'people' entries must be objects")
            body = _person_points(file, person, "pose_keypoints_2d", KEYS["pose_keypoints_2d"][1])
            score = 0.0 if body is None else float(np.nansum(body[:, 2]))
            if score > best_score:
                best, best_score = person, score
        if best is None:
            continue
        for key, (_, sizes) in KEYS.items():
            parts[key][t] = _person_points(file, best, key, sizes)
    width, height = image_size or DEFAULT_IMAGE_SIZE
    if not (width > 0 and height > 0):
        raise ValueError(f"image_size: expected positive (width, height), got {image_size}")
    arrays: dict[str, np.ndarray] = {}
    for key, (part, _) in KEYS.items():
        frames = parts[key]
        counts = {f.shape[0] for f in frames if f is not None}
        if not counts:
            continue
        if len(counts) > 1:
            raise DataError(f"{folder}: {key!r} changes its number of points between frames ({sorted(counts)})")
        n = counts.pop()
        out = np.full((T, n, 3), np.nan)  # (T, V_part, 3)
        for t, f in enumerate(frames):
            if f is not None:
                out[t] = f
        out[~(out[..., 2] > 0)] = np.nan  # confidence 0 = not detected
        arrays[part] = out
    if not arrays:
        raise DataError(f"{folder}: {T} OpenPose frames but nobody detected in any of them")
    xy = np.concatenate([a[..., :2][np.isfinite(a[..., 0])] for a in arrays.values()])  # (P, 2)
    already_normalized = xy.size > 0 and float(np.abs(xy).max()) <= 1.0
    if not already_normalized:
        for a in arrays.values():
            a[..., 0] /= width
            a[..., 1] /= height
    arrays = {k: validate_part(folder, k, a) for k, a in arrays.items()}
    # pixels divided by (width, height): that is the frame size to undo (pixels are square); coordinates that came
    # normalized have an unknown frame unless image_size was given
    known = not already_normalized or image_size is not None
    return Landmarks(path=folder, arrays=arrays, fps=None, image_size=(float(width), float(height)) if known else None)
