"""Fifty real WLASL signs from 3-10 clips each (``../shared/data/wlasl50``, issue 25).

Fold 0 of the stratified 5-fold split that ``cross-validate --group-by video`` makes (seed 0): 252 training
clips, 63 test clips, every sign with at least 5 clips in the test fold. The network (compact, flat joint
pooling, 50 epochs, last epoch; no model selection) is compared with the logistic-regression floor fitted on the
very same input windows (``cross-validate --configs logreg``). Chance is 0.02 top-1, 0.10 top-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from signstgcn.data.splits import write_splits
from signstgcn.evaluation.baselines import logreg_fold
from signstgcn.evaluation.evaluate import evaluate
from signstgcn.evaluation.folds import stratified_folds
from signstgcn.training.config import TrainConfig
from signstgcn.training.fit import fit
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


def _labels(data: Path) -> dict[str, str]:
    lines = (line.split() for line in (data / "groundtruth.txt").read_text().splitlines())
    return {parts[0]: parts[2] for parts in lines if len(parts) == 3 and not parts[0].startswith("#")}


def test_fifty_signs_from_few_clips_beat_the_linear_floor(tmp_path: Path) -> None:
    data = shared_data("wlasl50")
    labels = _labels(data)
    folds = stratified_folds(labels, 5, seed=0)
    test = folds[0]
    train = sorted(v for v in labels if v not in set(test))
    splits = tmp_path / "splits.json"
    write_splits(splits, {"version": 1, "splits": {"train": train, "val": [], "test": test}})
    config = TrainConfig.from_flat(data=str(data), sample_mode="video", window=30, stgcn_channels=(32, 64, 64),
                                   temporal_hidden=64, joint_pool="flat", splits_json=str(splits), seed=0,
                                   out=str(tmp_path / "run"), quiet=True)
    fit(config)
    net = evaluate(tmp_path / "run" / "last.pt", data, splits_json=splits, split="test", probe=False,
                   plots=False).report["metrics"]
    floor = logreg_fold(config, tmp_path / "logreg", tmp_path / "logreg.npz")["metrics"]
    assert len(test) == 63
    # Measured on this fold: the logistic regression 0.365 top-1 (0.762 top-5; deterministic); the network
    # 0.444 top-1 with seed 0 in float32, and 0.508 / 0.429 / 0.460 top-1, 0.825 / 0.825 / 0.810 top-5 with
    # seeds 0, 1, 2 under --amp (cross-validate --repeats 3). The bounds are the lowest seed less about 0.03
    # (top-1) and 0.06 (top-5), and half the smallest margin over the floor (0.064).
    assert floor["top1"] == pytest.approx(0.365, abs=0.02), floor
    assert net["top1"] >= 0.40, (net, floor)
    assert net["top5"] >= 0.75, (net, floor)
    assert net["top1"] >= floor["top1"] + 0.03, (net, floor)
