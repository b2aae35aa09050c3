"""ST-GCN backbone: spatial graph convolution + dilated temporal convolution blocks.

Blocks take the spatial partition ``A`` as a ``(K, V, V)`` tensor (ST-GCN convention: ``A[k, v, w]`` is
the weight with which joint ``v`` feeds joint ``w`` in partition ``k``), so they do not depend on how the
layout was built. The backbone registers ``A`` as a buffer and owns one learnable edge-importance mask
per block. There is no temporal stride: ``T`` is kept, so a window of one frame works.

Memory layout (speed only, the maths is ST-GCN's): inside the backbone activations are stored
joint-major, ``(V, N, T, C)`` contiguous. Then the graph aggregation is a plain ``(W, V) @ (V, N*T*C)``
matrix product per partition, every 1x1 convolution is a ``(V*N*T, C)`` matrix product, and the same
memory read as ``(V, C, N, T)`` is a channels-last image for the temporal convolution and the
BatchNorms, so no block ever copies an activation into another order. The ``forward`` methods still take
and return ``(N, C, T, V)`` tensors (a block's output is an ``(N, C, T, V)`` view of joint-major memory,
which the next block reads without a copy); ``forward_joint_major`` is the layout-explicit entry point.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from signstgcn.model.pooling import JointPool


def to_joint_major(x: Tensor) -> Tensor:
    """``(N, C, T, V)`` -> ``(V, N, T, C)`` contiguous: free for a block's output, one copy otherwise."""
    return x.permute(3, 0, 2, 1).contiguous()  # (V, N, T, C)


def from_joint_major(x: Tensor) -> Tensor:
    """``(V, N, T, C)`` -> the ``(N, C, T, V)`` view of the same memory."""
    return x.permute(1, 3, 2, 0)  # (N, C, T, V)


def _forward_nctv(forward_joint_major: Callable[..., Tensor], x: Tensor, A: Tensor, mask: Tensor | None) -> Tensor:
    """Run a joint-major ``forward_joint_major`` on ``x (N, C, T, V)`` and return ``(N, C_out, T, V)``."""
    N, _, T, V = x.shape
    mv = None if mask is None else _mask_joint_major(mask, N, T, V, x.dtype)  # (V, N, T, 1)
    return from_joint_major(forward_joint_major(to_joint_major(x), A, mv))  # (N, C_out, T, V)


def _mask_joint_major(mask: Tensor, N: int, T: int, V: int, dtype: torch.dtype) -> Tensor:
    """Block ``mask (N, 1, T, V)`` (or broadcastable to it) -> ``(V, N, T, 1)`` contiguous in ``dtype``."""
    return to_joint_major(mask.expand(N, 1, T, V)).to(dtype)  # (V, N, T, 1)


def _masked_relu_(x: Tensor, mask: Tensor | None) -> Tensor:
    """``relu(x) * mask`` in place on ``x`` (an activation no backward pass needs), as ``relu(x * mask)``: the
    same for a mask >= 0, and in this order autograd accepts both steps in place."""
    return x.relu_() if mask is None else x.mul_(mask.to(x.dtype)).relu_()


def frozen_bn_affine(bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor] | None:
    """``(scale, shift)`` such that ``bn(x) == x * scale + shift`` per channel when ``bn`` normalizes with its
    running statistics (eval mode), so it can be folded into the preceding product; else None."""
    if bn.training or bn.running_mean is None or bn.running_var is None:
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)  # (C,)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale  # (C,)
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


