"""From a recording to signs: the detector's signing segments, each sign in them named by a classifier.

:func:`transcribe` runs a binary signing detector over the recording (``detect``'s defaults: its threshold,
smoothing and duration rules, with hysteresis: a segment reaches the threshold somewhere and extends while the
probability stays above :data:`LOW_THRESHOLD` of it, so the dip between two signs and a sign's slow start do not
cut it), then gives the classifier every sign in each segment:

- a segment up to 1.5 sign lengths long is one sign; a longer one (several signs in a row) is cut into
  ``round(duration / sign length)`` equal pieces, one sign each. The *sign length* is the classifier's window in
  seconds (its window over its training frame rate, or the recording's when it records none), or
  ``sign_seconds``;
- each piece is read by the classifier with its own input (its parts, joints and channels: the two checkpoints need
  not share a layout), resampled to its window (clip checkpoints) or scored with its sliding windows and averaged
  (window checkpoints, at its training frame rate where it records one);
- the calibrated top-k glosses of each piece, and ``unknown`` as the gloss when the top-1 probability is below
  ``min_confidence`` (default: the classifier's own). A piece the classifier names with one of ``not_signing``
  (e.g. its ``idle`` class) is no sign and is left out.

Frames are the recording's, end-exclusive; :class:`Transcript` keeps the detection it started from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.windows import resample_time
from signstgcn.errors import CheckpointError
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    UNKNOWN,
    Detection,
    Predictor,
    check_min_confidence,
    model_rate,
    prepare_window,
    recognize,
    require_binary,
    resample_to_rate,
    run_model,
)

__all__ = ["DEFAULT_NOT_SIGNING", "DEFAULT_TOP_K", "LONG_SEGMENT", "LOW_THRESHOLD", "LiveSigns", "Sign", "Transcript",
           "classify_pieces", "low_threshold", "parts_from_nodes", "sign_length", "split_segment",
           "transcribe_landmarks"]

DEFAULT_TOP_K = 5
LOW_THRESHOLD = 0.5  # transcription's hysteresis: segments extend down to this share of the detector's threshold
DEFAULT_NOT_SIGNING = ("idle",)  # classifier labels that are no sign (make-stream's --idle-label)
LONG_SEGMENT = 1.5  # a segment longer than this many sign lengths holds several signs


@dataclass(frozen=True)
class Sign:
    """One recognized sign: recording frames ``[start, end)``, its gloss (or ``unknown``) and calibrated top-k."""

    start: int
    end: int
    gloss: str
    confidence: float  # the top-1 probability
    top_k: tuple[tuple[str, float], ...]
    segment: int  # the detector segment it lies in


@dataclass
class Transcript:
    """The signs of one recording and the detection they came from."""

    detection: Detection
    signs: list[Sign]
    sign_frames: float  # the sign length used to cut long segments, in recording frames

    @property
    def fps(self) -> float:
        return self.detection.fps

    @property
    def num_frames(self) -> int:
        return self.detection.num_frames

    @property
    def glosses(self) -> list[str]:
        return [s.gloss for s in self.signs]


def low_threshold(detector: Predictor, threshold: float | None = None, low: float | None = None) -> float:
    """The hysteresis level of a transcription: ``low``, else :data:`LOW_THRESHOLD` of the detector's threshold
    (``threshold``, else its best-F1 one)."""
    if low is not None:
        if not 0.0 <= low <= 1.0:
            raise ValueError(f"low threshold must be a probability in [0, 1], got {low}")
        return float(low)
    return LOW_THRESHOLD * (detector.best_threshold if threshold is None else float(threshold))


def sign_length(classifier: Predictor, fps: float, sign_seconds: float | None = None) -> float:
    """A sign's length in recording frames: ``sign_seconds``, else the classifier's window in seconds (over its
    training frame rate, or ``fps`` when it records none)."""
    if sign_seconds is not None:
        if not (math.isfinite(sign_seconds) and sign_seconds > 0):
            raise ValueError(f"sign length must be positive seconds, got {sign_seconds}")
        return sign_seconds * fps
    return classifier.window / (classifier.fps or fps) * fps


def split_segment(start: int, end: int, sign_frames: float) -> list[tuple[int, int]]:
    """``[start, end)`` as one piece, or, when longer than :data:`LONG_SEGMENT` sign lengths, as
    ``round(length / sign_frames)`` equal pieces (frame boundaries rounded; none empty)."""
    length = end - start
    if length <= 0:
        return []
    count = 1 if length <= LONG_SEGMENT * sign_frames else max(1, min(length, round(length / sign_frames)))
    edges = np.round(np.linspace(start, end, count + 1)).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def classify_pieces(classifier: Predictor, frames: np.ndarray, pieces: Sequence[tuple[int, int]], fps: float, *,
                    batch_size: int = 256) -> np.ndarray:
    """Calibrated class probabilities ``(P, K)`` of ``pieces`` of the classifier's raw ``frames (T, V, C)``."""
    K = len(classifier.classes)
    if not pieces:
        return np.zeros((0, K), dtype=np.float32)
    if classifier.video_mode:  # each piece resampled to the window, as its training clips were
        prepared = [prepare_window(resample_time(frames[s:e], classifier.window), classifier.layout,
                                   classifier.transform) for s, e in pieces]
        logits = []
        for i in range(0, len(prepared), batch_size):
            x, mask, stats = (np.stack(parts) for parts in zip(*prepared[i:i + batch_size]))
            logits.append(run_model(classifier.model, x, mask, stats))  # (B, K)
        return classifier.probabilities(np.concatenate(logits)).astype(np.float32)
    target = model_rate(classifier, fps)
    out = np.empty((len(pieces), K), dtype=np.float32)
    for i, (s, e) in enumerate(pieces):
        piece = frames[s:e] if target is None else resample_to_rate(frames[s:e], fps, target)
        out[i] = recognize(classifier, piece, stride=1, batch_size=batch_size, min_confidence=0.0).video_probs
    return out


