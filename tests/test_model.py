"""Model tests on tiny tensors: shapes, gradients, masks, gradient reversal, signer conditioning."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
import torch

from signstgcn.data.layout import LayoutSpec, spatial_partition
from signstgcn.model import ModelConfig, SignSTGCNModel, dann_lambda, grad_reverse
from signstgcn.model.attention import SignerConditionedAttention
from signstgcn.model.heads import SignerHead
from signstgcn.model.stgcn import STGCNBackbone
from signstgcn.model.temporal import BiGRUAggregator, valid_lengths
from tests.conftest import SMALL


def small(**changes) -> ModelConfig:
    return ModelConfig(**{**SMALL, **changes})


def make_model(config: ModelConfig, seed: int = 0) -> SignSTGCNModel:
    torch.manual_seed(seed)
    return SignSTGCNModel(config)


def make_inputs(model: SignSTGCNModel, N: int, T: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    x = torch.randn(N, cfg.in_channels, T, model.num_nodes, generator=g)  # (N, C, T, V)
    mask = torch.rand(N, T, model.num_nodes, generator=g) > 0.1  # (N, T, V)
    stats = torch.randn(N, cfg.signer_stats_dim, generator=g)  # (N, S)
    return x, mask, stats


def check_output(out, cfg: ModelConfig, N: int, T: int) -> None:
    assert out.logits.shape == (N, cfg.num_classes)
    assert out.embedding.shape == (N, cfg.embedding_dim)
    if cfg.num_signers:
        assert out.signer_logits.shape == (N, cfg.num_signers)
    else:
        assert out.signer_logits is None
    if cfg.signer_encoder:
        assert out.signer_embedding.shape == (N, cfg.signer_emb_dim)
    else:
        assert out.signer_embedding is None
    if cfg.attention == "none":
        assert out.attention is None
    else:
        assert out.attention.shape == (N, cfg.attn_heads, T)
    if cfg.supcon_dim:
        assert out.projection.shape == (N, cfg.supcon_dim)
        torch.testing.assert_close(out.projection.norm(dim=-1), torch.ones(N))
    else:
        assert out.projection is None
    for name, value in out._asdict().items():
        if value is not None:
            assert torch.isfinite(value).all(), name


# ---------------------------------------------------------------- blocks on hand-made graphs


def chain_adjacency(V: int) -> torch.Tensor:
    """(3, V, V): self loops, then edges to the next / previous joint of a chain, column-normalized."""
    eye = torch.eye(V)
    fwd = torch.diag(torch.ones(V - 1), 1)
    A = torch.stack([eye, fwd, fwd.T])  # (3, V, V)
    return A / A.sum(dim=(0, 1), keepdim=True)


def test_backbone_on_hand_made_graph_keeps_time_and_pools_joints():
    torch.manual_seed(0)
    net = STGCNBackbone(3, chain_adjacency(5), channels=(4, 6), dilations=(1, 3)).eval()
    x = torch.randn(2, 3, 7, 5)
    mask = torch.ones(2, 7, 5, dtype=torch.bool)
    out = net(x, mask)
    assert out.shape == (2, 7, 6)
    assert "A" not in net.state_dict()  # rebuilt from the layout, not stored
    assert len(net.edge_importance) == 2 and net.edge_importance[0].shape == (3, 5, 5)
    # an absent joint's values never matter
    mask[0, :, 2] = False
    x2 = x.clone()
    x2[0, :, :, 2] = float("nan")
    torch.testing.assert_close(net(x2, mask), net(x, mask), rtol=0, atol=0)


def test_flat_joint_pool_keeps_which_joint_is_which():
    """Swapping two joints' inputs leaves the mean over joints unchanged on a graph without edges, but not the
    flat pooling; an absent joint still never matters, and a frame without joints gives zeros."""
    torch.manual_seed(0)
    A = torch.eye(5).unsqueeze(0)  # (1, V, V): self loops only, so each joint is processed alike
    x = torch.randn(2, 3, 7, 5)
    mask = torch.ones(2, 7, 5, dtype=torch.bool)
    swapped = x[..., [1, 0, 2, 3, 4]]
    mean = STGCNBackbone(3, A, channels=(4, 6), dilations=(1, 3), edge_importance=False).eval()
    torch.testing.assert_close(mean(swapped, mask), mean(x, mask))
    flat = STGCNBackbone(3, A, channels=(4, 6), dilations=(1, 3), edge_importance=False, joint_pool="flat").eval()
    flat.data_bn = mean.data_bn  # the same per-joint input statistics for both joints
    assert not torch.allclose(flat(swapped, mask), flat(x, mask))
    mask[0, :, 2] = False
    mask[1, 3] = False  # a frame without any joint
    x2 = x.clone()
    x2[0, :, :, 2] = float("nan")
    out = flat(x2, mask)
    torch.testing.assert_close(out, flat(x, mask), rtol=0, atol=0)
    assert out.shape == (2, 7, 6) and not out[1, 3].any()
    with pytest.raises(ValueError, match="joint_pool"):
        STGCNBackbone(3, A, channels=(4,), dilations=(1,), joint_pool="max")


def test_checkpoint_configs_from_before_joint_pool_load_with_the_mean():
    d = small().to_dict()
    d.pop("joint_pool")
    assert ModelConfig.from_dict(d).joint_pool == "mean"
    assert ModelConfig.from_dict({**d, "joint_pool": "flat"}).joint_pool == "flat"


def test_backbone_rejects_bad_adjacency_and_lengths():
    with pytest.raises(ValueError, match="A: expected"):
        STGCNBackbone(2, torch.ones(3, 4, 5))
    with pytest.raises(ValueError, match="same non-zero length"):
        STGCNBackbone(2, chain_adjacency(4), channels=(4, 8), dilations=(1,))


def test_model_builds_adjacency_from_layout():
    model = make_model(small())
    expected = torch.from_numpy(spatial_partition(LayoutSpec().build()))
    assert torch.equal(model.backbone.A, expected)
    assert model.num_nodes == LayoutSpec().build().num_nodes == 67


# ---------------------------------------------------------------- shapes

PART_COMBOS = [
    combo for combo in itertools.product([False, True], repeat=3) if any(combo)
]


@pytest.mark.parametrize("num_classes", [1, 7], ids=["binary", "multiclass"])
@pytest.mark.parametrize("parts", PART_COMBOS, ids=lambda p: "+".join(n for n, on in zip("PHF", p) if on))
def test_output_shapes_every_part_combination_and_length(parts, num_classes):
    pose, hands, face = parts
    layout = LayoutSpec(include_pose=pose, include_hands=hands, include_face=face, face_subset="compact")
    cfg = small(layout=layout, num_classes=num_classes, num_signers=3)
    model = make_model(cfg).eval()
    assert model.num_nodes == layout.build().num_nodes
    with torch.no_grad():
        for T in (1, 2, 25, 300):
            x, mask, stats = make_inputs(model, 1, T, seed=T)
            out = model(x, mask, stats)
            check_output(out, cfg, 1, T)
            torch.testing.assert_close(out.attention.sum(-1), torch.ones(1, cfg.attn_heads))


ABLATIONS = [
    {"attention": "signer", "temporal": "bigru"},
    {"attention": "plain", "temporal": "bigru", "signer_encoder": False},
    {"attention": "plain", "temporal": "pool"},
    {"attention": "none", "temporal": "pool", "signer_encoder": False, "supcon_dim": 0},
    {"attention": "none", "temporal": "bigru", "num_signers": 4, "edge_importance": False},
    {"attention": "signer", "temporal": "pool", "num_signers": 2, "num_classes": 5, "in_channels": 3},
]


@pytest.mark.parametrize("changes", ABLATIONS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_output_shapes_every_ablation(changes):
    cfg = small(**changes)
    model = make_model(cfg).eval()
    for N, T in ((1, 1), (3, 9)):
        x, mask, stats = make_inputs(model, N, T)
        with torch.no_grad():
            check_output(model(x, mask, stats), cfg, N, T)
    assert model.num_parameters() == sum(model.parameter_counts().values())
    assert (model.backbone.edge_importance is None) == (not cfg.edge_importance)


def test_default_model_forward_cpu_eval():
    cfg = ModelConfig(num_signers=4)
    model = make_model(cfg).eval()
    assert cfg.stgcn_channels == (64, 128, 128) and cfg.temporal_hidden == 256 and cfg.signer_emb_dim == 64
    x, mask, stats = make_inputs(model, 2, 25)
    with torch.no_grad():
        out = model(x, mask, stats)
    check_output(out, cfg, 2, 25)
    assert out.embedding.shape == (2, 512)
    assert model.num_parameters() > 1_000_000


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_default_model_forward_cuda_bf16_autocast():
    cfg = ModelConfig(num_signers=4)
    model = make_model(cfg).cuda().eval()
    x, mask, stats = (t.cuda() for t in make_inputs(model, 4, 25))
    mask[1, 20:] = False
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x, mask, stats)
    check_output(out._replace(**{k: v.float().cpu() for k, v in out._asdict().items() if v is not None}),
                 cfg, 4, 25)


def test_cpu_bf16_autocast_is_finite():
    model = make_model(small(num_signers=2)).eval()
    x, mask, stats = make_inputs(model, 2, 10)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, mask, stats)
    assert all(torch.isfinite(v.float()).all() for v in out if v is not None)


# ---------------------------------------------------------------- gradients and masks


@pytest.mark.parametrize(
    "changes",
    [{"attention": "signer", "temporal": "bigru"}, {"attention": "plain", "temporal": "pool", "signer_encoder": False},
     {"attention": "signer", "temporal": "bigru", "joint_pool": "flat"}],
    ids=["signer-bigru", "plain-pool", "flat-joint-pool"],
)
def test_every_parameter_gets_a_gradient(changes):
    model = make_model(small(num_signers=3, **changes)).train()
    x, mask, stats = make_inputs(model, 3, 12)
    layout = model.config.layout.build()
    mask[1, :, layout.part_slice("left_hand")] = False  # a hand never detected
    mask[2, 8:] = False  # padded tail
    out = model(x, mask, stats)
    loss = out.logits.sum() + out.signer_logits.sum() + out.projection.sum()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: gradient is zero everywhere"


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_no_nan_with_fully_masked_window_or_missing_hands(train):
    model = make_model(small(num_signers=2)).train(train)
    layout = model.config.layout.build()
    x, mask, stats = make_inputs(model, 3, 6)
    mask[0] = False  # nothing detected at all
    mask[1, :, layout.part_slice("left_hand")] = False
    mask[1, :, layout.part_slice("right_hand")] = False  # both hands missing
    mask[2, :, layout.part_slice("right_hand")] = False
    x = x.masked_fill(~mask.unsqueeze(1), float("nan"))  # absent joints may hold NaN
    x.requires_grad_(True)
    out = model(x, mask, stats)
    for name, value in out._asdict().items():
        assert torch.isfinite(value).all(), name
    assert torch.all(out.attention[0] == 0)  # a window without valid frames attends to nothing
    (out.logits.sum() + out.signer_logits.sum() + out.projection.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    assert torch.all(x.grad[~mask.unsqueeze(1).expand_as(x)] == 0)


def test_padded_tail_equals_shorter_window():
    model = make_model(small(num_signers=2)).eval()
    x, mask, stats = make_inputs(model, 1, 20)
    padded_x, padded_mask = x.clone(), mask.clone()
    padded_mask[:, 14:] = False
    padded_x[:, :, 14:] = 123.0  # garbage behind the mask
    with torch.no_grad():
        a = model(padded_x, padded_mask, stats)
        b = model(x[:, :, :14], mask[:, :14], stats)
    for name in ("logits", "embedding", "signer_logits", "projection"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.attention[..., :14], b.attention)
    assert torch.all(a.attention[..., 14:] == 0)


def test_valid_lengths_and_bigru_ignores_padding():
    valid = torch.tensor([[1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    assert valid_lengths(valid).tolist() == [4, 1, 6]
    torch.manual_seed(0)
    gru = BiGRUAggregator(5, hidden=3).eval()
    x = torch.randn(3, 6, 5)
    y = x.clone()
    y[0, 4:] = 99.0  # padding of sample 0 never read
    assert gru(x, valid).shape == (3, 6)
    assert torch.equal(gru(x, valid)[0], gru(y, valid)[0])


# ---------------------------------------------------------------- gradient reversal


@pytest.mark.parametrize("lambd", [0.5, 0.3, 1.0, 2.75])
def test_grl_gradient_is_exactly_minus_lambda(lambd):
    torch.manual_seed(0)
    head = SignerHead(12, 5, hidden_dim=7).eval()
    emb = torch.randn(4, 12, requires_grad=True)
    (plain,) = torch.autograd.grad(head.net(emb).pow(2).sum(), emb)
    (reversed_,) = torch.autograd.grad(head(emb, lambd).pow(2).sum(), emb)
    assert torch.equal(reversed_, -lambd * plain)
    # forward is the identity
    assert torch.equal(grad_reverse(emb, lambd), emb)


def test_grl_lambda_settable_per_call():
    model = make_model(small(num_signers=3, lambda_grl=0.5)).eval()
    x, mask, stats = make_inputs(model, 2, 5)

    def backbone_grad(grl_lambda):
        model.zero_grad()
        out = model(x, mask, stats, grl_lambda=grl_lambda)
        out.signer_logits.sum().backward()
        return out.signer_logits.detach(), model.backbone.blocks[0].gcn.conv.weight.grad.clone()

    logits_default, g_default = backbone_grad(None)  # config.lambda_grl = 0.5
    logits_quarter, g_quarter = backbone_grad(0.25)
    _, g_zero = backbone_grad(0.0)
    assert torch.equal(logits_default, logits_quarter)  # lambda never changes the forward pass
    torch.testing.assert_close(g_default, 2 * g_quarter, rtol=1e-6, atol=0)
    assert torch.all(g_zero == 0)
    assert dann_lambda(0.0) == 0.0 and 0.99 < dann_lambda(1.0) <= 1.0


# ---------------------------------------------------------------- signer conditioning


def test_attention_output_changes_with_signer_embedding_only_when_conditioned():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)
    valid = torch.ones(2, 6, dtype=torch.bool)
    s1, s2 = torch.randn(2, 8), torch.randn(2, 8)
    signer = SignerConditionedAttention(16, heads=4, signer_dim=8, conditioned=True)
    y1, w1 = signer(x, valid, s1)
    y2, w2 = signer(x, valid, s2)
    assert not torch.allclose(y1, y2) and not torch.allclose(w1, w2)
    plain = SignerConditionedAttention(16, heads=4, signer_dim=8, conditioned=False)
    p1, v1 = plain(x, valid, s1)
    p2, v2 = plain(x, valid, s2)
    assert torch.equal(p1, p2) and torch.equal(v1, v2)
    with pytest.raises(ValueError, match="signer"):
        signer(x, valid, None)


@pytest.mark.parametrize("attention", ["signer", "plain"])
def test_model_logits_depend_on_signer_stats_only_with_signer_attention(attention):
    """``attention="plain"`` is what ``--no-signer-attention`` builds."""
    model = make_model(small(attention=attention)).eval()
    x, mask, stats = make_inputs(model, 2, 8)
    with torch.no_grad():
        a = model(x, mask, stats)
        b = model(x, mask, stats + 1.0)
    assert not torch.equal(a.signer_embedding, b.signer_embedding)
    if attention == "signer":
        assert not torch.allclose(a.logits, b.logits)
        assert not torch.allclose(a.attention, b.attention)
    else:
        assert torch.equal(a.logits, b.logits) and torch.equal(a.attention, b.attention)


# ---------------------------------------------------------------- batch independence


@pytest.mark.parametrize("temporal", ["bigru", "pool"])
def test_changing_sample_1_leaves_sample_0_unchanged(temporal):
    model = make_model(small(num_signers=3, temporal=temporal)).eval()
    x, mask, stats = make_inputs(model, 3, 10)
    with torch.no_grad():
        ref = model(x, mask, stats)
        x2, stats2 = x.clone(), stats.clone()
        x2[1] = torch.randn_like(x2[1]) * 5
        stats2[1] = -stats2[1]
        same_mask = model(x2, mask, stats2)
        mask3 = mask.clone()
        mask3[1, 4:] = False  # sample 1 becomes shorter: changes the packing order
        other_mask = model(x2, mask3, stats2)
    for name, value in ref._asdict().items():
        if value is None:
            continue
        assert torch.equal(getattr(same_mask, name)[0], value[0]), name
        torch.testing.assert_close(getattr(other_mask, name)[0], value[0], rtol=1e-6, atol=1e-7)
        assert not torch.equal(getattr(same_mask, name)[1], value[1]), name


# ---------------------------------------------------------------- config and input validation


def test_config_defaults_match_design():
    cfg = ModelConfig()
    assert (cfg.stgcn_channels, cfg.stgcn_kernel, cfg.stgcn_dilations) == ((64, 128, 128), 3, (1, 2, 3))
    assert (cfg.signer_emb_dim, cfg.attn_heads, cfg.temporal_hidden) == (64, 4, 256)
    assert (cfg.dropout, cfg.lambda_grl, cfg.num_classes, cfg.in_channels) == (0.1, 0.5, 1, 2)
    assert cfg.layout == LayoutSpec() and cfg.embedding_dim == 512
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.dropout = 0.2


def test_config_dict_round_trip_through_json():
    cfg = small(layout=LayoutSpec(include_face=True, pose_subset="full"), num_signers=4, attention="plain")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert ModelConfig.from_dict(d) == cfg
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({**d, "bogus": 1})


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"attention": "fancy"}, "Invalid attention"),
        ({"temporal": "lstm"}, "Invalid temporal"),
        ({"stgcn_kernel": 4}, "stgcn_kernel"),
        ({"stgcn_channels": (64, 128)}, "stgcn_dilations"),
        ({"stgcn_channels": ()}, "stgcn_channels"),
        ({"attn_heads": 3}, "attn_heads"),
        ({"num_classes": 0}, "num_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"lambda_grl": -1.0}, "lambda_grl"),
        ({"num_signers": -1}, "num_signers"),
        ({"signer_encoder": False}, "signer_encoder"),
        ({"layout": {"include_face": True}}, "layout"),
    ],
)
def test_config_rejects_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**changes)


def test_config_lists_become_tuples():
    cfg = ModelConfig(stgcn_channels=[8, 16], stgcn_dilations=[1, 2])
    assert cfg.stgcn_channels == (8, 16) and hash(cfg)


def test_forward_rejects_bad_shapes():
    model = make_model(small()).eval()
    x, mask, stats = make_inputs(model, 2, 5)
    with pytest.raises(ValueError, match=r"expected \(N, C, T, V\) with C=2, V=67"):
        model(x[:, :1])
    with pytest.raises(ValueError, match=r"V=67"):
        model(x[..., :10])
    with pytest.raises(ValueError, match=r"\(N, C, T, V\)"):
        model(x[0])
    with pytest.raises(ValueError, match="mask"):
        model(x, mask.float())
    with pytest.raises(ValueError, match="mask"):
        model(x, mask[:, :3])
    with pytest.raises(ValueError, match="stats"):
        model(x, mask, stats[:, :3])
    # None mask and stats are accepted
    with torch.no_grad():
        check_output(model(x), model.config, 2, 5)


# ---------------------------------------------------------------- python -m signGCN


def test_model_summary_cli_prints_shapes_parameters_and_flops(capsys):
    from signstgcn.cli.model_summary import get_args_parser, main

    argv = ["--stgcn-channels", "8,16", "--stgcn-dilations", "1,2", "--temporal-hidden", "8",
            "--window", "6", "--num-signers", "3", "--no-signer-attention", "--include-hands"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "mediapipe:hands: V=42" in text and "attention='plain'" in text
    assert "logits           (2, 1)" in text and "attention        (2, 4, 6)" in text
    assert "signer_head" in text and "total" in text and "FLOPs per window (N=1, T=6)" in text
    args = get_args_parser().parse_args([])
    assert (args.stgcn_channels, args.stgcn_dilations, args.attn_heads) == ((64, 128, 128), (1, 2, 3), 4)
    with pytest.raises(SystemExit):
        main(["--attn-heads", "3"])


def test_default_signer_stats_dim_matches_data_layer():
    signers = pytest.importorskip("signstgcn.data.signers", reason="signstgcn.data.signers not written yet")
    from signstgcn.model import DEFAULT_SIGNER_STATS_DIM

    assert signers.NUM_SIGNER_STATS == DEFAULT_SIGNER_STATS_DIM == ModelConfig().signer_stats_dim


# ---------------------------------------------------------------- linear backbone (the gru floor)

LINEAR = {"backbone": "linear", "attention": "none", "temporal": "bigru", "signer_encoder": False}


def test_linear_backbone_shapes_gradients_and_no_graph():
    from signstgcn.model.linear import LinearBackbone

    cfg = small(**LINEAR, num_signers=3, num_classes=4)
    model = make_model(cfg).train()
    assert isinstance(model.backbone, LinearBackbone) and not hasattr(model.backbone, "A")
    x, mask, stats = make_inputs(model, 3, 12)
    mask[2, 8:] = False  # padded tail
    out = model(x, mask, stats)
    check_output(out, cfg, 3, 12)
    assert out.embedding.shape == (3, 2 * cfg.temporal_hidden)
    (out.logits.sum() + out.signer_logits.sum() + out.projection.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert small(**LINEAR).replace(temporal="pool").embedding_dim == cfg.stgcn_channels[-1]
    with pytest.raises(ValueError, match="Invalid backbone 'gcn'. Only stgcn, linear are supported"):
        small(backbone="gcn")


def test_linear_backbone_masks_padding_and_keeps_samples_apart():
    model = make_model(small(**LINEAR)).eval()
    x, mask, stats = make_inputs(model, 2, 20)
    padded_x, padded_mask = x.clone(), mask.clone()
    padded_mask[:, 14:] = False
    padded_x[:, :, 14:] = float("nan")  # garbage behind the mask
    with torch.no_grad():
        a = model(padded_x, padded_mask, stats)
        b = model(x[:, :, :14], mask[:, :14], stats)
        torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-6)
        other = x.clone()
        other[1] = torch.randn_like(other[1])
        torch.testing.assert_close(model(other, mask, stats).logits[0], model(x, mask, stats).logits[0])


def test_linear_checkpoint_round_trip_and_old_checkpoints_load_as_stgcn(tmp_path):
    from signstgcn.model.incremental import IncrementalBackbone
    from signstgcn.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

    model = make_model(small(**LINEAR, num_classes=3))
    model.train()
    x, mask, stats = make_inputs(model, 4, 9)
    model(x, mask, stats)  # move the BatchNorm statistics off their initial values
    model.eval()
    path = save_checkpoint(tmp_path / "gru.pt", model, data={}, epoch=1)
    loaded = load_checkpoint(path)
    assert loaded.model.config.backbone == "linear" and read_checkpoint(path)["config"]["backbone"] == "linear"
    with torch.no_grad():
        a, b = model(x, mask, stats), loaded.model(x, mask, stats)
    for name, value in a._asdict().items():
        assert (value is None and getattr(b, name) is None) or torch.equal(value, getattr(b, name)), name
    with pytest.raises(ValueError, match="streaming .* needs the ST-GCN backbone .* StreamingDetector"):
        IncrementalBackbone(loaded.model.backbone)

    old = small().to_dict()
    del old["backbone"]  # a checkpoint from before the field existed
    assert ModelConfig.from_dict(old).backbone == "stgcn"
