"""Live signing detection for many streams at once (every participant of a video call): one object, batched.

:class:`MultiStreamDetector` serves any number of independent streams that join (:meth:`~MultiStreamDetector.open`)
and leave (:meth:`~MultiStreamDetector.close`) at any time. Each stream keeps its own rings of raw frames and
backbone features, exactly like one :class:`~signstgcn.inference.streaming.IncrementalDetector`; a *tick*
(:meth:`~MultiStreamDetector.push`) takes the next frame of any subset of streams and computes

- the new frames' backbone features of all those streams as one batch through the folded backbone
  (:class:`~signstgcn.model.incremental.BatchedIncrementalBackbone`), and
- the heads (signer encoder, attention, BiGRU, classifier) of every window that became due, as one batch.

So per stream the results (windows, current and final frame probabilities) are those of an
``IncrementalDetector(threaded=False)`` fed the same frames, whatever the interleaving of streams (tested to
1e-5). Frames are normalized per stream with its own trailing window, as the single-stream detector does (for all
streams of a tick at once: :meth:`Normalize.params_many`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from os import PathLike

import numpy as np
import torch

from signstgcn.data.pipeline import DataConfig
from signstgcn.data.signers import signer_statistics_many
from signstgcn.data.transforms import Normalize
from signstgcn.inference.predictor import Predictor, raw_window, window_weights
from signstgcn.inference.streaming import (
    StreamStep,
    _FrameAccumulator,
    _streaming_predictor,
    frame_array,
    image_aspect,
    mark_missing,
)
from signstgcn.model.incremental import BatchedIncrementalBackbone
from signstgcn.model.model import SignSTGCNModel

__all__ = ["MultiStreamDetector"]

Frame = np.ndarray | Mapping[str, np.ndarray]


@dataclass
class _Stream:
    """One stream's state: rings of raw frames, detected joints and features; windows waiting for the head."""

    slot: int
    raw: np.ndarray  # (W+lag, V, C) ring of raw frames (a view of the detector's rings, at the stream's slot)
    present: np.ndarray  # (W+lag, V) ring: joint detected
    feats: torch.Tensor  # (W+lag, D) ring of backbone features
    acc: _FrameAccumulator
    count: int = 0  # frames pushed
    ready: int = 0  # frames with features
    last_start: int = -1  # start of the latest window sent to the head
    current: float | None = None
    due: list[tuple[int, int, int | None]] = field(default_factory=list)  # (start, length, tail_from)
    image_size: tuple[float, float] | None = None  # the camera's (width, height): isotropic coordinates


