"""Self-supervised pretraining (masked pose modelling) and ``train --init``: the masks hide only present joints,
the encoder's weights carry into a model with another head, mismatches are one-line errors, and the commands run
end to end on small data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli.main import main as signstgcn
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.synthetic import generate_dataset
from signstgcn.errors import CheckpointError
from signstgcn.model.config import ModelConfig
from signstgcn.model.masked import ENCODER_PREFIXES, MaskedPoseModel, MaskSpec, hide_joints, reconstruction_loss
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.checkpoint import load_checkpoint
from signstgcn.training.config import InputOptions, ModelOptions
from signstgcn.training.pretrain import PretrainConfig, init_from_encoder, pretrain, read_encoder
from tests.conftest import SMALL, TINY_MODEL, one_error_line, write_video

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_OPTIONS = ModelOptions(stgcn_channels=(8, 16), stgcn_dilations=(1, 2), temporal_hidden=8, signer_emb_dim=8,
                            attn_heads=2, joint_pool="flat")


def _clips(folder: Path) -> Path:
    """Labelled synthetic sign clips (2 classes, 30-60 frames): isolated clips and, with --window 16, some longer
    than twice the window (cut into windows)."""
    return generate_dataset(folder, task="recognition", num_signers=2, videos_per_signer=3, num_classes=2,
                            seed=5).out_dir


def test_hide_joints_hides_present_joints_only_and_keeps_the_input():
    layout = LayoutSpec().build()
    V = layout.num_nodes
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, 20, V)
    mask = torch.rand(8, 20, V, generator=g) > 0.3
    before = x.clone()
    x_hidden, hidden = hide_joints(x, mask, layout, MaskSpec(joints=0.2, hands=0.2, frames=0.1), g)
    assert torch.equal(x, before)  # the input is not modified
    assert not (hidden & ~mask).any()  # only present joints are hidden
    assert (x_hidden[:, :, hidden.nonzero(as_tuple=True)[1]] == 0).any()
    assert torch.all(x_hidden.permute(0, 2, 3, 1)[hidden] == 0)  # hidden joints carry the mask token
    assert torch.equal(x_hidden.permute(0, 2, 3, 1)[~hidden], x.permute(0, 2, 3, 1)[~hidden])
    share = hidden.sum().item() / mask.sum().item()
    assert 0.25 < share < 0.6  # 1 - 0.8 * 0.9 * (0.8 on hand joints) of the present joints
    # a whole-hand mask: with only hands masked, each frame hides all or none of a hand's present joints
    _, hands = hide_joints(x, torch.ones_like(mask), layout, MaskSpec(joints=0.0, hands=0.5, frames=0.0), g)
    left = hands[:, :, layout.part_slice("left_hand")]
    assert torch.all(left.all(dim=-1) | ~left.any(dim=-1)) and left.any()
    assert not hands[:, :, layout.part_slice("pose")].any()


def test_mask_spec_refuses_bad_probabilities():
    with pytest.raises(ValueError, match="--mask-joints"):
        MaskSpec(joints=1.0)
    with pytest.raises(ValueError, match="something to hide"):
        MaskSpec(joints=0.0, hands=0.0, frames=0.0)


def test_reconstruction_loss_scores_hidden_joints_only():
    target = torch.randn(2, 2, 5, 4)
    hidden = torch.zeros(2, 5, 4, dtype=torch.bool)
    hidden[0, 1, 2] = True
    pred = target.clone()
    pred[1] += 5.0  # wrong only where nothing is hidden
    assert reconstruction_loss(pred, target, hidden).item() == 0.0
    pred[0, :, 1, 2] += 1.0
    assert reconstruction_loss(pred, target, hidden).item() == pytest.approx(1.0 - 0.05)  # Huber, beta 0.1


def test_masked_model_trains_every_parameter_and_names_weights_as_the_classifier():
    cfg = ModelConfig(**SMALL, joint_pool="flat")
    model = MaskedPoseModel(cfg)
    V = model.num_nodes
    x, mask = torch.randn(3, 2, 12, V), torch.ones(3, 12, V, dtype=torch.bool)
    x_hidden, hidden = hide_joints(x, mask, model.layout, MaskSpec(), torch.Generator().manual_seed(1))
    pred = model(x_hidden, mask)
    assert pred.shape == x.shape
    reconstruction_loss(pred, x, hidden).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    classifier = SignSTGCNModel(cfg.replace(num_classes=7)).state_dict()
    encoder = model.encoder_state()
    assert encoder and all(k.startswith(ENCODER_PREFIXES) for k in encoder)
    assert all(k in classifier and classifier[k].shape == v.shape for k, v in encoder.items())
    assert {k for k in classifier if k.startswith(ENCODER_PREFIXES)} == set(encoder)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    root = tmp_path_factory.mktemp("pretrain")
    data = _clips(root / "clips")
    other = root / "other"
    other.mkdir()
    for k in range(3):  # no ground truth in this folder: pretraining reads no labels
        write_video(other / f"o{k}.npz", 90, seed=50 + k)
    cfg = PretrainConfig(data=(str(data), str(other)), out=str(root / "enc.pt"), window=16, epochs=6, batch=8,
                         lr=3e-3, model=TINY_OPTIONS, quiet=True)
    result = pretrain(cfg)
    return data, Path(cfg.out), result


def test_pretrain_reads_unlabeled_folders_and_lowers_the_loss(encoder):
    data, out, result = encoder
    clips = len(list(data.glob("*.npz")))
    assert result.videos == clips + 3  # every file, labelled or not; no ground truth needed in the second folder
    assert result.windows > result.videos  # a 90-frame recording gives several windows of 16 frames
    losses = [row["train_loss"] for row in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    raw = read_encoder(out)
    assert raw["representation"]["hands_relative"] is True and raw["representation"]["canonical_bones"] is True
    assert raw["pretrain"]["videos"] == clips + 3 and len(raw["pretrain"]["history"]) == 6
    assert ModelConfig.from_dict(raw["config"]).joint_pool == "flat"
    # the encoder rebuilds hidden joints better than answering the mask token on videos it never trained on
    assert raw["pretrain"]["history"][-1]["val_loss"] < 0.8 * raw["pretrain"]["mask_token_loss"]


def test_init_loads_the_encoder_into_a_model_with_another_head(encoder):
    data, out, _ = encoder
    from signstgcn.training.config import TrainConfig
    from signstgcn.training.fit import build_model, prepare_data

    config = TrainConfig.from_flat(data=str(data), sample_mode="video", window=16, out="unused",
                                   **{k: v for k, v in TINY_OPTIONS.__dict__.items()})
    prepared = prepare_data(config)
    model = build_model(config, prepared, torch.device("cpu")).model
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    info = init_from_encoder(model, prepared.config, out)
    assert info["videos"] == len(list(data.glob("*.npz"))) + 3
    state, enc = model.state_dict(), read_encoder(out)["encoder"]
    assert model.config.num_classes == 2
    for k, v in state.items():
        if k.startswith(ENCODER_PREFIXES):
            assert torch.equal(v, enc[k]), k
        else:
            assert torch.equal(v, fresh[k]), k  # the aggregator and heads keep their fresh weights


def test_init_refuses_another_backbone_or_input(encoder, tmp_path):
    data, out, _ = encoder
    from signstgcn.training.config import TrainConfig
    from signstgcn.training.fit import build_model, prepare_data

    def model_and_data(**changes):
        opts = {**TINY_OPTIONS.__dict__, **changes}
        config = TrainConfig.from_flat(data=str(data), sample_mode="video", window=16, out="unused", **opts)
        prepared = prepare_data(config)
        return build_model(config, prepared, torch.device("cpu")).model, prepared.config

    model, data_cfg = model_and_data(joint_pool="mean")
    with pytest.raises(ValueError, match="joint_pool = flat.*pass --joint-pool flat"):
        init_from_encoder(model, data_cfg, out)
    model, data_cfg = model_and_data(stgcn_channels=(8, 32))
    with pytest.raises(ValueError, match="pass --stgcn-channels 8,16"):
        init_from_encoder(model, data_cfg, out)
    model, data_cfg = model_and_data(hands_relative=False)
    with pytest.raises(ValueError, match="hands_relative = True, this run has False"):
        init_from_encoder(model, data_cfg, out)
    ckpt = tmp_path / "not_an_encoder.pt"
    torch.save({"model": {}}, ckpt)
    with pytest.raises(CheckpointError, match="not an encoder written by 'signstgcn pretrain'"):
        read_encoder(ckpt)


def test_pretrain_then_train_init_cli(encoder, tmp_path, capsys):
    data, _, _ = encoder
    out = tmp_path / "enc.pt"
    tiny = [*TINY_MODEL, "--joint-pool", "flat"]
    assert signstgcn(["pretrain", "--data", str(data), "--window", "16", "--epochs", "1", "--batch", "8",
                      "--out", str(out), "--quiet", *tiny]) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    assert signstgcn(["pretrain", "--data", str(data), "--out", str(out), "--quiet", *tiny]) == 2
    assert "exists; pass --overwrite" in one_error_line(capsys)
    assert signstgcn(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e.pt"),
                      "--quiet"]) == 2
    assert "no such landmark folder" in one_error_line(capsys)
    run = tmp_path / "run"
    assert signstgcn(["train", "--data", str(data), "--sample-mode", "video", "--window", "16", "--epochs", "1",
                      "--init", str(out), "--out", str(run), "--quiet", *tiny]) == 0
    assert f"backbone initialized from {out}" in capsys.readouterr().out
    loaded = load_checkpoint(run / "last.pt")
    assert loaded.raw["args"]["init"] == str(out)  # the checkpoint records where its backbone started
    assert signstgcn(["train", "--data", str(data), "--sample-mode", "video", "--window", "16", "--epochs", "1",
                      "--init", str(out), "--out", str(tmp_path / "run2"), "--quiet", *TINY_MODEL,
                      "--joint-pool", "mean"]) == 2
    assert "pass --joint-pool flat" in one_error_line(capsys)


def test_pretrain_config_refuses_training_only_options(tmp_path):
    with pytest.raises(ValueError, match="training options"):
        PretrainConfig(data=(str(tmp_path),), input=InputOptions(hard_negatives=0.2))
    with pytest.raises(ValueError, match="--backbone linear"):
        PretrainConfig(data=(str(tmp_path),), model=ModelOptions(backbone="linear"))