def fold_affine(weight: Tensor, bias: Tensor | None, affine: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Weight ``(C_out, ...)`` and bias of a product followed by ``* scale + shift`` (per output channel, e.g.
    from :func:`frozen_bn_affine`) as one product: ``(weight * scale, bias * scale + shift)``."""
    scale, shift = affine
    weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    return weight, shift if bias is None else bias * scale + shift


class SpatialGraphConv(nn.Module):
    """``x (N, C_in, T, V)``, ``A (K, V, V)`` -> ``(N, C_out, T, V)``: one 1x1 conv per partition, summed.

    With ``mask (N, 1, T, V)`` the conv output (bias included) of absent joints is zeroed before the
    aggregation, so an absent joint sends nothing to its neighbours.

    Computed aggregation first (same result, fewer FLOPs since ``C_in < K * C_out``): with ``W_k, b_k``
    the ``k``-th ``C_out`` rows of ``conv``, ``out[w] = sum_k W_k (sum_v A[k, v, w] m[v] x[v])
    + sum_k b_k (sum_v A[k, v, w] m[v])`` (``m = 1`` without a mask).
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.num_partitions = num_partitions
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: Tensor, A: Tensor, mask: Tensor | None = None) -> Tensor:
        return _forward_nctv(self.forward_joint_major, x, A, mask)  # (N, C_out, T, V)

    def forward_joint_major(
        self,
        x: Tensor,
        A: Tensor,
        mask: Tensor | None = None,
        masked: bool = False,
        diagonal: tuple[int, ...] = (),
        affine: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """``x (V, N, T, C_in)``, ``mask (V, N, T, 1)`` float or None -> ``(V, N, T, C_out)``.

        ``masked=True`` promises ``x`` is already zero where ``mask`` is (the backbone's invariant), so ``x``
        is not masked again. ``diagonal`` lists partitions whose
        ``A[k]`` is known to be diagonal (self-loops): those are a row scaling, not a ``(V, V)`` product.
        ``affine = (scale, shift)`` (``(C_out,)`` each) returns ``out * scale + shift`` at no extra cost.
        """
        V, N, T, C_in = x.shape
        K, C = self.num_partitions, self.out_channels
        assert A.shape == (K, V, V), f"A: expected {(K, V, V)}, got {tuple(A.shape)}"
        if mask is not None and not masked:
            x = x * mask.to(x.dtype)
        x = x.reshape(V, N * T * C_in)  # (V, N*T*C_in)
        At = A.to(x.dtype).transpose(1, 2)  # (K, W, V)
        present = x.new_ones(V, N * T) if mask is None else mask.reshape(V, N * T).to(x.dtype)  # (V, N*T)
        # Bias: partition k's bias reaches joint w from every present neighbour v, weighted by A[k, v, w].
        reach = torch.mm(At.reshape(K * V, V), present)  # (K*W, N*T)
        reach = reach.view(K, V * N * T).t().contiguous()  # (W*N*T, K)
        weight, bias = self.conv.weight.view(K, C, C_in), self.conv.bias.view(K, C)  # (K, C_out, C_in), (K, C_out)
        if affine is None:
            out = torch.mm(reach, bias.to(reach.dtype))  # (W*N*T, C_out)
        else:
            scale, shift = affine
            weight, bias = weight * scale.unsqueeze(1), bias * scale
            out = torch.addmm(shift.to(reach.dtype), reach, bias.to(reach.dtype))  # (W*N*T, C_out)
        x = x.to(out.dtype)
        weight = weight.to(out.dtype)
        for k in range(K):
            if k in diagonal:
                agg = x * torch.diagonal(At[k]).to(out.dtype).unsqueeze(1)  # (W, N*T*C_in)
            else:
                agg = torch.mm(At[k], x).to(out.dtype)  # (W, N*T*C_in): x aggregated over partition k
            out.addmm_(agg.view(V * N * T, C_in), weight[k].t())  # (W*N*T, C_out)
        return out.view(V, N, T, C)  # (V, N, T, C_out)


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
        return from_joint_major(self.forward_joint_major(to_joint_major(x)))  # (N, C_out, T, V)

    def forward_joint_major(self, x: Tensor) -> Tensor:
        """``x (V, N, T, C_in)`` -> ``(V, N, T, C_out)``."""
        return self.forward_image(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (V, N, T, C_out)

    def forward_image(self, x: Tensor) -> Tensor:
        """``x (V, C_in, N, T)`` channels-last (joint-major memory) -> ``(V, C_out, N, T)`` channels-last.

        The ``(k, 1)`` kernel over ``(T, V)`` runs as ``(1, k)`` over ``(N, T)``: time is the last axis here.
        """
        conv, affine = self.conv, frozen_bn_affine(self.bn)
        weight, bias = conv.weight, conv.bias
        if affine is not None:  # eval mode: the BatchNorm folded into the conv
            weight, bias = fold_affine(weight, bias, affine)
        weight = weight.transpose(2, 3)  # (C_out, C_in, 1, k)
        x = F.conv2d(x, weight, bias, padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]))
        return x if affine is not None else self.bn(x)  # (V, C_out, N, T)


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
        return _forward_nctv(self.forward_joint_major, x, A, mask)  # (N, C_out, T, V)

    def forward_joint_major(
        self,
        x: Tensor,
        A: Tensor,
        mask: Tensor | None = None,
        masked: bool = False,
        diagonal: tuple[int, ...] = (),
    ) -> Tensor:
        """``x (V, N, T, C_in)``, ``mask (V, N, T, 1)`` float or None -> ``(V, N, T, C_out)``.

        ``masked`` and ``diagonal``: see :meth:`SpatialGraphConv.forward_joint_major`. Work happens on the
        channels-last ``(V, C, N, T)`` image of the activations. In training, BatchNorm returns a fresh
        image its backward does not need, so the masking, residual and ReLU steps after it run in place; in
        eval mode each BatchNorm is folded into the product before it (:func:`frozen_bn_affine`).
        """
        affine = frozen_bn_affine(self.bn)  # eval mode: BatchNorms are folded into the products before them
        y = self.gcn.forward_joint_major(x, A, mask, masked, diagonal, affine)  # (V, N, T, C_out)
        y = y.permute(0, 3, 1, 2)  # (V, C_out, N, T)
        if affine is None:
            y = self.bn(y)
        m = None if mask is None else mask.permute(0, 3, 1, 2)  # (V, 1, N, T)
        y = self.tcn.forward_image(_masked_relu_(y, m))  # (V, C_out, N, T)
        if isinstance(self.residual, nn.Sequential):
            conv, bn = self.residual
            weight, bias, res_affine = conv.weight.flatten(1), conv.bias, frozen_bn_affine(bn)
            if res_affine is not None:
                weight, bias = fold_affine(weight, bias, res_affine)
            res = F.linear(x, weight, bias).permute(0, 3, 1, 2)  # (V, C_out, N, T): the 1x1 conv as a product
            y.add_(res if res_affine is not None else bn(res))
        elif self.residual is not None:
            y.add_(self.residual(x).permute(0, 3, 1, 2))
        return _masked_relu_(y, m).permute(0, 2, 3, 1)  # (V, N, T, C_out)


