"""Landmark readers: every supported format → validated :class:`~signstgcn.data.landmarks.Landmarks`.

:func:`load_landmarks` dispatches on the path: ``.npz`` (:mod:`.npz`, the user format), ``.pose`` files of the
pose-format library (:mod:`.pose_format`) and folders of OpenPose ``*_keypoints.json`` frames
(:mod:`.openpose`; one folder = one video, id = folder name), GISLR / Kaggle asl-signs ``.parquet`` clips
(:mod:`.gislr`) and OpenHands ``.pkl`` clips (:mod:`.pickles`). :func:`find_landmark_files` finds them in a folder.
pyskl pickles hold many clips in one file (:func:`~signstgcn.data.readers.pickles.read_pyskl`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers.gislr import load_gislr_parquet
from signstgcn.data.readers.npz import load_npz
from signstgcn.data.readers.openpose import KEYPOINT_SUFFIX, load_openpose_dir
from signstgcn.data.readers.pickles import load_pose_pickle
from signstgcn.data.readers.pose_format import load_pose
from signstgcn.errors import DataError

LANDMARK_SUFFIXES = (".npz", ".pose", ".parquet", ".pkl")
OPENPOSE_FOLDER = "OpenPose *_keypoints.json folders"

__all__ = ["LANDMARK_SUFFIXES", "OPENPOSE_FOLDER", "find_landmark_files", "load_gislr_parquet", "load_landmarks",
           "load_npz", "load_openpose_dir", "load_pose", "load_pose_pickle"]


def load_landmarks(path: str | Path) -> Landmarks:
    """Read one landmark file of any supported format: ``.npz``, ``.pose``, a GISLR ``.parquet`` clip, an
    OpenHands ``.pkl`` clip or an OpenPose JSON folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".pose":
        return load_pose(path)
    if suffix == ".parquet":
        return load_gislr_parquet(path)
    if suffix == ".pkl":
        return load_pose_pickle(path)
    if path.is_dir():
        return load_openpose_dir(path)
    if not path.exists() and suffix not in LANDMARK_SUFFIXES:
        raise DataError(f"{path}: no such landmark file or folder")
    raise DataError(f"{path}: unsupported landmark file; expected one of {', '.join(LANDMARK_SUFFIXES)} "
                    f"or a folder of OpenPose *_keypoints.json frames")


def find_landmark_files(data_dir: str | Path, suffixes: Iterable[str] = LANDMARK_SUFFIXES,
                        openpose_folders: bool = True) -> dict[str, Path]:
    """Map video id → path for every landmark file under ``data_dir`` (recursively).

    The id is the file stem; with ``openpose_folders`` a folder holding ``*_keypoints.json`` frames is one
    video whose id is the folder name (its own subfolders are not searched).
    """
    root = Path(data_dir)
    if not root.exists():
        raise DataError(f"{root}: data folder does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder of landmark files, got a file")
    wanted = tuple(s.lower() for s in suffixes)
    found: dict[str, Path] = {}

    def add(vid: str, path: Path) -> None:
        if vid in found:
            raise DataError(f"{root}: two files share the video id {vid!r}: {found[vid]} and {path}")
        found[vid] = path

    for folder, dirs, files in os.walk(root):
        dirs.sort()
        here = Path(folder)
        if openpose_folders and any(f.endswith(KEYPOINT_SUFFIX) for f in files):
            add(here.name, here)
            dirs.clear()
        for name in sorted(files):
            path = here / name
            if path.suffix.lower() in wanted:
                add(path.stem, path)
    if not found:
        others = [*wanted[1:], *([OPENPOSE_FOLDER] if openpose_folders else [])]
        also = f"; also read: {', '.join(others)}" if others else ""
        raise DataError(f"{root}: no landmark files ({wanted[0] if wanted else 'none'}) found "
                        f"(searched recursively{also})")
    return dict(sorted(found.items()))
