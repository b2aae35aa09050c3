"""The data users already hold: GISLR parquet folders, pyskl and OpenHands pickles, and ``signstgcn convert``.

Every file here is written by the test in the exact published format, from known landmarks, so what the readers
return can be compared with what was written.
"""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from signstgcn.cli.build_video_splits import main as build_splits_main
from signstgcn.cli.convert import main as convert_main
from signstgcn.data.convert import convert
from signstgcn.data.corpus import load_corpus
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.landmarks import Landmarks, PartSelection
from signstgcn.data.readers import load_landmarks
from signstgcn.data.readers.pickles import read_pyskl
from signstgcn.data.writers import write_npz
from signstgcn.errors import DataError

pa = pytest.importorskip("pyarrow", reason="GISLR parquet files need the [parquet] extra (pyarrow)")
import pyarrow.parquet as pq  # noqa: E402

GISLR_ORDER = (("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21))  # Kaggle's row order


def _holistic(T: int, seed: int, *, left_hand: bool = True) -> dict[str, np.ndarray]:
    """MediaPipe-like parts (x, y, z) with whole hands missing in some frames and a few NaN points."""
    rng = np.random.default_rng(seed)
    parts = {name: rng.uniform(0.2, 0.8, size=(T, n, 3)).astype(np.float32) for name, n in GISLR_ORDER}
    parts["right_hand"][rng.random(T) < 0.3] = np.nan  # the hand was not found in these frames
    parts["pose"][:, 25:] = np.nan  # legs out of the frame
    if not left_hand:
        parts["left_hand"][:] = np.nan  # a signer whose left hand is never seen
    return parts


def _write_gislr_parquet(path: Path, parts: dict[str, np.ndarray], first_frame: int, extra_type: bool = False):
    """One clip in the GISLR schema: a row per landmark per frame, NaN rows for what was not found."""
    frame, row_id, kind, index, x, y, z = [], [], [], [], [], [], []
    T = next(iter(parts.values())).shape[0]
    for t in range(T):
        for name, n in GISLR_ORDER + ((("hat", 2),) if extra_type else ()):
            values = parts[name][t] if name in parts else np.zeros((n, 3), np.float32)
            for i in range(n):
                frame.append(first_frame + t)
                row_id.append(f"{first_frame + t}-{name}-{i}")
                kind.append(name)
                index.append(i)
                x.append(float(values[i, 0]))
                y.append(float(values[i, 1]))
                z.append(float(values[i, 2]))
    table = pa.table({"frame": pa.array(frame, pa.int16()), "row_id": row_id, "type": kind,
                      "landmark_index": pa.array(index, pa.int16()), "x": pa.array(x, pa.float64()),
                      "y": pa.array(y, pa.float64()), "z": pa.array(z, pa.float64())})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _gislr_folder(root: Path, *, class_map: bool = True) -> dict[str, dict]:
    """A small asl-signs folder: 8 clips of 4 participants, 2 signs each; returns the clips by sequence id."""
    clips, rows = {}, ["path,participant_id,sequence_id,sign"]
    for k in range(8):
        participant, seq, sign = 100 + k % 4, str(5000 + k), ("hello", "thanks")[k // 4]
        parts = _holistic(12 + k, seed=k, left_hand=k != 3)
        rel = f"train_landmark_files/{participant}/{seq}.parquet"
        _write_gislr_parquet(root / rel, parts, first_frame=17 + k)
        clips[seq] = {"parts": parts, "participant": str(participant), "sign": sign}
        rows.append(f"{rel},{participant},{seq},{sign}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    if class_map:
        (root / "sign_to_prediction_index_map.json").write_text(json.dumps({"thanks": 0, "hello": 1}))
    return clips


def _assert_parts_equal(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)


# ------------------------------------------------------------------------------------------ GISLR


def test_a_gislr_parquet_gives_the_landmarks_it_was_written_from(tmp_path):
    parts = _holistic(15, seed=1, left_hand=False)
    _write_gislr_parquet(tmp_path / "1.parquet", parts, first_frame=40)
    lm = load_landmarks(tmp_path / "1.parquet")
    _assert_parts_equal(lm.arrays, parts)
    assert lm.num_frames == 15 and lm.face_points == 468 and lm.skeleton == "mediapipe"


def test_a_gislr_folder_is_read_like_the_equivalent_npz_folder_with_signers_and_labels(tmp_path):
    clips = _gislr_folder(tmp_path / "gislr")
    npz = tmp_path / "npz"
    for seq, clip in clips.items():
        write_npz(npz / f"{seq}.npz", Landmarks(Path(seq), clip["parts"]))
    (npz / "groundtruth.txt").write_text("".join(f"{s} 0 {c['sign']}\n" for s, c in clips.items()))
    (npz / "signers.txt").write_text("".join(f"{s} {c['participant']}\n" for s, c in clips.items()))
    selection = PartSelection(include_pose=True, include_hands=True, include_face=True, coords=3)
    a, b = load_corpus(tmp_path / "gislr", selection=selection), load_corpus(npz, selection=selection)
    assert a.video_ids == b.video_ids == sorted(clips)
    for vid in a.video_ids:
        np.testing.assert_array_equal(a.frames[vid], b.frames[vid])
        assert a.gt.segments(vid, 99) == b.gt.segments(vid, 99) == [(0, 99, clips[vid]["sign"])]
    assert a.signers == b.signers == {s: c["participant"] for s, c in clips.items()}
    vocab = build_vocab(a.gt, a.video_ids, binary=False)
    assert vocab.classes == ("thanks", "hello")  # sign_to_prediction_index_map.json's order, not sorted


def test_participants_make_signer_disjoint_splits_of_a_gislr_folder(tmp_path, capsys):
    _gislr_folder(tmp_path / "gislr")
    out = tmp_path / "splits.json"
    assert build_splits_main(["--data", str(tmp_path / "gislr"), "--out", str(out), "--group-by", "signer",
                              "--multiclass", "--sample-mode", "video", "--train", "0.5", "--val", "0.25",
                              "--test", "0.25", "--seed", "0"]) == 0
    split = json.loads(out.read_text())["splits"]
    participant = {str(5000 + k): 100 + k % 4 for k in range(8)}
    people = {name: {participant[v] for v in vids} for name, vids in split.items()}
    assert sum(len(v) for v in split.values()) == 8
    assert not (people["train"] & people["val"]) and not (people["train"] & people["test"])
    assert not (people["val"] & people["test"])


def test_gislr_bad_rows_and_types_each_get_one_line_and_the_rest_is_read(tmp_path, caplog):
    root = tmp_path / "gislr"
    clips = _gislr_folder(root, class_map=False)
    (root / "train_landmark_files/101/5001.parquet").unlink()  # a train.csv row without its parquet
    _write_gislr_parquet(root / "train_landmark_files/102/5002.parquet", clips["5002"]["parts"], 3,
                         extra_type=True)
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(root, selection=PartSelection(coords=3))
    messages = [r.getMessage() for r in caplog.records]
    assert any("5001" in m and "no landmark file" in m for m in messages), messages
    assert any("5002.parquet" in m and "unknown landmark type 'hat'" in m for m in messages), messages
    assert corpus.video_ids == sorted(set(clips) - {"5001"})
    bad = root / "broken.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: not a GISLR landmark parquet"):
        load_landmarks(bad)


# ------------------------------------------------------------------------------------------ pickles


def _coco_person(T: int, rng, V: int = 17) -> np.ndarray:
    return rng.uniform(10, 600, size=(T, V, 2)).astype(np.float32)  # pixels


def test_a_pyskl_pickle_maps_coco_keypoints_and_gives_clips_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    anns = []
    for k in range(4):
        kp = np.stack([_coco_person(10, rng), _coco_person(10, rng)])  # (M=2, T, V, 2)
        score = np.stack([np.full((10, 17), 0.2), np.full((10, 17), 0.9)]).astype(np.float32)
        score[1, 3, 9] = 0.0  # person 1's left wrist not found in frame 3
        anns.append({"frame_dir": f"clip{k}", "label": k % 2, "img_shape": (480, 640), "total_frames": 10,
                     "keypoint": kp, "keypoint_score": score})
    path = tmp_path / "ann.pkl"
    path.write_bytes(pickle.dumps({"split": {"train": ["clip0", "clip1"]}, "annotations": anns}))
    clips = read_pyskl(path)
    assert list(clips.videos) == ["clip0", "clip1", "clip2", "clip3"] and clips.labels["clip3"] == "1"
    pose = clips.videos["clip0"].arrays["pose"]  # (T, 18, 3) OpenPose COCO-18, the better-scored person
    kp = anns[0]["keypoint"][1] / np.array([640, 480], dtype=np.float32)
    np.testing.assert_allclose(pose[:, 5, :2], kp[:, 5])  # left shoulder
    np.testing.assert_allclose(pose[:, 2, :2], kp[:, 6])  # right shoulder
    np.testing.assert_allclose(pose[:, 1, :2], (kp[:, 5] + kp[:, 6]) / 2, rtol=1e-6)  # neck = shoulder midpoint
    assert np.isnan(pose[3, 7]).all() and np.isfinite(pose[2, 7]).all()  # left wrist missing in frame 3 only
    corpus = load_corpus(path, selection=PartSelection(include_pose=True))
    assert corpus.layout.skeleton == "coco18" and corpus.video_ids == list(clips.videos)
    assert build_vocab(corpus.gt, corpus.video_ids, binary=False).classes == ("0", "1")


def test_pyskl_wholebody_keypoints_become_body25_hands_and_face(tmp_path):
    rng = np.random.default_rng(1)
    kp = _coco_person(6, rng, V=133)[None]  # (1, T, 133, 2)
    path = tmp_path / "wb.pkl"
    path.write_bytes(pickle.dumps([{"frame_dir": "a", "label": 0, "img_shape": (100, 200), "keypoint": kp}]))
    lm = read_pyskl(path).videos["a"]
    xy = kp[0] / np.array([200, 100], dtype=np.float32)
    assert lm.skeleton == "body25" and lm.face_points == 70
    np.testing.assert_allclose(lm.arrays["left_hand"][..., :2], xy[:, 91:112])
    np.testing.assert_allclose(lm.arrays["right_hand"][..., :2], xy[:, 112:133])
    np.testing.assert_allclose(lm.arrays["face"][:, :68, :2], xy[:, 23:91])
    assert np.isnan(lm.arrays["face"][:, 68:]).all()  # OpenPose's pupils are not COCO-WholeBody points
    np.testing.assert_allclose(lm.arrays["pose"][:, 19, :2], xy[:, 17])  # left big toe


def test_a_pickle_of_another_layout_is_refused_in_one_line(tmp_path):
    ntu = tmp_path / "ntu.pkl"
    ntu.write_bytes(pickle.dumps({"annotations": [{"frame_dir": "S001C001P001R001A001", "label": 0,
                                                   "keypoint": np.zeros((1, 5, 25, 3), np.float32)}]}))
    with pytest.raises(DataError, match="NTU RGB\\+D's 25 Kinect joints cannot be mapped") as err:
        read_pyskl(ntu)
    assert "\n" not in str(err.value)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"keypoints": np.zeros((5, 99, 3))}))
    with pytest.raises(DataError, match=r"OpenHands keypoints of shape \(5, 99, 3\)"):
        load_landmarks(other)
    with pytest.raises(DataError, match="a pyskl pickle of many clips"):
        load_landmarks(ntu)


