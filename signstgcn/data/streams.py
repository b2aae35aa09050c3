"""Continuous recordings from isolated clips: one group's labelled clips joined end to end.

Isolated-sign data sets (one sign per clip, a few ``idle`` clips of the same person) say nothing about where signs
start and end in a longer recording. :func:`plan_streams` and :func:`write_streams` build such recordings the way
``../shared/data/mp_detect`` was built: the clips of one *group* (a recording session from ``sessions.txt``, else a
person from ``signers.txt``, else one group) are shuffled with a seed, the group's ``idle`` clips are spread evenly
between its signs, and every ``clips_per_stream`` clips make one stream.

**The cut.** Clips are joined as they are, frame after frame: a join is a cut between two separate recordings, not
continuous video (the body can jump by a few centimetres, a hand can appear from one frame to the next). No frame
is dropped, resampled or blended. The ground truth of a stream has one line at each clip's first frame (the clip's
own label, or each of its labelled segments shifted by the clip's offset), so two consecutive clips of one sign are
two segments, as two signs are.

Every stream keeps the parts the clips have (a part that one clip lacks is NaN, i.e. not detected, in its frames);
clips of one stream must agree on each part's joint count and channels and on the frame rate, where stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.atomic import write_text_atomic
from signstgcn.data.groundtruth import GroundTruth
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.data.writers import write_npz
from signstgcn.errors import DataError

__all__ = ["DEFAULT_CLIPS_PER_STREAM", "Clip", "StreamPlan", "StreamResult", "clips_from_groundtruth", "join_clips",
           "plan_streams", "write_stream_tables", "write_streams"]

DEFAULT_CLIPS_PER_STREAM = 16


@dataclass(frozen=True)
class Clip:
    """One isolated clip: its video id, file, group and label segments ``(start, end, label)`` in its own frames."""

    video: str
    path: Path
    group: str
    segments: tuple[tuple[int, int, str], ...]

    @property
    def label(self) -> str:
        """The clip's first label (an isolated clip has one)."""
        return self.segments[0][2]


@dataclass(frozen=True)
class StreamPlan:
    """The clips of one stream, in order."""

    id: str
    group: str
    clips: tuple[Clip, ...]


@dataclass(frozen=True)
class StreamResult:
    """A written stream: its file, frame count and ``(start, end, label, source video)`` segments."""

    id: str
    group: str
    path: Path
    num_frames: int
    segments: tuple[tuple[int, int, str, str], ...]


def _spread(signs: list[Clip], idles: list[Clip]) -> list[Clip]:
    """Signs in order with the idle clips spread evenly between them (an idle clip first, as in mp_detect)."""
    if not idles:
        return list(signs)
    if not signs:
        return list(idles)
    order: list[Clip] = []
    # idle k goes before sign floor(k * len(signs) / len(idles)): evenly spaced, the first before the first sign
    slots = [int(k * len(signs) / len(idles)) for k in range(len(idles))]
    pending = list(zip(slots, idles))
    for i, sign in enumerate(signs):
        while pending and pending[0][0] == i:
            order.append(pending.pop(0)[1])
        order.append(sign)
    order += [clip for _, clip in pending]
    return order


def plan_streams(clips: Sequence[Clip], *, idle_label: str | None = "idle",
                 clips_per_stream: int = DEFAULT_CLIPS_PER_STREAM, seed: int = 0) -> list[StreamPlan]:
    """Streams of each group's clips: shuffled with ``seed``, ``idle_label`` clips spread between the signs, cut
    every ``clips_per_stream`` clips. Stream ids are ``<group>_<k>`` (k from 0 in each group)."""
    if clips_per_stream < 1:
        raise ValueError(f"--clips-per-stream must be at least 1, got {clips_per_stream}")
    if not clips:
        raise DataError("no clips to join into streams")
    rng = np.random.default_rng(seed)
    by_group: dict[str, list[Clip]] = {}
    for clip in sorted(clips, key=lambda c: c.video):
        by_group.setdefault(clip.group, []).append(clip)
    plans = []
    for group in sorted(by_group):
        members = by_group[group]
        shuffled = [members[i] for i in rng.permutation(len(members))]
        idles = [c for c in shuffled if idle_label is not None and c.label == idle_label]
        signs = [c for c in shuffled if idle_label is None or c.label != idle_label]
        order = _spread(signs, idles)
        for k, first in enumerate(range(0, len(order), clips_per_stream)):
            plans.append(StreamPlan(f"{group}_{k}", group, tuple(order[first:first + clips_per_stream])))
    return plans


