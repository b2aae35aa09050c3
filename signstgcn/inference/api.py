"""``detect([ckpt,] landmarks)`` and ``transcribe(classifier, landmarks)``: a recording's signing segments and its
signs from Python, with ``signstgcn detect`` / ``signstgcn transcribe``'s defaults.

    from signstgcn import detect, transcribe
    result = detect("data/video1.npz")                        # the shipped signing detector
    result = detect("runs/detect/best.pt", "data/video1.npz")  # or your own checkpoint
    for seg in result.segments:
        print(seg.start / result.fps, seg.end / result.fps)
    signs = transcribe("runs/words/best.pt", "data/video1.npz")  # shipped detector + your classifier
    for sign in signs.signs:
        print(sign.start / signs.fps, sign.gloss, sign.confidence)
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from typing import Any

import numpy as np

from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    DEFAULT_MIN_SECONDS,
    DEFAULT_SMOOTH,
    DEFAULT_SMOOTH_METHOD,
    Detection,
    Predictor,
    default_stride,
)
from signstgcn.inference.predictor import detect as detect_frames
from signstgcn.inference.transcribe import (
    DEFAULT_NOT_SIGNING,
    DEFAULT_TOP_K,
    Transcript,
    low_threshold,
    transcribe_landmarks,
)

__all__ = ["detect", "transcribe"]


def detect(
    ckpt: str | PathLike[str] | Predictor | Landmarks,
    landmarks: str | PathLike[str] | Landmarks | None = None,
    *,
    fps: float | None = None,
    stride: int | None = None,
    threshold: float | None = None,
    smooth: int = DEFAULT_SMOOTH,
    smooth_method: str = DEFAULT_SMOOTH_METHOD,
    min_duration: float = DEFAULT_MIN_SECONDS,
    min_gap: float = DEFAULT_MIN_SECONDS,
    device: str = "cpu",
    **options: Any,
) -> Detection:
    """Per-frame signing probability and signing segments (frame numbers) of one recording.

    ``ckpt``: a binary checkpoint path or a :class:`Predictor`; ``landmarks``: a landmark file / OpenPose folder
    or :class:`Landmarks`. With one argument, it is the landmarks and the shipped signing detector
    (:meth:`Predictor.from_pretrained`) runs. ``fps``: the file's own, else this, else 25; a checkpoint that records
    its training frame rate sees other rates resampled to it. ``stride``: the checkpoint's window / 5.
    ``threshold``: the checkpoint's best-F1 one. ``min_duration`` / ``min_gap`` are in seconds. ``options`` go to
    :func:`signstgcn.inference.predictor.detect` (``batch_size``, ``weighting``)."""
    if landmarks is None:
        if isinstance(ckpt, Predictor):
            raise TypeError("detect(predictor) needs the landmarks too: detect(predictor, landmarks)")
        ckpt, landmarks = Predictor.from_pretrained(device=device), ckpt
    if isinstance(ckpt, Landmarks):
        raise TypeError("detect(ckpt, landmarks): the first argument is the checkpoint")
    predictor = _predictor(ckpt, device)
    lm = landmarks if isinstance(landmarks, Landmarks) else load_landmarks(landmarks)
    frames: np.ndarray = predictor.frames(lm)
    rate = lm.fps or fps or DEFAULT_FPS
    step = default_stride(predictor.window) if stride is None else stride
    if not 1 <= step <= predictor.window:
        raise ValueError(f"stride must be in 1..{predictor.window} (the checkpoint's window), got {step}")
    return detect_frames(predictor, frames, fps=rate, stride=step, threshold=threshold, smooth=smooth,
                         smooth_method=smooth_method, min_duration=round(min_duration * rate),
                         min_gap=round(min_gap * rate), **options)


def _predictor(ckpt: str | PathLike[str] | Predictor, device: str) -> Predictor:
    return ckpt if isinstance(ckpt, Predictor) else Predictor.from_checkpoint(ckpt, device=device)


def transcribe(
    classifier: str | PathLike[str] | Predictor,
    landmarks: str | PathLike[str] | Landmarks,
    *,
    detector: str | PathLike[str] | Predictor | None = None,
    min_confidence: float | None = None,
    top_k: int = DEFAULT_TOP_K,
    sign_seconds: float | None = None,
    not_signing: Iterable[str] = DEFAULT_NOT_SIGNING,
    device: str = "cpu",
    **detect_options: Any,
) -> Transcript:
    """The signs of one recording: ``detector``'s signing segments (default: the shipped signing detector), each
    sign in them named by the multi-class ``classifier`` (see :mod:`signstgcn.inference.transcribe`).

    ``detect_options`` are :func:`detect`'s (``fps``, ``threshold``, ``smooth``, ``min_duration``, ...) and
    ``low_threshold`` (the hysteresis level; default half the threshold);
    ``min_confidence`` (default: the classifier's) turns a gloss below it into ``unknown``; ``sign_seconds``
    (default: the classifier's window) is the sign length long segments are cut by; a piece named with one of
    ``not_signing`` (the classifier's ``idle`` class) is no sign."""
    cls = _predictor(classifier, device)
    det = Predictor.from_pretrained(device=device) if detector is None else _predictor(detector, device)
    lm = landmarks if isinstance(landmarks, Landmarks) else load_landmarks(landmarks)
    low = low_threshold(det, detect_options.get("threshold"), detect_options.pop("low_threshold", None))
    detection = detect(det, lm, device=device, low_threshold=low, **detect_options)
    return transcribe_landmarks(det, cls, lm, detection, min_confidence=min_confidence, top_k=top_k,
                                sign_seconds=sign_seconds, not_signing=not_signing)