def test_an_openhands_pickle_gives_the_same_landmarks_as_the_npz(tmp_path):
    parts = _holistic(9, seed=4)
    vis = np.random.default_rng(2).uniform(0.1, 1.0, size=(9, 33)).astype(np.float32)
    body = np.concatenate([parts["pose"], parts["left_hand"], parts["right_hand"]], axis=1)  # (T, 75, 3)
    found = np.isfinite(body).all(axis=-1)
    conf = np.where(found, np.concatenate([vis, np.ones((9, 42), np.float32)], axis=1), 0.0)
    path = tmp_path / "clip.pkl"
    path.write_bytes(pickle.dumps({"keypoints": np.nan_to_num(body, nan=0.0), "confidences": conf}))
    lm = load_landmarks(path)
    pose = np.concatenate([parts["pose"], np.where(found[:, :33], vis, np.nan)[..., None]], axis=2)
    _assert_parts_equal(lm.arrays, {"pose": pose, "left_hand": parts["left_hand"],
                                    "right_hand": parts["right_hand"]})


# ------------------------------------------------------------------------------------------ convert


def _npz_folder(root: Path) -> dict[str, dict[str, np.ndarray]]:
    """MediaPipe npz files (pose with visibility, hands, 478-point face) and one OpenPose BODY_25 file."""
    rng = np.random.default_rng(5)
    videos = {}
    for k in range(3):
        parts = _holistic(7 + k, seed=10 + k)
        parts["face"] = rng.uniform(0.3, 0.6, size=(7 + k, 478, 3)).astype(np.float32)
        vis = rng.uniform(0.0, 1.0, size=(7 + k, 33, 1)).astype(np.float32)
        parts["pose"] = np.concatenate([parts["pose"], np.where(np.isfinite(parts["pose"][..., :1]), vis, np.nan)],
                                       axis=2)
        videos[f"v{k}"] = parts
    op = rng.uniform(0.1, 0.9, size=(6, 25, 3)).astype(np.float32)
    op[:, 10:] = np.nan
    videos["op"] = {"pose": op}
    for vid, parts in videos.items():
        write_npz(root / f"{vid}.npz", Landmarks(Path(vid), parts, fps=25.0))
    (root / "groundtruth.txt").write_text("v0 0 idle\nv0 3 sign with spaces\nv1 0 s\nv2 2 s\nop 0 s\n")
    (root / "signers.txt").write_text("v0 ann\nv1 ann\nv2 bob\nop carl\n")
    return videos


