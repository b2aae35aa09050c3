"""Input streams (joint, bone, motion): values, masking, per-frame equality, config and CLI wiring."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from signstgcn.cli.model_args import add_model_args, model_config_from_args
from signstgcn.data.layout import LayoutSpec, _bfs_distance
from signstgcn.model import ModelConfig, SignSTGCNModel
from signstgcn.model.features import InputStreams, bone_parents
from tests.conftest import SMALL

LAYOUT = LayoutSpec().build()


def inputs(N: int = 2, C: int = 3, T: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    V = LAYOUT.num_nodes
    x = torch.randn(N, C, T, V, generator=g)  # (N, C, T, V)
    mask = torch.rand(N, T, V, generator=g) > 0.2  # (N, T, V)
    x = x.masked_fill(~mask.unsqueeze(1), float("nan"))  # absent joints are NaN, as in raw data
    return x, mask


def test_bone_parents_point_one_hop_towards_the_centre():
    parents = bone_parents(LAYOUT)
    adj, dist = LAYOUT.adjacency(), _bfs_distance(LAYOUT.adjacency(), LAYOUT.center)
    assert parents[LAYOUT.center] == LAYOUT.center
    for v, p in enumerate(parents):
        if v != LAYOUT.center:
            assert adj[v, p] > 0 and dist[p] == dist[v] - 1, v
    # the hands hang off the pose wrists: a hand's wrist point is a child of the pose wrist or its own root
    wrist = LAYOUT.node("left_hand", 0)
    assert parents[LAYOUT.node("left_hand", 4)] == LAYOUT.node("left_hand", 3)
    assert dist[parents[wrist]] == dist[wrist] - 1


def test_streams_values_and_masking():
    x, mask = inputs()
    out = InputStreams(LAYOUT, ("joint", "bone", "motion"))(x, mask)
    N, C, T, V = x.shape
    assert out.shape == (N, 3 * C, T, V)
    assert torch.isfinite(out).all()  # NaN of absent joints never leaks
    joint, bone, motion = out[:, :C], out[:, C:2 * C], out[:, 2 * C:]
    m = mask.unsqueeze(1).expand_as(x)
    assert torch.equal(joint[m], x[m]) and torch.all(joint[~m] == 0)
    assert torch.all(bone[..., LAYOUT.center] == 0)  # the centre is its own parent
    assert torch.all(motion[:, :, 0] == 0)  # no motion in a window's first frame
    parents = torch.from_numpy(bone_parents(LAYOUT))
    n, t, v = 1, 3, int(LAYOUT.node("right_hand", 8))
    p = int(parents[v])
    mask[n, t, v] = mask[n, t, p] = True
    x[n, :, t, v], x[n, :, t, p] = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.5, 0.5])
    mask[n, t - 1, v] = True
    x[n, :, t - 1, v] = torch.tensor([0.0, 1.0, 1.0])
    out = InputStreams(LAYOUT, ("joint", "bone", "motion"))(x, mask)
    torch.testing.assert_close(out[n, C:2 * C, t, v], torch.tensor([0.5, 1.5, 2.5]))  # joint minus parent
    torch.testing.assert_close(out[n, 2 * C:, t, v], torch.tensor([1.0, 1.0, 2.0]))  # minus previous frame
    mask[n, t, p] = False
    mask[n, t - 1, v] = False
    out = InputStreams(LAYOUT, ("joint", "bone", "motion"))(x, mask)
    assert torch.all(out[n, C:, t, v] == 0)  # parent absent: no bone; previous absent: no motion
    # the order of the channels follows the streams
    swapped = InputStreams(LAYOUT, ("motion", "joint"))(x, mask)
    assert torch.equal(swapped[:, :C], out[:, 2 * C:]) and torch.equal(swapped[:, C:], out[:, :C])


def test_joint_only_is_the_identity():
    x, mask = inputs()
    assert InputStreams(LAYOUT)(x, mask) is x


def test_frame_by_frame_equals_the_window():
    x, mask = inputs(N=1)
    streams = InputStreams(LAYOUT, ("joint", "bone", "motion"))
    ref = streams(x, mask)[0]  # (3C, T, V)
    prev = None
    for t in range(x.shape[2]):
        got = streams.frame(x[0, :, t].t(), mask[0, t], prev)  # (V, 3C)
        torch.testing.assert_close(got.t(), ref[:, t])
        prev = (x[0, :, t].t(), mask[0, t])


@pytest.mark.parametrize("bad", [(), ("joint", "joint"), ("velocity",)])
def test_config_refuses_bad_streams(bad):
    with pytest.raises(ValueError, match="input_streams: expected distinct names from joint, bone, motion"):
        ModelConfig(**SMALL, input_streams=bad)


def test_config_round_trip_and_old_configs_default_to_joints():
    cfg = ModelConfig(**SMALL, input_streams=["joint", "motion"])
    assert cfg.input_streams == ("joint", "motion") and cfg.backbone_in_channels == 4
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["input_streams"]  # a checkpoint written before input streams existed
    assert ModelConfig.from_dict(old).input_streams == ("joint",)


def test_cli_flag():
    parser = argparse.ArgumentParser()
    add_model_args(parser)
    args = parser.parse_args(["--input-streams", "joint,bone,motion"])
    assert model_config_from_args(args).input_streams == ("joint", "bone", "motion")
    assert model_config_from_args(parser.parse_args([])).input_streams == ("joint",)
    with pytest.raises(SystemExit):
        parser.parse_args(["--input-streams", "joint,speed"])


def test_model_with_streams_trains_every_parameter():
    torch.manual_seed(0)
    model = SignSTGCNModel(ModelConfig(**SMALL, in_channels=3, num_classes=2, num_signers=2,
                                       input_streams=("joint", "bone", "motion"))).train()
    assert model.backbone.in_channels == 9
    x, mask = inputs(N=3, C=3, T=8)
    out = model(x, mask, torch.randn(3, model.config.signer_stats_dim))
    (out.logits.sum() + out.signer_logits.sum() + out.projection.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert np.isfinite(out.logits.detach().numpy()).all()
