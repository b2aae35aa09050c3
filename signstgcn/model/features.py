"""Input streams for the backbone: joint coordinates, bone vectors and joint motion (SL-GCN, pyskl).

Multi-stream skeleton models (Shi et al.'s 2s-AGCN, SL-GCN, pyskl) feed a graph network not only the
joint coordinates but also *bones* (each joint minus its parent towards the graph centre) and *motion*
(each joint minus itself one frame earlier). Here the streams are stacked as channels of one input
(early fusion), so one backbone sees all of them:

    x (N, C, T, V), mask (N, T, V) --> (N, C * len(streams), T, V), in the order of ``streams``

A bone or motion value is 0 wherever one of its two joints is absent (mask False), and motion is 0 in a
window's first frame, so absent joints never leak a made-up difference. Coordinates are the normalized
ones (channel 2 of MediaPipe is z, further channels, e.g. OpenPose confidence, are differenced too).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from signstgcn.data.layout import Layout, bone_parents

INPUT_STREAMS = ("joint", "bone", "motion")


def check_streams(streams: tuple[str, ...]) -> tuple[str, ...]:
    """``streams`` validated: a non-empty tuple of distinct names from :data:`INPUT_STREAMS`."""
    items = tuple(streams)
    if not items or len(set(items)) != len(items) or any(s not in INPUT_STREAMS for s in items):
        raise ValueError(
            f"input_streams: expected distinct names from {', '.join(INPUT_STREAMS)}, got {streams!r}"
        )
    return items


class InputStreams(nn.Module):
    """``x (N, C, T, V)``, ``mask (N, T, V)`` -> ``(N, C * len(streams), T, V)`` (module docstring)."""

    def __init__(self, layout: Layout, streams: tuple[str, ...] = ("joint",)) -> None:
        super().__init__()
        self.streams = check_streams(streams)
        # persistent=False: rebuilt from the layout, like the backbone's A.
        self.register_buffer("parents", torch.from_numpy(bone_parents(layout)), persistent=False)

    @property
    def identity(self) -> bool:
        return self.streams == ("joint",)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.identity:
            return x
        m = mask.unsqueeze(1)  # (N, 1, T, V)
        x = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))  # NaN-safe zeroing
        out = []
        for stream in self.streams:
            if stream == "joint":
                out.append(x)
            elif stream == "bone":
                both = m & m[..., self.parents]  # (N, 1, T, V)
                out.append((x - x[..., self.parents]) * both.to(x.dtype))  # (N, C, T, V)
            else:  # motion
                both = m[:, :, 1:] & m[:, :, :-1]  # (N, 1, T-1, V)
                diff = (x[:, :, 1:] - x[:, :, :-1]) * both.to(x.dtype)  # (N, C, T-1, V)
                out.append(torch.cat([torch.zeros_like(x[:, :, :1]), diff], dim=2))  # (N, C, T, V)
        return torch.cat(out, dim=1)  # (N, C * len(streams), T, V)

    def frame(self, x: Tensor, mask: Tensor, prev: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """One frame of a stream: ``x (V, C)``, ``mask (V,)`` and the previous frame's ``(x, mask)`` (None at a
        stream's start) -> ``(V, C * len(streams))``: :meth:`forward` on the two-frame window, last frame."""
        if self.identity:
            return x
        if prev is None:
            xs, ms = x.unsqueeze(0), mask.unsqueeze(0)  # (1, V, C), (1, V)
        else:
            xs = torch.stack([prev[0].to(x.dtype), x])  # (2, V, C)
            ms = torch.stack([prev[1], mask])  # (2, V)
        out = self(xs.permute(2, 0, 1).unsqueeze(0), ms.unsqueeze(0))  # (1, C * streams, t, V)
        return out[0, :, -1].t()  # (V, C * streams)
