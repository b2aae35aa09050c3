"""Landmark readers: every branch of the npz reader, joint selection, folder discovery."""

from __future__ import annotations

import numpy as np
import pytest

from signstgcn.data.landmarks import PartSelection, check_skeleton, select_joints
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.errors import DataError
from tests.conftest import shared_data, write_video


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_reads_every_channel_count(tmp_path, channels):
    arrays = write_video(tmp_path / "a.npz", 5, channels=channels)
    lm = load_landmarks(tmp_path / "a.npz")
    assert lm.num_frames == 5 and lm.num_channels == channels
    assert set(lm.arrays) == {"pose", "left_hand", "right_hand"}
    np.testing.assert_array_equal(lm.arrays["pose"], arrays["pose"])
    assert lm.arrays["pose"].dtype == np.float32 and lm.skeleton == "mediapipe"


def test_missing_parts_become_nan_nodes(tmp_path):
    write_video(tmp_path / "a.npz", 4, parts=("pose", "right_hand"))
    lm = load_landmarks(tmp_path / "a.npz")
    layout = LayoutSpec().build()
    frames = select_joints(lm, layout, coords=2)
    assert frames.shape == (4, 67, 2)
    assert np.isnan(frames[:, layout.part_slice("left_hand")]).all()
    assert np.isfinite(frames[:, layout.part_slice("right_hand")]).all()
    assert np.isfinite(frames[:, layout.part_slice("pose")]).all()


def test_hands_only_file(tmp_path):
    write_video(tmp_path / "a.npz", 3, parts=("left_hand",))
    lm = load_landmarks(tmp_path / "a.npz")
    assert lm.skeleton is None
    frames = select_joints(lm, LayoutSpec(include_pose=False).build(), coords=2)
    assert frames.shape == (3, 42, 2) and np.isnan(frames[:, 21:]).all()


def test_nan_and_all_zero_frames_are_missing(tmp_path):
    pose = np.full((3, 33, 3), 0.5, dtype=np.float32)
    pose[0] = 0.0  # undetected frame written as zeros
    pose[1, 5] = np.nan  # one undetected joint
    pose[2, 7, 2] = np.nan  # a partial NaN makes the joint missing too
    hand = np.zeros((3, 21, 3), dtype=np.float64)  # hand never detected, float64 input
    np.savez(tmp_path / "a.npz", pose=pose, left_hand=hand)
    lm = load_landmarks(tmp_path / "a.npz")
    p = lm.arrays["pose"]
    assert np.isnan(p[0]).all() and np.isnan(p[1, 5]).all() and np.isnan(p[2, 7]).all()
    assert np.isfinite(p[1, :5]).all() and np.isfinite(p[2, 8:]).all()
    assert np.isnan(lm.arrays["left_hand"]).all() and lm.arrays["left_hand"].dtype == np.float32


def test_visibility_zero_does_not_make_a_joint_missing(tmp_path):
    pose = np.full((2, 33, 4), 0.5, dtype=np.float32)
    pose[..., 3] = 0.0
    np.savez(tmp_path / "a.npz", pose=pose)
    assert np.isfinite(load_landmarks(tmp_path / "a.npz").arrays["pose"]).all()


def test_scalars_fps_and_signer(tmp_path):
    write_video(tmp_path / "a.npz", 2, fps=np.float32(30), signer=np.array("anna"))
    lm = load_landmarks(tmp_path / "a.npz")
    assert lm.fps == 30.0 and lm.signer == "anna"
    write_video(tmp_path / "b.npz", 2, signer=np.int64(7))
    assert load_landmarks(tmp_path / "b.npz").signer == "7"


def test_face_468_and_478(tmp_path):
    for points in (468, 478):
        np.savez(tmp_path / f"f{points}.npz", face=np.full((2, points, 3), 0.5, np.float32),
                 pose=np.full((2, 33, 4), 0.5, np.float32))
        lm = load_landmarks(tmp_path / f"f{points}.npz")
        assert lm.face_points == points
        spec = PartSelection(include_face=True, face_subset="full").layout_spec(face_points=points)
        frames = select_joints(lm, spec.build(), coords=3)
        assert frames.shape == (2, 25 + 42 + points, 3)
        compact = PartSelection(include_face=True).layout_spec(face_points=478).build()
        assert select_joints(lm, compact, coords=2).shape == (2, 25 + 42 + 128, 2)


def test_full_mesh_layout_on_468_point_face_is_refused(tmp_path):
    np.savez(tmp_path / "a.npz", face=np.full((2, 468, 3), 0.5, np.float32))
    lm = load_landmarks(tmp_path / "a.npz")
    layout = PartSelection(include_face=True, face_subset="full").layout_spec(face_points=478).build()
    with pytest.raises(DataError, match=r"a\.npz: 'face' has 468 joints .* needs joint 477"):
        select_joints(lm, layout, coords=2)


