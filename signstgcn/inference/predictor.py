"""Inference with a trained checkpoint: sliding windows, per-frame signing probability, segments, top-k,
and a streaming detector fed one frame at a time.

Offline detection (``signstgcn detect``) of a video with ``T`` frames and a binary checkpoint:

1. :func:`prepare_frames` gathers the checkpoint's joints (raw coordinates, NaN = missing).
2. :func:`sliding_window_scores` scores the windows starting at :func:`covering_starts` (``0, stride,
   2*stride, ...`` as in training, plus one *tail* window ending at the last frame when the grid misses
   the last frames; a video shorter than the window gives one window, padded with a mask), each
   normalized exactly as in training (per window), in batches.
3. :func:`frame_probabilities`: a frame's probability is the average of the probabilities of every grid
   window that covers it (a centred, non-causal estimate), weighted by the frame's place in each window
   (``weighting="center"``: a Gaussian of sigma ``window / 6`` around the window centre, because a
   window's majority label speaks most about its central frames; ``"uniform"``: the plain mean). The
   tail window only fills the frames no grid window covers, so a frame's value never depends on where
   the recording ends.
4. :func:`smooth_probabilities` (moving mean or median of odd width) and
   :func:`segments_from_probabilities` (threshold, then close gaps shorter than ``min_gap`` frames and
   drop segments shorter than ``min_duration`` frames).

The threshold defaults to the checkpoint's best-F1 validation threshold (``metrics['best_threshold']``).

Probabilities are calibrated: the logits are divided by the checkpoint's temperature (fitted on the validation split
after training, :mod:`signstgcn.training.calibration`; 1 for checkpoints without one) before the sigmoid / softmax.
That never changes a top-1 class; the stored best-F1 threshold is moved to the calibrated scale with it, so binary
window decisions stay the same too. A multi-class prediction whose calibrated top-1 probability is below
``min_confidence`` is reported as :data:`UNKNOWN` (the top-k list stays available).

Streaming, one frame at a time: :mod:`signstgcn.inference.streaming`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from signstgcn.data.landmarks import Landmarks, check_skeleton, select_joints
from signstgcn.data.layout import Layout
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.signers import signer_statistics
from signstgcn.data.transforms import default_eval_transforms
from signstgcn.data.windows import present_mask, resample_time, window_starts
from signstgcn.errors import CheckpointError, DataError
from signstgcn.inference.pretrained import DEFAULT_MODEL, pretrained_file, release_fields, release_of
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.calibration import Calibration, probabilities, temperature_threshold
from signstgcn.training.checkpoint import load_checkpoint

SMOOTHING_METHODS = ("mean", "median")
WEIGHTINGS = ("center", "uniform")
DEFAULT_THRESHOLD = 0.5
CHECKPOINT_THRESHOLD = "checkpoint best-F1 (validation)"
UNKNOWN = "unknown"  # the label of a multi-class prediction below --min-confidence


def checkpoint_threshold(metrics: Mapping[str, Any], temperature: float = 1.0) -> tuple[float, str]:
    """The decision threshold ``detect`` and ``evaluate`` use when none is given, and where it comes from: the
    best-F1 threshold on the validation split stored with the checkpoint's metrics, else 0.5.

    The stored threshold is on the uncalibrated probability; with a ``temperature`` it is moved to
    ``sigmoid(logit / T)`` (:func:`~signstgcn.training.calibration.temperature_threshold`): the same decisions.
    """
    value = metrics.get("best_threshold")
    if isinstance(value, (int, float)) and math.isfinite(value) and 0.0 < value < 1.0:
        moved = temperature_threshold(float(value), temperature)
        note = "" if moved == value else f", {value:.3f} before temperature {temperature:.3g}"
        return moved, CHECKPOINT_THRESHOLD + note
    return DEFAULT_THRESHOLD, f"default {DEFAULT_THRESHOLD} (the checkpoint stores no validation threshold)"


def check_min_confidence(value: float) -> float:
    """``--min-confidence``: a probability in [0, 1]."""
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"--min-confidence must be a probability in [0, 1], got {value}")
    return float(value)


DEFAULT_SMOOTH = 5  # frames of the moving median ``signstgcn detect`` applies by default
DEFAULT_SMOOTH_METHOD = "median"
DEFAULT_MIN_SECONDS = 0.2  # shortest segment and gap ``signstgcn detect`` keeps by default
DEFAULT_FPS = 25.0  # frames per second of a recording that does not say
FPS_TOLERANCE = 0.02  # a recording within 2 % of the checkpoint's frame rate is not resampled


# ------------------------------------------------------------------------------------------ the model


@dataclass
class Predictor:
    """A frozen model with the data pipeline it was trained with (from a checkpoint).

    ``temperature``: the calibration every probability uses (logits / T); ``min_confidence``: multi-class
    predictions whose calibrated top-1 probability is below it are :data:`UNKNOWN` (0: never).
    """

    model: SignSTGCNModel
    data: DataConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    temperature: float = 1.0
    min_confidence: float = 0.0
    release: dict[str, Any] = field(default_factory=dict)  # a shipped model's name, version, recipe (else empty)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        check_min_confidence(self.min_confidence)
        self.model.eval()
        self.layout: Layout = self.data.layout.build()
        self.transform = default_eval_transforms(self.layout, **self.data.normalize_options())

    @classmethod
    def from_checkpoint(cls, path: str | PathLike[str], device: str | torch.device = "cpu", *,
                        min_confidence: float = 0.0) -> Predictor:
        ckpt = load_checkpoint(path, map_location=device)
        try:
            data = DataConfig.from_dict(ckpt.data)
            calibration = Calibration.from_checkpoint(ckpt.raw)
        except (DataError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path}: {err}") from None
        return cls(ckpt.model, data, dict(ckpt.metrics), Path(path), calibration.temperature,
                   check_min_confidence(min_confidence), release_of(ckpt.raw))

    @classmethod
    def from_pretrained(cls, name: str = DEFAULT_MODEL, device: str | torch.device = "cpu", *,
                        min_confidence: float = 0.0) -> Predictor:
        """The model shipped inside the package (:mod:`signstgcn.inference.pretrained`), e.g. the default
        ``signing-detector``: no training, no download."""
        with pretrained_file(name) as path:
            try:
                return cls.from_checkpoint(path, device, min_confidence=min_confidence)
            except CheckpointError as err:
                raise CheckpointError(f"the shipped model {name!r} cannot be loaded; reinstall signstgcn ({err})") \
                    from None

    @property
    def name(self) -> str:
        """``NAME VERSION`` of a shipped model, else the checkpoint's path."""
        if self.release.get("name"):
            return f"{self.release['name']} {self.release.get('version', '')}".strip()
        return str(self.path) if self.path is not None else "checkpoint in memory"

    def provenance(self) -> dict[str, Any]:
        """What every output records about the model: ``checkpoint`` (path or shipped name), and for a shipped
        model ``model_name`` and ``model_version``."""
        fields = release_fields(self.release)
        return {"checkpoint": self.name if fields else str(self.path), **fields}

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw logits: binary ``sigmoid(logits / T)`` (same shape), multi-class
        ``softmax(logits / T)`` over the last axis; float32."""
        return probabilities(logits, self.temperature, binary=self.binary).astype(np.float32)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def binary(self) -> bool:
        return self.data.vocab.binary

    @property
    def classes(self) -> tuple[str, ...]:
        return self.data.vocab.classes

    @property
    def window(self) -> int:
        return self.data.window.length

    @property
    def fps(self) -> float | None:
        """The frame rate the model was trained at (``train --fps``); None when the checkpoint does not record one."""
        return self.data.fps

    @property
    def video_mode(self) -> bool:
        """True when the checkpoint was trained on whole clips resampled to ``window`` frames."""
        return self.data.window.sample_mode == "video"

    @property
    def kind(self) -> str:
        """One-line description of the task, for messages."""
        if self.binary:
            return "binary signing detector"
        return f"{len(self.classes)}-class sign classifier"

    @property
    def best_threshold(self) -> float:
        """The best-F1 validation threshold stored in the checkpoint (on the calibrated probability), else 0.5."""
        return checkpoint_threshold(self.metrics, self.temperature)[0]

    def frames(self, landmarks: Landmarks) -> np.ndarray:
        """(T, V, C) raw frames of the checkpoint's joints; see :func:`prepare_frames`."""
        return prepare_frames(landmarks, self.data, self.layout)


