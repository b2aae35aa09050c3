"""A data folder loaded once: selected joints per video, ground truth, real signer ids.

:func:`load_corpus` reads every landmark file under ``--data`` (recursively), keeps only the joints
and channels the layout needs (one ``(T, V, C)`` float32 array per video) and cross-checks videos
against the ground truth: a video without labels, or a label line without a video, is counted and
reported in one warning, never a crash. A packed folder (:mod:`signstgcn.data.pack`: ``--data PACK``, or a
fresh ``DATA/.signstgcn-pack``) gives the same corpus with memory-mapped, read-only frames.

Formats that carry their own labels: a GISLR / Kaggle asl-signs folder (``train.csv``: one sign per clip, the
participant as signer; read unless a ``groundtruth.txt`` is there too) and a pyskl pickle given as ``--data
FILE.pkl`` (its clips and integer labels).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from signstgcn.data.groundtruth import GroundTruth, parse_groundtruth
from signstgcn.data.landmarks import JointSelector, Landmarks, PartSelection
from signstgcn.data.layout import Layout, LayoutSpec
from signstgcn.data.pack import Pack, find_pack
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.data.readers.gislr import TRAIN_CSV, is_gislr_folder, read_gislr_index
from signstgcn.data.readers.pickles import PysklClips, read_pyskl
from signstgcn.data.signers import load_signer_ids
from signstgcn.errors import DataError

log = logging.getLogger(__name__)

GROUNDTRUTH_NAME = "groundtruth.txt"
MAX_NAMED = 5  # warnings name this many offending lines, then give a count


@dataclass
class Corpus:
    """Videos of one data folder in layout node order (``frames[v]`` is (T_v, V, C), NaN = missing)."""

    data_dir: Path
    video_ids: list[str]
    frames: dict[str, np.ndarray]
    layout_spec: LayoutSpec
    layout: Layout
    coords: int
    gt: GroundTruth | None
    signers: dict[str, str] = field(default_factory=dict)
    fps: dict[str, float | None] = field(default_factory=dict)
    report: dict[str, int] = field(default_factory=dict)

    def num_frames(self, video_id: str) -> int:
        return self.frames[video_id].shape[0]

    @property
    def total_frames(self) -> int:
        return sum(f.shape[0] for f in self.frames.values())

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f in self.frames.values())


def load_corpus(
    data_dir: str | Path,
    *,
    selection: PartSelection | None = None,
    gt_path: str | Path | None = None,
    layout_spec: LayoutSpec | None = None,
    video_ids: Iterable[str] | None = None,
    require_labels: bool = True,
    read_labels: bool = True,
    progress: bool = False,
) -> Corpus:
    """Load ``data_dir`` (see module docstring).

    ``layout_spec`` fixes the graph (e.g. from a checkpoint); otherwise it is inferred from the first
    file (MediaPipe or OpenPose pose, 468/478-point face). ``video_ids`` restricts loading to those
    videos. With ``require_labels`` the ground truth (``gt_path`` or ``DATA/groundtruth.txt``) must
    exist and only labeled videos are kept; ``read_labels=False`` never opens a ground-truth file (unlabeled
    use, e.g. ``signstgcn adapt``). ``data_dir`` may be a pack (see module docstring).
    """
    selection = selection or PartSelection()
    root = Path(data_dir)
    clips = read_pyskl(root) if root.suffix.lower() == ".pkl" and root.is_file() else None  # many clips, one file
    pack = find_pack(root, selection, layout_spec) if clips is None else None
    files = find_landmark_files(root) if pack is None and clips is None else {}
    known = set(clips.videos) if clips is not None else files.keys() if pack is None else set(pack.info.video_ids)
    gt, format_signers = data_labels(root, clips, gt_path=gt_path, require=require_labels, read=read_labels)
    report: dict[str, int] = {}
    ids = sorted(known)
    if video_ids is not None:
        wanted = list(dict.fromkeys(video_ids))
        missing = [v for v in wanted if v not in known]
        if missing:
            raise DataError(f"{root}: {len(missing)} requested videos have no landmark file "
                            f"(e.g. {', '.join(missing[:5])})")
        ids = wanted
    if gt is not None:
        unlabeled = [v for v in ids if v not in gt.annotations]
        orphans = [v for v in gt.annotations if v not in known]
        report["videos_without_labels"] = len(unlabeled)
        report["labels_without_video"] = len(orphans)
        if unlabeled and require_labels:
            log.warning("%s: %d landmark files have no ground-truth lines and are skipped (e.g. %s)",
                        gt.path, len(unlabeled), ", ".join(unlabeled[:5]))
            ids = [v for v in ids if v in gt.annotations]
        if orphans:
            log.warning("%s: %d videos in the ground truth have no landmark file under %s and are ignored "
                        "(e.g. %s)", gt.path, len(orphans), root, ", ".join(orphans[:5]))
        if not ids:
            raise DataError(f"{root}: none of the {len(known)} landmark files has a line in {gt.path} "
                            f"(video id = file name without .npz)")
    if pack is None:
        read = clips.videos.__getitem__ if clips is not None else lambda v: load_landmarks(files[v])
        frames, fps, npz_signers, spec, layout = _read_videos(read, ids, selection, layout_spec, progress)
    else:
        frames, fps, npz_signers, spec, layout = _pack_videos(pack, ids)
    npz_signers = {**format_signers, **npz_signers}
    if gt is not None:
        beyond = [(line, v, frame, frames[v].shape[0]) for v in ids
                  for frame, line in gt.beyond_video(v, frames[v].shape[0])]
        report["annotations_beyond_video"] = len(beyond)
        if beyond:
            beyond.sort()
            shown = "; ".join(f"line {line}: {v} frame {frame} (the video has {t} frames)"
                              for line, v, frame, t in beyond[:MAX_NAMED])
            more = f"; and {len(beyond) - MAX_NAMED} more" if len(beyond) > MAX_NAMED else ""
            log.warning("%s: %d annotations start after their video's last frame and are ignored: %s%s",
                        gt.path, len(beyond), shown, more)
    signers = load_signer_ids(root, ids, npz_signers)
    return Corpus(data_dir=root, video_ids=ids, frames=frames, layout_spec=spec, layout=layout,
                  coords=selection.coords, gt=gt, signers=signers, fps=fps, report=report)


def data_labels(root: Path, clips: PysklClips | None = None, *, gt_path: str | Path | None = None,
                require: bool = False, read: bool = True) -> tuple[GroundTruth | None, dict[str, str]]:
    """The labels of ``root`` and the signer ids its format carries. Labels: ``gt_path``, else
    ``root/groundtruth.txt``, else what the format carries (:func:`carried_labels`); a missing ground-truth file
    is an error only with ``require``; ``read=False`` opens no ground-truth file (labels None)."""
    carried = carried_labels(root, clips)
    signers = carried[1] if carried is not None else {}
    gt_file = Path(gt_path) if gt_path is not None else root / GROUNDTRUTH_NAME
    if not read:
        return None, signers
    if gt_path is None and carried is not None and not gt_file.is_file():
        return carried[0], signers
    return (parse_groundtruth(gt_file) if require or gt_file.is_file() else None), signers


def carried_labels(root: Path, clips: PysklClips | None) -> tuple[GroundTruth, dict[str, str]] | None:
    """Clip labels and signer ids that come with the data (GISLR's ``train.csv``, a pyskl pickle's labels);
    None for a folder of landmark files, whose labels are ``groundtruth.txt`` and signers ``signers.txt``."""
    if clips is not None:
        top = max((int(v) for v in clips.labels.values()), default=-1)
        return GroundTruth.from_clip_labels(clips.path, clips.labels, tuple(str(k) for k in range(top + 1))), {}
    if root.is_dir() and is_gislr_folder(root):
        index = read_gislr_index(root)
        return GroundTruth.from_clip_labels(root / TRAIN_CSV, index.labels, index.classes), index.signers
    return None


def _read_videos(
    read: Callable[[str], Landmarks], ids: list[str], selection: PartSelection, layout_spec: LayoutSpec | None,
    progress: bool,
) -> tuple[dict[str, np.ndarray], dict[str, float | None], dict[str, str], LayoutSpec, Layout]:
    """Read (``read(video id)``) and select the joints of ``ids``: frames, fps, npz signer scalars, layout spec
    and layout."""
    selector = JointSelector(selection, layout_spec)
    frames: dict[str, np.ndarray] = {}
    fps: dict[str, float | None] = {}
    npz_signers: dict[str, str] = {}
    for vid in tqdm(ids, desc="loading landmarks", unit="video", disable=not progress, leave=False):
        lm = read(vid)
        frames[vid] = selector(lm)  # (T, V, C)
        fps[vid] = lm.fps
        if lm.signer is not None:
            npz_signers[vid] = lm.signer
    assert selector.spec is not None and selector.layout is not None
    return frames, fps, npz_signers, selector.spec, selector.layout


def _pack_videos(
    pack: Pack, ids: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, float | None], dict[str, str], LayoutSpec, Layout]:
    """The same as :func:`_read_videos` from a pack: frames are read-only memmap views, nothing is read."""
    info = pack.info
    npz_signers = {v: info.signers[v] for v in ids if v in info.signers}
    return ({v: pack.video(v) for v in ids}, {v: info.fps[v] for v in ids}, npz_signers,
            info.layout_spec, info.layout_spec.build())
