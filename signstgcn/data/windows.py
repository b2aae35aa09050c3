"""Lazy sliding windows over videos and the ``torch`` dataset that serves them (DESIGN §2).

Frames are stored once, one ``(T, V, C)`` array per video; a window is only ``(video, start, label)``
in three small integer arrays, so stride 1 over millions of frames costs a few bytes per window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from signstgcn.data.groundtruth import DROPPED, UNLABELED
from signstgcn.data.layout import Layout
from signstgcn.data.negatives import StillHands

RULES = ("any", "all", "majority", "center")
SAMPLE_MODES = ("window", "video")

Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class WindowConfig:
    """How videos become samples: ``--window``, ``--stride``, ``--rule``, ``--sample-mode``."""

    length: int = 25  # frames per window (``--window``)
    stride: int = 1
    rule: str = "majority"
    sample_mode: str = "window"

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"--window must be a positive number of frames, got {self.length}")
        if self.stride < 1:
            raise ValueError(f"--stride must be a positive number of frames, got {self.stride}")
        if self.rule not in RULES:
            raise ValueError(f"Invalid --rule {self.rule!r}. Only {', '.join(RULES)} are supported")
        if self.sample_mode not in SAMPLE_MODES:
            raise ValueError(f"Invalid --sample-mode {self.sample_mode!r}. Only window, video are supported")


@dataclass(frozen=True)
class WindowIndex:
    """Samples as parallel arrays: video index, first frame, label (all (W,))."""

    video: np.ndarray
    start: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.video)


def window_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """Starts ``0, stride, ...`` with ``start + window <= T``; a shorter video gets one start, 0."""
    if num_frames <= window:
        return np.zeros(1, dtype=np.int64)
    return np.arange(0, num_frames - window + 1, stride, dtype=np.int64)


def _window_sums(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Sum of ``values[s:s+length]`` for every start, via one cumulative sum (no per-window loop)."""
    csum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return csum[starts + length] - csum[starts]