def _named(classifier: Predictor, pieces: Sequence[tuple[int, int]], owner: Sequence[int], probs: np.ndarray, *,
           floor: float, top_k: int, not_signing: Iterable[str]) -> list[Sign]:
    """The :class:`Sign` of each piece from its probabilities ``(P, K)``; pieces named ``not_signing`` left out."""
    skip, k = set(not_signing), min(top_k, len(classifier.classes))
    signs = []
    for (s, e), seg, p in zip(pieces, owner, probs):
        order = np.argsort(-p, kind="stable")[:k]
        top = tuple((classifier.classes[i], float(p[i])) for i in order)
        if top[0][0] in skip:  # the classifier says: not a sign (a detector false alarm)
            continue
        gloss = top[0][0] if top[0][1] >= floor else UNKNOWN
        signs.append(Sign(s, e, gloss, top[0][1], top, seg))
    return signs


def _check_classifier(classifier: Predictor, top_k: int) -> None:
    if classifier.binary:
        raise CheckpointError(f"the classifier of a transcription must be multi-class, but checkpoint "
                              f"{classifier.name} is a binary signing detector")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def transcribe_landmarks(detector: Predictor, classifier: Predictor, landmarks: Landmarks, detection: Detection, *,
                         min_confidence: float | None = None, top_k: int = DEFAULT_TOP_K,
                         sign_seconds: float | None = None, not_signing: Iterable[str] = DEFAULT_NOT_SIGNING,
                         batch_size: int = 256) -> Transcript:
    """The signs of ``landmarks`` in ``detection``'s segments (see the module docstring); ``detection`` is the
    detector's result on the same recording (:func:`signstgcn.inference.api.detect`)."""
    require_binary(detector, "the detector of a transcription")
    _check_classifier(classifier, top_k)
    floor = classifier.min_confidence if min_confidence is None else check_min_confidence(min_confidence)
    fps = detection.fps or DEFAULT_FPS
    frames = classifier.frames(landmarks)  # (T, V', C'): the classifier's own joints
    if len(frames) != detection.num_frames:
        raise ValueError(f"{landmarks.path}: the detection covers {detection.num_frames} frames, the recording has "
                         f"{len(frames)}")
    sign_frames = sign_length(classifier, fps, sign_seconds)
    pieces, owner = [], []
    for k, (s, e) in enumerate(detection.segments):
        for piece in split_segment(s, e, sign_frames):
            pieces.append(piece)
            owner.append(k)
    probs = classify_pieces(classifier, frames, pieces, fps, batch_size=batch_size)  # (P, K)
    signs = _named(classifier, pieces, owner, probs, floor=floor, top_k=top_k, not_signing=not_signing)
    return Transcript(detection, signs, sign_frames)


