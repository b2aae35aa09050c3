"""Synthetic MediaPipe-like data (`signstgcn.data.synthetic`) and the `make-demo-data` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from signstgcn.cli import make_demo_data
from signstgcn.data.synthetic import (
    NUM_FACE,
    NUM_HAND,
    NUM_POSE,
    SyntheticInfo,
    class_names,
    face_template,
    generate_dataset,
    hand_landmarks,
)
from signstgcn.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SMALL_DET = {"task": "detection", "num_signers": 3, "videos_per_signer": 2, "frames": (150, 220), "seed": 3}
SMALL_REC = {"task": "recognition", "num_signers": 3, "videos_per_signer": 6, "num_classes": 3, "seed": 3}


@pytest.fixture(scope="module")
def det(tmp_path_factory: pytest.TempPathFactory) -> SyntheticInfo:
    return generate_dataset(tmp_path_factory.mktemp("det") / "data", **SMALL_DET)


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> SyntheticInfo:
    return generate_dataset(tmp_path_factory.mktemp("rec") / "data", **SMALL_REC)


def load(info: SyntheticInfo, vid: str) -> dict[str, np.ndarray]:
    with np.load(Path(info.out_dir) / f"{vid}.npz") as d:
        return {k: d[k] for k in d.files}


def read_pairs(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def read_groundtruth(info: SyntheticInfo) -> dict[str, list[tuple[int, str]]]:
    gt: dict[str, list[tuple[int, str]]] = {}
    for vid, frame, label in read_pairs(Path(info.out_dir) / "groundtruth.txt"):
        gt.setdefault(vid, []).append((int(frame), label))
    return gt


def frame_labels(annotations: list[tuple[int, str]], T: int) -> np.ndarray:
    """(T,) label of every frame (forward fill from each annotated start)."""
    out = np.empty(T, dtype=object)
    for i, (start, label) in enumerate(annotations):
        end = annotations[i + 1][0] if i + 1 < len(annotations) else T
        out[start:end] = label
    return out


def shoulder_width(pose: np.ndarray) -> float:
    return float(np.nanmedian(np.linalg.norm(pose[:, 11, :2] - pose[:, 12, :2], axis=-1)))


# ----------------------------------------------------------------------------------------- format


def test_files_keys_shapes_and_dtypes(det: SyntheticInfo, rec: SyntheticInfo):
    for info in (det, rec):
        folder = Path(info.out_dir)
        assert {p.name for p in folder.iterdir()} == {f"{v}.npz" for v in info.video_ids} | {
            "groundtruth.txt", "signers.txt", "synthetic.json"}
        for vid in info.video_ids:
            d = load(info, vid)
            T = info.num_frames[vid]
            assert set(d) == {"pose", "left_hand", "right_hand", "fps"}
            assert d["pose"].shape == (T, NUM_POSE, 4)
            assert d["left_hand"].shape == d["right_hand"].shape == (T, NUM_HAND, 3)
            assert all(d[k].dtype == np.float32 for k in ("pose", "left_hand", "right_hand"))
            assert d["fps"].shape == () and float(d["fps"]) == 25.0
    assert det.classes == ["n", "s"] and rec.classes == class_names(3) == ["sign00", "sign01", "sign02"]
    assert len(det.video_ids) == 3 * 2 and len(rec.video_ids) == 3 * 6
    assert all(150 <= det.num_frames[v] <= 220 for v in det.video_ids)
    assert all(30 <= rec.num_frames[v] <= 60 for v in rec.video_ids)


def test_face_mesh_written_on_request(tmp_path: Path):
    info = generate_dataset(tmp_path, task="recognition", num_signers=1, videos_per_signer=2, num_classes=2,
                            include_face=True)
    d = load(info, info.video_ids[0])
    face = d["face"]
    assert face.shape == (info.num_frames[info.video_ids[0]], NUM_FACE, 3) and face.dtype == np.float32
    ok = np.isfinite(face[:, 0, 0])
    assert ok.mean() > 0.9
    pose = d["pose"][ok]
    # the mesh surrounds the pose nose and is about as wide as the head, narrower than the shoulders
    width = np.nanmax(face[ok, :, 0], axis=1) - np.nanmin(face[ok, :, 0], axis=1)
    assert np.all(width < np.linalg.norm(pose[:, 11, :2] - pose[:, 12, :2], axis=-1))
    assert np.allclose(face[ok, 1, :2], pose[:, 0, :2], atol=0.02)
    assert face_template().shape == (NUM_FACE, 3) and np.isfinite(face_template()).all()


def test_signer_scalar_only_on_request(tmp_path: Path, det: SyntheticInfo):
    assert "signer" not in load(det, det.video_ids[0])
    info = generate_dataset(tmp_path, task="recognition", num_signers=2, videos_per_signer=1, num_classes=1,
                            write_signer_scalar=True)
    for vid in info.video_ids:
        assert str(load(info, vid)["signer"]) == info.signer_of[vid]


def test_hand_model_topology():
    shape = np.zeros((1, 7))  # open flat hand, fingers up, palm to the camera
    pts = hand_landmarks(shape, np.zeros(1), np.zeros(1))[0]  # (21, 3)
    assert pts.shape == (NUM_HAND, 3) and np.allclose(pts[0], 0)
    for tip, mcp in ((8, 5), (12, 9), (16, 13), (20, 17)):
        assert pts[tip, 1] < pts[mcp, 1] < 0  # fingers point up (y down)
    assert pts[4, 0] > pts[20, 0]  # right hand, palm to the camera: thumb toward +x, pinky toward -x
    fist = hand_landmarks(np.array([[0.5, 1, 1, 1, 1, 0, 0.4]]), np.zeros(1), np.zeros(1))[0]
    assert np.linalg.norm(fist[12, :2]) < np.linalg.norm(pts[12, :2])  # curled fingers are shorter


# ------------------------------------------------------------------------------------ realism


def test_coordinates_follow_mediapipe_conventions(det: SyntheticInfo):
    for vid in det.video_ids:
        d = load(det, vid)
        pose = d["pose"]
        head_and_shoulders = pose[:, :13, :2]
        assert np.nanmin(head_and_shoulders) > 0.0 and np.nanmax(head_and_shoulders) < 1.0
        assert np.nanmin(pose[..., 3]) >= 0.0 and np.nanmax(pose[..., 3]) <= 1.0
        assert np.nanmedian(pose[:, :13, 3]) > 0.9  # face and shoulders visible
        assert np.nanmax(pose[:, 25:, 3]) < 0.1 and np.nanmin(pose[:, 25:, 1]) > 1.0  # legs below the frame
        assert np.nanmax(np.abs(pose[..., 2])) < 3.0
        # person faces the camera: their left shoulder (11) is on the image right
        assert np.nanmedian(pose[:, 11, 0] - pose[:, 12, 0]) > 0
        assert np.nanmedian(pose[:, 0, 1]) < np.nanmedian(pose[:, 11, 1])  # nose above shoulders (y down)
        for part in ("left_hand", "right_hand"):
            h = d[part]
            if np.isfinite(h).any():
                assert np.nanmin(h[..., :2]) > -0.3 and np.nanmax(h[..., :2]) < 1.3  # fingers may leave the frame
                assert np.nanmax(np.abs(h[..., 2])) < 0.3 and np.nanmax(np.abs(h[:, 0, 2])) == 0.0


def test_hands_attach_to_their_pose_wrist(det: SyntheticInfo):
    for vid in det.video_ids:
        d = load(det, vid)
        pose = d["pose"]
        sw = shoulder_width(pose)
        for part, own, other in (("left_hand", 15, 16), ("right_hand", 16, 15)):
            h = d[part]
            ok = np.isfinite(h[:, 0, 0]) & np.isfinite(pose[:, 0, 0])
            if ok.sum() < 5:
                continue
            d_own = np.linalg.norm(h[ok, 0, :2] - pose[ok, own, :2], axis=-1)
            d_other = np.linalg.norm(h[ok, 0, :2] - pose[ok, other, :2], axis=-1)
            assert np.median(d_own) < 0.2 * sw and np.median(d_own) < np.median(d_other)


def test_resting_hands_mostly_missing_signing_hands_present(det: SyntheticInfo):
    gt = read_groundtruth(det)
    rest_rates, sign_rates, inner_rates, dropouts = [], [], [], []
    for vid in det.video_ids:
        d = load(det, vid)
        labels = frame_labels(gt[vid], det.num_frames[vid])
        signer = det.signers[det.signer_of[vid]]
        dominant = "right_hand" if signer.right_handed else "left_hand"
        present = {k: np.isfinite(d[k][:, 0, 0]) for k in ("left_hand", "right_hand")}
        rest = labels == "n"
        rest_rates.append((present["left_hand"][rest].mean() + present["right_hand"][rest].mean()) / 2)
        sign_rates.append(present[dominant][labels == "s"].mean())
        inner = np.zeros(len(labels), bool)  # signing frames away from the raise / lower at segment edges
        ann = gt[vid] + [(len(labels), "")]
        for (start, label), (end, _) in zip(ann, ann[1:]):
            inner[start + 10:end - 10] = label == "s"
        inner_rates.append(present[dominant][inner].mean())
        dropouts.append(np.isnan(d["pose"][:, 0, 0]).mean())
    assert np.mean(rest_rates) < 0.3 and np.mean(sign_rates) > 0.6 and np.mean(inner_rates) > 0.85
    assert min(inner_rates) < 1.0  # detection dropouts while signing
    assert max(dropouts) < 0.03


def test_signers_differ_in_shoulder_width_and_have_both_handednesses(tmp_path: Path):
    info = generate_dataset(tmp_path, task="detection", num_signers=6, videos_per_signer=1, frames=(60, 80))
    widths: dict[str, list[float]] = {}
    for vid in info.video_ids:
        widths.setdefault(info.signer_of[vid], []).append(shoulder_width(load(info, vid)["pose"]))
    med = np.sort([np.median(w) for w in widths.values()])
    assert len(med) == 6 and np.min(np.diff(med) / med[:-1]) > 0.03
    assert {s.right_handed for s in info.signers.values()} == {True, False}


# ----------------------------------------------------------------------------- annotation files


def test_groundtruth_and_signers_files(det: SyntheticInfo, rec: SyntheticInfo):
    for info in (det, rec):
        gt = read_groundtruth(info)
        assert sorted(gt) == sorted(info.video_ids)
        for vid, ann in gt.items():
            frames = [f for f, _ in ann]
            assert frames[0] == 0 and frames == sorted(set(frames)) and frames[-1] < info.num_frames[vid]
            assert {label for _, label in ann} <= set(info.classes)
        signers = dict(read_pairs(Path(info.out_dir) / "signers.txt"))
        assert signers == info.signer_of
        assert all(vid.startswith(f"{signers[vid]}_vid") for vid in info.video_ids)
    det_labels = [label for ann in read_groundtruth(det).values() for _, label in ann]
    assert set(det_labels) == {"n", "s"}
    for ann in read_groundtruth(det).values():  # segments alternate
        assert all(a[1] != b[1] for a, b in zip(ann, ann[1:]))
    rec_gt = read_groundtruth(rec)
    assert all(len(ann) == 1 and ann[0][1] == rec.labels[vid] for vid, ann in rec_gt.items())


def test_same_seed_same_data_other_seed_differs(tmp_path: Path):
    kwargs = {"task": "detection", "num_signers": 2, "videos_per_signer": 1, "frames": (80, 120)}
    a = generate_dataset(tmp_path / "a", seed=5, **kwargs)
    b = generate_dataset(tmp_path / "b", seed=5, **kwargs)
    c = generate_dataset(tmp_path / "c", seed=6, **kwargs)
    assert a.video_ids == b.video_ids and a.num_frames == b.num_frames
    for vid in a.video_ids:
        da, db = load(a, vid), load(b, vid)
        assert all(np.array_equal(da[k], db[k], equal_nan=True) for k in da)
    for name in ("groundtruth.txt", "signers.txt"):
        assert (tmp_path / "a" / name).read_text().replace("seed=5", "") == (tmp_path / "b" / name).read_text(
        ).replace("seed=5", "")
    vid = a.video_ids[0]
    assert a.num_frames != c.num_frames or not np.array_equal(load(a, vid)["pose"], load(c, vid)["pose"],
                                                              equal_nan=True)


def test_signer_class_bias_ties_classes_to_signers(tmp_path: Path):
    kwargs = {"task": "recognition", "num_signers": 6, "videos_per_signer": 10, "num_classes": 5, "seed": 2,
              "frames": (30, 40)}
    fair = generate_dataset(tmp_path / "fair", signer_class_bias=0.0, **kwargs)
    biased = generate_dataset(tmp_path / "biased", signer_class_bias=1.0, **kwargs)

    def counts(info: SyntheticInfo) -> np.ndarray:  # (signers, classes)
        table = np.zeros((6, 5), int)
        for vid, label in info.labels.items():
            table[sorted(info.signers).index(info.signer_of[vid]), info.classes.index(label)] += 1
        return table

    assert (counts(fair) == 2).all()  # balanced per signer at bias 0
    table = counts(biased)
    for row, signer in zip(table, sorted(biased.signers)):
        assert set(np.flatnonzero(row)) <= set(biased.signers[signer].preferred_classes)
    # the style cue follows the preferred class: speed rises with it across signers
    speed = [biased.signers[s].speed for s in sorted(biased.signers)]
    first = [biased.signers[s].preferred_classes[0] for s in sorted(biased.signers)]
    assert np.corrcoef(speed, first)[0, 1] > 0.9


def test_detection_bias_changes_signing_share(tmp_path: Path):
    kwargs = {"task": "detection", "num_signers": 4, "videos_per_signer": 2, "frames": (400, 450), "seed": 4}
    fair = generate_dataset(tmp_path / "fair", signer_class_bias=0.0, **kwargs)
    biased = generate_dataset(tmp_path / "biased", signer_class_bias=1.0, **kwargs)
    assert all(s.signing_share == 0.5 for s in fair.signers.values())
    measured, target = [], []
    gt = read_groundtruth(biased)
    for signer, style in sorted(biased.signers.items()):
        labels = np.concatenate([frame_labels(gt[v], biased.num_frames[v]) for v in biased.video_ids
                                 if biased.signer_of[v] == signer])
        measured.append(np.mean(labels == "s"))
        target.append(style.signing_share)
    assert np.ptp(target) > 0.3 and np.corrcoef(measured, target)[0, 1] > 0.7


# --------------------------------------------------------------------------------- folder safety


def test_refuses_non_empty_folder_and_overwrites_only_its_own_files(tmp_path: Path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="user.*not empty"):
        generate_dataset(user, task="recognition", num_signers=1, videos_per_signer=1, num_classes=1)
    assert [p.name for p in user.iterdir()] == ["notes.txt"]

    out = tmp_path / "out"
    generate_dataset(out, task="recognition", num_signers=2, videos_per_signer=3, num_classes=2)
    with pytest.raises(DataError, match="not empty"):
        generate_dataset(out, task="recognition", num_signers=2, videos_per_signer=3, num_classes=2)
    (out / "keep.md").write_text("notes")
    small = generate_dataset(out, task="recognition", num_signers=1, videos_per_signer=2, num_classes=2,
                             overwrite=True)
    assert sorted(p.stem for p in out.glob("*.npz")) == sorted(small.video_ids)  # no stale videos left
    assert (out / "keep.md").read_text() == "notes"

    (out / "my_recording.npz").write_bytes(b"user data")
    with pytest.raises(DataError, match="other landmark files"):
        generate_dataset(out, task="recognition", num_signers=1, videos_per_signer=1, num_classes=1,
                         overwrite=True)
    assert (out / "my_recording.npz").read_bytes() == b"user data"
    assert len(list(out.glob("sig*.npz"))) == 2  # refused before deleting anything

    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        generate_dataset(tmp_path / "file", task="detection")


@pytest.mark.parametrize("kwargs, match", [
    ({"task": "segmentation"}, "task"),
    ({"num_signers": 0}, "num_signers"),
    ({"videos_per_signer": 0}, "videos_per_signer"),
    ({"num_classes": 0}, "num_classes"),
    ({"signer_class_bias": 1.5}, "signer_class_bias"),
    ({"fps": 0.0}, "fps"),
    ({"frames": (50, 20)}, "frames"),
])
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        generate_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------- learnability


def _normalized(d: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Wrists (T, 2, 2) and middle fingertips (T, 2, 2) (left, right) relative to the shoulders, + presence."""
    pose = d["pose"]
    mid = np.nanmedian((pose[:, 11, :2] + pose[:, 12, :2]) / 2, axis=0)
    sw = shoulder_width(pose)
    wrists = (pose[:, [15, 16], :2] - mid) / sw
    tips = (np.stack([d["left_hand"][:, 12, :2], d["right_hand"][:, 12, :2]], 1) - mid) / sw
    present = np.stack([np.isfinite(d["left_hand"][:, 0, 0]), np.isfinite(d["right_hand"][:, 0, 0])], 1)
    return np.nan_to_num(np.concatenate([wrists, tips], axis=1)), present


