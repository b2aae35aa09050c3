"""Linear backbone (``backbone="linear"``): each frame's joints x channels projected to ``D``, no graph.

The floor the ST-GCN must beat: the same normalized input and the same temporal aggregator, but no spatial
graph convolution and no temporal convolution. Per frame, the ``V * C`` values go through the input BatchNorm
(per joint and channel, like :class:`~signstgcn.model.stgcn.STGCNBackbone`'s ``data_bn``, so AdaBN's ``input``
layers adapt it the same way), one ``Linear(V * C, D)``, ReLU and dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinearBackbone(nn.Module):
    """``x (N, C, T, V)``, ``mask (N, T, V)`` (True = joint present) -> ``(N, T, D)`` per-frame features.

    Masked joints are zeroed before and after the input BatchNorm; a frame without any joint gives zeros, so
    a padded tail is equivalent to a shorter window (as for the ST-GCN backbone).
    """

    def __init__(self, in_channels: int, num_nodes: int, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_channels, self.num_nodes, self.out_channels = in_channels, num_nodes, out_channels
        self.data_bn = nn.BatchNorm1d(in_channels * num_nodes)
        self.proj = nn.Linear(in_channels * num_nodes, out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        N, C, T, V = x.shape
        m = mask.permute(0, 2, 1).unsqueeze(2)  # (N, V, 1, T)
        x = x.permute(0, 3, 1, 2)  # (N, V, C, T)
        x = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))  # NaN-safe zeroing
        x = self.data_bn(x.reshape(N, V * C, T)).view(N, V, C, T) * m.to(x.dtype)  # (N, V, C, T)
        x = x.permute(0, 3, 1, 2).reshape(N, T, V * C)  # (N, T, V*C)
        h = self.dropout(F.relu(self.proj(x)))  # (N, T, D)
        return h * mask.any(dim=-1, keepdim=True).to(h.dtype)  # (N, T, D); frames without joints: 0
