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
        if not isinstance(backbone, STGCNBackbone):
            raise ValueError(f"frame-by-frame streaming (IncrementalDetector, MultiStreamDetector, signstgcn serve) "
                             f"needs the ST-GCN backbone (backbone='stgcn'), this model has a "
                             f"{type(backbone).__name__} (e.g. backbone='linear', the GRU floor); score it with "
                             f"StreamingDetector or signstgcn detect instead")
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
        self.pool = backbone.pool
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
        return self.pool(h, m, dim=0)  # (D,)

    def flush(self) -> list[Tensor]:
        """Features of the last ``lag`` frames (their right neighbours are zero padding); then :meth:`reset`."""
        absent = torch.zeros(self.num_nodes, self.in_channels, dtype=self.dtype, device=self.device)
        none = torch.zeros(self.num_nodes, dtype=torch.bool, device=self.device)
        out = [f for f in (self.push(absent, none) for _ in range(self.lag)) if f is not None]
        self.reset()
        return out


class _BatchedBlock:
    """A :class:`_FoldedBlock`'s weights evaluated for many streams at once: per stream slot, a ring of the last
    ``2 * pad + 1`` graph-conv outputs and of the last ``pad + 1`` block inputs, as tensors with a slot axis."""

    def __init__(self, block: _FoldedBlock, slots: int, dtype: torch.dtype, device: torch.device) -> None:
        self.f = block
        V, C_in, C = block.num_nodes, block.in_channels, block.out_channels
        K = block.gcn_weight.shape[0]
        # Graph conv with the partitions side by side, so no copy is needed between its two products:
        # y (B, V, K*C) = x @ W_all + b_all, read as (B, V*K, C); then A_vk (V, V*K) @ y, [w, v*K + k] = A[k, v, w].
        # Every tensor in ``dtype`` (bfloat16: about twice the frames per second on CPUs with AVX-512 BF16).
        self.w_all = block.gcn_weight.permute(1, 0, 2).reshape(C_in, K * C).to(dtype).contiguous()  # (C_in, K*C)
        self.b_all = block.gcn_bias.reshape(K * C).to(dtype).contiguous()  # (K*C,)
        self.a_vk = block.A_cat.view(V, K, V).permute(0, 2, 1).reshape(V, V * K).to(dtype).contiguous()  # (V, V*K)
        self.shift = block.gcn_shift.to(dtype)  # (C,)
        # Temporal taps stacked: one (taps*C, C) product on the gathered taps.
        self.tcn_all = torch.cat(block.tcn_weight, dim=0).to(dtype).contiguous()  # (taps*C, C)
        self.tcn_bias = block.tcn_bias.to(dtype)  # (C,)
        self.res_weight = None if block.res_weight is None else block.res_weight.to(dtype)  # (C_in, C)
        self.res_bias = None if block.res_bias is None else block.res_bias.to(dtype)  # (C,)
        # Rings flattened over (slot, position), so a tick writes and reads them with one row index each
        # (index_copy_ / index_select: plain row copies; the backbone ran 1.15-1.45x the frames/s of two-axis
        # advanced indexing at 32 and 100 streams, float32 and bfloat16).
        self.R, self.P = 2 * block.pad + 1, block.pad + 1  # ring lengths: graph-conv outputs, block inputs
        self.g = torch.zeros(slots * self.R, V, C, dtype=dtype, device=device)  # (S*R, V, C), row s*R + frame % R
        self.x = torch.zeros(slots * self.P, V, C_in + 1, dtype=dtype, device=device)  # (S*P, V, C_in + mask)
        self.count = torch.zeros(slots, dtype=torch.long)  # (S,) frames pushed into this block per slot
        # bfloat16: the temporal product runs on every row of the (padded) batch, ready or not, so that oneDNN sees
        # only the padded shapes; the rows of streams still filling the ring are dropped after it
        self.padded = dtype == torch.bfloat16

    def clear(self, slots: Tensor) -> None:
        rows = lambda n: (slots.unsqueeze(1) * n + torch.arange(n)).flatten()  # noqa: E731 - (B*n,) ring rows
        self.g.index_fill_(0, rows(self.R), 0.0)
        self.x.index_fill_(0, rows(self.P), 0.0)
        self.count[slots] = 0

    def push(self, slots: Tensor, x: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The next frame of each stream in ``slots (B,)``: ``x (B, V, C_in)``, ``m (B, V, 1)`` -> the slots whose
        block output exists now (``count > pad``), their output ``(B', V, C)`` and mask ``(B', V, 1)``."""
        f = self.f
        B, V = x.shape[0], f.num_nodes
        K = f.gcn_weight.shape[0]
        y = torch.addmm(self.b_all, x.reshape(B * V, -1), self.w_all).view(B, V, -1).mul_(m)  # (B, V, K*C)
        g = torch.matmul(self.a_vk, y.view(B, V * K, -1)).add_(self.shift).relu_().mul_(m)  # (B, V, C)
        c = self.count[slots]  # (B,) index of this frame in each stream
        R, P = self.R, self.P
        self.g.index_copy_(0, slots * R + c % R, g)
        self.x.index_copy_(0, slots * P + c % P, torch.cat([x, m], dim=-1))  # (B, V, C_in + 1)
        self.count[slots] = c + 1
        ready = c >= f.pad  # (B,) frame u = c - pad has its right neighbours
        if not bool(ready.any()):
            return slots[:0], g[:0], m[:0]
        subset = not bool(ready.all())
        if subset and not self.padded:
            slots, c = slots[ready], c[ready]
        n = len(slots)
        u = c - f.pad  # (B',) output frame
        # tap j reads frame u + (j - (taps - 1) / 2) * dilation = c - 2 pad + j * dilation
        taps = (c.unsqueeze(1) - 2 * f.pad + torch.arange(f.taps) * f.dilation) % R  # (B', taps)
        gathered = self.g.index_select(0, (slots.unsqueeze(1) * R + taps).flatten())  # (B'*taps, V, C)
        gathered = gathered.view(n, f.taps, V, -1).transpose(1, 2).reshape(n * V, -1)  # (B'*V, taps*C)
        z = torch.addmm(self.tcn_bias, gathered, self.tcn_all).view(n, V, -1)  # (B', V, C)
        xm = self.x.index_select(0, slots * P + u % P)  # (B', V, C_in + 1)
        xu, mu = xm[..., :-1], xm[..., -1:]  # (B', V, C_in), (B', V, 1)
        if self.res_weight is not None:
            z.add_(torch.matmul(xu, self.res_weight)).add_(self.res_bias)
        elif f.residual:
            z.add_(xu)
        z = z.relu_().mul_(mu)
        if subset and self.padded:  # computed for the whole padded batch (one matrix shape), kept for the ready
            return slots[ready], z[ready], mu[ready]
        return slots, z, mu


SCRATCH_SLOTS = 16  # padding rows: at most 15 added per block (the previous block's are dropped first)


def padded_batch(n: int) -> int:
    """The batch size ``n`` streams are computed as in bfloat16: the next power of two up to 16, then the next
    multiple of 16 (at most 15 rows more; 21 sizes up to 256 streams)."""
    if n <= 16:
        return 1 << max(0, (n - 1).bit_length())
    return -(-n // 16) * 16


class BatchedIncrementalBackbone:
    """:class:`IncrementalBackbone` for up to ``slots`` independent streams: one tick pushes the next frame of any
    subset of streams as one batch. A slot's results equal a single :class:`IncrementalBackbone` fed the same
    frames (up to float round-off); :meth:`clear` frees a slot for a new stream.

    In bfloat16 a batch is padded with scratch slots to one of a few sizes (:func:`padded_batch`) before every
    block, and a block's temporal product runs on the whole padded batch (the rows of streams still filling its
    ring are dropped after it): oneDNN keeps state for every matrix shape it has computed in bfloat16, about 5 MB
    each, so a server whose tick sizes wander over 1..N grew by gigabytes (float32 does not)."""

    def __init__(self, backbone: STGCNBackbone, streams: InputStreams | None = None, *, slots: int = 64,
                 dtype: torch.dtype = torch.float32) -> None:
        single = IncrementalBackbone(backbone, streams)
        self.single = single
        self.lag, self.num_nodes, self.out_channels = single.lag, single.num_nodes, single.out_channels
        self.in_channels, self.streams = single.in_channels, single.streams
        self.slots, self.dtype = int(slots), dtype
        self.in_scale, self.in_shift = single.in_scale.to(dtype), single.in_shift.to(dtype)  # (V, C) each
        self._pad = dtype == torch.bfloat16
        rings = self.slots + (SCRATCH_SLOTS if self._pad else 0)  # scratch slots pad a bfloat16 batch
        self.blocks = [_BatchedBlock(b, rings, dtype, single.device) for b in single.blocks]
        self._prev: dict[int, tuple[Tensor, Tensor]] = {}  # slot -> last pushed frame (x, mask), for motion

    def clear(self, slots: Tensor | list[int]) -> None:
        """Forget the streams in ``slots`` (their next push starts a new stream)."""
        idx = torch.as_tensor(slots, dtype=torch.long)
        for block in self.blocks:
            block.clear(idx)
        for s in idx.tolist():
            self._prev.pop(s, None)

    @torch.inference_mode()
    def push(self, slots: Tensor, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``slots (B,)`` distinct, ``x (B, V, C)`` normalized frames, ``mask (B, V)`` -> the slots with new
        features ``(B',)`` and their ``(B', D)`` features (of each stream's frame ``count - lag``)."""
        single = self.single
        x = x.to(single.dtype)  # input streams in the model's dtype, the blocks in self.dtype
        if self.streams is not None:  # bone / motion channels need each stream's previous frame
            rows = []
            for i, s in enumerate(slots.tolist()):
                rows.append(self.streams.frame(x[i], mask[i], self._prev.get(s)))
                self._prev[s] = (x[i], mask[i])
            x = torch.stack(rows)
        m = mask.to(self.dtype).unsqueeze(-1)  # (B, V, 1)
        h = torch.where(mask.unsqueeze(-1), x, 0.0).to(self.dtype)  # NaN-safe zeroing, as the backbone
        h = torch.addcmul(self.in_shift, h, self.in_scale).mul_(m)  # (B, V, C)
        out = (slots, h, m)
        for block in self.blocks:
            out = self._padded(*out)
            if len(out[0]) == 0:  # no stream has an output of the block before (yet)
                return out[0], torch.zeros(0, self.out_channels, dtype=single.dtype)
            out = block.push(*out)
        s, h, m = self._without_scratch(*out) if self._pad else out  # (B',), (B', V, D), (B', V, 1)
        return s, single.pool(h.float(), m.float(), dim=1).to(single.dtype)  # (B', D)

    def _padded(self, slots: Tensor, h: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """In bfloat16: the batch padded to :func:`padded_batch` rows with scratch slots not in it (zeros, nothing
        detected), before every block, since the rows a block returns (the streams past its first frames) vary."""
        if not self._pad:
            return slots, h, m
        slots, h, m = self._without_scratch(slots, h, m)  # the previous block's padding: padded afresh
        if len(slots) == 0:
            return slots, h, m
        extra = padded_batch(len(slots)) - len(slots)  # at most 15 (< SCRATCH_SLOTS)
        if extra == 0:
            return slots, h, m
        scratch = torch.arange(self.slots, self.slots + extra)  # (extra,)
        return (torch.cat([slots, scratch]), torch.cat([h, h.new_zeros(extra, *h.shape[1:])]),  # (B_pad, V, C)
                torch.cat([m, m.new_zeros(extra, *m.shape[1:])]))  # (B_pad, V, 1)

    def _without_scratch(self, slots: Tensor, h: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The rows of real streams only (scratch slots are numbered from ``self.slots``)."""
        real = slots < self.slots  # (B,)
        if bool(real.all()):
            return slots, h, m
        return slots[real], h[real], m[real]

    def flush(self, slots: Tensor | list[int]) -> dict[int, list[Tensor]]:
        """Each stream's last ``lag`` frames' features (right neighbours = zero padding); then :meth:`clear`."""
        idx = torch.as_tensor(slots, dtype=torch.long)
        out: dict[int, list[Tensor]] = {int(s): [] for s in idx.tolist()}
        absent = torch.zeros(len(idx), self.num_nodes, self.in_channels, dtype=self.single.dtype)
        none = torch.zeros(len(idx), self.num_nodes, dtype=torch.bool)
        for _ in range(self.lag):
            got, feats = self.push(idx, absent, none)
            for s, f in zip(got.tolist(), feats):
                out[s].append(f)
        self.clear(idx)
        return out
