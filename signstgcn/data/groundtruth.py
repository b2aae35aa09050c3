"""Ground-truth parsing and label vocabularies (DESIGN §2).

A ground-truth file has lines ``<video_id> <frame_idx> <label>`` (the label may contain spaces);
blank lines and ``#`` comments are ignored. A label holds from its frame until the next annotated
frame of the same video (the last one to the end); frames before a video's first annotation are
unlabeled. Lines may come in any order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signstgcn.errors import DataError

log = logging.getLogger(__name__)

UNLABELED = -1  # frame before the video's first annotation
DROPPED = -2  # label outside the vocabulary (e.g. cut by --num-classes)
DEFAULT_SIGNING_LABELS = ("s", "sign", "signing")


@dataclass
class GroundTruth:
    """Annotations per video, each a frame-sorted list of ``(frame, label)``."""

    path: Path | None
    annotations: dict[str, list[tuple[int, str]]]
    duplicates: int = 0
    lines: dict[tuple[str, int], int] = field(default_factory=dict)  # (video, frame) -> its line in the file
    classes: tuple[str, ...] | None = None  # a class order the data fixes (GISLR's class map), else None

    @classmethod
    def from_clip_labels(cls, path: Path | None, labels: Mapping[str, str],
                         classes: tuple[str, ...] | None = None) -> GroundTruth:
        """One label per clip, holding from its first frame (isolated-sign data sets: GISLR, pyskl)."""
        return cls(path, {vid: [(0, label)] for vid, label in labels.items()}, classes=classes)

    @property
    def video_ids(self) -> list[str]:
        return sorted(self.annotations)

    def labels_present(self, video_ids: Iterable[str] | None = None) -> Counter[str]:
        """How often each label is annotated (segments, not frames) in the given videos."""
        ids = self.annotations if video_ids is None else video_ids
        return Counter(label for vid in ids for _, label in self.annotations.get(vid, []))

    def segments(self, video_id: str, num_frames: int) -> list[tuple[int, int, str]]:
        """``(start, end, label)`` half-open frame ranges clipped to ``[0, num_frames)``."""
        ann = self.annotations.get(video_id, [])
        out = []
        for k, (frame, label) in enumerate(ann):
            end = ann[k + 1][0] if k + 1 < len(ann) else num_frames
            start, end = max(frame, 0), min(end, num_frames)
            if start < end:
                out.append((start, end, label))
        return out

    def beyond_video(self, video_id: str, num_frames: int) -> list[tuple[int, int]]:
        """``(frame, line number)`` of the annotations of ``video_id`` that start at or after ``num_frames``
        (line 0 when unknown)."""
        return [(frame, self.lines.get((video_id, frame), 0))
                for frame, _ in self.annotations.get(video_id, []) if frame >= num_frames]

    def frame_labels(self, video_id: str, num_frames: int, encode: Mapping[str, int] | LabelVocab) -> np.ndarray:
        """(T,) int64 label ids: ``UNLABELED`` before the first annotation, ``DROPPED`` outside vocab."""
        out = np.full(num_frames, UNLABELED, dtype=np.int64)
        for start, end, label in self.segments(video_id, num_frames):
            out[start:end] = encode.encode(label) if isinstance(encode, LabelVocab) else encode.get(label, DROPPED)
        return out


def parse_groundtruth(path: str | Path) -> GroundTruth:
    """Parse a ground-truth file; a malformed line raises DataError naming ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: ground-truth file not found (expected lines '<video_id> <frame_idx> <label>')")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err})") from None
    by_video: dict[str, dict[int, str]] = {}
    duplicates = 0
    lines: dict[tuple[str, int], int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split(maxsplit=2)
        if len(fields) < 3:
            raise DataError(f"{path}:{lineno}: expected '<video_id> <frame_idx> <label>', got {raw.strip()!r}")
        video, frame_text, label = fields[0], fields[1], fields[2].strip()
        try:
            frame = int(frame_text)
        except ValueError:
            raise DataError(f"{path}:{lineno}: frame index {frame_text!r} is not an integer "
                            f"(expected '<video_id> <frame_idx> <label>')") from None
        frames = by_video.setdefault(video, {})
        if frame in frames:
            duplicates += 1
        frames[frame] = label  # a later line for the same frame wins
        lines[(video, frame)] = lineno
    if not by_video:
        raise DataError(f"{path}: no annotations (expected lines '<video_id> <frame_idx> <label>')")
    if duplicates:
        log.warning("%s: %d lines repeat an annotated frame of their video; the later line wins", path, duplicates)
    annotations = {vid: sorted(frames.items()) for vid, frames in by_video.items()}
    return GroundTruth(path=path, annotations=annotations, duplicates=duplicates, lines=lines)


@dataclass(frozen=True)
class LabelVocab:
    """Maps ground-truth labels to class ids; stored in checkpoints via :meth:`to_dict`.

    Binary: class 1 for labels in ``signing_labels`` (case-insensitive), 0 for every other label.
    Multi-class: ``classes`` (sorted, or in the data's own order: :attr:`GroundTruth.classes`) → ``0..K-1``;
    other labels are ``DROPPED``.
    """

    binary: bool
    classes: tuple[str, ...]
    signing_labels: tuple[str, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.classes)})
        object.__setattr__(self, "_signing", frozenset(s.lower() for s in self.signing_labels))

    @property
    def num_classes(self) -> int:
        return 1 if self.binary else len(self.classes)

    def encode(self, label: str) -> int:
        if self.binary:
            return int(label.lower() in self._signing)
        return self._index.get(label, DROPPED)

    def to_dict(self) -> dict:
        return {"binary": self.binary, "classes": list(self.classes), "signing_labels": list(self.signing_labels)}

    @classmethod
    def from_dict(cls, d: Mapping) -> LabelVocab:
        return cls(binary=bool(d["binary"]), classes=tuple(d["classes"]),
                   signing_labels=tuple(d.get("signing_labels", ())))