class STGCNBackbone(nn.Module):
    """Stack of :class:`STGCNBlock` over a fixed skeleton, pooled over joints.

    Input ``x (N, C, T, V)`` and ``mask (N, T, V)`` (True = joint present). Masked joints are zeroed on
    input, after the input BatchNorm and inside and after every block (see :meth:`STGCNBlock.forward`),
    so a padded tail is equivalent to a shorter window; the final pooling (:class:`JointPool`, ``joint_pool``)
    is the mean over the joints present in each frame or a linear map of all of them side by side (zero for a
    frame without any). Output ``(N, T, D)`` with ``D = channels[-1]``.
    """

    def __init__(
        self,
        in_channels: int,
        A: Tensor,
        channels: tuple[int, ...] = (64, 128, 128),
        kernel_size: int = 3,
        dilations: tuple[int, ...] = (1, 2, 3),
        edge_importance: bool = True,
        joint_pool: str = "mean",
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
        # Partitions holding only self-loops (ST-GCN's subset 0) stay diagonal under edge importance; the
        # blocks aggregate them with a row scaling. (A is fixed: the model rebuilds it from the layout.)
        off_diagonal = A * (1 - torch.eye(V, dtype=A.dtype, device=A.device))
        self.diagonal_partitions = tuple(k for k in range(K) if not off_diagonal[k].any())
        self.pool = JointPool(joint_pool, V, self.out_channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        N, C, T, V = x.shape
        m = mask.unsqueeze(1)  # (N, 1, T, V)
        x = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))  # NaN-safe zeroing
        x = x.permute(0, 3, 1, 2).reshape(N, V * C, T)  # (N, V*C, T)
        x = self.data_bn(x)
        x = x.view(N, V, C, T).permute(1, 0, 3, 2).contiguous()  # (V, N, T, C)
        mv = mask.permute(2, 0, 1).unsqueeze(-1).to(x.dtype, memory_format=torch.contiguous_format)  # (V, N, T, 1)
        x = x * mv
        for i, block in enumerate(self.blocks):
            A = self.A if self.edge_importance is None else self.A * self.edge_importance[i]
            x = block.forward_joint_major(x, A, mv, masked=True, diagonal=self.diagonal_partitions)  # (V, N, T, C_i)
        return self.pool(x, mv, dim=0)  # (N, T, D)
