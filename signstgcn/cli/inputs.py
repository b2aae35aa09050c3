"""The recordings a command reads (``detect``, ``transcribe``): landmark files, OpenPose folders, videos, or folders
of them; a video's landmarks are extracted with MediaPipe (the ``mediapipe`` extra) and cached as ``OUT/ID.npz``,
which a later run on the same unchanged video reads instead of extracting again."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import LANDMARK_SUFFIXES, find_landmark_files, load_landmarks
from signstgcn.data.readers.openpose import is_openpose_folder
from signstgcn.errors import DataError, SignSTGCNError
from signstgcn.inference.extraction import VIDEO_SUFFIXES, extract_video, require_mediapipe, save_npz

__all__ = ["Source", "cache_file", "collect_inputs", "finish", "load_input", "prepare_out", "process_each"]

T = TypeVar("T")


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


def prepare_out(out: Path, sources: Sequence[Source], planned: Sequence[Path], overwrite: bool) -> None:
    """Before any work: ``out`` must be a folder, none of the ``planned`` outputs may exist (unless ``overwrite``),
    videos need the mediapipe extra (its install hint now); then ``out`` is created."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    existing = [f for f in planned if f.exists()]
    if existing and not overwrite:
        raise ValueError(f"{len(existing)} output files already exist (e.g. {existing[0]}); pass --overwrite to "
                         "replace them")
    if any(src.kind == "video" for src in sources):
        require_mediapipe()
    out.mkdir(parents=True, exist_ok=True)


def process_each(sources: Sequence[Source], work: Callable[[Source], tuple[T, str]], *, prog: str, desc: str,
                 quiet: bool, progress: bool) -> tuple[dict[str, T], int]:
    """``work(src)`` → (result, one-line summary) for every input: a failing input is reported on stderr (one line)
    and skipped; summaries printed unless ``quiet``. Returns (results by input id, number failed)."""
    results: dict[str, T] = {}
    failed = 0
    for src in tqdm(sources, desc=desc, unit="input", disable=not progress):
        try:
            results[src.id], summary = work(src)
        except (SignSTGCNError, ValueError) as err:
            failed += 1
            print(f"{prog}: error: {err}", file=sys.stderr)
            continue
        if not quiet:
            print(summary, flush=True)
    return results, failed


def finish(prog: str, failed: int, total: int, out: Path) -> int:
    """The exit status: 0, or 2 with one line when inputs failed."""
    if not failed:
        return 0
    rest = f"the others were written to {out}" if failed < total else "nothing was written"
    print(f"{prog}: error: {failed} of {total} inputs failed (see above); {rest}", file=sys.stderr)
    return 2
