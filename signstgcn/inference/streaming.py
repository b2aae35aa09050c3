"""Signing detection on landmarks that arrive one frame at a time (a camera, a video call).

Two detectors with the same ``push(frame) -> StreamStep`` / ``flush()`` interface:

:class:`StreamingDetector` (exact) keeps a ring buffer of the last ``window`` raw frames and runs the whole
model every ``stride`` frames on the window that just ended, normalized and scored exactly as offline:

- *window probabilities*: the streaming windows are exactly the offline windows of
  :func:`signstgcn.inference.predictor.covering_starts` (same starts; the tail window and short streams are
  completed by ``flush``), and their probabilities equal the offline ones up to float round-off;
- *final frame probabilities*: a frame's offline probability (weighted mean of its covering windows,
  :func:`signstgcn.inference.predictor.frame_probabilities`) is emitted as soon as no later grid window can cover
  it, i.e. at most ``window - 1`` frames after the frame (the last frames at ``flush``);
- *current probability* (low latency): after every push, the probability of the most recent window,
  which ends at most ``stride - 1`` frames before the pushed frame.

Its cost is one full window per ``stride`` frames. :class:`IncrementalDetector` (fast) computes each
frame's backbone features once, when the frame arrives (:class:`signstgcn.model.incremental.IncrementalBackbone`),
and runs only the cheap part of the model (signer encoder, attention, BiGRU, classifier) per window,
optionally on a second thread so the two cores work in parallel. What it changes, by construction:

- a frame is normalized once, with the centre and scale of the ``window`` frames ending at it (offline:
  of each window that contains it);
- inside a window, the backbone's temporal convolutions see the frames' real neighbours instead of the
  window's zero padding (the first ``lag`` and last ``lag`` frames of each window, ``lag = 6`` for the
  default dilations 1, 2, 3);
- with a ``motion`` input stream, a window's first frame has its real motion (offline: zero);
- results arrive ``lag`` frames later (the backbone needs ``lag`` future frames), plus the head's delay.

Everything else (windows, signer statistics, frame weighting and finalization) is the exact detector's.
With ``stgcn_kernel=1`` and a still camera both detectors agree to float round-off (tested); the
effect on trained detectors is measured by ``bench/streaming_accuracy.py`` and stated in docs/detection.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from signstgcn.data.landmarks import PART_JOINTS, Landmarks, check_image_size, isotropic, select_joints
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.signers import signer_statistics
from signstgcn.data.transforms import Normalize
from signstgcn.errors import CheckpointError, DataError
from signstgcn.inference.predictor import (
    Predictor,
    _need,
    prepare_window,
    raw_window,
    require_binary,
    run_model,
    window_weights,
)
from signstgcn.model.incremental import IncrementalBackbone
from signstgcn.model.model import SignSTGCNModel


class StreamStep(NamedTuple):
    """What ``push`` (or ``flush``) returns."""

    frame: int  # index of the frame just pushed (-1 for flush on an empty stream)
    probability: float | None  # current (causal) signing probability: the latest window's; None before any
    window: tuple[int, float] | None  # (start, probability) of the latest window this call completed, if any
    final_start: int  # first frame of ``final``
    final: np.ndarray  # final frame probabilities of frames [final_start, final_start + len(final))
    windows: tuple[tuple[int, float], ...] = ()  # every window this call completed, in order (window = last)


def frame_array(frame: np.ndarray | Mapping[str, np.ndarray], predictor: Predictor,
                image_size: tuple[float, float] | None = None) -> np.ndarray:
    """One pushed frame -> ``(V, C)`` float32 raw coordinates in the checkpoint's node order, NaN = missing.

    ``frame`` is a ``(V, C)`` array in node order (raw coordinates, NaN or all-zero = missing) or a
    mapping ``part -> (V_part, C)`` like one row of :attr:`Landmarks.arrays`. ``image_size`` (width, height) of the
    camera makes the coordinates isotropic as for a file that knows its frame size (checkpoints that use it).
    """
    layout, C = predictor.layout, predictor.data.selection.coords
    aspect = image_aspect(image_size) if predictor.data.selection.isotropic else None
    V = layout.num_nodes
    if isinstance(frame, Mapping):
        arrays = {}
        for part, value in frame.items():
            if part not in PART_JOINTS:
                raise ValueError(f"frame: unknown part {part!r}; expected some of {', '.join(PART_JOINTS)}")
            arrays[part] = np.asarray(value, dtype=np.float32)[None]  # (1, V_part, C)
        arr = select_joints(Landmarks(path=Path("<stream>"), arrays=arrays), layout, C, isotropic_xy=False)[0]  # (V, C)
    else:
        arr = np.asarray(frame, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != V or arr.shape[1] < C:
            raise ValueError(f"frame: expected (V, C) with V={V}, C>={C}, got {tuple(arr.shape)}")
        arr = arr[:, :C]
    return mark_missing(isotropic(arr, aspect, mediapipe=layout.skeleton == "mediapipe"))


def image_aspect(image_size: tuple[float, float] | None) -> float | None:
    """Width / height of a camera's ``image_size`` (None: unknown); a ValueError for anything but two positive
    numbers."""
    if image_size is None:
        return None
    try:
        width, height = check_image_size("image_size", image_size)
    except DataError:
        raise ValueError(f"image_size must be the camera's (width, height) in pixels, two positive numbers, got "
                         f"{image_size!r}") from None
    return width / height


def mark_missing(arr: np.ndarray) -> np.ndarray:
    """``arr (..., V, C)`` raw float32 coordinates with every missing joint (a non-finite value, or x = y = 0: the
    npz reader's rule) set to NaN in all its channels."""
    missing = ~np.isfinite(arr).all(axis=-1) | (arr[..., :2] == 0).all(axis=-1)  # (..., V)
    return np.where(missing[..., None], np.float32(np.nan), arr)


def normalized_frame(normalize: Normalize, raw: np.ndarray, present: np.ndarray, t: int, arr: np.ndarray,
                     window: int) -> tuple[np.ndarray, np.ndarray]:
    """Store frame ``t`` (``arr (V, C)``) in the rings ``raw (R, V, C)`` / ``present (R, V)`` and return it
    normalized with the centre and scale of the ``window`` frames ending at it: ``x (V, C)``, ``valid (V,)``."""
    ring = raw.shape[0]
    mask = np.isfinite(arr).all(axis=-1)  # (V,)
    raw[t % ring], present[t % ring] = arr, mask
    trailing = np.arange(max(t - window + 1, 0), t + 1) % ring  # the window ending at t
    params = normalize.params(raw[trailing], present[trailing])
    x, valid = normalize.apply(arr[None], mask[None], params)  # (1, V, C), (1, V)
    return x[0], valid[0]


class _FrameAccumulator:
    """Weighted window probabilities summed per frame and handed out, in frame order, once final.

    Grid windows (every ``stride`` frames) are added in start order, each followed by ``finalize(start +
    stride)``, so at most ``window + stride`` frames are pending: a ring of that many frames.
    """

    def __init__(self, window: int, stride: int, weights: np.ndarray) -> None:
        self.window, self.stride = window, stride
        self.span, self.weights = window + stride, weights
        self.sum = np.zeros(self.span)
        self.cnt = np.zeros(self.span)
        self.frontier = 0  # frames before it have been handed out

    def add(self, start: int, length: int, prob: float, weights: np.ndarray | None = None) -> None:
        idx = np.arange(start, start + length) % self.span
        w = self.weights[:length] if weights is None else weights
        self.sum[idx] += w * prob
        self.cnt[idx] += w

    def add_tail(self, uncovered: int, end: int, prob: float) -> None:
        """The tail window (ending at the last frame ``end - 1``) fills only the frames ``[uncovered, end)``
        no grid window covers, with weight 1, as :func:`signstgcn.inference.predictor.frame_probabilities` does."""
        self.add(uncovered, end - uncovered, prob, np.ones(end - uncovered))

    def account(self, start: int, prob: float, tail_from: int | None = None, end: int = 0) -> np.ndarray:
        """Add a scored window and return the frames that became final: a grid window (``tail_from`` None; later
        ones start at >= ``start + stride``), or the tail window ending at ``end`` (frames from ``tail_from``)."""
        if tail_from is None:
            self.add(start, self.window, prob)
            upto = start + self.stride
        else:  # the tail window: only the frames no grid window covers
            self.add_tail(tail_from, end, prob)
            upto = end
        return self.finalize(upto)[1]

    def finalize(self, upto: int) -> tuple[int, np.ndarray]:
        """Probabilities of frames ``[frontier, upto)`` (NaN where no window covered a frame)."""
        first = self.frontier
        if upto <= first:
            return first, np.zeros(0, dtype=np.float32)
        idx = np.arange(first, upto) % self.span
        cnt = self.cnt[idx]
        out = np.where(cnt > 0, self.sum[idx] / np.where(cnt > 0, cnt, 1.0), np.nan).astype(np.float32)
        self.sum[idx], self.cnt[idx] = 0.0, 0.0
        self.frontier = upto
        return first, out


def _streaming_predictor(model: SignSTGCNModel | Predictor, data: DataConfig | None) -> Predictor:
    predictor = model if isinstance(model, Predictor) else Predictor(model, _need(data))
    require_binary(predictor, "streaming detection")
    if predictor.video_mode:
        raise CheckpointError("streaming detection needs a sliding-window checkpoint, not --sample-mode video")
    return predictor


class StreamingDetector:
    """Exact streaming: the whole model on the last ``window`` raw frames every ``stride`` frames.

    See the module docstring. Before the buffer is full, ``early=True`` scores the padded partial window
    every ``stride`` frames (an estimate only). Latency: a result covering frame ``t`` is available at most
    ``stride - 1`` frames later.
    """

    def __init__(self, model: SignSTGCNModel | Predictor, data: DataConfig | None = None, *, stride: int = 1,
                 threshold: float | None = None, early: bool = True, weighting: str = "center",
                 image_size: tuple[float, float] | None = None) -> None:
        self.predictor = _streaming_predictor(model, data)
        self.image_size = image_size  # the camera's (width, height): isotropic coordinates (see frame_array)
        self.window = self.predictor.window
        if not 1 <= stride <= self.window:
            raise ValueError(f"stride must be in 1..window={self.window}, got {stride}")
        self.stride = stride
        self.threshold = self.predictor.best_threshold if threshold is None else float(threshold)
        self.early = early
        self._V, self._C = self.predictor.layout.num_nodes, self.predictor.data.selection.coords
        self._weights = window_weights(self.window, weighting)  # (W,) as in frame_probabilities
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | PathLike[str], *, stride: int = 1, threshold: float | None = None,
                        device: str | torch.device = "cpu", early: bool = True,
                        weighting: str = "center") -> StreamingDetector:
        return cls(Predictor.from_checkpoint(path, device), stride=stride, threshold=threshold, early=early,
                   weighting=weighting)

    @property
    def latency_frames(self) -> int:
        """Frames between a frame's arrival and the first window result that covers it, at most."""
        return self.stride - 1

    def reset(self) -> None:
        """Start a new stream."""
        self._buffer = np.full((self.window, self._V, self._C), np.nan, dtype=np.float32)  # (W, V, C) ring
        self._count = 0  # frames pushed
        self._acc = _FrameAccumulator(self.window, self.stride, self._weights)
        self._current: float | None = None
        self._last_full_start = -1

    def _window_frames(self, start: int, length: int) -> np.ndarray:
        """Raw (window, V, C) of frames [start, start + length), NaN-padded to the window."""
        idx = np.arange(start, start + length) % self.window
        return raw_window(self._buffer[idx], 0, self.window)

    def _score(self, raw: np.ndarray) -> float:
        p = self.predictor
        x, mask, stats = prepare_window(raw, p.layout, p.transform)
        return float(p.probabilities(run_model(p.model, x[None], mask[None], stats[None]))[0, 0])

    def push(self, frame: np.ndarray | Mapping[str, np.ndarray]) -> StreamStep:
        """Add one frame; returns the current probability and any window / final frames it produced."""
        arr = frame_array(frame, self.predictor, self.image_size)
        t = self._count
        self._buffer[t % self.window] = arr
        self._count += 1
        n, w, s = self._count, self.window, self.stride
        new_window = None
        final_start, final = self._acc.frontier, np.zeros(0, dtype=np.float32)
        if n >= w and (n - w) % s == 0:  # the window [n - w, n) is one of the offline windows
            start = n - w
            prob = self._score(self._window_frames(start, w))
            self._acc.add(start, w, prob)
            self._current, self._last_full_start = prob, start
            new_window = (start, prob)
            final_start, final = self._acc.finalize(start + s)  # later windows start at >= start + s
        elif n < w and self.early and n % s == 0:
            self._current = self._score(self._window_frames(0, n))  # padded partial window: estimate only
        return StreamStep(t, self._current, new_window, final_start, final, (new_window,) if new_window else ())

    def flush(self) -> StreamStep:
        """End of stream: score the offline tail window (or the padded short video), finalize every frame;
        the next push starts a new stream."""
        n, w = self._count, self.window
        if n == 0:
            return StreamStep(-1, None, None, 0, np.zeros(0, dtype=np.float32))
        new_window = None
        start = max(n - w, 0)
        if start != self._last_full_start:  # offline adds a last window ending at the last frame
            prob = self._score(self._window_frames(start, min(n, w)))
            uncovered = self._last_full_start + w if self._last_full_start >= 0 else 0
            self._acc.add_tail(uncovered, n, prob)
            self._current, self._last_full_start = prob, start
            new_window = (start, prob)
        final_start, final = self._acc.finalize(n)
        current = self._current
        self.reset()
        return StreamStep(n - 1, current, new_window, final_start, final, (new_window,) if new_window else ())


