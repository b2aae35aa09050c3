"""Frame-by-frame evaluation of a trained :class:`STGCNBackbone`: one new frame in, one frame's features out.

The backbone has no temporal stride and its only temporal operators are the blocks' dilated convolutions,
so a frame's output at block ``i`` needs the block's graph-conv activations ``pad_i = (kernel - 1) *
dilation_i / 2`` frames either side. :class:`IncrementalBackbone` keeps, per block, a ring buffer of the
last ``2 * pad_i + 1`` graph-conv activations and of the last ``pad_i + 1`` block inputs (for the
residual), so each pushed frame costs one frame's worth of work in every block instead of a whole
window's. The features of frame ``t`` come out when frame ``t + lag`` is pushed (``lag = sum(pad_i)``).

Exactness: buffers start at zero, and :meth:`IncrementalBackbone.flush` pushes absent (masked) frames,
whose graph-conv activations are exactly zero. So pushing the ``T`` frames of a window and then
flushing gives the offline ``backbone(window)`` features, zero padding at both window ends included
(tests/test_incremental.py). In a stream the frames keep their real neighbours instead of a window's
zero padding; :class:`signstgcn.inference.predictor.StreamingDetector` states what that changes.

Eval mode only: every BatchNorm (and the edge importance) is folded into the weights once, at
construction; rebuild the object after changing the model's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from signstgcn.model.features import InputStreams
from signstgcn.model.stgcn import STGCNBackbone, STGCNBlock, fold_affine, frozen_bn_affine


def _affine(bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
    affine = frozen_bn_affine(bn)  # type: ignore[arg-type]
    if affine is None:
        raise ValueError("IncrementalBackbone needs an eval-mode model (call model.eval() first)")
    return affine


class _FoldedBlock:
    """One :class:`STGCNBlock` with its BatchNorms folded, evaluated one frame at a time.

    Per frame: ``g = relu(A_cat @ ((x @ W_k + b_k) * m)_k + shift) * m`` (graph conv, conv first: one batched
    product and one aggregation, no copies), then the temporal taps as ``k`` products on the ring's
    frames, the residual and the ReLU. Rings are lists of per-frame tensors, so nothing is copied into them.
    """

    def __init__(self, block: STGCNBlock, A: Tensor) -> None:
        gcn, tcn = block.gcn, block.tcn
        K, V, _ = A.shape
        C_in, C = gcn.conv.in_channels, gcn.out_channels
        scale, shift = _affine(block.bn)  # (C,) each
        self.A_cat = A.permute(2, 0, 1).reshape(V, K * V).contiguous()  # (W, K*V): [w, k*V + v] = A[k, v, w]
        weight = gcn.conv.weight.view(K, C, C_in) * scale.view(1, C, 1)  # (K, C_out, C_in)
        self.gcn_weight = weight.transpose(1, 2).contiguous()  # (K, C_in, C_out)
        self.gcn_bias = (gcn.conv.bias.view(K, 1, C) * scale.view(1, 1, C)).contiguous()  # (K, 1, C)
        self.gcn_shift = shift.contiguous()  # (C,)
        # Temporal conv (kernel k over time, dilation d): z_u = sum_j g_{u + (j - (k-1)/2) d} @ Wt_j + bt.
        self.taps = tcn.conv.kernel_size[0]
        self.dilation = tcn.conv.dilation[0]
        self.pad = (self.taps - 1) * self.dilation // 2
        wt, bt = fold_affine(tcn.conv.weight[..., 0], tcn.conv.bias, _affine(tcn.bn))  # (C_out, C_in, k), (C,)
        self.tcn_weight = [wt[:, :, j].t().contiguous() for j in range(self.taps)]  # k x (C_in, C_out)
        self.tcn_bias = bt.contiguous()  # (C,)
        # Residual: none (first block), identity, or 1x1 conv + BN.
        self.res_weight: Tensor | None = None
        self.res_bias: Tensor | None = None
        self.residual = block.residual is not None
        if isinstance(block.residual, nn.Sequential):
            conv, bn = block.residual
            weight, bias = fold_affine(conv.weight.flatten(1), conv.bias, _affine(bn))  # (C, C_in), (C,)
            self.res_weight, self.res_bias = weight.t().contiguous(), bias.contiguous()  # (C_in, C), (C,)
        self.num_nodes, self.in_channels, self.out_channels = V, C_in, C

    def reset(self, dtype: torch.dtype, device: torch.device) -> None:
        zero_g = torch.zeros(self.num_nodes, self.out_channels, dtype=dtype, device=device)
        self.g = [zero_g] * (2 * self.pad + 1)  # graph-conv outputs of frames u - pad .. u + pad (oldest first)
        self.inputs: list[tuple[Tensor, Tensor]] = []  # (x, m) of frames u .. u + pad, oldest first
        self.count = 0  # frames pushed into this block

    def push(self, x: Tensor, m: Tensor) -> tuple[Tensor, Tensor] | None:
        """Block input ``x (V, C_in)`` (zero where absent) and ``m (V, 1)`` of the next frame; returns the
        block output ``(V, C)`` and mask of frame ``count - pad`` once it exists."""
        self.count += 1
        K = self.gcn_weight.shape[0]
        y = torch.baddbmm(self.gcn_bias, x.expand(K, *x.shape), self.gcn_weight).mul_(m)  # (K, V, C)
        g = torch.addmm(self.gcn_shift, self.A_cat, y.view(-1, y.shape[-1])).relu_().mul_(m)  # (W, C)
        self.g = self.g[1:] + [g]  # frames u - pad .. u + pad, u = count - 1 - pad
        self.inputs.append((x, m))
        if len(self.inputs) <= self.pad:  # u < 0: the first frame's right neighbours are not in yet
            return None
        xu, mu = self.inputs.pop(0)  # (V, C_in), (V, 1) of frame u
        d = self.dilation
        z = torch.addmm(self.tcn_bias, self.g[0], self.tcn_weight[0])  # (V, C)
        for j in range(1, self.taps):
            z.addmm_(self.g[j * d], self.tcn_weight[j])
        if self.res_weight is not None:
            z.addmm_(xu, self.res_weight).add_(self.res_bias)
        elif self.residual:
            z.add_(xu)
        return z.relu_().mul_(mu), mu


class IncrementalBackbone:
    """Pooled backbone features of a stream, one frame at a time (see the module docstring).

    ``push(x (V, C), mask (V,))`` takes one normalized frame (as the model's input) and returns the ``(D,)``
    features of frame ``t - lag`` (None for the first ``lag`` pushes). With ``streams`` (the model's
    :class:`InputStreams`) the frame's bone and motion channels are computed here, motion from the previous
    pushed frame (zero for a stream's first frame, as for a window's); without, ``C`` is the backbone's input.
    """

    def __init__(self, backbone: STGCNBackbone, streams: InputStreams | None = None) -> None:
        if backbone.training:
            raise ValueError("IncrementalBackbone needs an eval-mode model (call model.eval() first)")
        self.streams = None if streams is None or streams.identity else streams
        with torch.no_grad():
            V, C = backbone.num_nodes, backbone.in_channels
            scale, shift = _affine(backbone.data_bn)  # (V*C,) each, channel v*C + c
            self.in_scale, self.in_shift = scale.view(V, C).clone(), shift.view(V, C).clone()
            self.blocks = []
            for i, block in enumerate(backbone.blocks):
                A = backbone.A if backbone.edge_importance is None else backbone.A * backbone.edge_importance[i]
                self.blocks.append(_FoldedBlock(block, A))
        self.num_nodes = V
        self.in_channels = C if self.streams is None else C // len(self.streams.streams)
        self.out_channels = backbone.out_channels
        self.lag = sum(b.pad for b in self.blocks)
        self.dtype, self.device = scale.dtype, scale.device
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        for block in self.blocks:
            block.reset(self.dtype, self.device)
        self.count = 0
        self._prev: tuple[Tensor, Tensor] | None = None  # last pushed frame (x, mask), for motion

    @torch.inference_mode()
    def push(self, x: Tensor, mask: Tensor) -> Tensor | None:
        """``x (V, C)`` normalized frame, ``mask (V,)`` bool -> ``(D,)`` features of frame ``count - lag``."""
        V, C = self.num_nodes, self.in_channels
        if x.shape != (V, C) or mask.shape != (V,):
            raise ValueError(f"frame: expected x (V, C) = {(V, C)} and mask (V,), got {tuple(x.shape)} "
                             f"and {tuple(mask.shape)}")
        self.count += 1
        m = mask.to(self.dtype).unsqueeze(1)  # (V, 1)
        if self.streams is not None:
            x, self._prev = self.streams.frame(x.to(self.dtype), mask, self._prev), (x, mask)
        h = torch.where(mask.unsqueeze(1), x.to(self.dtype), 0.0)  # NaN-safe zeroing, as the backbone
        h = torch.addcmul(self.in_shift, h, self.in_scale).mul_(m)  # (V, C): input BatchNorm, masked
        out = (h, m)
        for block in self.blocks:
            out = block.push(*out)
            if out is None:
                return None
        h, m = out  # (V, D), (V, 1)
        return h.sum(dim=0) / m.sum().clamp(min=1.0)  # (D,)

    def flush(self) -> list[Tensor]:
        """Features of the last ``lag`` frames (their right neighbours are zero padding); then :meth:`reset`."""
        absent = torch.zeros(self.num_nodes, self.in_channels, dtype=self.dtype, device=self.device)
        none = torch.zeros(self.num_nodes, dtype=torch.bool, device=self.device)
        out = [f for f in (self.push(absent, none) for _ in range(self.lag)) if f is not None]
        self.reset()
        return out