def join_clips(landmarks: Sequence[Landmarks], path: Path) -> Landmarks:
    """One recording of ``landmarks`` frame after frame; a part a clip lacks is NaN in its frames."""
    shapes: dict[str, tuple[int, int]] = {}
    for lm in landmarks:
        for part, values in lm.arrays.items():
            shape = values.shape[1:]
            if shapes.setdefault(part, shape) != shape:
                raise DataError(f"{lm.path}: {part} has shape (T, {shape[0]}, {shape[1]}) but the stream's other "
                                f"clips have (T, {shapes[part][0]}, {shapes[part][1]}); join clips of one format")
    rates = {round(float(lm.fps), 3) for lm in landmarks if lm.fps is not None}
    if len(rates) > 1:
        raise DataError(f"{path}: its clips store different frame rates ({', '.join(map(str, sorted(rates)))}); "
                        "resample them to one rate first")
    sizes = {lm.image_size for lm in landmarks}
    if len(sizes) > 1:
        shown = ", ".join("unknown" if z is None else f"{z[0]:g}x{z[1]:g}" for z in sorted(sizes, key=str))
        raise DataError(f"{path}: its clips come from frames of different sizes ({shown}); a stream joins the clips "
                        "of one camera")
    arrays = {}
    for part, (V, C) in shapes.items():
        chunks = [lm.arrays[part] if part in lm.arrays else np.full((lm.num_frames, V, C), np.nan, np.float32)
                  for lm in landmarks]  # each (T_i, V, C)
        arrays[part] = np.concatenate(chunks).astype(np.float32)  # (sum T_i, V, C)
    signers = {lm.signer for lm in landmarks}
    return Landmarks(path, arrays, fps=rates.pop() if rates else None,
                     signer=signers.pop() if len(signers) == 1 else None, image_size=sizes.pop())


def write_streams(plans: Sequence[StreamPlan], out: Path, *,
                  relabel: Mapping[str, str] | None = None) -> list[StreamResult]:
    """Write each plan as ``out/<id>.npz``; returns the streams with their segments (labels mapped by
    ``relabel`` where it names them). Ground-truth and group files: :func:`write_stream_tables`."""
    results = []
    for plan in plans:
        loaded = [load_landmarks(clip.path) for clip in plan.clips]
        target = out / f"{plan.id}.npz"
        joined = join_clips(loaded, target)
        segments, offset = [], 0
        for clip, lm in zip(plan.clips, loaded):
            for start, end, label in clip.segments:
                if start < lm.num_frames:
                    name = relabel.get(label, label) if relabel else label
                    segments.append((offset + start, offset + min(end, lm.num_frames), name, clip.video))
            offset += lm.num_frames
        write_npz(target, joined)
        results.append(StreamResult(plan.id, plan.group, target, offset, tuple(segments)))
    return results


def write_stream_tables(results: Sequence[StreamResult], out: Path, *, group_file: str | None) -> list[Path]:
    """``groundtruth.txt`` (a line at each segment start), ``segments.txt`` (``<stream> <start> <end> <label>
    <source video>``) and, with ``group_file`` (``sessions.txt`` / ``signers.txt``), the stream's group."""
    gt = "".join(f"{r.id} {s} {label}\n" for r in results for s, _, label, _ in r.segments)
    seg = "".join(f"{r.id} {s} {e} {label} {src}\n" for r in results for s, e, label, src in r.segments)
    written = [write_text_atomic(out / "groundtruth.txt", gt), write_text_atomic(out / "segments.txt", seg)]
    if group_file:
        written.append(write_text_atomic(out / group_file, "".join(f"{r.id} {r.group}\n" for r in results)))
    return written


def clips_from_groundtruth(files: Mapping[str, Path], gt: GroundTruth, groups: Mapping[str, str] | None,
                           num_frames: Mapping[str, int] | None = None) -> tuple[list[Clip], list[str]]:
    """The labelled clips of ``files`` (video id → file) with their group (one group ``all`` without
    ``groups``); returns ``(clips, videos without labels)``. ``num_frames`` bounds the last segment (else open)."""
    clips, unlabeled = [], []
    for video in sorted(files):
        if video not in gt.annotations:
            unlabeled.append(video)
            continue
        length = num_frames.get(video) if num_frames else None
        segments = tuple(gt.segments(video, length if length is not None else 2 ** 31 - 1))
        if not segments:
            unlabeled.append(video)
            continue
        group = "all" if groups is None else groups[video]
        clips.append(Clip(video, files[video], group, segments))
    return clips, unlabeled
