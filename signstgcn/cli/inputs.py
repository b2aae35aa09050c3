"""The recordings a command reads (``detect``, ``transcribe``): landmark files, OpenPose folders, videos, or folders
of them; a video's landmarks are extracted with MediaPipe (the ``mediapipe`` extra) and cached as ``OUT/ID.npz``,
which a later run on the same unchanged video reads instead of extracting again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import LANDMARK_SUFFIXES, find_landmark_files, load_landmarks
from signstgcn.data.readers.openpose import is_openpose_folder
from signstgcn.errors import DataError, SignSTGCNError
from signstgcn.inference.extraction import VIDEO_SUFFIXES, extract_video, save_npz

__all__ = ["Source", "cache_file", "collect_inputs", "load_input"]


@dataclass(frozen=True)
class Source:
    """One recording to process: ``kind`` is ``landmarks`` or ``video``."""

    id: str
    path: Path
    kind: str


def collect_inputs(items: list[str]) -> list[Source]:
    """Expand INPUT arguments into recordings; unknown suffixes, missing paths and id clashes are errors."""
    sources: list[Source] = []
    for item in items:
        path = Path(item)
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in LANDMARK_SUFFIXES:
                sources.append(Source(path.stem, path, "landmarks"))
            elif suffix in VIDEO_SUFFIXES:
                sources.append(Source(path.stem, path, "video"))
            else:
                raise DataError(f"{path}: unsupported input; expected {', '.join(LANDMARK_SUFFIXES)}, a video "
                                f"({', '.join(VIDEO_SUFFIXES)}) or a folder")
        elif path.is_dir():
            if is_openpose_folder(path):
                sources.append(Source(path.name, path, "landmarks"))
                continue
            try:
                found = find_landmark_files(path)
            except DataError:
                found = {}
            videos = sorted(q for q in path.rglob("*") if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES)
            if not found and not videos:
                raise DataError(f"{path}: no landmark files, OpenPose folders or videos found (searched recursively)")
            sources += [Source(vid, q, "landmarks") for vid, q in found.items()]
            sources += [Source(q.stem, q, "video") for q in videos]
        else:
            raise DataError(f"{path}: no such file or folder")
    seen: dict[str, Path] = {}
    unique = []
    for src in sources:
        if src.id in seen:
            if seen[src.id] == src.path:
                continue
            raise DataError(f"two inputs share the id {src.id!r} ({seen[src.id]} and {src.path}); "
                            "their outputs would collide")
        seen[src.id] = src.path
        unique.append(src)
    return unique


def cache_file(out: Path, src: Source) -> Path:
    """Where the landmarks of a video input are cached."""
    return out / f"{src.id}.npz"


def _cached(cache: Path, src: Source, face: str) -> Landmarks | None:
    """The landmarks cached for ``src`` by an earlier run: written after the video last changed, with the frame size
    (caches of older versions lack it) and with the face when it is asked for; else None."""
    if not cache.is_file() or cache.stat().st_mtime < src.path.stat().st_mtime:
        return None
    try:
        lm = load_landmarks(cache)
    except (SignSTGCNError, ValueError, OSError):
        return None
    if lm.image_size is None:
        return None
    return None if face == "refine" and "face" not in lm.arrays else lm


def load_input(src: Source, face: str, progress: bool, out: Path, use_cache: bool) -> tuple[Landmarks, bool]:
    """(landmarks, read from the cache); a video's fresh extraction is written to its cache."""
    if src.kind != "video":
        return load_landmarks(src.path), False
    cache = cache_file(out, src)
    lm = _cached(cache, src, face) if use_cache else None
    if lm is not None:
        return lm, True
    lm = extract_video(src.path, face=face, progress=progress)
    save_npz(lm, cache)
    return lm, False