def test_openpose_pose_is_recognised_and_checked(tmp_path):
    np.savez(tmp_path / "a.npz", pose=np.full((2, 25, 3), 0.5, np.float32))
    lm = load_landmarks(tmp_path / "a.npz")
    assert lm.skeleton == "body25"
    check_skeleton(lm, LayoutSpec(skeleton="body25"))
    with pytest.raises(DataError, match="body25.*mediapipe skeleton"):
        check_skeleton(lm, LayoutSpec())


def test_too_few_channels_for_coords(tmp_path):
    write_video(tmp_path / "a.npz", 2, channels=2)
    lm = load_landmarks(tmp_path / "a.npz")
    with pytest.raises(DataError, match="has 2 channels, coords=3"):
        select_joints(lm, LayoutSpec().build(), coords=3)


@pytest.mark.parametrize("arrays,match", [
    ({"pose": np.zeros((3, 32, 3), np.float32)}, r"'pose' has shape \(3, 32, 3\), expected \(T, 33\|25\|18, C\)"),
    ({"pose": np.zeros((3, 33), np.float32)}, r"'pose' has shape \(3, 33\)"),
    ({"left_hand": np.zeros((3, 21, 5), np.float32)}, "C in 2..4"),
    ({"right_hand": np.zeros((3, 21, 1), np.float32)}, "C in 2..4"),
    ({"pose": np.zeros((3, 33, 3), np.float32), "left_hand": np.zeros((4, 21, 3), np.float32)},
     "different frame counts"),
    ({"pose": np.zeros((0, 33, 3), np.float32)}, "0 frames"),
    ({"keypoints": np.zeros((3, 10), np.float32)}, r"no landmark arrays \(found \['keypoints'\]\)"),
    ({"pose": np.array([[["a", "b"]] * 33] * 2)}, "expected real numbers"),
    ({"pose": np.zeros((3, 33, 3), np.float32), "fps": np.array([25, 30])}, "'fps' must be a scalar"),
    ({"pose": np.zeros((3, 33, 3), np.float32), "fps": np.float32(-1)}, "'fps' must be positive"),
])
def test_bad_arrays_name_the_file_and_the_expectation(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match) as err:
        load_landmarks(tmp_path / "bad.npz")
    assert "bad.npz" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04garbage"])
def test_corrupt_npz(tmp_path, content):
    (tmp_path / "broken.npz").write_bytes(content)
    with pytest.raises(DataError, match=r"broken\.npz: not a readable \.npz file"):
        load_landmarks(tmp_path / "broken.npz")


def test_truncated_npz(tmp_path):
    write_video(tmp_path / "a.npz", 50)
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "a.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"a\.npz: not a readable \.npz file"):
        load_landmarks(tmp_path / "a.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", pose=np.array([{"x": 1}], dtype=object))
    with pytest.raises(DataError, match=r"obj\.npz"):
        load_landmarks(tmp_path / "obj.npz")


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(DataError, match="no such landmark file"):
        load_landmarks(tmp_path / "nope.npz")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"x\.csv: unsupported landmark file"):
        load_landmarks(tmp_path / "x.csv")


def test_find_files_recursively_and_errors(tmp_path):
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    write_video(tmp_path / "a.npz", 2)
    write_video(tmp_path / "sub" / "deep" / "b.npz", 2)
    assert sorted(find_landmark_files(tmp_path)) == ["a", "b"]
    write_video(tmp_path / "sub" / "a.npz", 2)
    with pytest.raises(DataError, match="two files share the video id 'a'"):
        find_landmark_files(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no landmark files \(\.npz\) found"):
        find_landmark_files(empty)
    with pytest.raises(DataError, match="does not exist"):
        find_landmark_files(tmp_path / "missing")
    with pytest.raises(DataError, match="expected a folder"):
        find_landmark_files(tmp_path / "a.npz")


@pytest.mark.parametrize("kwargs", [{"coords": 1}, {"coords": 5}, {"include_pose": False, "include_hands": False},
                                    {"pose_subset": "legs"}, {"face_subset": "eyes"}])
def test_bad_selection(kwargs):
    with pytest.raises(ValueError):
        PartSelection(**kwargs)


def test_reads_every_real_file_of_mp_face():
    folder = shared_data("mp_face")
    files = find_landmark_files(folder)
    layout = PartSelection(include_face=True).layout_spec(face_points=468).build()
    for path in files.values():
        lm = load_landmarks(path)
        assert lm.face_points == 468 and lm.arrays["pose"].shape[1:] == (33, 4)
        frames = select_joints(lm, layout, coords=3)
        assert frames.shape == (lm.num_frames, layout.num_nodes, 3)
        assert np.isfinite(frames[:, layout.part_slice("face")]).any()
