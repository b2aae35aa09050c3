"""Camera geometry: the frame size (``image_size``) travels with the landmarks, makes x and y isotropic, and the
aspect-ratio augmentation draws cameras for files that do not know theirs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from signstgcn.data.drawing import drawn_xy
from signstgcn.data.landmarks import Landmarks, PartSelection, isotropic, select_joints
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.readers import load_landmarks
from signstgcn.data.readers.openpose import load_openpose_dir
from signstgcn.data.streams import join_clips
from signstgcn.data.transforms import Normalize, RandomAspect, default_eval_transforms, default_train_transforms
from signstgcn.data.writers import write_npz
from signstgcn.errors import DataError
from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.streaming import IncrementalDetector, frame_array
from tests.test_streaming import predictor, random_model, stream_frames

SELECTION = PartSelection(include_pose=True, include_hands=True, coords=3)
SPEC = SELECTION.layout_spec()
LAYOUT = SPEC.build()


def _body_pixels(T: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """A moving upper body in pixels (x, y, z with z in pixels like x): pose (T, 33, 3) and both hands."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((T, 33, 3))
    pose[:, :, 0] = rng.uniform(300, 500, 33)
    pose[:, :, 1] = rng.uniform(200, 600, 33)
    pose[:, 11, :2], pose[:, 12, :2] = (520, 400), (380, 410)  # shoulders
    pose[..., 2] = rng.normal(0, 40, (T, 33))
    pose[..., :2] += np.cumsum(rng.normal(0, 3, (T, 1, 2)), axis=0)
    hands = {side: np.stack([pose[:, wrist, :]] * 21, axis=1) + rng.normal(0, 15, (T, 21, 3))
             for side, wrist in (("left_hand", 15), ("right_hand", 16))}
    return {"pose": pose, **hands}


def _as_seen_by(pixels: dict[str, np.ndarray], width: float, height: float, *, known: bool = True) -> Landmarks:
    """MediaPipe's view of ``pixels`` in a ``width`` x ``height`` frame: x, z / width, y / height."""
    scale = np.array([width, height, width])
    arrays = {k: (v / scale).astype(np.float32) for k, v in pixels.items()}
    return Landmarks(Path("clip.npz"), arrays, fps=30.0, image_size=(width, height) if known else None)


def _normalized(landmarks: Landmarks, isotropic_xy: bool = True) -> np.ndarray:
    raw = select_joints(landmarks, LAYOUT, 3, isotropic_xy=isotropic_xy)  # (T, V, 3)
    out, _ = Normalize(LAYOUT)(raw, np.isfinite(raw).all(-1), np.random.default_rng(0))
    return out


def test_one_body_reads_the_same_in_a_16_9_and_a_9_16_frame_once_the_frame_size_is_known():
    body = _body_pixels()
    wide, tall = _as_seen_by(body, 1920, 1080), _as_seen_by(body, 1080, 1920)
    np.testing.assert_allclose(_normalized(wide), _normalized(tall), atol=1e-4)
    # without the frame size (or with it ignored, as older checkpoints read) the proportions differ
    assert np.abs(_normalized(wide, False) - _normalized(tall, False)).max() > 0.3
    unknown = _as_seen_by(body, 1920, 1080, known=False)
    np.testing.assert_array_equal(_normalized(unknown), _normalized(wide, False))


def test_isotropic_scales_x_and_mediapipe_z_only():
    points = np.array([[[0.5, 0.25, 0.1]]], dtype=np.float32)  # (1, 1, 3)
    np.testing.assert_allclose(isotropic(points, 16 / 9), [[[0.5 * 16 / 9, 0.25, 0.1 * 16 / 9]]], rtol=1e-6)
    np.testing.assert_allclose(isotropic(points, 2.0, mediapipe=False), [[[1.0, 0.25, 0.1]]])  # OpenPose confidence
    assert isotropic(points, None) is points and isotropic(points, 1.0) is points
    assert np.isnan(isotropic(np.full((1, 1, 2), np.nan, np.float32), 2.0)).all()  # missing stays missing


