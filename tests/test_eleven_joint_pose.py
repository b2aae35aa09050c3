"""The 11-joint pose of ``../shared/data/wlasl50`` (nose, shoulders, elbows, wrists, hips, knees; the other 22
MediaPipe pose points NaN in every frame) goes through the default pipeline: normalization, hands relative to
the wrist, canonical bones, every input stream, a training step. No NaN may come out of the missing joints."""

from __future__ import annotations

import numpy as np
import torch

from signstgcn.data.pipeline import make_dataset
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.config import TrainConfig
from signstgcn.training.fit import prepare_data
from tests.conftest import shared_data

POSE_KEPT = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26)


def test_eleven_joint_pose_normalizes_canonicalizes_and_trains(tmp_path):
    data = shared_data("wlasl50")
    with np.load(data / "wlasl_accident_00.npz") as z:  # the folder is what this test says it is
        present = np.flatnonzero(~np.isnan(z["pose"][..., 0]).all(axis=0))
    assert tuple(present) == POSE_KEPT
    config = TrainConfig.from_flat(data=str(data), sample_mode="video", window=30, val_fraction=0.2, seed=0,
                                   input_streams=("joint", "bone", "motion"), stgcn_channels=(8, 16),
                                   stgcn_dilations=(1, 2), temporal_hidden=8, signer_emb_dim=8, attn_heads=2,
                                   out=str(tmp_path / "run"))
    prepared = prepare_data(config)
    lengths = np.asarray(prepared.config.bone_lengths)
    assert lengths.size and np.isfinite(lengths).all()  # the reference skeleton has no NaN bone
    ds = make_dataset(prepared.corpus, prepared.train_ids[:40], prepared.config, train=True, seed=0)
    evals = make_dataset(prepared.corpus, prepared.val_ids[:40], prepared.config, train=False)
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    for items in (batch, torch.utils.data.default_collate([evals[i] for i in range(len(evals))])):
        assert torch.isfinite(items["x"]).all() and torch.isfinite(items["stats"]).all()
        assert items["mask"].any(dim=(1, 2)).all()  # every clip has joints
        layout = prepared.corpus.layout
        kept = [layout.node("pose", j) for j in POSE_KEPT if layout.node("pose", j) is not None]
        absent = [layout.node("pose", j) for j in (1, 2, 7, 8, 9, 10) if layout.node("pose", j) is not None]
        assert kept and absent
        assert items["mask"][..., kept].any() and not items["mask"][..., absent].any()  # never a made-up joint
        assert (items["x"][:, 0][..., absent] == 0).all()  # missing joints are 0 (joint stream)
    model_cfg = config.model.model_config(layout=prepared.config.layout, in_channels=prepared.config.in_channels,
                                          num_classes=prepared.config.vocab.num_classes)
    model = SignSTGCNModel(model_cfg)
    out = model(batch["x"], batch["mask"], batch["stats"])
    assert torch.isfinite(out.logits).all()
    torch.nn.functional.cross_entropy(out.logits, batch["label"]).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
