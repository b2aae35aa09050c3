"""Signer statistics, signers.txt parsing and K-means pseudo-signers (synthetic and real signers)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from signstgcn.data.landmarks import select_joints
from signstgcn.data.layout import Layout, LayoutSpec
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.data.signers import (
    NUM_SIGNER_STATS,
    PSEUDO_SIGNER_WEIGHTS,
    SIGNER_STAT_NAMES,
    PseudoSigners,
    load_signer_ids,
    read_signers_file,
    signer_statistics,
    video_statistics,
)
from signstgcn.errors import DataError
from tests.conftest import shared_data

LAYOUT = LayoutSpec().build()
STAT = {name: k for k, name in enumerate(SIGNER_STAT_NAMES)}


def body(layout: Layout, t: int = 20, seed: int = 0) -> np.ndarray:
    """A still body (shoulders 0.2 apart at y=0.5) with jittered hands, raw image coordinates (T, V, 3)."""
    rng = np.random.default_rng(seed)
    frames = np.full((t, layout.num_nodes, 3), np.nan, dtype=np.float32)
    joints = {
        "left_shoulder": (0.6, 0.5), "right_shoulder": (0.4, 0.5), "left_elbow": (0.62, 0.6),
        "right_elbow": (0.38, 0.6), "left_wrist": (0.6, 0.7), "right_wrist": (0.4, 0.7),
        "nose": (0.5, 0.38), "left_eye": (0.52, 0.36), "right_eye": (0.48, 0.36),
    }
    for name, xy in joints.items():
        node = layout.joint(name)
        if node is not None:
            frames[:, node, :2] = xy
            frames[:, node, 2] = 0.0
    for part, wrist in (("left_hand", (0.6, 0.7)), ("right_hand", (0.4, 0.7))):
        part_slice = layout.part_slice(part)
        if part_slice is not None:
            frames[:, part_slice, :2] = np.asarray(wrist) + rng.normal(0, 0.02, size=(t, 21, 2))
            frames[:, part_slice, 2] = 0.0
            frames[:, layout.node(part, 0), :2] = wrist
            frames[:, layout.node(part, 9), :2] = np.asarray(wrist) + [0.0, 0.05]
    return frames


def stats_without_warnings(frames: np.ndarray, layout: Layout = LAYOUT) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = signer_statistics(frames, layout)
    assert out.shape == (NUM_SIGNER_STATS,) and out.dtype == np.float32
    assert np.isfinite(out).all()
    return out


def test_statistics_of_a_known_body():
    stats = stats_without_warnings(body(LAYOUT))
    assert len(SIGNER_STAT_NAMES) == NUM_SIGNER_STATS == 16
    expected = {
        "shoulder_width": 0.2, "shoulder_mid_x": 0.5, "shoulder_mid_y": 0.5,
        "upper_arm_ratio": np.hypot(0.02, 0.1) / 0.2, "forearm_ratio": np.hypot(0.02, 0.1) / 0.2,
        "hand_size_ratio": 0.25, "head_ratio": 0.6, "eye_distance_ratio": 0.2, "wrist_spread_x": 0.0,
        "handedness": 0.0, "left_hand_rate": 1.0, "right_hand_rate": 1.0, "wrist_height": -1.0,
        "shoulder_tilt": 0.0, "head_offset_x": 0.0,
    }
    for name, value in expected.items():
        assert stats[STAT[name]] == pytest.approx(value, abs=1e-5), name


def test_ratios_do_not_depend_on_the_camera():
    frames = body(LAYOUT)
    frames[:, LAYOUT.node("right_hand", 0), 0] += np.linspace(0, 0.1, len(frames))  # right hand moves
    ref = stats_without_warnings(frames)
    moved = frames.copy()
    moved[..., :2] = moved[..., :2] * 1.7 + [0.1, -0.3]
    out = stats_without_warnings(moved)
    camera = [STAT["shoulder_width"], STAT["shoulder_mid_x"], STAT["shoulder_mid_y"]]
    np.testing.assert_allclose(np.delete(out, camera), np.delete(ref, camera), atol=1e-5)
    np.testing.assert_allclose(out[camera], ref[camera] * 1.7 + [0.0, 0.1, -0.3], atol=1e-5)
    assert ref[STAT["handedness"]] == pytest.approx(1.0)  # only the right wrist moved


@pytest.mark.parametrize("spec", [
    LayoutSpec(), LayoutSpec(include_hands=False), LayoutSpec(include_pose=False),
    LayoutSpec(pose_subset="full", include_face=True), LayoutSpec(skeleton="body25"),
    LayoutSpec(skeleton="coco18", include_hands=False),
], ids=["pose+hands", "pose", "hands", "full+face", "body25", "coco18"])
def test_statistics_are_finite_for_any_layout_and_missing_data(spec):
    layout = spec.build()
    frames = body(layout)
    full = stats_without_warnings(frames, layout)
    if layout.part_slice("pose") is None:
        assert (full[:STAT["wrist_spread_x"]] == 0).all()  # no shoulders: proportions unavailable
    else:
        assert full[STAT["shoulder_width"]] > 0
    stats_without_warnings(frames[:1], layout)  # a single frame
    assert (stats_without_warnings(np.full_like(frames, np.nan), layout) == 0).all()
    assert (stats_without_warnings(np.zeros_like(frames), layout) == 0).all()  # all-zero = undetected
    holes = frames.copy()
    holes[np.random.default_rng(0).random(holes.shape[:2]) < 0.5] = np.nan
    stats_without_warnings(holes, layout)


def test_statistics_hand_presence_and_missing_shoulders():
    frames = body(LAYOUT)
    frames[:5, LAYOUT.part_slice("left_hand")] = np.nan
    frames[:, LAYOUT.part_slice("right_hand")] = 0.0  # the "undetected" spelling of some files
    stats = stats_without_warnings(frames)
    assert stats[STAT["left_hand_rate"]] == pytest.approx(0.75)
    assert stats[STAT["right_hand_rate"]] == 0.0
    frames[:, LAYOUT.joint("left_shoulder")] = np.nan
    stats = stats_without_warnings(frames)
    assert (stats[:STAT["handedness"]] == 0).all() and stats[STAT["left_hand_rate"]] > 0


def test_statistics_reject_a_window_of_another_layout():
    with pytest.raises(ValueError, match="V=67"):
        signer_statistics(np.zeros((4, 10, 2), np.float32), LAYOUT)


def test_video_statistics_matches_window_statistics():
    frames = body(LAYOUT, t=60)
    np.testing.assert_array_equal(video_statistics(frames, LAYOUT), signer_statistics(frames, LAYOUT))


# ---------------------------------------------------------------------------------------------- signers.txt


def test_signers_file_with_comments_blank_lines_and_npz_fallback(tmp_path: Path):
    (tmp_path / "signers.txt").write_text(
        "# video signer\n\nv0 alice\n  v1\tbob   # inline comment\nv0 alice\nother carol\n"
    )
    assert read_signers_file(tmp_path / "signers.txt") == {"v0": "alice", "v1": "bob", "other": "carol"}
    npz = {"v0": "ignored", "v2": "dave", "v3": None, "v4": " "}
    signers = load_signer_ids(tmp_path, ["v0", "v1", "v2", "v3", "v4"], npz)
    assert signers == {"v0": "alice", "v1": "bob", "v2": "dave"}  # file first, then npz; unknown left out
    assert load_signer_ids(tmp_path / "no_such_dir", ["v0"], {"v0": "erin"}) == {"v0": "erin"}
    assert load_signer_ids(tmp_path / "no_such_dir", ["v0"], None) == {}


@pytest.mark.parametrize("line", ["v2", "v2 bob extra", "v2 # bob"])
def test_malformed_signers_line_names_file_and_line(tmp_path: Path, line: str):
    path = tmp_path / "signers.txt"
    path.write_text(f"# header\nv0 alice\n{line}\n")
    with pytest.raises(DataError) as info:
        load_signer_ids(tmp_path, ["v0"], {})
    message = str(info.value)
    assert f"{path}:3" in message and "expected '<video_id> <signer_id>'" in message and line in message
    assert "\n" not in message


def test_conflicting_signers_line_is_an_error(tmp_path: Path):
    path = tmp_path / "signers.txt"
    path.write_text("v0 alice\nv0 bob\n")
    with pytest.raises(DataError, match=r"signers\.txt:2: video 'v0' has signer 'bob' but line 1 gave 'alice'"):
        read_signers_file(path)


def test_unreadable_signers_file_is_a_data_error(tmp_path: Path):
    (tmp_path / "signers.txt").write_bytes(b"v0 \xff\xfe\n")
    with pytest.raises(DataError, match="signers.txt"):
        load_signer_ids(tmp_path, ["v0"], {})


# ---------------------------------------------------------------------------------------------- pseudo-signers


def blobs(per: int = 10, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, size=(k, NUM_SIGNER_STATS))
    truth = np.repeat(np.arange(k), per)
    return (centres[truth] + rng.normal(0, 0.3, size=(len(truth), NUM_SIGNER_STATS))).astype(np.float32), truth


def test_pseudo_signers_fit_assign_and_errors():
    stats, truth = blobs()
    model = PseudoSigners().fit(stats, 4, seed=0)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert model.assign(stats).dtype == np.int64
    np.testing.assert_array_equal(model.assign(stats), model.labels_)
    for k in (0, len(stats) + 1):
        with pytest.raises(ValueError, match=rf"1 <= k <= number of videos \({len(stats)}\), got k={k}"):
            PseudoSigners().fit(stats, k)
    with pytest.raises(ValueError, match="not fitted"):
        PseudoSigners().assign(stats)
    with pytest.raises(ValueError, match=r"\(M, 16\)"):
        model.assign(stats[:, :3])
    bad = stats.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PseudoSigners().fit(bad, 2)


def test_pseudo_signer_weights():
    stats, truth = blobs(k=3)
    model = PseudoSigners().fit(stats, 3)
    np.testing.assert_array_equal(model.weights_, PSEUDO_SIGNER_WEIGHTS)
    assert len(PSEUDO_SIGNER_WEIGHTS) == NUM_SIGNER_STATS
    plain = PseudoSigners().fit(stats[:, :5], 3)  # another statistic set: equal weights
    np.testing.assert_array_equal(plain.weights_, np.ones(5))
    only_first = PseudoSigners().fit(stats, 3, weights=[1.0] + [0.0] * 15)
    assert only_first.state_dict()["weights"][1:] == [0.0] * 15
    with pytest.raises(ValueError, match="16 finite weights >= 0"):
        PseudoSigners().fit(stats, 3, weights=[1.0, -1.0] + [0.0] * 14)
    with pytest.raises(ValueError, match="16 finite weights"):
        PseudoSigners().fit(stats, 3, weights=[1.0])


def test_pseudo_signer_state_dict_round_trip_through_a_weights_only_checkpoint(tmp_path: Path):
    stats, _ = blobs(seed=1)
    model = PseudoSigners().fit(stats[::2], 4, seed=3)
    state = model.state_dict()
    assert all(isinstance(v, float) for v in state["mean"]) and isinstance(state["centroids"][0], list)
    torch.save({"pseudo_signers": state}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)["pseudo_signers"]
    restored = PseudoSigners.from_state_dict(loaded)
    np.testing.assert_array_equal(restored.assign(stats), model.assign(stats))
    assert restored.k == 4 and restored.seed == 3
    with pytest.raises(ValueError, match="centroids"):
        PseudoSigners.from_state_dict({**state, "k": 5})
    with pytest.raises(ValueError, match="missing keys"):
        PseudoSigners.from_state_dict({"k": 4})


def synthetic_statistics(tmp_path: Path, **kwargs) -> tuple[list[str], np.ndarray, dict[str, str]]:
    from signstgcn.data.synthetic import generate_dataset

    info = generate_dataset(tmp_path, **kwargs)
    files = find_landmark_files(tmp_path)
    ids = sorted(files)
    stats = np.stack([video_statistics(select_joints(load_landmarks(files[v]), LAYOUT, 2), LAYOUT) for v in ids])
    signers = load_signer_ids(tmp_path, ids, {})
    assert signers == {v: info.signer_of[v] for v in ids}
    return ids, stats, signers


@pytest.mark.parametrize("task", ["recognition", "detection"])
def test_pseudo_signers_recover_the_synthetic_signers(tmp_path: Path, task: str):
    ids, stats, signers = synthetic_statistics(tmp_path, task=task, num_signers=6, seed=0)
    truth = np.array([signers[v] for v in ids])
    model = PseudoSigners().fit(stats, 6, seed=0)
    assert adjusted_rand_score(truth, model.labels_) > 0.8


def test_pseudo_signers_assign_new_videos_of_known_signers(tmp_path: Path):
    ids, stats, signers = synthetic_statistics(tmp_path, task="recognition", num_signers=6, seed=1)
    truth = np.array([signers[v] for v in ids])
    train = np.arange(len(ids)) % 3 != 0  # fit on two thirds of each signer's videos
    model = PseudoSigners().fit(stats[train], 6, seed=0)
    np.testing.assert_array_equal(model.assign(stats[train]), model.labels_)
    new = model.assign(stats[~train])
    assert adjusted_rand_score(truth[~train], new) > 0.8
    # a new video mostly lands in the cluster that holds its signer's training videos
    majority = {s: np.bincount(model.labels_[truth[train] == s]).argmax() for s in set(truth)}
    agree = np.mean([majority[s] == c for s, c in zip(truth[~train], new)])
    assert agree > 0.85


def test_pseudo_signers_on_real_signers_are_finite_and_cluster_above_chance():
    folder = shared_data("mp_signers")
    files = find_landmark_files(folder)
    ids = sorted(files)[::5]  # keep the test fast: every fifth clip of 19 signers
    lms = {v: load_landmarks(files[v]) for v in ids}
    signers = load_signer_ids(folder, ids, {v: lms[v].signer for v in ids})
    stats = np.stack([video_statistics(select_joints(lms[v], LAYOUT, 2), LAYOUT) for v in ids])
    assert np.isfinite(stats).all()
    truth = np.array([signers[v] for v in ids])
    model = PseudoSigners().fit(stats, len(set(truth)), seed=0)
    assert adjusted_rand_score(truth, model.labels_) > 0.1