def test_npz_round_trip_keeps_the_frame_size_and_rejects_a_bad_one(tmp_path):
    lm = _as_seen_by(_body_pixels(), 1280, 720)
    back = load_landmarks(write_npz(tmp_path / "a.npz", lm))
    assert back.image_size == (1280.0, 720.0) and back.aspect == pytest.approx(16 / 9)
    assert load_landmarks(write_npz(tmp_path / "b.npz", _as_seen_by(_body_pixels(), 1, 1, known=False))).image_size \
        is None
    for bad in (np.array([640.0]), np.array([640.0, 0.0]), np.array([np.nan, 480.0]), np.array(["a", "b"])):
        np.savez(tmp_path / "bad.npz", pose=lm.arrays["pose"], image_size=bad)
        with pytest.raises(DataError, match=r"bad\.npz: 'image_size' must be the frame's \(width, height\)") as err:
            load_landmarks(tmp_path / "bad.npz")
        assert "\n" not in str(err.value)


def test_pose_files_keep_their_frame_size(tmp_path):
    pytest.importorskip("pose_format", reason="the .pose reader needs the [pose] extra")
    from signstgcn.data.writers import write_pose

    lm = _as_seen_by(_body_pixels(), 1080, 1920)
    back = load_landmarks(write_pose(tmp_path / "a.pose", lm))
    assert back.image_size == (1080.0, 1920.0)
    np.testing.assert_allclose(back.arrays["pose"][..., :2], lm.arrays["pose"][..., :2], atol=1e-5)
    np.testing.assert_allclose(_normalized(back), _normalized(lm), atol=1e-3)
    # unknown frame size: a nominal square frame, which reads back as the same coordinates
    square = load_landmarks(write_pose(tmp_path / "b.pose", _as_seen_by(_body_pixels(), 1, 1, known=False)))
    assert square.aspect == 1.0


def test_openpose_pixels_record_the_divisor_and_normalized_input_an_unknown_size(tmp_path):
    def folder(name: str, scale: float) -> Path:
        d = tmp_path / name
        d.mkdir()
        body = np.zeros((25, 3))
        body[:, 0], body[:, 1], body[:, 2] = np.linspace(100, 900, 25) * scale, np.linspace(50, 600, 25) * scale, 0.9
        (d / "v_000000000000_keypoints.json").write_text(json.dumps(
            {"people": [{"pose_keypoints_2d": body.reshape(-1).tolist()}]}))
        return d

    assert load_openpose_dir(folder("pixels", 1.0), image_size=(1280, 720)).image_size == (1280.0, 720.0)
    assert load_openpose_dir(folder("default", 1.0)).aspect == 1.0  # pixels / 1000 on both axes: isotropic
    assert load_openpose_dir(folder("unit", 1e-3)).image_size is None  # already normalized, frame unknown


def test_a_stream_joins_clips_of_one_frame_size(tmp_path):
    a = _as_seen_by(_body_pixels(seed=1), 640, 480)
    b = _as_seen_by(_body_pixels(seed=2), 640, 480)
    assert join_clips([a, b], tmp_path / "s.npz").image_size == (640.0, 480.0)
    with pytest.raises(DataError, match="frames of different sizes .*640x480.*unknown"):
        join_clips([a, _as_seen_by(_body_pixels(), 1, 1, known=False)], tmp_path / "s.npz")


def test_random_aspect_stretches_x_and_z_of_the_raw_window_within_range():
    rng = np.random.default_rng(0)
    frames = np.random.default_rng(1).uniform(0.2, 0.8, (8, LAYOUT.num_nodes, 3)).astype(np.float32)
    frames[0, 0] = np.nan
    mask = np.isfinite(frames).all(-1)
    aug = RandomAspect(LAYOUT)
    ratios = []
    for _ in range(200):
        out, out_mask = aug(frames, mask, rng)
        np.testing.assert_array_equal(out[..., 1], frames[..., 1])  # y untouched
        np.testing.assert_array_equal(out_mask, mask)
        assert np.isnan(out[0, 0]).all()
        r = out[1, 1, 0] / frames[1, 1, 0]
        assert out[1, 1, 2] / frames[1, 1, 2] == pytest.approx(r, rel=1e-5)  # z shares x's unit
        ratios.append(r)
    assert 9 / 16 - 1e-6 <= min(ratios) < 0.7 and 1.45 < max(ratios) <= 16 / 9 + 1e-6
    assert np.median(np.log(ratios)) == pytest.approx(0.0, abs=0.15)  # log-uniform about 1
    with pytest.raises(ValueError, match="0 < low <= high"):
        RandomAspect(LAYOUT, 2.0, 1.0)


