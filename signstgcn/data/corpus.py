"""A data folder loaded once: selected joints per video, ground truth, real signer ids.

:func:`load_corpus` reads every landmark file under ``--data`` (recursively), keeps only the joints
and channels the layout needs (one ``(T, V, C)`` float32 array per video) and cross-checks videos
against the ground truth: a video without labels, or a label line without a video, is counted and
reported in one warning, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from signstgcn.data.groundtruth import GroundTruth, parse_groundtruth
from signstgcn.data.landmarks import (
    Landmarks,
    PartSelection,
    check_skeleton,
    find_landmark_files,
    load_landmarks,
    select_joints,
)
from signstgcn.data.signers import load_signer_ids
from signstgcn.errors import DataError
from signstgcn.graph import Layout, LayoutSpec

log = logging.getLogger(__name__)

GROUNDTRUTH_NAME = "groundtruth.txt"


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


def _infer_spec(first: Landmarks, selection: PartSelection) -> LayoutSpec:
    skeleton = first.skeleton or "mediapipe"
    return selection.layout_spec(skeleton=skeleton, face_points=first.face_points)


def load_corpus(
    data_dir: str | Path,
    *,
    selection: PartSelection | None = None,
    gt_path: str | Path | None = None,
    layout_spec: LayoutSpec | None = None,
    video_ids: Iterable[str] | None = None,
    require_labels: bool = True,
    progress: bool = False,
) -> Corpus:
    """Load ``data_dir`` (see module docstring).

    ``layout_spec`` fixes the graph (e.g. from a checkpoint); otherwise it is inferred from the first
    file (MediaPipe or OpenPose pose, 468/478-point face). ``video_ids`` restricts loading to those
    videos. With ``require_labels`` the ground truth (``gt_path`` or ``DATA/groundtruth.txt``) must
    exist and only labeled videos are kept.
    """
    selection = selection or PartSelection()
    root = Path(data_dir)
    files = find_landmark_files(root)
    gt = None
    gt_file = Path(gt_path) if gt_path is not None else root / GROUNDTRUTH_NAME
    if require_labels or gt_file.is_file():
        gt = parse_groundtruth(gt_file)
    report: dict[str, int] = {}
    ids = sorted(files)
    if video_ids is not None:
        wanted = list(dict.fromkeys(video_ids))
        missing = [v for v in wanted if v not in files]
        if missing:
            raise DataError(f"{root}: {len(missing)} requested videos have no landmark file "
                            f"(e.g. {', '.join(missing[:5])})")
        ids = wanted
    if gt is not None:
        unlabeled = [v for v in ids if v not in gt.annotations]
        orphans = [v for v in gt.annotations if v not in files]
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
            raise DataError(f"{root}: none of the {len(files)} landmark files has a line in {gt.path} "
                            f"(video id = file name without .npz)")
    frames: dict[str, np.ndarray] = {}
    fps: dict[str, float | None] = {}
    npz_signers: dict[str, str] = {}
    spec, layout = layout_spec, None
    for vid in tqdm(ids, desc="loading landmarks", unit="video", disable=not progress, leave=False):
        lm = load_landmarks(files[vid])
        if spec is None:
            spec = _infer_spec(lm, selection)
        if layout is None:
            layout = spec.build()
        check_skeleton(lm, spec)
        frames[vid] = select_joints(lm, layout, selection.coords)
        fps[vid] = lm.fps
        if lm.signer is not None:
            npz_signers[vid] = lm.signer
    assert spec is not None and layout is not None
    if gt is not None:
        beyond = sum(gt.beyond_video(v, frames[v].shape[0]) for v in ids)
        report["annotations_beyond_video"] = beyond
        if beyond:
            log.warning("%s: %d annotations start after their video's last frame and are ignored", gt.path, beyond)
    signers = load_signer_ids(root, ids, npz_signers)
    return Corpus(data_dir=root, video_ids=ids, frames=frames, layout_spec=spec, layout=layout,
                  coords=selection.coords, gt=gt, signers=signers, fps=fps, report=report)