def window_labels(frame_labels: np.ndarray, starts: np.ndarray, window: int, rule: str, binary: bool) -> np.ndarray:
    """Label of each window, ``UNLABELED`` for windows that must not be used.

    A window touching an unlabeled frame is unusable. Binary windows follow ``rule`` (any / all /
    majority = more than half / center frame); multi-class windows take the majority label (ties to
    the lower class id) and are unusable when that is a dropped label.
    """
    t = len(frame_labels)
    length = min(window, t)
    unlabeled = _window_sums(frame_labels == UNLABELED, starts, length)
    out = np.full(len(starts), UNLABELED, dtype=np.int64)
    usable = unlabeled == 0
    if binary:
        if rule == "center":
            centre = frame_labels[starts + length // 2]
            out[usable] = centre[usable]
            return out
        pos = _window_sums(frame_labels == 1, starts, length)
        if rule == "any":
            lab = pos > 0
        elif rule == "all":
            lab = pos == length
        else:
            lab = 2 * pos > length
        out[usable] = lab[usable].astype(np.int64)
        return out
    classes = np.unique(frame_labels[frame_labels >= 0])
    if len(classes) == 0:
        return out
    counts = np.stack([_window_sums(frame_labels == c, starts, length) for c in classes])  # (K, W)
    best = classes[np.argmax(counts, axis=0)]  # ties go to the lower class id
    dropped = _window_sums(frame_labels == DROPPED, starts, length)
    ok = usable & (counts.max(axis=0) > dropped)  # a dropped label that wins (or ties) voids the window
    out[ok] = best[ok]
    return out


def video_label(frame_labels: np.ndarray, rule: str, binary: bool) -> tuple[int, int]:
    """``(first labeled frame, label)`` for one-sample-per-video mode; label UNLABELED when unusable."""
    labeled = np.flatnonzero(frame_labels != UNLABELED)
    if len(labeled) == 0:
        return 0, UNLABELED
    first = int(labeled[0])
    tail = frame_labels[first:]
    label = window_labels(tail, np.zeros(1, dtype=np.int64), len(tail), rule if binary else "majority", binary)
    return first, int(label[0])


def build_window_index(frame_labels: Sequence[np.ndarray], config: WindowConfig, binary: bool) -> WindowIndex:
    """Index every usable window (or video, with ``sample_mode="video"``) of the given videos."""
    videos, starts, labels = [], [], []
    for v, lab in enumerate(frame_labels):
        if config.sample_mode == "video":
            first, label = video_label(lab, config.rule, binary)
            s, y = np.array([first]), np.array([label])
        else:
            s = window_starts(len(lab), config.length, config.stride)
            y = window_labels(lab, s, config.length, config.rule, binary)
        keep = y != UNLABELED
        videos.append(np.full(int(keep.sum()), v, dtype=np.int32))
        starts.append(s[keep].astype(np.int32))
        labels.append(y[keep])
    if not videos:
        empty = np.zeros(0, dtype=np.int32)
        return WindowIndex(empty, empty, np.zeros(0, dtype=np.int64))
    return WindowIndex(np.concatenate(videos), np.concatenate(starts), np.concatenate(labels))


def resample_time(frames: np.ndarray, length: int) -> np.ndarray:
    """Linearly resample (T, V, C) to (length, V, C); a NaN neighbour falls back to the other one."""
    t = frames.shape[0]
    if t == length:
        return frames.copy()
    pos = np.linspace(0.0, t - 1, length) if length > 1 else np.zeros(1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None, None].astype(np.float32)  # (L, 1, 1)
    a, b = frames[lo], frames[hi]  # (L, V, C)
    out = a * (1 - w) + b * w
    out = np.where(np.isnan(a), b, out)
    return np.where(np.isnan(b), a, out).astype(np.float32)


def present_mask(frames: np.ndarray) -> np.ndarray:
    """(T, V) True where a joint was detected (its coordinates are finite)."""
    return np.isfinite(frames).all(axis=-1)


class WindowDataset(Dataset):
    """Windows over in-memory videos → normalized ``(C, T, V)`` samples (see :meth:`__getitem__`).

    ``videos`` are raw ``(T_i, V, C)`` arrays (NaN = missing) in ``layout`` node order; they are
    referenced, never copied. ``transform`` maps raw ``(frames, mask, rng)`` to normalized
    ``(frames, mask)``; ``signer_stats`` maps a raw window to its ``(S,)`` signer statistics.
    """

    def __init__(
        self,
        videos: Sequence[np.ndarray],
        video_ids: Sequence[str],
        index: WindowIndex,
        config: WindowConfig,
        layout: Layout,
        *,
        transform: Transform,
        signer_stats: Callable[[np.ndarray, Layout], np.ndarray],
        signer_ids: np.ndarray | None = None,
        seed: int = 0,
        hard_negatives: StillHands | None = None,
    ) -> None:
        if len(videos) != len(video_ids):
            raise ValueError(f"got {len(videos)} videos but {len(video_ids)} video ids")
        self.videos = list(videos)
        self.video_ids = list(video_ids)
        self.index = index
        self.config = config
        self.layout = layout
        self.transform = transform
        self.signer_stats = signer_stats
        self.signer_ids = (np.full(len(videos), -1, dtype=np.int64) if signer_ids is None
                           else np.asarray(signer_ids, dtype=np.int64))
        self.seed = seed
        self.epoch = 0
        self.hard_negatives = hard_negatives  # StillHands or None: some windows become not-signing (label 0)

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentations: item ``i`` of epoch ``e`` always draws the same random numbers."""
        self.epoch = epoch

    @property
    def labels(self) -> np.ndarray:
        return self.index.label

    @property
    def sample_signers(self) -> np.ndarray:
        """(W,) signer id of every sample (-1 unknown)."""
        return self.signer_ids[self.index.video]

    def raw_window(self, i: int) -> np.ndarray:
        """(window, V, C) raw frames of sample ``i``, NaN-padded at the end of short videos."""
        v, s = int(self.index.video[i]), int(self.index.start[i])
        frames, w = self.videos[v], self.config.length
        if self.config.sample_mode == "video":
            return resample_time(frames[s:], w)
        win = frames[s:s + w]
        if win.shape[0] < w:
            pad = np.full((w - win.shape[0], *win.shape[1:]), np.nan, dtype=win.dtype)
            win = np.concatenate([win, pad])
        return win

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples")
        raw = self.raw_window(i)  # (T, V, C)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        label = int(self.index.label[i])
        if self.hard_negatives is not None and self.hard_negatives.wants(rng):
            raw, label = self.hard_negatives(raw, rng), 0  # hands in view, not signing
        stats = self.signer_stats(raw, self.layout)  # (S,)
        frames, mask = self.transform(raw, present_mask(raw), rng)
        x = np.ascontiguousarray(frames.transpose(2, 0, 1), dtype=np.float32)  # (C, T, V)
        v = int(self.index.video[i])
        return {
            "x": torch.from_numpy(x),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)),
            "label": torch.tensor(label, dtype=torch.int64),
            "signer": torch.tensor(int(self.signer_ids[v]), dtype=torch.int64),
            "stats": torch.from_numpy(np.asarray(stats, dtype=np.float32)),
            "video": torch.tensor(v, dtype=torch.int64),
            "start": torch.tensor(int(self.index.start[i]), dtype=torch.int64),
        }
