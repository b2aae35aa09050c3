"""Normalization invariance, mirroring that swaps hands, and the contract every augmentation keeps."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from signstgcn.data.layout import Layout, LayoutSpec
from signstgcn.data.transforms import (
    Compose,
    JointDropout,
    Normalize,
    RandomMirror,
    RandomRotation,
    RandomScale,
    RandomShear,
    RandomSpeed,
    TemporalCrop,
    default_eval_transforms,
    default_train_transforms,
)

LAYOUT = LayoutSpec().build()  # MediaPipe upper pose + hands, V = 67
HANDS_ONLY = LayoutSpec(include_pose=False).build()


def raw_window(layout: Layout, t: int = 25, c: int = 4, seed: int = 0, missing: float = 0.1) -> np.ndarray:
    """Random raw landmarks in image coordinates: shoulders ~0.3 apart, some joints NaN (T, V, C)."""
    rng = np.random.default_rng(seed)
    frames = rng.uniform(0.3, 0.7, size=(t, layout.num_nodes, c)).astype(np.float32)
    frames[..., 2] = rng.normal(0.0, 0.3, size=(t, layout.num_nodes))  # z
    if c > 3:
        frames[..., 3] = rng.uniform(0.0, 1.0, size=(t, layout.num_nodes))  # visibility
    left, right = layout.joint("left_shoulder"), layout.joint("right_shoulder")
    if left is not None:
        frames[:, left, :2] = [0.65, 0.6] + rng.normal(0, 0.01, size=(t, 2))
        frames[:, right, :2] = [0.35, 0.6] + rng.normal(0, 0.01, size=(t, 2))
    frames[rng.random((t, layout.num_nodes)) < missing] = np.nan
    return frames


def present(frames: np.ndarray) -> np.ndarray:
    return np.isfinite(frames[..., :2]).all(-1)


def normalized_window(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    raw = raw_window(LAYOUT, seed=seed, missing=0.2)
    return Normalize(LAYOUT)(raw, present(raw), np.random.default_rng(0))


def moved(raw: np.ndarray, scale: float, shift: tuple[float, float]) -> np.ndarray:
    """The same body seen from another camera distance/position: x, y, z scaled, x, y shifted."""
    out = raw.copy()
    out[..., :3] *= scale
    out[..., :2] += np.asarray(shift, dtype=np.float32)
    return out


@pytest.mark.parametrize("layout", [LAYOUT, HANDS_ONLY], ids=["pose+hands", "hands"])
@pytest.mark.parametrize("hands_relative", [False, True])
def test_normalize_invariant_to_camera_distance_and_position(layout, hands_relative):
    norm = Normalize(layout, hands_relative=hands_relative)
    raw = raw_window(layout)
    ref, ref_mask = norm(raw, present(raw), None)
    for scale, shift in [(2.5, (0.3, -0.2)), (0.4, (-1.0, 3.0))]:
        other = moved(raw, scale, shift)
        out, mask = norm(other, present(other), None)
        np.testing.assert_array_equal(mask, ref_mask)
        np.testing.assert_allclose(out, ref, atol=2e-5)


def test_normalize_centres_on_shoulders_and_scales_by_width():
    raw = raw_window(LAYOUT, missing=0.0)
    left, right = LAYOUT.joint("left_shoulder"), LAYOUT.joint("right_shoulder")
    raw[:, left, :2], raw[:, right, :2] = [0.7, 0.5], [0.3, 0.5]
    out, _ = Normalize(LAYOUT)(raw, present(raw), None)
    np.testing.assert_allclose(out[:, left, :2], np.tile([0.5, 0.0], (len(raw), 1)), atol=1e-6)
    np.testing.assert_allclose(out[:, right, :2], np.tile([-0.5, 0.0], (len(raw), 1)), atol=1e-6)
    np.testing.assert_allclose(out[..., 2], raw[..., 2] / 0.4, rtol=1e-5)  # z scaled by the same factor
    np.testing.assert_array_equal(out[..., 3], raw[..., 3])  # visibility untouched


def test_normalize_missing_joints_are_zero_and_mask_is_kept():
    raw = raw_window(LAYOUT, missing=0.3)
    mask = present(raw)
    mask[0, 0] = False  # the caller's mask is respected even where coordinates are finite
    before = raw.copy()
    out, out_mask = Normalize(LAYOUT)(raw, mask, None)
    np.testing.assert_array_equal(raw, before)  # input not mutated
    assert out.dtype == np.float32 and out_mask.dtype == bool
    np.testing.assert_array_equal(out_mask, mask)
    assert np.isfinite(out).all()
    assert (out[~out_mask] == 0).all()


def test_normalize_all_missing_gives_zeros_without_warnings():
    raw = np.full((25, LAYOUT.num_nodes, 3), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, mask = Normalize(LAYOUT)(raw, present(raw), None)
        one, _ = Normalize(LAYOUT, hands_relative=True)(raw[:1], present(raw[:1]), None)
    assert not mask.any() and (out == 0).all() and (one == 0).all()


def test_normalize_falls_back_when_shoulders_are_missing():
    raw = raw_window(LAYOUT, missing=0.0)
    raw[:, [LAYOUT.joint("left_shoulder"), LAYOUT.joint("right_shoulder")]] = np.nan
    norm = Normalize(LAYOUT)
    ref, _ = norm(raw, present(raw), None)
    out, _ = norm(moved(raw, 3.0, (1.0, 2.0)), present(raw), None)
    np.testing.assert_allclose(out, ref, atol=2e-5)
    valid = present(raw)
    np.testing.assert_allclose(ref[..., :2][valid].mean(0), 0.0, atol=1e-5)  # centred on the joints


def test_normalize_hands_relative_puts_each_wrist_at_the_origin():
    raw = raw_window(LAYOUT, missing=0.0)
    out, _ = Normalize(LAYOUT, hands_relative=True)(raw, present(raw), None)
    for part in ("left_hand", "right_hand"):
        np.testing.assert_allclose(out[:, LAYOUT.node(part, 0), :2], 0.0, atol=1e-6)
    plain, _ = Normalize(LAYOUT)(raw, present(raw), None)
    pose = LAYOUT.part_slice("pose")
    np.testing.assert_array_equal(out[:, pose], plain[:, pose])  # the pose is not affected


def test_normalize_rejects_a_window_of_another_layout():
    raw = raw_window(HANDS_ONLY)
    with pytest.raises(ValueError, match=r"V=67"):
        Normalize(LAYOUT)(raw, present(raw), None)
    with pytest.raises(ValueError, match=r"mask"):
        Normalize(LAYOUT)(raw_window(LAYOUT), np.ones((3, 3), bool), None)


def test_mirror_swaps_the_hands_and_is_an_involution():
    raw = raw_window(LAYOUT, missing=0.0)
    raw[:, LAYOUT.part_slice("right_hand")] = np.nan  # only the left hand was detected
    frames, mask = Normalize(LAYOUT)(raw, present(raw), None)
    mirror = RandomMirror(LAYOUT, p=1.0)
    rng = np.random.default_rng(0)
    out, out_mask = mirror(frames, mask, rng)
    left, right = LAYOUT.part_slice("left_hand"), LAYOUT.part_slice("right_hand")
    assert mask[:, left].all() and not mask[:, right].any()
    assert out_mask[:, right].all() and not out_mask[:, left].any()  # now only the right hand
    np.testing.assert_array_equal(out[:, right, 0], -frames[:, left, 0])
    np.testing.assert_array_equal(out[:, right, 1:], frames[:, left, 1:])
    assert (out[:, left] == 0).all()
    back, back_mask = mirror(out, out_mask, rng)
    np.testing.assert_array_equal(back, frames)
    np.testing.assert_array_equal(back_mask, mask)


def test_mirror_swaps_left_and_right_pose_joints():
    frames, mask = normalized_window()
    out, _ = RandomMirror(LAYOUT, p=1.0)(frames, mask, np.random.default_rng(0))
    for left, right in (("left_shoulder", "right_shoulder"), ("left_wrist", "right_wrist")):
        i, j = LAYOUT.joint(left), LAYOUT.joint(right)
        np.testing.assert_array_equal(out[:, j, 0], -frames[:, i, 0])
        np.testing.assert_array_equal(out[:, i, 1], frames[:, j, 1])
    nose = LAYOUT.joint("nose")
    np.testing.assert_array_equal(out[:, nose, 0], -frames[:, nose, 0])
    kept, _ = RandomMirror(LAYOUT, p=0.0)(frames, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(kept, frames)


AUGMENTATIONS = [
    RandomRotation(30.0),
    RandomScale(0.5, 1.5),
    RandomShear(0.3),
    RandomMirror(LAYOUT, p=0.5),
    RandomSpeed(0.5, 2.0),
    TemporalCrop(0.5, 1.0),
    JointDropout(0.3),
    default_train_transforms(LAYOUT).transforms[1:],
]


@pytest.mark.parametrize("transform", AUGMENTATIONS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("t", [25, 1])
def test_augmentation_contract(transform, t):
    if isinstance(transform, list):
        transform = Compose(transform)
    frames, mask = normalized_window()
    frames, mask = frames[:t], mask[:t]
    before, before_mask = frames.copy(), mask.copy()
    for seed in range(5):
        out, out_mask = transform(frames, mask, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.float32
        assert out_mask.shape == mask.shape and out_mask.dtype == bool
        assert np.isfinite(out).all()
        assert (out[~out_mask] == 0).all(), "masked joints must stay exactly 0"
        again, again_mask = transform(frames, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(again, out)  # deterministic given the generator's seed
        np.testing.assert_array_equal(again_mask, out_mask)
    np.testing.assert_array_equal(frames, before)  # never mutates its input
    np.testing.assert_array_equal(mask, before_mask)


def test_random_transforms_draw_different_values_for_different_seeds():
    frames, mask = normalized_window()
    for transform in (RandomRotation(30.0), RandomScale(0.5, 1.5), RandomShear(0.3), RandomSpeed(0.5, 2.0)):
        a, _ = transform(frames, mask, np.random.default_rng(1))
        b, _ = transform(frames, mask, np.random.default_rng(2))
        assert not np.array_equal(a, b), transform


def test_affine_transforms_preserve_geometry():
    frames, mask = normalized_window()
    rng = np.random.default_rng(0)
    rotated, _ = RandomRotation(45.0)(frames, mask, rng)
    np.testing.assert_allclose(np.hypot(rotated[..., 0], rotated[..., 1]),
                               np.hypot(frames[..., 0], frames[..., 1]), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rotated[..., 2:], frames[..., 2:])  # z and visibility untouched
    scaled, _ = RandomScale(2.0, 2.0)(frames, mask, rng)
    np.testing.assert_allclose(scaled[..., :2], 2.0 * frames[..., :2], rtol=1e-6)
    sheared, _ = RandomShear(0.0)(frames, mask, rng)
    np.testing.assert_array_equal(sheared, frames)


def test_temporal_resampling_carries_the_mask():
    frames, mask = normalized_window()
    mask = mask.copy()
    mask[10:] = False  # a short video padded to the window
    frames = np.where(mask[..., None], frames, 0).astype(np.float32)
    same, same_mask = RandomSpeed(1.0, 1.0)(frames, mask, np.random.default_rng(0))
    np.testing.assert_allclose(same, frames, atol=1e-6)
    np.testing.assert_array_equal(same_mask, mask)
    fast, fast_mask = RandomSpeed(2.0, 2.0)(frames, mask, np.random.default_rng(0))
    shown = np.flatnonzero(fast_mask.any(1))  # the 10 real frames now fill 5 consecutive outputs
    assert len(shown) == 5 and (np.diff(shown) == 1).all()
    assert (fast_mask[shown].sum(1) <= mask[:10].sum(1).max()).all()
    slow, slow_mask = TemporalCrop(0.5, 0.5)(frames, mask, np.random.default_rng(0))
    assert slow_mask.any(1).sum() < mask.any(1).sum() * 2 + 2  # stretched, never invented
    np.testing.assert_array_equal(TemporalCrop(1.0, 1.0)(frames, mask, np.random.default_rng(0))[1], mask)


def test_joint_dropout_drops_whole_joints():
    frames, mask = normalized_window()
    out, out_mask = JointDropout(1.0)(frames, mask, np.random.default_rng(0))
    assert not out_mask.any() and (out == 0).all()
    out, out_mask = JointDropout(0.0)(frames, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out, frames)
    np.testing.assert_array_equal(out_mask, mask)


def test_reprs_show_parameters():
    assert repr(RandomRotation(12.5)) == "RandomRotation(degrees=12.5)"
    assert repr(RandomScale(0.8, 1.2)) == "RandomScale(low=0.8, high=1.2)"
    assert repr(RandomShear(0.2)) == "RandomShear(shear=0.2)"
    assert repr(RandomSpeed(0.7, 1.3)) == "RandomSpeed(min_speed=0.7, max_speed=1.3)"
    assert repr(TemporalCrop(0.6, 0.9)) == "TemporalCrop(min_ratio=0.6, max_ratio=0.9)"
    assert repr(JointDropout(0.1)) == "JointDropout(p=0.1)"
    assert repr(RandomMirror(LAYOUT, 0.5)) == f"RandomMirror(layout={LAYOUT.name!r}, p=0.5)"
    assert repr(Normalize(LAYOUT, True)) == f"Normalize(layout={LAYOUT.name!r}, hands_relative=True)"
    text = repr(default_train_transforms(LAYOUT))
    assert text.startswith("Compose([") and all(
        name in text for name in ("Normalize", "RandomMirror", "RandomRotation", "RandomSpeed", "JointDropout")
    )


def test_default_pipelines_run_on_raw_windows():
    raw = raw_window(LAYOUT, missing=0.3)
    train = default_train_transforms(LAYOUT, hands_relative=True)
    evaluate = default_eval_transforms(LAYOUT)
    assert isinstance(train, Compose) and isinstance(train.transforms[0], Normalize)
    assert train.transforms[0].hands_relative
    assert len(evaluate) == 1 and isinstance(evaluate.transforms[0], Normalize)
    for pipeline in (train, evaluate):
        out, mask = pipeline(raw, present(raw), np.random.default_rng(0))
        assert out.shape == raw.shape and np.isfinite(out).all() and (out[~mask] == 0).all()
    np.testing.assert_array_equal(evaluate(raw, present(raw), None)[0],
                                  Normalize(LAYOUT)(raw, present(raw), None)[0])


@pytest.mark.parametrize("make", [
    lambda: RandomRotation(-1), lambda: RandomScale(0.0, 1.0), lambda: RandomScale(2.0, 1.0),
    lambda: RandomShear(-0.1), lambda: RandomMirror(LAYOUT, 1.5), lambda: RandomSpeed(1.2, 0.8),
    lambda: TemporalCrop(0.5, 1.5), lambda: JointDropout(-0.1),
])
def test_bad_parameters_are_rejected(make):
    with pytest.raises(ValueError, match="expected"):
        make()


def test_normalize_openpose_keeps_the_confidence_channel():
    layout = LayoutSpec(skeleton="body25").build()
    raw = raw_window(layout, c=3)
    raw[..., 2] = np.random.default_rng(1).uniform(0, 1, size=raw.shape[:2])  # OpenPose confidence
    norm = Normalize(layout)
    ref, mask = norm(raw, present(raw), None)
    np.testing.assert_array_equal(ref[..., 2][mask], raw[..., 2][mask])
    other = raw.copy()
    other[..., :2] = other[..., :2] * 0.5 + 0.25
    np.testing.assert_allclose(norm(other, present(other), None)[0], ref, atol=2e-5)
    left, right = layout.joint("left_shoulder"), layout.joint("right_shoulder")
    width = np.hypot(*(ref[:, left, :2] - ref[:, right, :2]).T)
    assert np.median(width[mask[:, left] & mask[:, right]]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("options", [
    {},
    {"hands_relative": True, "bone_lengths": "ref"},  # the default input
    {"hands_relative": True, "bone_lengths": "ref", "level_shoulders": True},
    {"face_channels": True, "dominant_hand": "right", "bone_lengths": "ref"},  # rows go one by one
])
def test_params_and_apply_of_many_windows_equal_one_window_at_a_time(options):
    """A live server normalizes every stream's newest frame at once; it must equal the per-window calls,
    with short (padded) windows, a window without shoulders and one with a single frame."""
    if options.get("bone_lengths") == "ref":
        options = {**options, "bone_lengths": np.random.default_rng(3).uniform(0.05, 0.4, LAYOUT.num_nodes)}
    norm = Normalize(LAYOUT, **options)
    left, right = LAYOUT.joint("left_shoulder"), LAYOUT.joint("right_shoulder")
    T, B = 16, 6
    windows = np.stack([raw_window(LAYOUT, t=T, seed=s, missing=0.2) for s in range(B)])  # (B, T, V, C)
    windows[1, :, [left, right]] = np.nan  # no shoulders: centre and unit from all joints
    start = np.array([0, 0, 5, 15, 0, 9])  # rows 2, 3, 5 are streams younger than a window
    for b in range(B):
        windows[b, :start[b]] = np.nan
    mask = present(windows)  # (B, T, V)
    many = norm.params_many(windows, mask, start)
    last, last_mask = windows[:, -1], mask[:, -1]  # (B, V, C): each window's newest frame
    out, valid = norm.apply_many(last, last_mask, many)
    for b in range(B):
        one = norm.params(windows[b, start[b]:], mask[b, start[b]:])
        assert (many[b].cx, many[b].cy, many[b].scale, many[b].angle) == pytest.approx(
            (one.cx, one.cy, one.scale, one.angle), rel=1e-6, abs=1e-7)
        if one.bone_scales is not None:
            np.testing.assert_allclose(many[b].bone_scales, one.bone_scales, rtol=1e-6)
        ref, ref_valid = norm.apply(last[b:b + 1], last_mask[b:b + 1], one)
        np.testing.assert_allclose(out[b], ref[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(valid[b], ref_valid[0])