def required_parts(data: DataConfig) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, acceptable npz parts)`` the checkpoint's layout reads: a file must hold one of each."""
    need = []
    if data.layout.include_pose:
        need.append(("pose", ("pose",)))
    if data.layout.include_hands:
        need.append(("hands", ("left_hand", "right_hand")))
    if data.layout.include_face:
        need.append(("face", ("face",)))
    return need


def prepare_frames(landmarks: Landmarks, data: DataConfig, layout: Layout | None = None) -> np.ndarray:
    """Gather the checkpoint's joints from ``landmarks`` → (T, V, coords) float32 raw, NaN = missing.

    Raises DataError when the file lacks a part the checkpoint reads (pose, both hands, face), has
    another pose skeleton or face size, or too few coordinate channels.
    """
    layout = layout or data.layout.build()
    present = sorted(landmarks.arrays)
    for name, options in required_parts(data):
        if not any(p in landmarks.arrays for p in options):
            raise DataError(f"{landmarks.path}: has no {name} landmarks (parts present: {', '.join(present)}) but "
                            f"the checkpoint's layout {layout.name} needs {' or '.join(options)}")
    check_skeleton(landmarks, data.layout)
    face = landmarks.arrays.get("face")
    if data.layout.include_face and face is not None:
        want = data.layout.face_points
        if face.shape[1] != want and not (data.layout.face_subset == "compact" and face.shape[1] in (468, 478)
                                          and want in (468, 478)):
            raise DataError(f"{landmarks.path}: face has {face.shape[1]} points but the checkpoint expects {want}")
    return select_joints(landmarks, layout, data.selection.coords, isotropic_xy=data.selection.isotropic)


