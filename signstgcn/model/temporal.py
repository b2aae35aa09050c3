"""Temporal aggregators: ``(N, T, D)`` frame features -> ``(N, E)`` window embedding, mask-aware.

A frame is *valid* when at least one of its joints is present. *Padding* is the run of invalid frames at
the end of a window (a video shorter than the window); the BiGRU never reads it (packed sequences), and
both aggregators leave it out of their mean.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def valid_lengths(frame_valid: Tensor) -> Tensor:
    """``frame_valid (N, T)`` bool -> ``(N,)`` int64: index of the last valid frame + 1, at least 1."""
    N, T = frame_valid.shape
    positions = torch.arange(1, T + 1, device=frame_valid.device).expand(N, T)  # (N, T)
    return (positions * frame_valid).amax(dim=1).clamp(min=1)  # (N,)


def masked_mean(x: Tensor, keep: Tensor) -> Tensor:
    """Mean of ``x (N, T, D)`` over the frames where ``keep (N, T)`` is True; zeros where none is."""
    k = keep.unsqueeze(-1).to(x.dtype)  # (N, T, 1)
    return (x * k).sum(dim=1) / k.sum(dim=1).clamp(min=1.0)  # (N, D)


class MaskedMeanPool(nn.Module):
    """``temporal="pool"``: mean of the valid frames' features, no recurrence. ``(N, T, D)`` -> ``(N, D)``."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x: Tensor, frame_valid: Tensor) -> Tensor:
        return masked_mean(x, frame_valid)  # (N, D)


class BiGRUAggregator(nn.Module):
    """``temporal="bigru"``: bidirectional GRU (batch_first) over the unpadded frames, then the mean of its
    outputs over those frames. ``(N, T, D)`` -> ``(N, 2 * hidden)``.

    Frames are packed by length (:func:`valid_lengths`), so the backward direction starts at each
    window's last real frame and one sample's padding never changes another sample's output. Invalid
    frames inside a window (a detection gap) are kept: they are zero features at a real time step.
    """

    def __init__(self, in_dim: int, hidden: int = 256, num_layers: int = 1) -> None:
        super().__init__()
        self.out_dim = 2 * hidden
        self.gru = nn.GRU(in_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor, frame_valid: Tensor) -> Tensor:
        N, T, _ = x.shape
        lengths = valid_lengths(frame_valid)  # (N,)
        # The recurrence runs in the weights' dtype (float32) even under autocast: it is a few % of the
        # FLOPs, and reduced-precision RNN kernels differ across backends.
        x = x.to(self.gru.weight_ih_l0.dtype)
        with torch.autocast(device_type=x.device.type, enabled=False):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (N, T, 2*hidden), 0 if padded
        keep = torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (N, T)
        return masked_mean(out, keep)  # (N, 2*hidden)