def parse_signing_labels(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"s,Sign"`` → ``("s", "sign")``; rejects an empty list."""
    items = text.split(",") if isinstance(text, str) else list(text)
    labels = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    if not labels:
        raise ValueError(f"--signing-labels needs at least one label, got {text!r}")
    return labels


def build_vocab(
    gt: GroundTruth,
    video_ids: Iterable[str],
    *,
    binary: bool,
    signing_labels: Iterable[str] = DEFAULT_SIGNING_LABELS,
    num_classes: int | None = None,
    exclude: Iterable[str] = (),
) -> LabelVocab:
    """Vocabulary from the annotations of ``video_ids`` (the train split).

    Multi-class leaves out the ``exclude`` labels (``--exclude-labels``: e.g. ``idle``, to test later how the
    model rejects what it never learned), then keeps the ``num_classes`` most frequent labels (ties broken
    alphabetically) and logs what it dropped; asking for more classes than exist, or excluding a label the
    training videos do not have, is an error. Frames of dropped labels are never used.
    """
    if binary and set(exclude):
        raise ValueError("--exclude-labels is for multi-class training; with --binary choose --signing-labels")
    ids = list(video_ids)
    counts = gt.labels_present(ids)
    where = gt.path or "ground truth"
    if not counts:
        raise DataError(f"{where}: no annotations for the {len(ids)} training videos")
    if binary:
        signing = parse_signing_labels(list(signing_labels))
        if not any(label.lower() in signing for label in counts):
            present = ", ".join(sorted(counts)[:10])
            raise DataError(f"{where}: no label matches the signing labels {','.join(signing)} "
                            f"(labels present: {present}); set --signing-labels")
        return LabelVocab(binary=True, classes=("not-signing", "signing"), signing_labels=signing)
    excluded = set(exclude)
    absent = sorted(excluded - set(counts))
    if absent:
        raise DataError(f"{where}: --exclude-labels {','.join(absent)}: no such label in the {len(ids)} training "
                        f"videos (labels: {', '.join(sorted(counts)[:10])}{', ...' if len(counts) > 10 else ''})")
    if excluded:
        log.warning("left out of training by --exclude-labels: %s",
                    ", ".join(f"{k} ({counts[k]} segments)" for k in sorted(excluded)))
    ranked = sorted(((k, v) for k, v in counts.items() if k not in excluded), key=lambda kv: (-kv[1], kv[0]))
    order = {c: k for k, c in enumerate(gt.classes)} if gt.classes else None  # the data's own class order
    if num_classes is not None:
        if num_classes < 2:
            raise ValueError(f"--num-classes must be at least 2 for multi-class training, got {num_classes}")
        if num_classes > len(ranked):
            raise DataError(f"{where}: --num-classes {num_classes} asked but the training videos have only "
                            f"{len(ranked)} labels ({', '.join(sorted(counts)[:10])})")
        kept, cut = ranked[:num_classes], ranked[num_classes:]
    else:
        kept, cut = ranked, []
    if len(kept) < 2:
        raise DataError(f"{where}: multi-class training needs at least 2 labels, found {len(kept)}")
    dropped = dict(cut)
    if dropped:
        log.warning("keeping the %d most frequent labels; dropped %d labels (%d segments): %s",
                    len(kept), len(dropped), sum(dropped.values()),
                    ", ".join(f"{k} ({v})" for k, v in list(dropped.items())[:20]))
    dropped.update({k: counts[k] for k in sorted(excluded)})
    if order is not None:
        unknown = sorted(k for k, _ in kept if k not in order)
        if unknown:
            raise DataError(f"{where}: labels {', '.join(unknown[:10])} are not in the data's class list "
                            f"({len(order)} classes)")
        if num_classes is None and not excluded:  # every class of the list, in its order (the data's indices)
            return LabelVocab(binary=False, classes=tuple(gt.classes), dropped=dropped)
        return LabelVocab(binary=False, classes=tuple(sorted((k for k, _ in kept), key=order.__getitem__)),
                          dropped=dropped)
    return LabelVocab(binary=False, classes=tuple(sorted(k for k, _ in kept)), dropped=dropped)
