"""Window index (counts and labels for every rule against hand-computed cases) and the lazy dataset."""

from __future__ import annotations

import numpy as np
import pytest

from signstgcn.data.groundtruth import DROPPED, UNLABELED
from signstgcn.data.windows import (
    WindowConfig,
    build_window_index,
    resample_time,
    window_labels,
    window_starts,
)

U, D = UNLABELED, DROPPED


@pytest.mark.parametrize("t,window,stride,expected", [
    (100, 25, 1, 76), (100, 25, 10, 8), (25, 25, 1, 1), (24, 25, 1, 1), (1, 25, 3, 1), (26, 25, 2, 1), (27, 25, 2, 2),
])
def test_window_counts(t, window, stride, expected):
    starts = window_starts(t, window, stride)
    assert len(starts) == expected
    assert starts[0] == 0 and (starts + min(window, t) <= t).all()
    np.testing.assert_array_equal(np.diff(starts), stride)


BIN = np.array([0, 0, 1, 1, 1, 0, 0, 1, 0, 0])  # windows of 4 at stride 2: starts 0, 2, 4, 6


@pytest.mark.parametrize("rule,expected", [
    ("any", [1, 1, 1, 1]),        # positives per window: 2, 3, 2, 1
    ("all", [0, 0, 0, 0]),
    ("majority", [0, 1, 0, 0]),   # strictly more than half
    ("center", [1, 1, 0, 0]),     # frames 2, 4, 6, 8
])
def test_binary_rules_on_hand_computed_case(rule, expected):
    starts = window_starts(len(BIN), 4, 2)
    np.testing.assert_array_equal(starts, [0, 2, 4, 6])
    np.testing.assert_array_equal(window_labels(BIN, starts, 4, rule, binary=True), expected)


def test_all_rule_positive_window():
    lab = np.array([1, 1, 1, 0])
    np.testing.assert_array_equal(window_labels(lab, np.array([0, 1]), 3, "all", True), [1, 0])


def test_windows_touching_unlabeled_frames_are_unusable():
    lab = np.array([U, U, 0, 1, 1, 1])
    out = window_labels(lab, window_starts(6, 3, 1), 3, "majority", True)
    np.testing.assert_array_equal(out, [U, U, 1, 1])


def test_multiclass_majority_ties_and_dropped_labels():
    lab = np.array([0, 0, 1, 1, 1, 2, D, D, D])
    np.testing.assert_array_equal(window_labels(lab, np.array([0, 3, 6]), 3, "majority", False), [0, 1, U])
    np.testing.assert_array_equal(window_labels(np.array([2, 1]), np.array([0]), 2, "majority", False), [1])
    np.testing.assert_array_equal(window_labels(np.array([1, D]), np.array([0]), 2, "majority", False), [U])
    np.testing.assert_array_equal(window_labels(np.array([1, 1, D]), np.array([0]), 3, "majority", False), [1])


def test_short_video_window_uses_its_real_frames():
    lab = np.array([1, 1, 0])
    np.testing.assert_array_equal(window_labels(lab, np.array([0]), 25, "majority", True), [1])
    np.testing.assert_array_equal(window_labels(lab, np.array([0]), 25, "center", True), [1])  # frame 1


def test_index_over_several_videos():
    labels = [BIN, np.array([U, U, 1, 1, 1]), np.full(3, U)]
    idx = build_window_index(labels, WindowConfig(length=4, stride=2, rule="any"), binary=True)
    np.testing.assert_array_equal(idx.video, [0, 0, 0, 0])  # video 1's only window (start 0) touches U
    idx = build_window_index(labels, WindowConfig(length=3, stride=1, rule="any"), binary=True)
    assert (idx.video == 1).sum() == 1 and idx.start[idx.video == 1][0] == 2
    assert idx.video.dtype == np.int32 and idx.start.dtype == np.int32


def test_video_sample_mode_one_sample_per_labeled_video():
    labels = [np.array([U, 0, 0, 1]), np.array([2, 2, 2]), np.full(4, U), np.array([D, D, 1])]
    idx = build_window_index(labels, WindowConfig(length=8, sample_mode="video"), binary=False)
    np.testing.assert_array_equal(idx.video, [0, 1])
    np.testing.assert_array_equal(idx.start, [1, 0])  # starts at the first labeled frame
    np.testing.assert_array_equal(idx.label, [0, 2])


def test_resample_time_is_linear_and_nan_aware():
    frames = np.arange(5, dtype=np.float32).reshape(5, 1, 1)
    np.testing.assert_allclose(resample_time(frames, 9)[:, 0, 0], np.arange(9) / 2)
    np.testing.assert_allclose(resample_time(frames, 3)[:, 0, 0], [0, 2, 4])
    holes = frames.copy()
    holes[1] = np.nan
    out = resample_time(holes, 9)[:, 0, 0]
    assert np.isfinite(out).all() and out[1] == 0.0 and out[2] == 2.0 and out[3] == 2.0  # neighbours fill the hole
    assert resample_time(frames, 1).shape == (1, 1, 1)


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"stride": 0}, {"rule": "most"}, {"sample_mode": "clip"}])
def test_bad_window_config(kwargs):
    with pytest.raises(ValueError):
        WindowConfig(**kwargs)
