"""Any readable input → a folder of our ``.npz`` files or of pose-format ``.pose`` files, with its labels and signers.

:func:`open_dataset` reads what the rest of the toolkit reads: a folder of landmark files (``.npz``, ``.pose``,
OpenPose JSON folders, GISLR ``.parquet`` clips with ``train.csv``, OpenHands ``.pkl`` clips) with its
``groundtruth.txt`` / ``signers.txt``, a pyskl pickle of many clips, or one landmark file. :func:`convert` writes
every video with all its parts and channels (:mod:`signstgcn.data.writers`), then ``groundtruth.txt`` and
``signers.txt`` for the videos written, so data moves both ways between SignSTGCN and pose-format's tools. A video
that cannot be read is reported (one line each) and left out; the others are still written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from signstgcn.data.corpus import GROUNDTRUTH_NAME, data_labels
from signstgcn.data.groundtruth import GroundTruth
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.data.readers.pickles import is_pyskl, openhands_landmarks, read_pyskl, unpickle
from signstgcn.data.signers import SIGNERS_FILE, load_signer_ids
from signstgcn.data.writers import write_groundtruth, write_npz, write_pose, write_signers
from signstgcn.errors import DataError

log = logging.getLogger(__name__)

FORMATS = {"npz": ".npz", "pose": ".pose"}  # --to -> file suffix


@dataclass
class Dataset:
    """Every video of a readable input, how to read each, and the labels and signers that come with it."""

    source: Path
    video_ids: list[str]
    read: Callable[[str], Landmarks]
    gt: GroundTruth | None
    signers: dict[str, str] = field(default_factory=dict)


def open_dataset(source: str | Path) -> Dataset:
    """The videos, labels and signers of ``source`` (see the module docstring); nothing is read yet but labels."""
    src = Path(source)
    if src.is_file() and src.suffix.lower() == ".pkl":
        obj = unpickle(src)
        if is_pyskl(obj):
            clips = read_pyskl(src, obj)
            return Dataset(src, list(clips.videos), clips.videos.__getitem__, data_labels(src, clips)[0])
        one = openhands_landmarks(src, obj)  # one clip: the object is already unpickled
        return Dataset(src, [src.stem], lambda _vid: one, None)
    if src.is_file():
        one = load_landmarks(src)  # a clear error now for an unreadable single file
        return Dataset(src, [src.stem], lambda _vid: one, None)
    files = find_landmark_files(src)
    gt, format_signers = data_labels(src)
    return Dataset(src, list(files), lambda vid: load_landmarks(files[vid]), gt,
                   load_signer_ids(src, files, format_signers))


@dataclass
class ConvertReport:
    written: list[str]
    failed: dict[str, str]  # video id -> why it could not be read
    out: Path


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DataError(f"{out}: folder is not empty; pass --overwrite to write into it (files of the same name "
                        f"are replaced)")


def convert(source: str | Path, out: str | Path, to: str = "npz", *, overwrite: bool = False,
            progress: bool = False) -> ConvertReport:
    """Write every video of ``source`` into ``out`` as ``to`` (``npz`` or ``pose``), plus ``groundtruth.txt`` and
    ``signers.txt`` for the videos written (see the module docstring)."""
    if to not in FORMATS:
        raise ValueError(f"Invalid --to {to!r}. Only {', '.join(FORMATS)} are supported")
    out = Path(out)
    data = open_dataset(source)
    bad = [v for v in data.video_ids if not v or len(v.split()) != 1 or "/" in v or v.startswith(".")]
    if bad:
        raise DataError(f"{data.source}: video id {bad[0]!r} cannot be a file name and a ground-truth token")
    _check_out(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    written, failed, signers = [], {}, {}
    for vid in tqdm(data.video_ids, desc=f"converting to .{to}", unit="video", disable=not progress, leave=False):
        try:
            landmarks = data.read(vid)
        except DataError as err:
            failed[vid] = str(err)
            log.warning("%s", err)
            continue
        signer = data.signers.get(vid, landmarks.signer)
        path = out / f"{vid}{FORMATS[to]}"
        if to == "npz":
            write_npz(path, landmarks, signer=signer)
        else:  # a .pose file has no signer: signers.txt below keeps it
            write_pose(path, landmarks)
        written.append(vid)
        if signer:
            signers[vid] = signer
    if data.gt is not None:
        write_groundtruth(out / GROUNDTRUTH_NAME, data.gt, written)
    if signers:
        write_signers(out / SIGNERS_FILE, signers)
    return ConvertReport(written, failed, out)
