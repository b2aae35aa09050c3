"""ST-GCN backbone: spatial graph convolution + dilated temporal convolution blocks.

Blocks take the spatial partition ``A`` as a ``(K, V, V)`` tensor (ST-GCN convention: ``A[k, v, w]`` is
the weight with which joint ``v`` feeds joint ``w`` in partition ``k``), so they do not depend on how the
layout was built. The backbone registers ``A`` as a buffer and owns one learnable edge-importance mask
per block. There is no temporal stride: ``T`` is kept, so a window of one frame works.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SpatialGraphConv(nn.Module):
    """``x (N, C_in, T, V)``, ``A (K, V, V)`` -> ``(N, C_out, T, V)``: one 1x1 conv per partition, summed.

    With ``mask (N, 1, T, V)`` the conv output (bias included) of absent joints is zeroed before the
    aggregation, so an absent joint sends nothing to its neighbours.
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.num_partitions = num_partitions
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: Tensor, A: Tensor, mask: Tensor | None = None) -> Tensor:
        N, _, T, V = x.shape
        K, C = self.num_partitions, self.out_channels
        assert A.shape == (K, V, V), f"A: expected {(K, V, V)}, got {tuple(A.shape)}"
        x = self.conv(x)  # (N, K*C, T, V)
        if mask is not None:
            x = x * mask.to(x.dtype)
        x = x.view(N, K, C, T, V)  # (N, K, C, T, V)
        return torch.einsum("nkctv,kvw->nctw", x, A.to(x.dtype))  # (N, C, T, V)


class TemporalConv(nn.Module):
    """Dilated convolution over time, same length out: ``(N, C_in, T, V)`` -> ``(N, C_out, T, V)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd integer >= 1, got {kernel_size}")
        if dilation < 1:
            raise ValueError(f"dilation: expected an integer >= 1, got {dilation}")
        pad = (kernel_size - 1) * dilation // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size=(kernel_size, 1), padding=(pad, 0), dilation=(dilation, 1)
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))  # (N, C_out, T, V)


class STGCNBlock(nn.Module):
    """Graph conv -> BN -> ReLU -> temporal conv -> BN, plus a residual, then ReLU.

    ``residual=False`` drops the shortcut (ST-GCN does so for the first block, whose input is raw
    coordinates); when shapes differ the shortcut is a 1x1 conv + BN.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_partitions: int,
        kernel_size: int = 3,
        dilation: int = 1,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.gcn = SpatialGraphConv(in_channels, out_channels, num_partitions)
        self.bn = nn.BatchNorm2d(out_channels)
        self.tcn = TemporalConv(out_channels, out_channels, kernel_size, dilation)
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor, A: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x (N, C_in, T, V)``, ``A (K, V, V)``, ``mask (N, 1, T, V)`` float (1 = present) or None.

        With a mask, absent joints send nothing through the graph conv and are zeroed before the temporal
        conv and on output, so padded frames look exactly like the conv's zero padding.
        """
        y = torch.relu(self.bn(self.gcn(x, A, mask)))  # (N, C_out, T, V)
        if mask is not None:
            y = y * mask.to(y.dtype)
        y = self.tcn(y)  # (N, C_out, T, V)
        if self.residual is not None:
            y = y + self.residual(x)
        y = torch.relu(y)
        return y if mask is None else y * mask.to(y.dtype)


class STGCNBackbone(nn.Module):
    """Stack of :class:`STGCNBlock` over a fixed skeleton, pooled over joints.

    Input ``x (N, C, T, V)`` and ``mask (N, T, V)`` (True = joint present). Masked joints are zeroed on
    input, after the input BatchNorm and inside and after every block (see :meth:`STGCNBlock.forward`),
    so a padded tail is equivalent to a shorter window; the final pooling is a mean over the joints
    present in each frame (zero for a frame without any). Output ``(N, T, D)`` with ``D = channels[-1]``.
    """

    def __init__(
        self,
        in_channels: int,
        A: Tensor,
        channels: tuple[int, ...] = (64, 128, 128),
        kernel_size: int = 3,
        dilations: tuple[int, ...] = (1, 2, 3),
        edge_importance: bool = True,
    ) -> None:
        super().__init__()
        if A.dim() != 3 or A.shape[1] != A.shape[2]:
            raise ValueError(f"A: expected a (K, V, V) adjacency, got {tuple(A.shape)}")
        if len(channels) == 0 or len(channels) != len(dilations):
            raise ValueError(
                f"channels/dilations: expected the same non-zero length, got {channels} and {dilations}"
            )
        K, V, _ = A.shape
        self.in_channels = in_channels
        self.num_nodes = V
        self.out_channels = channels[-1]
        # persistent=False: the model rebuilds A from config.layout (tests/test_graph.py pins its values).
        self.register_buffer("A", A.detach().clone().float(), persistent=False)
        self.data_bn = nn.BatchNorm1d(in_channels * V)
        blocks = []
        c_in = in_channels
        for i, (c_out, d) in enumerate(zip(channels, dilations)):
            blocks.append(STGCNBlock(c_in, c_out, K, kernel_size, d, residual=i > 0))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        if edge_importance:
            self.edge_importance = nn.ParameterList([nn.Parameter(torch.ones(K, V, V)) for _ in blocks])
        else:
            self.edge_importance = None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        N, C, T, V = x.shape
        m = mask.unsqueeze(1)  # (N, 1, T, V)
        x = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))  # NaN-safe zeroing
        x = x.permute(0, 3, 1, 2).reshape(N, V * C, T)  # (N, V*C, T)
        x = self.data_bn(x)
        x = x.view(N, V, C, T).permute(0, 2, 3, 1)  # (N, C, T, V)
        mf = m.to(x.dtype)  # (N, 1, T, V)
        x = x * mf
        for i, block in enumerate(self.blocks):
            A = self.A if self.edge_importance is None else self.A * self.edge_importance[i]
            x = block(x, A, mf)  # (N, C_i, T, V)
        count = mf.sum(dim=3).clamp(min=1.0)  # (N, 1, T)
        x = x.sum(dim=3) / count.to(x.dtype)  # (N, D, T)
        return x.transpose(1, 2)  # (N, T, D)