# ------------------------------------------------------------------------------------------ windows


def default_stride(window: int) -> int:
    """``signstgcn detect``'s default window stride: a fifth of the window (at least 1 frame)."""
    return max(1, window // 5)


def covering_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """Window starts that cover every frame: ``0, stride, ...`` (training's) plus ``T - window`` if missed."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if stride > window:
        raise ValueError(f"stride {stride} > window {window} would leave frames uncovered")
    starts = window_starts(num_frames, window, stride)
    last = num_frames - window
    if last > 0 and starts[-1] != last:
        starts = np.append(starts, np.int64(last))
    return starts


def raw_window(frames: np.ndarray, start: int, window: int) -> np.ndarray:
    """(window, V, C) slice of ``frames`` starting at ``start``, NaN-padded past the end."""
    win = frames[start:start + window]
    if win.shape[0] < window:
        pad = np.full((window - win.shape[0], *win.shape[1:]), np.nan, dtype=np.float32)
        win = np.concatenate([win, pad])
    return win


def prepare_window(raw: np.ndarray, layout: Layout, transform: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One raw window (T, V, C) → model inputs ``x (C, T, V)``, ``mask (T, V)``, ``stats (S,)`` as in training."""
    stats = signer_statistics(raw, layout)  # (S,)
    frames, mask = transform(raw, present_mask(raw), np.random.default_rng(0))
    x = np.ascontiguousarray(frames.transpose(2, 0, 1), dtype=np.float32)  # (C, T, V)
    return x, np.ascontiguousarray(mask, dtype=bool), np.asarray(stats, dtype=np.float32)


@torch.inference_mode()
def run_model(model: SignSTGCNModel, x: np.ndarray, mask: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """Logits (N, K) of a batch ``x (N, C, T, V)``, ``mask (N, T, V)``, ``stats (N, S)``."""
    device = next(model.parameters()).device
    out = model(torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device),
                torch.from_numpy(stats).to(device))
    return out.logits.float().cpu().numpy()


class WindowScores(NamedTuple):
    starts: np.ndarray  # (W,) int64 first frame of each window
    logits: np.ndarray  # (W, K) float32


def sliding_window_scores(
    model: SignSTGCNModel | Predictor,
    frames: np.ndarray,
    data: DataConfig | None = None,
    *,
    window: int | None = None,
    stride: int = 1,
    batch_size: int = 256,
    starts: np.ndarray | None = None,
) -> WindowScores:
    """Logits of the windows of one video's raw ``frames (T, V, C)`` (see the module docstring).

    ``model`` is a :class:`Predictor` or a model plus its ``data`` config. ``window`` defaults to the
    checkpoint's. ``starts`` overrides :func:`covering_starts`. Windows are prepared and scored
    ``batch_size`` at a time, so memory stays bounded on long videos.
    """
    predictor = model if isinstance(model, Predictor) else Predictor(model, _need(data))
    window = window or predictor.window
    if frames.ndim != 3 or frames.shape[1] != predictor.layout.num_nodes:
        raise ValueError(f"frames: expected (T, V, C) with V={predictor.layout.num_nodes}, got {tuple(frames.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = covering_starts(len(frames), window, stride) if starts is None else np.asarray(starts, dtype=np.int64)
    logits = []
    for b in range(0, len(starts), batch_size):
        items = [prepare_window(raw_window(frames, int(s), window), predictor.layout, predictor.transform)
                 for s in starts[b:b + batch_size]]
        x, mask, stats = (np.stack(z) for z in zip(*items))  # (N, C, T, V), (N, T, V), (N, S)
        logits.append(run_model(predictor.model, x, mask, stats))
    return WindowScores(starts, np.concatenate(logits).astype(np.float32))


def _need(data: DataConfig | None) -> DataConfig:
    if data is None:
        raise ValueError("data: a DataConfig is required with a bare model (or pass a Predictor)")
    return data


def clip_scores(predictor: Predictor, frames: np.ndarray) -> np.ndarray:
    """Logits (1, K) of the whole clip resampled to ``window`` frames (``--sample-mode video`` checkpoints)."""
    raw = resample_time(frames, predictor.window)  # (window, V, C)
    x, mask, stats = prepare_window(raw, predictor.layout, predictor.transform)
    return run_model(predictor.model, x[None], mask[None], stats[None])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))).astype(np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------------------------------ frames


def window_weights(window: int, weighting: str = "center") -> np.ndarray:
    """(window,) weight of each position of a window in :func:`frame_probabilities` (all > 0)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"Invalid weighting {weighting!r}. Only {', '.join(WEIGHTINGS)} are supported")
    if weighting == "uniform":
        return np.ones(window)
    pos = np.arange(window) - (window - 1) / 2.0
    return np.exp(-0.5 * (pos / (window / 6.0)) ** 2)


def frame_probabilities(window_probs: np.ndarray, starts: np.ndarray, window: int, num_frames: int,
                        *, tail: bool = False, weighting: str = "center") -> np.ndarray:
    """(T,) weighted average probability of the windows covering each frame; NaN where none does.

    ``weighting``: see :func:`window_weights` and the module docstring. ``tail``: the last window is the
    extra one :func:`covering_starts` adds at ``T - window``; it only fills the frames no other window
    covers (so a frame's value never depends on where the video ends, which is what lets
    :class:`StreamingDetector` finalize frames early).
    """
    probs = np.asarray(window_probs, dtype=np.float64).reshape(-1)
    starts = np.asarray(starts, dtype=np.int64)
    if probs.shape != starts.shape:
        raise ValueError(f"window_probs {probs.shape} and starts {starts.shape} must have the same length")
    weights = window_weights(window, weighting)  # (W,)
    last = None
    if tail and len(probs):
        last, probs, starts = float(probs[-1]), probs[:-1], starts[:-1]
    total = np.zeros(num_frames)
    count = np.zeros(num_frames)
    if len(starts):
        index = starts[:, None] + np.arange(window)[None]  # (n, W) frame of each window position
        inside = index < num_frames  # a short video's padded window
        w = np.broadcast_to(weights, index.shape)[inside]
        np.add.at(total, index[inside], (w * np.broadcast_to(probs[:, None], index.shape)[inside]))
        np.add.at(count, index[inside], w)
    out = np.full(num_frames, np.nan)
    covered = count > 0
    out[covered] = total[covered] / count[covered]
    if last is not None:
        out[~covered] = last
    return out.astype(np.float32)


def has_tail_window(starts: np.ndarray, num_frames: int, window: int, stride: int) -> bool:
    """True when ``starts`` (from :func:`covering_starts`) ends with the extra window at ``T - window``."""
    return len(starts) > len(window_starts(num_frames, window, stride))


def smooth_probabilities(prob: np.ndarray, width: int, method: str = "mean") -> np.ndarray:
    """Centred moving ``mean`` or ``median`` of odd ``width`` frames (1 = unchanged); edges use what exists."""
    if method not in SMOOTHING_METHODS:
        raise ValueError(f"Invalid smoothing method {method!r}. Only {', '.join(SMOOTHING_METHODS)} are supported")
    if width < 1 or width % 2 == 0:
        raise ValueError(f"smoothing width must be an odd number of frames >= 1, got {width}")
    p = np.asarray(prob, dtype=np.float64)
    if width == 1 or p.size == 0:
        return p.astype(np.float32)
    half = width // 2
    padded = np.concatenate([np.full(half, np.nan), p, np.full(half, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, width)  # (T, width)
    with np.errstate(invalid="ignore"):
        if method == "median":
            out = np.nanmedian(view, axis=1) if np.isnan(view).any() else np.median(view, axis=1)
        else:
            valid = ~np.isnan(view)
            out = np.where(valid, view, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    return out.astype(np.float32)


class Segment(NamedTuple):
    start: int  # first frame
    end: int  # one past the last frame


def segments_from_probabilities(
    prob: np.ndarray, threshold: float, min_duration: int = 1, min_gap: int = 0, low_threshold: float | None = None
) -> list[Segment]:
    """Runs of frames with ``prob >= threshold``; gaps shorter than ``min_gap`` frames are closed first,
    then segments shorter than ``min_duration`` frames are dropped. NaN counts as below threshold.

    ``low_threshold`` (hysteresis): a segment is a run of frames ``>= low_threshold`` that reaches ``threshold``
    somewhere, so a segment starts and ends where the probability leaves the low level and a dip between two
    signs does not split it, while a bump that never reaches ``threshold`` stays out."""
    if min_duration < 0 or min_gap < 0:
        raise ValueError(f"min_duration and min_gap must be >= 0 frames, got {min_duration} and {min_gap}")
    p = np.nan_to_num(np.asarray(prob, dtype=np.float64), nan=-np.inf)
    low = threshold if low_threshold is None else min(float(low_threshold), threshold)
    on = p >= low
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    runs = list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
    if low < threshold:
        runs = [(s, e) for s, e in runs if p[s:e].max() >= threshold]
    merged: list[list[int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] < min_gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [Segment(s, e) for s, e in merged if e - s >= max(min_duration, 1)]


def segment_mask(segments: Sequence[Segment], num_frames: int) -> np.ndarray:
    """(T,) bool: True inside any segment."""
    out = np.zeros(num_frames, dtype=bool)
    for s, e in segments:
        out[s:e] = True
    return out


# ------------------------------------------------------------------------------------------ detection


@dataclass
class Detection:
    """Per-frame signing detection of one video."""

    num_frames: int
    fps: float
    starts: np.ndarray  # (W,) window starts
    window_probs: np.ndarray  # (W,)
    raw: np.ndarray  # (T,) mean of covering windows
    probability: np.ndarray  # (T,) smoothed: what is thresholded
    threshold: float
    segments: list[Segment]
    model_fps: float | None = None  # the rate the frames were resampled to for the model (None: not resampled)


def model_rate(predictor: Predictor, fps: float) -> float | None:
    """The rate a recording of ``fps`` frames per second is resampled to before the model sees it: the
    checkpoint's training rate when it records one more than :data:`FPS_TOLERANCE` away from ``fps``, else None
    (also when ``fps`` is not positive: unknown)."""
    trained = predictor.fps
    if trained is None or not fps > 0 or abs(fps / trained - 1.0) <= FPS_TOLERANCE:
        return None
    return trained


def resample_to_rate(frames: np.ndarray, fps: float, target: float) -> np.ndarray:
    """Raw ``frames (T, V, C)`` recorded at ``fps`` → ``(T', V, C)`` at ``target`` frames per second (linear in
    time, a missing neighbour falls back to the other; ``T' = round(T * target / fps)``, at least 1)."""
    length = max(1, round(len(frames) * target / fps))
    return resample_time(frames, length)


def to_recording_frames(values: np.ndarray, num_frames: int) -> np.ndarray:
    """Per-frame ``values (T',)`` of a resampled recording back on its own ``num_frames`` frames: frame ``t``
    sits at ``t * (T'-1) / (T-1)`` on the resampled time axis (the mapping of :func:`resample_to_rate`)."""
    if len(values) == num_frames:
        return values.astype(np.float32)
    pos = np.linspace(0.0, len(values) - 1, num_frames) if num_frames > 1 else np.zeros(1)
    return np.interp(pos, np.arange(len(values)), values).astype(np.float32)


def detect(
    predictor: Predictor,
    frames: np.ndarray,
    *,
    fps: float,
    stride: int = 1,
    batch_size: int = 256,
    threshold: float | None = None,
    smooth: int = 1,
    smooth_method: str = "median",
    min_duration: int = 1,
    min_gap: int = 0,
    weighting: str = "center",
    low_threshold: float | None = None,
) -> Detection:
    """Signing probability per frame and signing segments of one video's raw ``frames (T, V, C)`` recorded at
    ``fps``.

    A checkpoint that records its training frame rate (``train --fps``) sees the recording resampled to that rate
    when ``fps`` differs by more than :data:`FPS_TOLERANCE`: the windows (``stride`` in the model's frames) are
    scored there, and each frame's mean window probability is read back at the recording's own frames, where
    smoothing (``smooth`` frames), threshold and the duration rules (``min_duration`` / ``min_gap`` frames) apply
    as usual. ``starts`` are then in the recording's frames too. Segment times therefore stay those of the
    recording whatever its rate. A frame where no joint at all is detected (nobody in view) is not signing: its
    probability is 0 before smoothing. ``low_threshold``: hysteresis (:func:`segments_from_probabilities`)."""
    require_binary(predictor, "per-frame signing detection")
    T = len(frames)
    target = model_rate(predictor, fps)
    seen = frames if target is None else resample_to_rate(frames, fps, target)  # (T', V, C)
    scores = sliding_window_scores(predictor, seen, stride=stride, batch_size=batch_size)
    probs = predictor.probabilities(scores.logits[:, 0])  # (W,)
    tail = has_tail_window(scores.starts, len(seen), predictor.window, stride)
    raw = frame_probabilities(probs, scores.starts, predictor.window, len(seen), tail=tail, weighting=weighting)
    starts = scores.starts
    if target is not None:
        raw = to_recording_frames(raw, T)  # (T,)
        starts = np.round(starts * (T - 1) / max(len(seen) - 1, 1)).astype(starts.dtype)
    nobody = ~np.isfinite(frames).any(axis=(1, 2))  # (T,) no joint detected
    raw = np.where(nobody, np.float32(0), raw).astype(np.float32)
    smoothed = smooth_probabilities(raw, smooth, smooth_method)
    thr = predictor.best_threshold if threshold is None else float(threshold)
    segments = segments_from_probabilities(smoothed, thr, min_duration, min_gap, low_threshold)
    return Detection(T, fps, starts, probs, raw, smoothed, thr, segments, target)


def require_binary(predictor: Predictor, what: str) -> None:
    if not predictor.binary:
        where = f"checkpoint {predictor.path}" if predictor.path else "the model"
        raise CheckpointError(f"{what} needs a binary (signing vs not) checkpoint, but {where} is a "
                              f"{predictor.kind} ({', '.join(predictor.classes[:5])}"
                              f"{', ...' if len(predictor.classes) > 5 else ''}); use top-k recognition instead")


@dataclass
class Recognition:
    """Top-k sign labels of one video: per window (window-mode checkpoints) and for the whole video.

    Probabilities are calibrated (the checkpoint's temperature). :attr:`prediction` is the top-1 label, or
    :data:`UNKNOWN` when its probability is below ``min_confidence``; :meth:`top_k` always lists the classes.
    """

    classes: tuple[str, ...]
    video_probs: np.ndarray  # (K,) whole clip (video mode) or mean over windows
    starts: np.ndarray | None  # (W,) window starts; None for video-mode checkpoints
    window_probs: np.ndarray | None  # (W, K)
    min_confidence: float = 0.0

    def top_k(self, probs: np.ndarray, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.classes[i], float(probs[i])) for i in order]

    def label(self, probs: np.ndarray) -> str:
        """The top-1 class of ``probs (K,)``, or :data:`UNKNOWN` when its probability is below ``min_confidence``."""
        best = int(np.argmax(probs))
        return self.classes[best] if float(probs[best]) >= self.min_confidence else UNKNOWN

    @property
    def prediction(self) -> str:
        """The whole video's label (:meth:`label` of ``video_probs``)."""
        return self.label(self.video_probs)

    @property
    def window_predictions(self) -> list[str] | None:
        """Each window's label (:meth:`label`); None for video-mode checkpoints."""
        return None if self.window_probs is None else [self.label(p) for p in self.window_probs]


def recognize(predictor: Predictor, frames: np.ndarray, *, stride: int = 1, batch_size: int = 256,
              min_confidence: float | None = None) -> Recognition:
    """Calibrated class probabilities of one video's raw ``frames (T, V, C)`` with a multi-class checkpoint.

    ``min_confidence`` (default: the predictor's): below it a top-1 prediction is :data:`UNKNOWN`.
    """
    if predictor.binary:
        raise CheckpointError(f"top-k recognition needs a multi-class checkpoint, but checkpoint {predictor.path} "
                              "is a binary signing detector; use segment detection instead")
    floor = predictor.min_confidence if min_confidence is None else check_min_confidence(min_confidence)
    if predictor.video_mode:
        probs = predictor.probabilities(clip_scores(predictor, frames))[0]
        return Recognition(predictor.classes, probs, None, None, floor)
    scores = sliding_window_scores(predictor, frames, stride=stride, batch_size=batch_size)
    probs = predictor.probabilities(scores.logits)  # (W, K)
    return Recognition(predictor.classes, probs.mean(axis=0), scores.starts, probs, floor)
