"""The replay of a landmark file in the browser page: the file read on the server, sent back as one JSON document
the page plays through the live protocol (frame messages at the serving rate, the skeleton drawn in its view).

The page opens a WebSocket on ``/landmarks``, sends ``{"type": "file", "name": "clip.npz"}`` and then the file's
bytes as one binary message; the server answers one ``landmarks`` document (or an ``error`` naming the file) and
closes. The file is read by :func:`~signstgcn.data.readers.load_landmarks` (``.npz``, ``.pose``, GISLR ``.parquet``,
OpenHands ``.pkl``) and checked against the checkpoint like ``signstgcn detect`` checks it; the document holds the
parts the checkpoint reads, resampled to the serving rate (so a 25 fps file plays in its true time while the model
sees the rate it was trained at)::

    {"type": "landmarks", "name": "clip.npz", "frames": T, "fps": F, "source_fps": F0 | null,
     "image_size": [W, H] | null,
     "parts": {"pose": [[[x, y, ...] | null per joint] per frame], ...},   # raw coordinates, null = not detected
     "edges": {"pose": [[a, b], ...], ...}, "view": [x0, x1, y0, y1]}       # drawing: x times W / H, y down
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.data.drawing import drawn_edges, drawn_xy, view_limits
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.data.windows import resample_time
from signstgcn.errors import DataError
from signstgcn.inference.predictor import Predictor, prepare_frames

__all__ = ["REPLAY_SUFFIXES", "landmark_document"]

REPLAY_SUFFIXES = (".npz", ".pose", ".parquet", ".pkl")  # one file each (an OpenPose folder cannot be uploaded)
DECIMALS = 5


def _safe_name(name: str) -> str:
    """The upload's base name, kept for the messages; characters other than letters, digits, ``._-`` become ``_``."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(name)).name)[:120].lstrip(".")
    return base or "upload"


def _json_array(arr: np.ndarray) -> list:
    """``(T, V, C)`` float → nested lists, a joint with any non-finite value as ``null``."""
    rounded = np.round(arr.astype(np.float64), DECIMALS)  # (T, V, C)
    present = np.isfinite(rounded).all(axis=-1)  # (T, V)
    return [[row.tolist() if ok else None for row, ok in zip(frame, okay, strict=True)]
            for frame, okay in zip(rounded, present, strict=True)]


def _within_frame(view: tuple[float, float, float, float], width: float) -> tuple[float, float, float, float]:
    """The view cut to the camera frame ``[0, width] x [0, 1]`` (5 % margin), as the live page shows it: MediaPipe
    places the joints it cannot see (legs below the frame) far outside it. Unchanged where nothing would be left."""
    x0, x1, y0, y1 = view
    cut = (max(x0, -0.05 * width), min(x1, 1.05 * width), max(y0, -0.05), min(y1, 1.05))
    return cut if cut[1] > cut[0] and cut[3] > cut[2] else view


def landmark_document(data: bytes, name: str, predictor: Predictor, fps: float) -> dict[str, Any]:
    """The ``landmarks`` document of the file ``name`` whose content is ``data``, for ``predictor`` served at ``fps``
    frames per second; a DataError (one line naming the file) for a format the server cannot read, a corrupt file or
    one the checkpoint cannot use."""
    name = _safe_name(name)
    suffix = Path(name).suffix.lower()
    if suffix not in REPLAY_SUFFIXES:
        raise DataError(f"{name}: cannot replay this file; expected a landmark file ({', '.join(REPLAY_SUFFIXES)})")
    if not data:
        raise DataError(f"{name}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="signstgcn-replay-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            landmarks = load_landmarks(path)
            prepare_frames(landmarks, predictor.data, predictor.layout)  # the checks of detect: parts, skeleton, face
        except DataError as err:  # name the upload, not the temporary copy
            raise DataError(str(err).replace(str(path), name)) from None
    landmarks.path = Path(name)
    parts = {part: arr[..., :predictor.data.selection.coords] for part, arr in landmarks.arrays.items()
             if part in predictor.layout.part_names}  # part -> (T, V_part, C)
    source_fps = landmarks.fps
    if source_fps is not None and source_fps > 0 and abs(source_fps / fps - 1.0) > 1e-3:
        length = max(1, round(landmarks.num_frames * fps / source_fps))
        parts = {part: resample_time(arr, length) for part, arr in parts.items()}  # (T', V_part, C)
    shown = Landmarks(path=landmarks.path, arrays=parts, fps=fps, image_size=landmarks.image_size)
    try:
        view = view_limits(shown, drawn_xy(shown))
    except ValueError as err:  # nothing detected in any frame
        raise DataError(str(err)) from None
    if landmarks.skeleton in (None, "mediapipe"):  # fractions of the frame: the camera's frame bounds the view
        view = _within_frame(view, landmarks.aspect or 1.0)
    return {"type": "landmarks", "name": name, "frames": shown.num_frames, "fps": fps, "source_fps": source_fps,
            "image_size": None if landmarks.image_size is None else list(landmarks.image_size),
            "parts": {part: _json_array(arr) for part, arr in parts.items()},
            "edges": {part: [list(e) for e in drawn_edges(part, arr.shape[1], landmarks.skeleton)]
                      for part, arr in parts.items()},
            "view": [round(v, DECIMALS) for v in view]}
