"""Segment scores (IoU matching) and the frame rate a checkpoint records (``train --fps``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signstgcn.data.groundtruth import LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.windows import WindowConfig
from signstgcn.evaluation.segments import label_runs, match_segments, segment_scores
from signstgcn.training.config import TrainConfig


def test_segments_match_one_to_one_at_iou_half():
    true = [(0, 10), (20, 30), (40, 50)]
    pred = [(1, 10), (2, 9), (22, 40), (41, 49)]
    # (1,10)~(0,10) IoU .9 and (2,9) IoU .7 compete for one true segment; (22,40)~(20,30) IoU 8/20 < .5
    assert match_segments(pred, true) == [(0, 0), (3, 2)]
    scores = segment_scores(len(match_segments(pred, true)), len(pred), len(true))
    assert scores["segment_precision"] == 0.5 and scores["segment_recall"] == pytest.approx(2 / 3)
    assert scores["segment_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert segment_scores(0, 3, 2)["segment_f1"] == 0.0
    assert math.isnan(segment_scores(0, 0, 0)["segment_f1"])
    assert match_segments(pred, true, min_iou=0.35) == [(0, 0), (2, 1), (3, 2)]
    with pytest.raises(ValueError, match="min_iou"):
        match_segments(pred, true, min_iou=0)


def test_label_runs_are_half_open():
    assert label_runs(np.array([0, 1, 1, 0, 1, -1, 1])) == [(1, 3), (4, 5), (6, 7)]
    assert label_runs(np.zeros(4)) == []


def test_the_training_frame_rate_is_validated_and_survives_the_checkpoint_round_trip():
    data = DataConfig(PartSelection(), PartSelection().layout_spec(), WindowConfig(16, 4),
                      LabelVocab(binary=True, classes=("n", "s"), signing_labels=("s",)), fps=30.0)
    assert DataConfig.from_dict(data.to_dict()).fps == 30.0
    old = data.to_dict()
    del old["fps"]  # a checkpoint from before the field: no rate, no resampling
    assert DataConfig.from_dict(old).fps is None
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="--fps must be a positive frame rate"):
            TrainConfig.from_flat(data="d", fps=bad)
    assert TrainConfig.from_flat(data="d", fps=25.0).data.fps == 25.0
