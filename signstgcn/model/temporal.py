"""Temporal aggregators: ``(N, T, D)`` frame features -> ``(N, E)`` window embedding, mask-aware.

A frame is *valid* when at least one of its joints is present. *Padding* is the run of invalid frames at
the end of a window (a video shorter than the window); no output the BiGRU keeps ever depends on it, and
both aggregators leave it out of their mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def reverse_valid(x: Tensor, lengths: Tensor) -> Tensor:
    """``x (N, T, D)`` with each window's first ``lengths[n]`` frames in reverse order, the rest in place.

    Its own inverse. ``lengths (N,)`` in ``[1, T]``.
    """
    N, T, D = x.shape
    t = torch.arange(T, device=x.device)  # (T,)
    last = lengths.to(x.device).unsqueeze(1) - 1  # (N, 1)
    index = torch.where(t <= last, last - t, t)  # (N, T)
    return x.gather(1, index.unsqueeze(-1).expand(N, T, D))  # (N, T, D)


class BiGRUAggregator(nn.Module):
    """``temporal="bigru"``: bidirectional GRU (batch_first) over the unpadded frames, then the mean of its
    outputs over those frames. ``(N, T, D)`` -> ``(N, 2 * hidden)``.

    The backward direction starts at each window's last real frame (:func:`valid_lengths`), so one
    sample's padding never changes another sample's output. Invalid frames inside a window (a detection
    gap) are kept: they are zero features at a real time step.

    On CUDA the frames are packed by length (cuDNN runs packed sequences natively). On the CPU packing
    makes the backward pass about twice as slow (every time step slices the packed batch), so the same
    outputs come from two one-direction runs of the same weights: the forward direction over all ``T``
    frames (its outputs on padding depend only on earlier frames and are dropped), the backward one over
    each window with its valid frames reversed (:func:`reverse_valid`).
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
            if x.device.type == "cpu":
                out = self._run_unpacked(x, lengths)  # (N, T, 2*hidden), arbitrary on padding
            else:
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                out, _ = self.gru(packed)
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (N, T, 2*hidden)
        keep = torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (N, T)
        return masked_mean(out, keep)  # (N, 2*hidden)

    def _run_unpacked(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``x (N, T, D)`` -> ``(N, T, 2*hidden)``, equal to the packed run on each window's valid frames."""
        gru = self.gru
        h0 = x.new_zeros(1, x.shape[0], gru.hidden_size)  # (1, N, hidden)
        for layer in range(gru.num_layers):
            forward_w, backward_w = gru.all_weights[2 * layer], gru.all_weights[2 * layer + 1]  # w_ih, w_hh, b_ih, b_hh
            if layer > 0:
                x = F.dropout(x, gru.dropout, self.training)  # nn.GRU's dropout between layers
            out_f, _ = torch.ops.aten.gru.input(x, h0, forward_w, True, 1, 0.0, self.training, False, True)
            x_rev = reverse_valid(x, lengths)  # (N, T, D)
            out_b, _ = torch.ops.aten.gru.input(x_rev, h0, backward_w, True, 1, 0.0, self.training, False, True)
            x = torch.cat([out_f, reverse_valid(out_b, lengths)], dim=-1)  # (N, T, 2*hidden)
        return x