def test_aspect_augment_is_a_training_step_before_the_normalization_only():
    steps = default_train_transforms(LAYOUT, aspect_augment=True).transforms
    assert isinstance(steps[0], RandomAspect) and isinstance(steps[1], Normalize)
    assert not any(isinstance(t, RandomAspect) for t in default_train_transforms(LAYOUT).transforms)
    assert not any(isinstance(t, RandomAspect) for t in default_eval_transforms(LAYOUT, aspect_augment=True).transforms)


def test_checkpoints_record_both_and_older_ones_keep_reading_x_as_a_fraction_of_the_width():
    from signstgcn.data.groundtruth import LabelVocab
    from signstgcn.data.windows import WindowConfig

    cfg = DataConfig(SELECTION, SPEC, WindowConfig(16, 4), LabelVocab(True, ("n", "s"), ("s",)), aspect_augment=True)
    back = DataConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.aspect_augment and back.selection.isotropic
    old = cfg.to_dict()
    del old["aspect_augment"], old["selection"]["isotropic"]
    before = DataConfig.from_dict(old)
    assert not before.aspect_augment and not before.selection.isotropic


def test_live_frames_with_the_camera_size_equal_a_file_that_knows_it():
    pred = predictor(random_model(3))
    frames = stream_frames(20, seed=4)
    scaled = frames.copy()
    scaled[..., 0] *= 1080 / 1920
    np.testing.assert_array_equal(frame_array(frames[2], pred, (1080, 1920)), frame_array(scaled[2], pred))
    with pytest.raises(ValueError, match="image_size must be the camera's"):
        frame_array(frames[2], pred, (0, 10))
    one = IncrementalDetector(pred, stride=4, threaded=False, image_size=(1080, 1920))
    ref = IncrementalDetector(pred, stride=4, threaded=False)
    got = np.concatenate([one.push(f).final for f in frames] + [one.flush().final])
    want = np.concatenate([ref.push(f).final for f in scaled] + [ref.flush().final])
    np.testing.assert_allclose(got, want, atol=1e-6)
    multi = MultiStreamDetector(pred, stride=4, max_streams=2)
    sid = multi.open(image_size=(1080, 1920))
    multi_final = np.concatenate([multi.push({sid: f})[sid].final for f in frames] + [multi.close(sid).final])
    np.testing.assert_allclose(multi_final, want, atol=1e-4)


def test_the_server_takes_the_camera_size_from_an_image_size_message():
    websockets = pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
    from websockets.asyncio.client import connect

    from tests.test_serve import _detected, _frames_to_end, _serving

    assert websockets
    pred = predictor(random_model(6))
    frames = _detected(30, seed=5)
    scaled = frames.copy()
    scaled[..., 0] *= 1280 / 720  # width / height

    async def scenario(url):
        async with connect(url) as cam, connect(url) as ref:
            await cam.recv(), await ref.recv()  # hello
            await cam.send(json.dumps({"type": "image_size", "width": -1, "height": 720}))
            error = json.loads(await asyncio.wait_for(cam.recv(), 10))
            await cam.send(json.dumps({"type": "image_size", "width": 1280, "height": 720}))
            return error, await _frames_to_end(cam, frames, True), await _frames_to_end(ref, scaled, True)

    (error, cam_msgs, ref_msgs), _, _ = asyncio.run(_serving(pred, scenario))
    assert error["type"] == "error" and "image_size must be the camera's" in error["error"]

    def finals(msgs):
        return np.array([np.nan if v is None else v for m in msgs if m["type"] == "result" for v in m["final"]])

    np.testing.assert_allclose(finals(cam_msgs), finals(ref_msgs), atol=1e-4)


def test_render_draws_the_true_proportions():
    lm = _as_seen_by(_body_pixels(), 1920, 1080)
    drawn = drawn_xy(lm)["pose"]
    np.testing.assert_allclose(drawn[..., 0], lm.arrays["pose"][..., 0] * 1920 / 1080, rtol=1e-6)
    np.testing.assert_array_equal(drawn[..., 1], lm.arrays["pose"][..., 1])
