"""Checkpoint tests: bit-exact save -> load, atomic writes, weights_only loading, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.data.layout import LayoutSpec
from signstgcn.errors import CheckpointError
from signstgcn.model import ModelConfig, SignSTGCNModel
from signstgcn.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_KEYS,
    load_checkpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from tests.conftest import SMALL

DATA = {
    "parts": {"include_pose": True, "include_hands": True, "include_face": False},
    "coords": 2,
    "window": 12,
    "normalization": {"hands_relative": False},
    "classes": ["n", "s"],
    "signers": ["alice", "bob", "carol"],
    "pseudo_signers": {"centroids": [[0.0, 1.0], [2.0, 3.0]], "mean": [0.5, 0.5], "scale": [1.0, 2.0]},
}


def trained_model(tmp_path: Path | None = None):
    """A small model after two optimizer steps (BatchNorm running stats and Adam state non-trivial)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL, layout=LayoutSpec(include_face=True), num_classes=2, num_signers=3)
    model = SignSTGCNModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    x = torch.randn(4, 2, 12, model.num_nodes)  # (N, C, T, V)
    mask = torch.rand(4, 12, model.num_nodes) > 0.2  # (N, T, V)
    stats = torch.randn(4, cfg.signer_stats_dim)  # (N, S)
    model.train()
    for _ in range(2):
        out = model(x, mask, stats)
        loss = out.logits.sum() + out.signer_logits.pow(2).mean() + out.projection.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model, opt, sched, (x, mask, stats)


def test_save_load_reproduces_outputs_bit_for_bit(tmp_path):
    model, opt, sched, (x, mask, stats) = trained_model()
    args = argparse.Namespace(data=Path("/some/dir"), lr=1e-3, stgcn_channels=(8, 16), device=torch.device("cpu"))
    path = save_checkpoint(
        tmp_path / "best.pt", model, data=DATA, epoch=7, metrics={"acc": np.float64(0.75), "loss": 0.5},
        optimizer=opt, scheduler=sched, args=args, val_acc=0.75,
    )
    assert path == tmp_path / "best.pt"
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temp files left behind

    loaded = load_checkpoint(path)
    assert not loaded.model.training
    assert loaded.model.config == model.config
    assert loaded.data == DATA and loaded.model.data_settings == DATA
    assert loaded.epoch == 7 and loaded.metrics == {"acc": 0.75, "loss": 0.5}
    with torch.no_grad():
        a = model(x, mask, stats)
        b = loaded.model(x, mask, stats)
    for name, value in a._asdict().items():
        assert torch.equal(value, getattr(b, name)), name
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key

    again = load_model(path)
    with torch.no_grad():
        assert torch.equal(again(x, mask, stats).logits, a.logits)
    assert again.data_settings == DATA

    raw = loaded.raw
    assert set(raw) == set(CHECKPOINT_KEYS)
    assert raw["val_acc"] == 0.75 and raw["version"]["format"] == CHECKPOINT_FORMAT == 2
    assert raw["args"]["data"] == "/some/dir" and raw["args"]["device"] == "cpu"
    # optimizer and scheduler state resume
    opt2 = torch.optim.Adam(loaded.model.parameters(), lr=1e-3)
    opt2.load_state_dict(raw["optimizer"])
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(raw["scheduler"])
    assert sched2.last_epoch == 2
    # plain python + tensors: the default torch.load(weights_only=True) reads it
    torch.load(path, weights_only=True)


def test_save_overwrites_atomically_and_keeps_old_file_on_failure(tmp_path):
    model, *_ = trained_model()
    path = tmp_path / "sub" / "last.pt"
    save_checkpoint(path, model, data=DATA, epoch=1, metrics={})
    save_checkpoint(path, model, data=DATA, epoch=2, metrics={})
    assert load_checkpoint(path).epoch == 2
    with pytest.raises(ValueError, match="cannot store a object"):
        save_checkpoint(path, model, data={"thing": object()}, epoch=3, metrics={})
    assert load_checkpoint(path).epoch == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_save_unwraps_compiled_or_wrapped_models(tmp_path):
    model, *_ = trained_model()

    class Wrapper(torch.nn.Module):  # mimics torch.compile's OptimizedModule
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    save_checkpoint(tmp_path / "w.pt", Wrapper(model), data=DATA, epoch=0, metrics={})
    assert "backbone.data_bn.weight" in read_checkpoint(tmp_path / "w.pt")["model"]
    with pytest.raises(ValueError, match="SignSTGCNModel"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2), data=DATA, epoch=0, metrics={})


def test_load_errors_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="file not found"):
        load_checkpoint(tmp_path / "missing.pt")

    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pt"):
        load_checkpoint(text)

    other = tmp_path / "list.pt"
    torch.save([1, 2, 3], other)
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(other)

    partial = tmp_path / "partial.pt"
    torch.save({"model": {}, "epoch": 1}, partial)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(partial)

    model, *_ = trained_model()
    good = save_checkpoint(tmp_path / "good.pt", model, data=DATA, epoch=0, metrics={})
    raw = torch.load(good, weights_only=True)

    future = tmp_path / "future.pt"
    torch.save({**raw, "version": {"format": 99}}, future)
    with pytest.raises(CheckpointError, match="format 99"):
        load_checkpoint(future)

    bad_config = tmp_path / "bad_config.pt"
    torch.save({**raw, "config": {**raw["config"], "attention": "fancy"}}, bad_config)
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(bad_config)

    bad_weights = tmp_path / "bad_weights.pt"
    torch.save({**raw, "config": {**raw["config"], "temporal_hidden": 4}}, bad_weights)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(bad_weights)

    pickled = tmp_path / "pickled.pt"  # an arbitrary object needs full unpickling: refused by default
    torch.save({**raw, "data": {"x": argparse.Namespace(a=1)}}, pickled)
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_checkpoint(pickled)
    assert load_checkpoint(pickled, weights_only=False).data["x"].a == 1