def test_convert_npz_to_pose_and_back_keeps_every_coordinate_and_label(tmp_path, capsys):
    pytest.importorskip("pose_format", reason="writing .pose files needs the [pose] extra")
    videos = _npz_folder(tmp_path / "npz")
    assert convert_main([str(tmp_path / "npz"), str(tmp_path / "pose"), "--to", "pose", "--quiet"]) == 0
    assert "wrote 4 .pose files" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "pose").glob("*.pose")) == ["op.pose", "v0.pose", "v1.pose",
                                                                         "v2.pose"]
    report = convert(tmp_path / "pose", tmp_path / "back", "npz")
    assert sorted(report.written) == sorted(videos) and not report.failed
    for vid, parts in videos.items():
        lm = load_landmarks(tmp_path / "back" / f"{vid}.npz")
        _assert_parts_equal(lm.arrays, parts)
        assert lm.fps == 25.0
    for name in ("groundtruth.txt", "signers.txt"):
        assert sorted((tmp_path / "back" / name).read_text().splitlines()) == \
            sorted((tmp_path / "npz" / name).read_text().splitlines())


def test_convert_refuses_a_non_empty_output_and_reports_unreadable_files(tmp_path, capsys):
    _npz_folder(tmp_path / "npz")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert convert_main([str(tmp_path / "npz"), str(tmp_path / "out"), "--to", "npz"]) == 2
    assert "folder is not empty; pass --overwrite" in capsys.readouterr().err
    (tmp_path / "npz" / "v1.npz").write_bytes(b"broken")
    assert convert_main([str(tmp_path / "npz"), str(tmp_path / "out2"), "--to", "npz", "--quiet"]) == 1
    assert "wrote 3 .npz files" in capsys.readouterr().out and not (tmp_path / "out2" / "v1.npz").exists()
    assert "v1 " not in (tmp_path / "out2" / "groundtruth.txt").read_text()


def test_convert_a_gislr_folder_keeps_participants_and_signs(tmp_path):
    clips = _gislr_folder(tmp_path / "gislr")
    report = convert(tmp_path / "gislr", tmp_path / "npz", "npz")
    assert sorted(report.written) == sorted(clips)
    corpus = load_corpus(tmp_path / "npz")
    assert corpus.signers == {s: c["participant"] for s, c in clips.items()}
    assert {v: corpus.gt.annotations[v] for v in clips} == {s: [(0, c["sign"])] for s, c in clips.items()}


def test_without_pyarrow_a_parquet_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    _write_gislr_parquet(tmp_path / "1.parquet", _holistic(3, seed=0), first_frame=0)
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(DataError, match=r"1\.parquet: reading GISLR parquet files needs pyarrow "
                                        r"\(pip install 'signstgcn\[parquet\]'\)"):
        load_landmarks(tmp_path / "1.parquet")
