"""The optimized backbone and BiGRU compute what the straightforward ST-GCN code computes.

The reference functions below are the original implementation (conv to ``K * C_out`` channels, mask,
``einsum`` over the partition; ``(k, 1)`` temporal conv on ``(N, C, T, V)``; packed BiGRU), run with the
optimized modules' own parameters. Each test runs the reference and the optimized code on two copies of
one module and compares outputs, input and parameter gradients and BatchNorm running statistics.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from signstgcn.data.layout import LayoutSpec, spatial_partition
from signstgcn.model import ModelConfig, SignSTGCNModel
from signstgcn.model.stgcn import SpatialGraphConv, STGCNBackbone, STGCNBlock, TemporalConv
from signstgcn.model.temporal import BiGRUAggregator, masked_mean, valid_lengths

ATOL = 1e-5  # float32: max abs difference, relative to the largest entry when that is above 1

# ---------------------------------------------------------------- reference implementation


def ref_graph_conv(gcn: SpatialGraphConv, x: Tensor, A: Tensor, mask: Tensor | None) -> Tensor:
    N, _, T, V = x.shape
    K, C = gcn.num_partitions, gcn.out_channels
    y = F.conv2d(x, gcn.conv.weight, gcn.conv.bias)  # (N, K*C, T, V)
    if mask is not None:
        y = y * mask
    return torch.einsum("nkctv,kvw->nctw", y.view(N, K, C, T, V), A)  # (N, C, T, V)


def ref_temporal_conv(tcn: TemporalConv, x: Tensor) -> Tensor:
    return tcn.bn(tcn.conv(x))  # (N, C_out, T, V)


def ref_block(block: STGCNBlock, x: Tensor, A: Tensor, mask: Tensor | None) -> Tensor:
    y = torch.relu(block.bn(ref_graph_conv(block.gcn, x, A, mask)))
    if mask is not None:
        y = y * mask
    y = ref_temporal_conv(block.tcn, y)
    if block.residual is not None:
        y = y + block.residual(x)
    y = torch.relu(y)
    return y if mask is None else y * mask


def ref_backbone(net: STGCNBackbone, x: Tensor, mask: Tensor) -> Tensor:
    N, C, T, V = x.shape
    m = mask.unsqueeze(1)  # (N, 1, T, V)
    x = torch.where(m, x, torch.zeros((), dtype=x.dtype))
    x = net.data_bn(x.permute(0, 3, 1, 2).reshape(N, V * C, T))  # (N, V*C, T)
    x = x.view(N, V, C, T).permute(0, 2, 3, 1)  # (N, C, T, V)
    mf = m.to(x.dtype)
    x = x * mf
    for i, block in enumerate(net.blocks):
        A = net.A if net.edge_importance is None else net.A * net.edge_importance[i]
        x = ref_block(block, x, A, mf)
    count = mf.sum(dim=3).clamp(min=1.0)  # (N, 1, T)
    return (x.sum(dim=3) / count).transpose(1, 2)  # (N, T, D)


def ref_bigru(agg: BiGRUAggregator, x: Tensor, frame_valid: Tensor) -> Tensor:
    N, T, _ = x.shape
    lengths = valid_lengths(frame_valid)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = agg.gru(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    keep = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    return masked_mean(out, keep)


# ---------------------------------------------------------------- helpers


def random_adjacency(K: int, V: int, g: torch.Generator) -> Tensor:
    """Sparse, non-symmetric, partition 0 diagonal, like an ST-GCN partition times edge importance."""
    A = torch.rand(K, V, V, generator=g) * (torch.rand(K, V, V, generator=g) < 0.3)
    A[0] = torch.diag(torch.rand(V, generator=g) + 0.5)
    return A


def random_mask(N: int, T: int, V: int, g: torch.Generator) -> Tensor:
    mask = torch.rand(N, T, V, generator=g) > 0.25  # (N, T, V)
    mask[0, T // 2 :] = False  # padded tail
    mask[-1, :, : V // 3] = False  # a part never detected
    return mask


def assert_close(new: Tensor, ref: Tensor, atol: float = ATOL, name: str = "") -> None:
    """``max |new - ref| <= atol * max(1, max |ref|)`` (gradients summed over many positions grow large)."""
    scale = max(1.0, ref.detach().abs().max().item()) if ref.numel() else 1.0
    torch.testing.assert_close(new, ref, rtol=0, atol=atol * scale, msg=lambda m: f"{name}: {m}")


def assert_same_module_state(ref: torch.nn.Module, new: torch.nn.Module, atol: float = ATOL) -> None:
    """Same gradients and buffers. Gradients are compared on the scale of the module's largest one: a conv
    bias right before a training-mode BatchNorm has a zero gradient up to rounding, in both codes."""
    grads = [p.grad.abs().max().item() for p in ref.parameters() if p.grad is not None and p.grad.numel()]
    scale = max([1.0, *grads])
    for (name, a), b in zip(ref.named_parameters(), new.parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=atol * scale, msg=lambda m, n=name: f"{n}: {m}")
    for (name, a), b in zip(ref.named_buffers(), new.buffers()):
        assert_close(b.to(a.dtype), a, atol, name)


def run_both(ref_fn, new_fn, module: torch.nn.Module, inputs: list[Tensor], dtype=torch.float32, atol=ATOL):
    """Run ``ref_fn(ref_copy, *inputs)`` and ``new_fn(new_copy, *inputs)``; compare output and gradients
    (floating-point inputs get one; masks are not differentiable inputs of the model)."""
    ref_mod, new_mod = copy.deepcopy(module).to(dtype), copy.deepcopy(module).to(dtype)
    ref_in = [t.detach().clone().to(dtype).requires_grad_() if t.is_floating_point() else t for t in inputs]
    new_in = [t.detach().clone().to(dtype).requires_grad_() if t.is_floating_point() else t for t in inputs]
    ref_out, new_out = ref_fn(ref_mod, *ref_in), new_fn(new_mod, *new_in)
    assert new_out.shape == ref_out.shape
    assert_close(new_out, ref_out, atol, "output")
    weight = torch.randn(ref_out.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    (ref_out * weight).sum().backward()
    (new_out * weight).sum().backward()
    for i, (a, b) in enumerate(zip(ref_in, new_in)):
        if a.is_floating_point():
            assert_close(b.grad, a.grad, atol, f"input {i} grad")
    assert_same_module_state(ref_mod, new_mod, atol)
    return ref_out, new_out


# ---------------------------------------------------------------- modules


@pytest.mark.parametrize("with_mask", [True, False], ids=["mask", "no-mask"])
@pytest.mark.parametrize(("c_in", "c_out"), [(2, 6), (5, 7), (8, 4)])
def test_spatial_graph_conv_matches_reference(c_in, c_out, with_mask):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    N, T, V, K = 3, 6, 11, 3
    gcn = SpatialGraphConv(c_in, c_out, K)
    x = torch.randn(N, c_in, T, V, generator=g)
    A = random_adjacency(K, V, g).requires_grad_()
    mask = random_mask(N, T, V, g).unsqueeze(1).float() if with_mask else None  # (N, 1, T, V)
    run_both(lambda m, x, A: ref_graph_conv(m, x, A, mask), lambda m, x, A: m(x, A, mask), gcn, [x, A])


@pytest.mark.parametrize("dilation", [1, 3])
def test_temporal_conv_matches_reference(dilation):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    tcn = TemporalConv(5, 6, kernel_size=3, dilation=dilation).train()
    x = torch.randn(3, 5, 9, 7, generator=g)
    run_both(ref_temporal_conv, lambda m, x: m(x), tcn, [x])


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("with_mask", [True, False], ids=["mask", "no-mask"])
@pytest.mark.parametrize(("c_in", "c_out", "residual"), [(3, 6, False), (6, 6, True), (4, 8, True)],
                         ids=["no-residual", "identity", "conv-residual"])
def test_block_matches_reference(c_in, c_out, residual, with_mask, train):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    N, T, V, K = 3, 8, 10, 3
    block = STGCNBlock(c_in, c_out, K, kernel_size=3, dilation=2, residual=residual).train(train)
    for bn in (m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5, generator=g)
        bn.running_var.uniform_(0.5, 1.5, generator=g)
    x = torch.randn(N, c_in, T, V, generator=g)
    A = random_adjacency(K, V, g).requires_grad_()
    mask = random_mask(N, T, V, g).unsqueeze(1).float() if with_mask else None  # (N, 1, T, V)
    _, new_out = run_both(lambda m, x, A: ref_block(m, x, A, mask), lambda m, x, A: m(x, A, mask), block, [x, A])
    if with_mask:
        assert torch.all(new_out.masked_select(mask.expand_as(new_out) == 0) == 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_backbone_on_skeleton_matches_reference(train, dtype):
    """The real layout: its self-loop partition takes the diagonal shortcut; NaN behind the mask is ignored."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    A = torch.from_numpy(spatial_partition(LayoutSpec().build()))  # (3, 67, 67)
    net = STGCNBackbone(2, A, channels=(8, 12, 12), dilations=(1, 2, 3)).train(train)
    assert net.diagonal_partitions == (0,)
    with torch.no_grad():
        for p in net.edge_importance:
            p.uniform_(0.5, 1.5, generator=g)
    N, T, V = 4, 10, A.shape[-1]
    mask = random_mask(N, T, V, g)
    x = torch.randn(N, 2, T, V, generator=g).masked_fill(~mask.unsqueeze(1), float("nan"))
    # Exact maths in float64. In float32, three training-mode BatchNorms amplify rounding: the reference's
    # own parameter gradients are ~1e-5 (relative) off its float64 values here, so allow a few of those.
    atol = 1e-10 if dtype == torch.float64 else 5e-5 if train else ATOL
    ref_out, _ = run_both(ref_backbone, lambda m, x, mk: m(x, mk), net, [x, mask], dtype=dtype, atol=atol)
    assert torch.isfinite(ref_out).all()