class IncrementalDetector:
    """Fast streaming: per-frame backbone features computed once, the head per window (module docstring).

    ``threaded=True`` runs the window heads on one worker thread, so on two cores the backbone of new
    frames and the head of finished windows run in parallel; a window's probability is the same either
    way, only the push that reports it changes. Call ``torch.set_num_threads(1)`` for the best speed
    (each op is small; two threads per op cost more than they save). ``close()`` (or ``with``) stops
    the worker.
    """

    def __init__(self, model: SignSTGCNModel | Predictor, data: DataConfig | None = None, *, stride: int = 8,
                 threshold: float | None = None, weighting: str = "center", threaded: bool = True,
                 image_size: tuple[float, float] | None = None) -> None:
        self.predictor = _streaming_predictor(model, data)
        self.image_size = image_size  # the camera's (width, height): isotropic coordinates (see frame_array)
        p = self.predictor
        self.window = p.window
        if not 1 <= stride <= self.window:
            raise ValueError(f"stride must be in 1..window={self.window}, got {stride}")
        self.stride = stride
        self.threshold = p.best_threshold if threshold is None else float(threshold)
        self.backbone = IncrementalBackbone(p.model.backbone, p.model.streams)
        self.lag = self.backbone.lag
        self._normalize = Normalize(p.layout, **p.data.normalize_options())
        self._V, self._C = p.layout.num_nodes, p.data.selection.coords
        self._D = self.backbone.out_channels
        self._weights = window_weights(self.window, weighting)
        self._ring = self.window + self.lag  # raw frames kept: a window plus the backbone's look-ahead
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signstgcn-head") if threaded else None
        self.reset()

    @classmethod
    def from_checkpoint(cls, path: str | PathLike[str], *, stride: int = 8, threshold: float | None = None,
                        device: str | torch.device = "cpu", weighting: str = "center",
                        threaded: bool = True) -> IncrementalDetector:
        return cls(Predictor.from_checkpoint(path, device), stride=stride, threshold=threshold,
                   weighting=weighting, threaded=threaded)

    @property
    def latency_frames(self) -> int:
        """Frames between a frame's arrival and the first window result covering it, at most (without
        the head thread's delay)."""
        return self.stride - 1 + self.lag

    def reset(self) -> None:
        """Start a new stream (waits for the heads still running)."""
        for _, _, job in getattr(self, "_jobs", ()):
            if isinstance(job, Future):
                job.result()
        self.backbone.reset()
        self._raw = np.full((self._ring, self._V, self._C), np.nan, dtype=np.float32)  # (W+lag, V, C) ring
        self._present = np.zeros((self._ring, self._V), dtype=bool)  # (W+lag, V) ring: joint detected
        self._feats = torch.zeros(self._ring, self._D)  # (W+lag, D) ring of backbone features
        self._count = 0  # frames pushed
        self._ready = 0  # frames with features
        # (start, first frame a tail window fills or None for a grid window, probability), in start order
        self._jobs: deque[tuple[int, int | None, Future[float] | float]] = deque()
        self._acc = _FrameAccumulator(self.window, self.stride, self._weights)
        self._current: float | None = None
        self._last_start = -1  # start of the latest window handed to a head

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> IncrementalDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- per frame

    def _add_features(self, feats: torch.Tensor | None) -> None:
        """Store the next frame's features; score the grid window they complete, if any."""
        if feats is None:
            return
        self._feats[self._ready % self._ring] = feats
        self._ready += 1
        start = self._ready - self.window  # the window [start, ready) has all its features
        if start >= 0 and start % self.stride == 0:
            self._submit(start, self.window)

    def push(self, frame: np.ndarray | Mapping[str, np.ndarray]) -> StreamStep:
        """Add one frame; returns the current probability and the windows / final frames finished so far."""
        arr = frame_array(frame, self.predictor, self.image_size)  # (V, C)
        t = self._count
        x, valid = normalized_frame(self._normalize, self._raw, self._present, t, arr, self.window)
        self._count += 1
        self._add_features(self.backbone.push(torch.from_numpy(x), torch.from_numpy(valid)))
        return self._collect(t, wait=False)

    def flush(self) -> StreamStep:
        """End of stream: the last ``lag`` frames' features, the remaining and tail windows, all frames final;
        the next push starts a new stream."""
        n, w = self._count, self.window
        if n == 0:
            return StreamStep(-1, None, None, 0, np.zeros(0, dtype=np.float32))
        for feats in self.backbone.flush():
            self._add_features(feats)
        tail = max(n - w, 0)
        if tail != self._last_start:  # offline adds a last window ending at the last frame
            self._submit(tail, min(n, w), tail_from=self._last_start + w if self._last_start >= 0 else 0)
        step = self._collect(n - 1, wait=True)
        _, rest = self._acc.finalize(n)  # frames after the last grid window's, without a tail window
        self.reset()
        return step._replace(final=np.concatenate([step.final, rest]))

    # -------------------------------------------------------------------------------- per window

    def _submit(self, start: int, length: int, tail_from: int | None = None) -> None:
        """Score frames ``[start, start + length)`` (NaN-padded to the window) on the head."""
        w, idx = self.window, np.arange(start, start + length) % self._ring
        feats = torch.zeros(w, self._D)  # (W, D): padding frames have zero features, as offline
        valid = torch.zeros(w, dtype=torch.bool)  # (W,) frames with a detected joint
        feats[:length], valid[:length] = self._feats[idx], torch.from_numpy(self._present[idx].any(axis=1))
        raw = raw_window(self._raw[idx], 0, w)  # (W, V, C) copy
        self._last_start = start
        job: Future[float] | float
        if self._executor is not None:
            job = self._executor.submit(self._head, feats, valid, raw)
        else:
            job = self._head(feats, valid, raw)
        self._jobs.append((start, tail_from, job))

    @torch.inference_mode()
    def _head(self, feats: torch.Tensor, valid: torch.Tensor, raw: np.ndarray) -> float:
        p = self.predictor
        stats = torch.from_numpy(signer_statistics(raw, p.layout))[None]  # (1, S)
        f = p.model.aggregate(feats[None], valid[None], stats)  # (1, W, D) -> embedding (1, E)
        return float(torch.sigmoid(p.model.classifier(f.embedding).float() / p.temperature)[0, 0])

    def _collect(self, t: int, wait: bool) -> StreamStep:
        """Account every finished head, in order; then finalize the frames no later window can reach."""
        windows = []
        first, chunks = self._acc.frontier, []
        while self._jobs:
            start, tail_from, job = self._jobs[0]
            if isinstance(job, Future):
                if not (wait or job.done()):
                    break
                job = job.result()
            self._jobs.popleft()
            out = self._acc.account(start, job, tail_from, self._count)
            self._current = job
            windows.append((start, job))
            if len(out):
                chunks.append(out)
        final = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return StreamStep(t, self._current, windows[-1] if windows else None, first, final, tuple(windows))