def _clip_features(d: dict[str, np.ndarray], steps: int = 8) -> np.ndarray:
    """Dominant-hand-first (mirrored for left-handers) trajectory at `steps` times + presence."""
    x, present = _normalized(d)  # (T, 4, 2): l/r wrist, l/r tip
    motion = np.abs(np.diff(x[:, :2], axis=0)).sum(axis=(0, 2))
    if motion[0] > motion[1]:  # left hand dominant: mirror
        x = x[:, [1, 0, 3, 2]] * np.array([-1.0, 1.0])
        present = present[:, ::-1]
    idx = np.linspace(0, len(x) - 1, steps).round().astype(int)
    return np.concatenate([x[idx].ravel(), present[idx].ravel()])


def _signer_split(signers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    test = {s for s in sorted(set(signers))[-2:]}
    mask = np.array([s in test for s in signers])
    return ~mask, mask


def test_simple_features_learnable_on_unseen_signers(tmp_path: Path):
    """Logistic regression on wrist/fingertip features, trained and tested on different signers."""
    rec = generate_dataset(tmp_path / "rec", task="recognition", num_signers=6, videos_per_signer=20, seed=0)
    X = np.stack([_clip_features(load(rec, v)) for v in rec.video_ids])
    y = np.array([rec.labels[v] for v in rec.video_ids])
    tr, te = _signer_split([rec.signer_of[v] for v in rec.video_ids])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(X[tr], y[tr])
    assert (clf.predict(X[te]) == y[te]).mean() > 0.85

    det = generate_dataset(tmp_path / "det", task="detection", num_signers=6, videos_per_signer=2, seed=0)
    gt = read_groundtruth(det)
    X, y, groups = [], [], []
    for vid in det.video_ids:
        x, present = _normalized(load(det, vid))
        labels = frame_labels(gt[vid], det.num_frames[vid]) == "s"
        for s in range(0, len(x) - 25, 5):
            w = x[s:s + 25]
            X.append(np.concatenate([w[:, :2, 1].mean(0), w[:, :2, 1].min(0), present[s:s + 25].mean(0),
                                     np.abs(np.diff(w[:, :2], axis=0)).sum(-1).mean(0)]))
            y.append(labels[s:s + 25].mean() > 0.5)
            groups.append(det.signer_of[vid])
    X, y = np.array(X), np.array(y)
    tr, te = _signer_split(groups)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(X[tr], y[tr])
    ap = average_precision_score(y[te], clf.predict_proba(X[te])[:, 1])
    acc = (clf.predict(X[te]) == y[te]).mean()
    assert ap > y[te].mean() + 0.25 and 0.65 < acc < 0.99  # learnable, but not a trivial switch


# ----------------------------------------------------------------------------------------- CLI


def test_cli_writes_both_datasets_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "demo"
    argv = [str(out), "--signers", "2", "--videos-per-signer", "2", "--classes", "3", "--seed", "1"]
    assert make_demo_data.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "detection" in lines[0] and "recognition" in lines[1]
    assert "4 videos" in lines[1] and "sign00,sign01,sign02" in lines[1]
    for task in ("detection", "recognition"):
        assert (out / task / "groundtruth.txt").is_file() and len(list((out / task).glob("*.npz"))) == 4

    before = sorted(p.name for p in (out / "detection").iterdir())
    assert make_demo_data.main([*argv, "--task", "both"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err and "Traceback" not in err
    assert sorted(p.name for p in (out / "detection").iterdir()) == before
    assert make_demo_data.main([*argv, "--overwrite", "--signer-class-bias", "0.5"]) == 0

    assert make_demo_data.main([str(tmp_path / "bad"), "--signer-class-bias", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "signer_class_bias" in err


def test_cli_module_entry_point(tmp_path: Path):
    out = tmp_path / "rec"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "signstgcn.cli.make_demo_data", str(out), "--task", "recognition",
         "--signers", "2", "--videos-per-signer", "3", "--classes", "3", "--face"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and "recognition: 6 videos, 2 signers" in proc.stdout
    with np.load(next(out.glob("*.npz"))) as d:
        assert d["face"].shape[1:] == (NUM_FACE, 3)