def test_blocks_accept_any_memory_layout():
    """Block outputs are (N, C, T, V) views of joint-major memory; plain contiguous inputs work too."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = STGCNBlock(4, 4, 3).eval()
    A = random_adjacency(3, 5, g)
    x = torch.randn(2, 4, 6, 5, generator=g)
    with torch.no_grad():
        y = block(x, A)
        assert y.shape == (2, 4, 6, 5)
        torch.testing.assert_close(block(y, A), block(y.contiguous(), A), rtol=0, atol=0)
        torch.testing.assert_close(block(x.transpose(2, 3).contiguous().transpose(2, 3), A), y, rtol=0, atol=0)


# ---------------------------------------------------------------- BiGRU


@pytest.mark.parametrize("num_layers", [1, 2])
def test_bigru_matches_packed_reference(num_layers):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    agg = BiGRUAggregator(6, hidden=5, num_layers=num_layers).train()
    N, T = 5, 9
    frame_valid = torch.rand(N, T, generator=g) > 0.2
    frame_valid[0, 4:] = False  # padded tail
    frame_valid[1] = False  # nothing valid: length 1
    frame_valid[2] = True
    frame_valid[3, 2] = False  # a gap inside the window
    frame_valid[3, -1] = True
    x = torch.randn(N, T, 6, generator=g)
    run_both(ref_bigru, lambda m, x, fv: m(x, fv), agg, [x, frame_valid])


# ---------------------------------------------------------------- whole model


def test_model_outputs_match_reference_pipeline():
    """Backbone and BiGRU swapped for the reference code, same weights: same logits and embeddings."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    cfg = ModelConfig(stgcn_channels=(8, 16), stgcn_dilations=(1, 2), temporal_hidden=8, signer_emb_dim=8,
                      signer_hidden=16, signer_head_hidden=16, supcon_dim=8, num_signers=3,
                      joint_pool="mean")  # the reference backbone pools by the mean
    model = SignSTGCNModel(cfg).eval()
    N, T, V = 3, 12, model.num_nodes
    x = torch.randn(N, 2, T, V, generator=g)
    mask = random_mask(N, T, V, g)
    stats = torch.randn(N, cfg.signer_stats_dim, generator=g)
    with torch.no_grad():
        out = model(x, mask, stats)
        feats = ref_backbone(model.backbone, x, mask)
        frame_valid = mask.any(dim=-1)
        signer = model.signer_encoder(stats)
        feats, weights = model.attention(feats, frame_valid, signer)
        embedding = ref_bigru(model.temporal, feats, frame_valid)
    assert_close(out.attention, weights, name="attention")
    assert_close(out.embedding, embedding, name="embedding")
    assert_close(out.logits, model.classifier(embedding), name="logits")


def test_backbone_bf16_autocast_close_to_fp32():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    A = torch.from_numpy(spatial_partition(LayoutSpec().build()))
    net = STGCNBackbone(2, A, channels=(8, 16), dilations=(1, 2)).eval()
    N, T, V = 2, 8, A.shape[-1]
    x = torch.randn(N, 2, T, V, generator=g)
    mask = random_mask(N, T, V, g)
    with torch.no_grad():
        ref = ref_backbone(net, x, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x, mask)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