class MultiStreamDetector:
    """Many live streams, one batched model (see the module docstring).

        det = MultiStreamDetector.from_checkpoint("best.pt", stride=8)
        a, b = det.open(), det.open()
        steps = det.push({a: frame_a, b: frame_b})  # {stream: StreamStep}
        last = det.close(a)  # flush: the tail window and every remaining frame's final probability

    ``max_streams`` bounds the streams open at once (the batched backbone's state is allocated for them).
    ``bf16=True`` runs the backbone in bfloat16 (about twice the frames per second on CPUs with AVX-512 BF16;
    probabilities then differ from the float32 ones by bfloat16's rounding, about 1e-2).
    """

    def __init__(self, model: SignSTGCNModel | Predictor, data: DataConfig | None = None, *, stride: int = 8,
                 threshold: float | None = None, weighting: str = "center", max_streams: int = 256,
                 bf16: bool = False) -> None:
        self.predictor = _streaming_predictor(model, data)
        p = self.predictor
        self.window = p.window
        if not 1 <= stride <= self.window:
            raise ValueError(f"stride must be in 1..window={self.window}, got {stride}")
        if max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, got {max_streams}")
        self.stride, self.max_streams = stride, int(max_streams)
        self.threshold = p.best_threshold if threshold is None else float(threshold)
        self.backbone = BatchedIncrementalBackbone(p.model.backbone, p.model.streams, slots=self.max_streams,
                                                   dtype=torch.bfloat16 if bf16 else torch.float32)
        self.lag = self.backbone.lag
        self._normalize = Normalize(p.layout, **p.data.normalize_options())
        self._V, self._C, self._D = p.layout.num_nodes, p.data.selection.coords, self.backbone.out_channels
        self._weights = window_weights(self.window, weighting)
        self._ring = self.window + self.lag
        # Every slot's rings in one array, so a tick gathers all trailing windows with one index.
        self._raw = np.full((self.max_streams, self._ring, self._V, self._C), np.nan, dtype=np.float32)
        self._present = np.zeros((self.max_streams, self._ring, self._V), dtype=bool)
        self._streams: dict[Hashable, _Stream] = {}
        self._free = list(range(self.max_streams - 1, -1, -1))
        self._next_id = 0

    @classmethod
    def from_checkpoint(cls, path: str | PathLike[str], *, stride: int = 8, threshold: float | None = None,
                        device: str | torch.device = "cpu", weighting: str = "center",
                        max_streams: int = 256, bf16: bool = False) -> MultiStreamDetector:
        return cls(Predictor.from_checkpoint(path, device), stride=stride, threshold=threshold,
                   weighting=weighting, max_streams=max_streams, bf16=bf16)

    @property
    def streams(self) -> list[Hashable]:
        """The ids of the open streams."""
        return list(self._streams)

    @property
    def latency_frames(self) -> int:
        """Frames between a frame's arrival and the first window result covering it, at most."""
        return self.stride - 1 + self.lag

    # ------------------------------------------------------------------------------------------ join / leave

    def open(self, stream_id: Hashable | None = None, *, image_size: tuple[float, float] | None = None) -> Hashable:
        """Start a stream; returns its id (``stream_id``, or a new integer). ``image_size``: its camera's (width,
        height), so its frames are made isotropic like a file that knows its frame size (see ``frame_array``)."""
        if image_size is not None:
            image_aspect(image_size)  # a ValueError now for a bad size
        if stream_id is None:
            while self._next_id in self._streams:
                self._next_id += 1
            stream_id, self._next_id = self._next_id, self._next_id + 1
        if stream_id in self._streams:
            raise ValueError(f"stream {stream_id!r} is already open")
        if not self._free:
            raise ValueError(f"{self.max_streams} streams are open (max_streams); close one first")
        slot = self._free.pop()
        self.backbone.clear([slot])
        self._raw[slot], self._present[slot] = np.nan, False  # unwritten ring frames are absent
        self._streams[stream_id] = _Stream(
            slot, self._raw[slot], self._present[slot], torch.zeros(self._ring, self._D),
            _FrameAccumulator(self.window, self.stride, self._weights), image_size=image_size)
        return stream_id

    def close(self, stream_id: Hashable) -> StreamStep:
        """End a stream: its last ``lag`` frames' features, the remaining and tail windows, every frame final;
        frees its state. Returns what :meth:`IncrementalDetector.flush` returns."""
        st = self._stream(stream_id)
        n, w = st.count, self.window
        if n == 0:
            self._release(stream_id)
            return StreamStep(-1, None, None, 0, np.zeros(0, dtype=np.float32))
        for feats in self.backbone.flush([st.slot])[st.slot]:
            self._add_features(st, feats)
        tail = max(n - w, 0)
        if tail != st.last_start:  # offline adds a last window ending at the last frame
            self._due(st, tail, min(n, w), tail_from=st.last_start + w if st.last_start >= 0 else 0)
        step = self._run_heads({stream_id: st}, {stream_id: n - 1})[stream_id]
        _, rest = st.acc.finalize(n)  # frames after the last grid window's, without a tail window
        self._release(stream_id)
        return step._replace(final=np.concatenate([step.final, rest]))

    def _stream(self, stream_id: Hashable) -> _Stream:
        try:
            return self._streams[stream_id]
        except KeyError:
            raise KeyError(f"no open stream {stream_id!r}") from None

    def _release(self, stream_id: Hashable) -> None:
        st = self._streams.pop(stream_id)
        self.backbone.clear([st.slot])
        self._free.append(st.slot)

    # ------------------------------------------------------------------------------------------ one tick

    def push(self, frames: Mapping[Hashable, Frame], *, prepared: bool = False) -> dict[Hashable, StreamStep]:
        """The next frame of each listed stream (``{stream id: (V, C) array or {part: array}}``); returns each
        listed stream's :class:`StreamStep`. A bad frame raises ValueError naming its stream, before any state
        changes. ``prepared``: every frame is already a ``(V, C)`` float32 array in the checkpoint's joint order
        and channels (the server checks each frame when it arrives); missing joints are then marked for the
        whole tick at once (:func:`mark_missing`) instead of frame by frame."""
        arrays = {}
        for sid, frame in frames.items():
            self._stream(sid)
            if prepared:
                arrays[sid] = frame
                continue
            try:
                arrays[sid] = frame_array(frame, self.predictor, self._streams[sid].image_size)  # (V, C)
            except ValueError as err:
                raise ValueError(f"stream {sid!r}: {err}") from None
        if not arrays:
            return {}
        sts = [self._streams[sid] for sid in arrays]
        times = {sid: st.count for sid, st in zip(arrays, sts)}
        slots = np.array([st.slot for st in sts])  # (B,)
        arr = np.stack(list(arrays.values()))  # (B, V, C)
        x, valid = self._normalized(slots, np.array(list(times.values())), mark_missing(arr) if prepared else arr)
        for st in sts:
            st.count += 1
        got, feats = self.backbone.push(torch.from_numpy(slots), torch.from_numpy(x),
                                        torch.from_numpy(valid))  # (B', D)
        by_slot = {st.slot: st for st in self._streams.values()}
        for s, f in zip(got.tolist(), feats):
            self._add_features(by_slot[s], f)
        return self._run_heads({sid: self._streams[sid] for sid in arrays}, times)

    def _normalized(self, slots: np.ndarray, t: np.ndarray, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Store frame ``t[b]`` (``arr (B, V, C)``) of each slot in the rings; return the frames normalized, each
        with the centre and scale of the window ending at it: ``(B, V, C')``, ``(B, V)`` (as
        :func:`normalized_frame` per stream, for all streams at once)."""
        R, W = self._ring, self.window
        mask = np.isfinite(arr).all(axis=-1)  # (B, V)
        self._raw[slots, t % R], self._present[slots, t % R] = arr, mask
        trailing = (t[:, None] - W + 1 + np.arange(W)) % R  # (B, W); before a stream's first frame: unwritten
        frames, present = self._raw[slots[:, None], trailing], self._present[slots[:, None], trailing]
        params = self._normalize.params_many(frames, present, np.maximum(W - 1 - t, 0))
        return self._normalize.apply_many(arr, mask, params)

    def _add_features(self, st: _Stream, feats: torch.Tensor) -> None:
        st.feats[st.ready % self._ring] = feats
        st.ready += 1
        start = st.ready - self.window  # the window [start, ready) has all its features
        if start >= 0 and start % self.stride == 0:
            self._due(st, start, self.window)

    def _due(self, st: _Stream, start: int, length: int, tail_from: int | None = None) -> None:
        st.due.append((start, length, tail_from))
        st.last_start = start

    @torch.inference_mode()
    def _run_heads(self, streams: Mapping[Hashable, _Stream], times: Mapping[Hashable, int]) -> dict:
        """Every due window of ``streams`` through the head as one batch; then each stream's step."""
        p, w = self.predictor, self.window
        jobs = [(sid, st, job) for sid, st in streams.items() for job in st.due]
        probs: list[float] = []
        if jobs:
            feats = torch.zeros(len(jobs), w, self._D)  # (N, W, D): padding frames have zero features
            valid = torch.zeros(len(jobs), w, dtype=torch.bool)  # (N, W)
            raws = []
            for i, (_, st, (start, length, _)) in enumerate(jobs):
                idx = np.arange(start, start + length) % self._ring
                feats[i, :length] = st.feats[idx]
                valid[i, :length] = torch.from_numpy(st.present[idx].any(axis=1))
                raws.append(raw_window(st.raw[idx], 0, w))  # (W, V, C)
            stats = signer_statistics_many(np.stack(raws), p.layout)  # (N, S)
            out = p.model.aggregate(feats, valid, torch.from_numpy(stats))  # embedding (N, E)
            probs = torch.sigmoid(p.model.classifier(out.embedding).float() / p.temperature)[:, 0].tolist()
        steps: dict[Hashable, StreamStep] = {}
        k = 0
        for sid, st in streams.items():
            windows, first, chunks = [], st.acc.frontier, []
            for start, _, tail_from in st.due:
                prob = probs[k]
                k += 1
                done = st.acc.account(start, prob, tail_from, st.count)
                st.current = prob
                windows.append((start, prob))
                if len(done):
                    chunks.append(done)
            st.due.clear()
            final = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
            steps[sid] = StreamStep(times[sid], st.current, windows[-1] if windows else None, first, final,
                                    tuple(windows))
        return steps
