"""Mixup of skeleton sequences: the mixed batch, the mixed loss and a training run with ``--mixup``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from signstgcn.cli.train import main
from signstgcn.data.synthetic import generate_dataset
from signstgcn.model.model import ModelOutput
from signstgcn.training.checkpoint import read_checkpoint
from signstgcn.training.config import TrainConfig
from signstgcn.training.loop import LossSetup, _losses
from signstgcn.training.mixup import mix_batch
from tests.conftest import TINY_MODEL


def _batch(n: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(n, 5, 4, generator=g) > 0.3  # (N, T, V)
    x = torch.randn(n, 2, 5, 4, generator=g) * mask[:, None]  # missing joints are 0
    return {"x": x, "mask": mask, "stats": torch.randn(n, 3, generator=g), "label": torch.arange(n) % 3,
            "signer": torch.arange(n) % 2}


def test_mixed_batch_is_the_convex_combination_of_each_sample_and_its_pair():
    batch = _batch()
    mixed = mix_batch(batch, 0.4, np.random.default_rng(3))
    lam, perm = mixed.lam, mixed.perm
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(6))
    torch.testing.assert_close(mixed.batch["x"], lam * batch["x"] + (1 - lam) * batch["x"][perm])
    torch.testing.assert_close(mixed.batch["stats"], lam * batch["stats"] + (1 - lam) * batch["stats"][perm])
    assert torch.equal(mixed.batch["mask"], batch["mask"] | batch["mask"][perm])
    assert torch.equal(mixed.batch["label"], batch["label"])  # labels are mixed in the loss, not here
    again = mix_batch(batch, 0.4, np.random.default_rng(3))  # seeded: the same draw
    assert again.lam == lam and torch.equal(again.perm, perm)


def test_mixed_loss_weighs_both_labels():
    batch = _batch()
    mixed = mix_batch(batch, 1.0, np.random.default_rng(1))
    logits = torch.randn(6, 3, requires_grad=True)
    out = ModelOutput(logits, torch.zeros(6, 4), None, None, None, None)
    total, cls, _, _ = _losses(out, batch, LossSetup(binary=False, mixup=1.0), None, mixed)
    y, yp = batch["label"], batch["label"][mixed.perm]
    expected = mixed.lam * F.cross_entropy(logits, y) + (1 - mixed.lam) * F.cross_entropy(logits, yp)
    torch.testing.assert_close(cls, expected)
    total.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_bad_alpha_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        mix_batch(_batch(), 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="--mixup"):
        TrainConfig.from_flat(mixup=-0.5)


def test_training_with_mixup_runs_and_is_recorded(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, task="recognition", num_signers=3, videos_per_signer=4, num_classes=3, seed=2)
    out = tmp_path / "run"
    rc = main(["--data", str(data), "--out", str(out), "--epochs", "2", "--batch", "4", "--sample-mode", "video",
               "--window", "12", "--mixup", "0.2", "--quiet", "--threads", "1", *TINY_MODEL])
    assert rc == 0
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt["args"]["mixup"] == 0.2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