def parts_from_nodes(frames: np.ndarray, spec: LayoutSpec) -> dict[str, np.ndarray]:
    """Raw ``frames (T, V, C)`` in the node order of ``spec``'s layout back as landmark parts ``{part: (T, V_part,
    C)}`` (the joints the layout leaves out are NaN), so another checkpoint can select its own joints."""
    layout, counts = spec.build(), spec.part_joint_counts()
    parts, start = {}, 0
    for part, source in layout.parts:
        arr = np.full((len(frames), counts[part][0], frames.shape[2]), np.nan, dtype=np.float32)  # (T, V_part, C)
        arr[:, list(source)] = frames[:, start:start + len(source)]
        parts[part] = arr
        start += len(source)
    return parts


class LiveSigns:
    """Names the signs of one finished live segment with a classifier, from the detector's stream frames.

    The frames arrive in the detector's joint order (``serve``); the classifier reads its own joints from them, so it
    must use a subset of the detector's parts, of the same skeleton and with no more channels: checked here, a
    :class:`CheckpointError` in one line otherwise. :meth:`signs` cuts a segment into signs as :func:`transcribe`
    does and names each one.
    """

    def __init__(self, classifier: Predictor, detector: Predictor, *, fps: float, min_confidence: float | None = None,
                 top_k: int = DEFAULT_TOP_K, sign_seconds: float | None = None,
                 not_signing: Iterable[str] = DEFAULT_NOT_SIGNING) -> None:
        _check_classifier(classifier, top_k)
        have, need = detector.data.layout, classifier.data.layout
        lacking = [part for part in need.part_joint_counts() if part not in have.part_joint_counts()]
        if lacking or need.skeleton != have.skeleton or need.face_points != have.face_points and need.include_face:
            what = " and ".join(lacking) if lacking else f"the {need.skeleton} skeleton"
            raise CheckpointError(f"classifier {classifier.name} reads {what}, which the detector's stream frames "
                                  f"({detector.layout.name}) do not carry; use a classifier trained on the detector's "
                                  "parts or fewer")
        if classifier.data.selection.coords > detector.data.selection.coords:
            raise CheckpointError(f"classifier {classifier.name} reads {classifier.data.selection.coords} coordinate "
                                  f"channels, the detector's stream frames carry {detector.data.selection.coords}")
        self.classifier, self.spec, self.fps = classifier, have, float(fps)
        self.floor = classifier.min_confidence if min_confidence is None else check_min_confidence(min_confidence)
        self.top_k, self.not_signing = top_k, tuple(not_signing)
        self.sign_frames = sign_length(classifier, self.fps, sign_seconds)

    def signs(self, frames: np.ndarray, first_frame: int, aspect: float | None = None) -> list[Sign]:
        """The signs of the segment whose raw ``frames (T, V, C)`` (the detector's joint order, before any isotropic
        scaling) start at stream frame ``first_frame``; ``aspect`` = the camera's width / height where known."""
        if len(frames) == 0:
            return []
        size = None if aspect is None else (float(aspect), 1.0)
        lm = Landmarks(Path("<stream>"), parts_from_nodes(frames, self.spec), fps=self.fps, image_size=size)
        own = self.classifier.frames(lm)  # (T, V', C')
        pieces = split_segment(0, len(own), self.sign_frames)
        probs = classify_pieces(self.classifier, own, pieces, self.fps)
        shifted = [(s + first_frame, e + first_frame) for s, e in pieces]
        return _named(self.classifier, shifted, [0] * len(pieces), probs, floor=self.floor, top_k=self.top_k,
                      not_signing=self.not_signing)
