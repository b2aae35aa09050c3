"""Readers for ``.pose`` files (pose-format) and OpenPose JSON folders, and their discovery beside ``.npz``."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from signstgcn.data.corpus import load_corpus
from signstgcn.data.landmarks import PartSelection, select_joints
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.data.readers.openpose import load_openpose_dir
from signstgcn.errors import DataError
from tests.conftest import shared_data, write_video

POSE_FILES = {  # SOURCE.md: frames, fps, components
    "hand_estimation_0ff215ef4f1f111e217e2cefee0adc77.pose": (121, 29.9, "full", 468),
    "hand_estimation_7bd6dd48722def3cf84258b96371cb1e.pose": (91, 30.0, "full", 468),
    "hand_estimation_84322c38ff23406f222641da30d0a49b.pose": (47, 25.0, "full", 478),
    "viewer_example.pose": (97, 25.0, "full", 468),
    "mediapipe.pose": (170, 24.0, "reduced", 468),
    "mediapipe_long.pose": (278, 24.0, "reduced", 468),
    "openpose.pose": (93, 24.0, "openpose", 70),
}


def _pose_format():
    return pytest.importorskip("pose_format", reason="pose-format is not installed (pip install 'signstgcn[pose]')")


# ------------------------------------------------------------------------------------------ real .pose files


@pytest.mark.parametrize("name", sorted(POSE_FILES))
def test_every_real_pose_file_loads(name):
    _pose_format()
    path = shared_data("pose") / name
    frames, fps, kind, face = POSE_FILES[name]
    lm = load_landmarks(path)
    assert lm.num_frames == frames and lm.fps == pytest.approx(fps, abs=0.05)
    assert set(lm.arrays) == {"pose", "left_hand", "right_hand", "face"}
    assert lm.face_points == face
    assert all(a.dtype == np.float32 and a.shape[0] == frames for a in lm.arrays.values())
    assert lm.arrays["left_hand"].shape[1:2] == lm.arrays["right_hand"].shape[1:2] == (21,)
    if kind == "openpose":
        assert lm.skeleton == "body25" and lm.arrays["pose"].shape == (frames, 25, 3)
        conf = lm.arrays["pose"][..., 2]
        assert np.nanmin(conf) > 0 and np.nanmax(conf) <= 1  # channel 2 = confidence, 0 became NaN
        assert np.isnan(conf).any()  # undetected legs
    else:
        assert lm.skeleton == "mediapipe" and lm.arrays["pose"].shape[1] == 33
    # normalized image coordinates: the face sits inside the frame
    face_xy = lm.arrays["face"][..., :2]
    assert 0.0 < np.nanmedian(face_xy[..., 0]) < 1.0 and 0.0 < np.nanmedian(face_xy[..., 1]) < 1.0
    # the default layout reads it
    spec = PartSelection().layout_spec(skeleton=lm.skeleton, face_points=lm.face_points)
    out = select_joints(lm, spec.build(), coords=2)
    assert out.shape == (frames, spec.build().num_nodes, 2) and np.isfinite(out).any()


def test_full_holistic_channels_and_missing_hands():
    _pose_format()
    lm = load_landmarks(shared_data("pose") / "viewer_example.pose")
    assert lm.arrays["pose"].shape[2] == 4 and lm.arrays["face"].shape[2] == 3  # x, y, z(, visibility)
    hand = lm.arrays["right_hand"]
    missing = np.isnan(hand).all(axis=(1, 2))
    assert 0 < missing.sum() < len(hand)  # frames without the hand are NaN, the others complete
    assert np.isfinite(hand[~missing]).all()
    nose, face_nose = lm.arrays["pose"][:, 0, :2], lm.arrays["face"][:, 1, :2]
    assert np.nanmax(np.abs(nose - face_nose)) < 0.05  # same image coordinates for pose and face


def test_reduced_holistic_is_placed_by_point_name():
    _pose_format()
    lm = load_landmarks(shared_data("pose") / "mediapipe.pose")
    pose = lm.arrays["pose"]
    detected = np.isfinite(pose[..., 0]).any(axis=0)
    assert sorted(np.flatnonzero(detected).tolist()) == [11, 12, 13, 14, 15, 16, 23, 24]  # 8 named points
    face = lm.arrays["face"]
    assert face.shape[1] == 468 and np.isfinite(face[..., 0]).any(axis=0).sum() == 128
    assert lm.num_channels == 2  # its z is not in MediaPipe units: x, y only, so --coords 3 is refused


# ------------------------------------------------------------------------------------------ synthetic .pose


def _write_pose(path: Path, components: list[tuple[str, list[str], str]], data: np.ndarray, conf: np.ndarray,
                width: int = 200, height: int = 100, fps: float = 30.0) -> Path:
    _pose_format()
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    comps = [PoseHeaderComponent(name=n, points=pts, limbs=[], colors=[(255, 0, 0)], point_format=fmt)
             for n, pts, fmt in components]
    header = PoseHeader(version=0.2, dimensions=PoseHeaderDimensions(width=width, height=height, depth=0),
                        components=comps)
    mask = np.repeat((conf == 0)[..., None], data.shape[-1], axis=-1)
    body = NumPyPoseBody(fps=fps, data=np.ma.masked_array(data, mask=mask), confidence=conf)
    with open(path, "wb") as f:
        Pose(header, body).write(f)
    return path


def test_pixels_become_normalized_and_confidence_zero_becomes_nan(tmp_path):
    rng = np.random.default_rng(0)
    T = 4
    names = [str(i) for i in range(21)]
    data = rng.uniform(10, 90, size=(T, 1, 42, 3)).astype(np.float32)
    data[..., 2] = rng.uniform(-0.1, 0.1, size=(T, 1, 42))  # MediaPipe z: unscaled, about +-0.1 for hands
    conf = np.ones((T, 1, 42), dtype=np.float32)
    conf[1, 0, :21] = 0  # left hand lost in frame 1
    conf[2, 0, 25] = 0  # one right-hand point lost in frame 2
    path = _write_pose(tmp_path / "hands.pose", [("LEFT_HAND_LANDMARKS", names, "XYZC"),
                                                 ("RIGHT_HAND_LANDMARKS", names, "XYZC")], data, conf)
    lm = load_landmarks(path)
    assert lm.fps == 30.0 and lm.skeleton is None and set(lm.arrays) == {"left_hand", "right_hand"}
    left = lm.arrays["left_hand"]
    np.testing.assert_allclose(left[0, :, 0], data[0, 0, :21, 0] / 200, rtol=1e-6)
    np.testing.assert_allclose(left[0, :, 1], data[0, 0, :21, 1] / 100, rtol=1e-6)
    np.testing.assert_allclose(left[0, :, 2], data[0, 0, :21, 2], rtol=1e-6)  # MediaPipe z kept as stored
    assert np.isnan(left[1]).all() and np.isfinite(left[[0, 2, 3]]).all()
    right = lm.arrays["right_hand"]
    assert np.isnan(right[2, 4]).all() and np.isfinite(np.delete(right[2], 4, axis=0)).all()


def test_unknown_components_and_corrupt_files_are_refused(tmp_path):
    data = np.ones((2, 1, 3, 2), dtype=np.float32)
    path = _write_pose(tmp_path / "other.pose", [("BODY_135", ["a", "b", "c"], "XYC")], data,
                       np.ones((2, 1, 3), np.float32))
    with pytest.raises(DataError, match=r"other\.pose: no MediaPipe Holistic or OpenPose components "
                                        r"\(found \['BODY_135'\]\)"):
        load_landmarks(path)
    bad = _write_pose(tmp_path / "bad.pose", [("POSE_LANDMARKS", ["NOSE", "ELBOW_X"], "XYZC")],
                      np.ones((2, 1, 2, 3), np.float32), np.ones((2, 1, 2), np.float32))
    with pytest.raises(DataError, match=r"unknown MediaPipe pose point names \['ELBOW_X'\]"):
        load_landmarks(bad)
    (tmp_path / "junk.pose").write_bytes(b"\x00\x01 not a pose file")
    with pytest.raises(DataError, match=r"junk\.pose: not a readable \.pose file"):
        load_landmarks(tmp_path / "junk.pose")


def test_missing_pose_format_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "a.pose").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "pose_format", None)
    with pytest.raises(DataError, match=r"a\.pose: reading \.pose files needs the pose-format package "
                                        r"\(pip install 'signstgcn\[pose\]'"):
        load_landmarks(tmp_path / "a.pose")


# ------------------------------------------------------------------------------------------ OpenPose JSON


def _person(rng: np.random.Generator, scale: float = 1.0, body: int = 25) -> dict:
    def pts(n: int) -> list[float]:
        xy = rng.uniform(100, 900, size=(n, 2)) * scale
        c = rng.uniform(0.3, 1.0, size=(n, 1))
        return np.concatenate([xy, c], axis=1).reshape(-1).round(3).tolist()

    return {"person_id": [-1], "pose_keypoints_2d": pts(body), "face_keypoints_2d": pts(70),
            "hand_left_keypoints_2d": pts(21), "hand_right_keypoints_2d": pts(21)}


def _write_openpose(folder: Path, people_per_frame: list[list[dict]], name: str = "clip") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, people in enumerate(people_per_frame):
        doc = {"version": 1.3, "people": people}
        (folder / f"{name}_{t:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def test_openpose_folder(tmp_path):
    rng = np.random.default_rng(1)
    a, b = _person(rng), _person(rng)
    weak = _person(rng)
    weak["pose_keypoints_2d"] = [v * 0.01 if k % 3 == 2 else v for k, v in enumerate(weak["pose_keypoints_2d"])]
    lost = _person(rng)
    lost["hand_left_keypoints_2d"] = [0.0] * 63  # OpenPose writes zeros for a part it did not find
    folder = _write_openpose(tmp_path / "vid7", [[a], [weak, b], [], [lost]])
    lm = load_landmarks(folder)  # a folder dispatches to the OpenPose reader
    assert lm.path == folder and lm.fps is None and lm.num_frames == 4 and lm.skeleton == "body25"
    pose = lm.arrays["pose"]
    assert pose.shape == (4, 25, 3) and lm.arrays["face"].shape == (4, 70, 3)
    expect = np.asarray(a["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_allclose(pose[0, :, :2], expect[:, :2] / 1000, rtol=1e-6)  # pose-format's 1000x1000
    np.testing.assert_allclose(pose[0, :, 2], expect[:, 2], rtol=1e-6)
    np.testing.assert_allclose(pose[1, :, 0], np.asarray(b["pose_keypoints_2d"]).reshape(25, 3)[:, 0] / 1000,
                               rtol=1e-6)  # the most confident person
    assert all(np.isnan(arr[2]).all() for arr in lm.arrays.values())  # nobody in frame 2
    assert np.isnan(lm.arrays["left_hand"][3]).all() and np.isfinite(lm.arrays["right_hand"][3]).all()
    sized = load_openpose_dir(folder, image_size=(2000, 500))
    np.testing.assert_allclose(sized.arrays["pose"][0, :, 1], expect[:, 1] / 500, rtol=1e-6)


def test_openpose_coco18_and_normalized_coordinates(tmp_path):
    rng = np.random.default_rng(2)
    folder = _write_openpose(tmp_path / "coco", [[_person(rng, scale=1e-3, body=18)] for _ in range(3)])
    lm = load_landmarks(folder)
    assert lm.skeleton == "coco18"
    assert np.nanmax(lm.arrays["pose"][..., :2]) < 1.0  # already in [0, 1] (--keypoint_scale 3): kept


def test_openpose_frame_numbers_order_and_gaps(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "gaps"
    folder.mkdir()
    people = {n: _person(rng) for n in (0, 2, 10)}
    for n, person in people.items():
        (folder / f"x_{n}_keypoints.json").write_text(json.dumps({"people": [person]}))
    lm = load_landmarks(folder)
    assert lm.num_frames == 11  # numeric order (10 after 2), missing frames are empty
    for n, person in people.items():
        np.testing.assert_allclose(lm.arrays["pose"][n, :, 2], np.asarray(person["pose_keypoints_2d"])[2::3],
                                   rtol=1e-6)
    assert np.isnan(lm.arrays["pose"][1]).all()


@pytest.mark.parametrize("content,match", [
    ("{not json", "not a readable OpenPose JSON file"),
    (json.dumps({"version": 1.3}), "expected an OpenPose JSON object with a 'people' list"),
    (json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 20}]}), r"'pose_keypoints_2d' has 20 numbers"),
])
def test_bad_openpose_json(tmp_path, content, match):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad_000000000000_keypoints.json").write_text(content)
    with pytest.raises(DataError, match=match) as err:
        load_landmarks(folder)
    assert "bad_000000000000_keypoints.json" in str(err.value) and "\n" not in str(err.value)


def test_openpose_folder_equals_its_pose_format_conversion(tmp_path):
    _pose_format()
    from pose_format.utils.openpose import load_openpose_directory

    rng = np.random.default_rng(4)
    folder = _write_openpose(tmp_path / "op", [[_person(rng)] for _ in range(5)])
    pose = load_openpose_directory(str(folder), fps=24)
    with open(tmp_path / "op.pose", "wb") as f:
        pose.write(f)
    a, b = load_landmarks(folder), load_landmarks(tmp_path / "op.pose")
    assert b.fps == 24 and a.fps is None
    for part in ("pose", "face", "left_hand", "right_hand"):
        np.testing.assert_allclose(a.arrays[part], b.arrays[part], rtol=1e-5, equal_nan=True)


# ------------------------------------------------------------------------------------------ discovery


def test_find_and_load_a_folder_mixing_formats(tmp_path):
    rng = np.random.default_rng(5)
    write_video(tmp_path / "a.npz", 30)
    _write_openpose(tmp_path / "sub" / "b", [[_person(rng)] for _ in range(30)])
    files = find_landmark_files(tmp_path)
    assert sorted(files) == ["a", "b"] and files["b"] == tmp_path / "sub" / "b"
    (tmp_path / "groundtruth.txt").write_text("a 0 s\nb 0 n\n")
    # a mediapipe npz and an OpenPose folder cannot share one layout: the corpus refuses the mix clearly
    with pytest.raises(DataError, match="body25"):
        load_corpus(tmp_path)


def test_corpus_reads_pose_files_beside_npz(tmp_path):
    _pose_format()
    src = shared_data("pose")
    for name in ("viewer_example.pose", "hand_estimation_84322c38ff23406f222641da30d0a49b.pose"):
        shutil.copy(src / name, tmp_path / name)
    write_video(tmp_path / "extra.npz", 40)
    (tmp_path / "groundtruth.txt").write_text(
        "viewer_example 0 s\nhand_estimation_84322c38ff23406f222641da30d0a49b 0 s\nextra 0 n\n")
    corpus = load_corpus(tmp_path)
    assert corpus.video_ids == ["extra", "hand_estimation_84322c38ff23406f222641da30d0a49b", "viewer_example"]
    assert corpus.frames["viewer_example"].shape == (97, corpus.layout.num_nodes, 2)
    assert corpus.fps["viewer_example"] == 25.0


def test_empty_folder_message_lists_every_format(tmp_path):
    with pytest.raises(DataError, match=r"no landmark files \(\.npz\) found \(searched recursively; also read: "
                                        r"\.pose, \.parquet, \.pkl, OpenPose \*_keypoints\.json folders\)"):
        find_landmark_files(tmp_path)
