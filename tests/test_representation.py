"""Signer-invariant input representation: canonical bones, face channels, levelled shoulders, handedness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signstgcn.data.canonical import BoneTree, fit_reference_lengths
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.transforms import Normalize, RandomMirror, default_train_transforms

LAYOUT = LayoutSpec().build()  # MediaPipe upper pose + hands, V = 67
LAYOUTS = {name: LayoutSpec(skeleton=name).build() for name in ("mediapipe", "body25", "coco18")}


def tree_skeleton(layout, lengths: np.ndarray, t: int = 20, seed: int = 0) -> np.ndarray:
    """(T, V, 4) raw window built bone by bone from ``lengths`` and directions drawn with ``seed``.

    The bones from the graph centre to the shoulders keep one direction in every frame (a still torso,
    so the shoulder midpoint does not move); every other bone turns from frame to frame.
    """
    tree = BoneTree(layout)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * math.pi, size=(t, layout.num_nodes))  # (T, V)
    for name, fixed in (("left_shoulder", 0.6), ("right_shoulder", math.pi - 0.6)):
        angle[:, layout.joint(name)] = fixed
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # (T, V, 2)
    xy = np.zeros((t, layout.num_nodes, 2))
    xy[:, layout.center] = 0.5
    for v in tree.children:
        xy[:, v] = xy[:, tree.parents[v]] + lengths[v] * direction[:, v]
    out = np.zeros((t, layout.num_nodes, 4), dtype=np.float32)
    out[..., :2] = xy
    out[..., 3] = 1.0
    return out


def present(frames: np.ndarray) -> np.ndarray:
    return np.isfinite(frames[..., :2]).all(-1)


def test_retarget_keeps_every_bone_direction_and_sets_the_reference_length():
    tree = BoneTree(LAYOUT)
    rng = np.random.default_rng(1)
    lengths = rng.uniform(0.02, 0.2, size=LAYOUT.num_nodes)
    raw = tree_skeleton(LAYOUT, lengths)
    xy, valid = raw[..., :2].astype(np.float64), present(raw)
    reference = rng.uniform(0.05, 0.3, size=LAYOUT.num_nodes)
    new = tree.retarget(xy, valid, tree.scales(xy, valid, reference))
    p = tree.parents
    for v in tree.children:
        before, after = xy[:, v] - xy[:, p[v]], new[:, v] - new[:, p[v]]  # (T, 2)
        np.testing.assert_allclose(np.hypot(*after.T), reference[v], rtol=1e-4)
        cos = (before * after).sum(-1) / (np.hypot(*before.T) * np.hypot(*after.T))
        np.testing.assert_allclose(cos, 1.0, atol=1e-5)  # same direction


def test_canonical_bones_map_two_body_proportions_to_one_skeleton():
    rng = np.random.default_rng(2)
    lengths = rng.uniform(0.02, 0.15, size=LAYOUT.num_nodes)
    other = lengths * rng.uniform(0.6, 1.5, size=LAYOUT.num_nodes)  # another build: every bone rescaled
    a, b = tree_skeleton(LAYOUT, lengths, seed=3), tree_skeleton(LAYOUT, other, seed=3)  # same movement
    reference = rng.uniform(0.1, 0.5, size=LAYOUT.num_nodes)
    plain = Normalize(LAYOUT)
    assert not np.allclose(plain(a, present(a))[0], plain(b, present(b))[0], atol=1e-2)
    canon = Normalize(LAYOUT, bone_lengths=reference)
    out_a, mask_a = canon(a, present(a))
    out_b, mask_b = canon(b, present(b))
    np.testing.assert_array_equal(mask_a, mask_b)
    np.testing.assert_allclose(out_a, out_b, atol=1e-4)


def test_missing_parent_moves_its_children_with_the_nearest_placed_joint():
    tree = BoneTree(LAYOUT)
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.1))
    xy, valid = raw[..., :2], present(raw)
    elbow = LAYOUT.joint("left_elbow")
    valid[:, elbow] = False
    new = tree.retarget(xy, valid, np.full(LAYOUT.num_nodes, 2.0))
    wrist, shoulder = LAYOUT.joint("left_wrist"), LAYOUT.joint("left_shoulder")
    # the wrist keeps its offset from the (moved) shoulder: it moves as the shoulder did
    np.testing.assert_allclose(new[:, wrist] - xy[:, wrist], new[:, shoulder] - xy[:, shoulder], atol=1e-6)
    assert np.isfinite(new).all()


def test_fit_reference_lengths_is_the_median_typical_length():
    tree = BoneTree(LAYOUT)
    windows = []
    for k, scale in enumerate((1.0, 2.0, 3.0)):
        raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05 * scale), seed=k)
        windows.append((raw, present(raw)))
    fitted = fit_reference_lengths(tree, [(w[..., :2].astype(np.float64), m) for w, m in windows])
    wrist = LAYOUT.joint("left_wrist")
    assert fitted[wrist] == pytest.approx(0.1, rel=1e-4)
    assert fitted[LAYOUT.center] == 0.0  # the root has no bone


def test_face_channels_say_where_a_hand_is_in_face_units():
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05))
    nose, eye_l, eye_r = LAYOUT.joint("nose"), LAYOUT.joint("left_eye"), LAYOUT.joint("right_eye")
    mouth_l, mouth_r = LAYOUT.joint("mouth_left"), LAYOUT.joint("mouth_right")
    wrist = LAYOUT.node("right_hand", 0)

    def person(face: float, camera: float) -> np.ndarray:
        """A face of size ``face`` (eyes to mouth) with the hand one face unit below the nose (the chin)."""
        out = raw.copy()
        out[:, nose, :2] = [0.5, 0.3]
        out[:, eye_l, :2], out[:, eye_r, :2] = [0.5 + face / 2, 0.3 - face / 2], [0.5 - face / 2, 0.3 - face / 2]
        out[:, mouth_l, :2], out[:, mouth_r, :2] = [0.5 + face / 3, 0.3 + face / 2], [0.5 - face / 3, 0.3 + face / 2]
        out[:, wrist, :2] = [0.5, 0.3 + face]
        out[..., :2] = out[..., :2] * camera + 0.1
        return out

    norm = Normalize(LAYOUT, hands_relative=True, face_channels=True)
    assert norm.extra_channels == 2
    small, _ = norm(person(0.05, 1.0), present(raw))
    large, _ = norm(person(0.09, 1.7), present(raw))
    assert small.shape == (raw.shape[0], LAYOUT.num_nodes, raw.shape[2] + 2)
    np.testing.assert_allclose(small[:, wrist, -2:], [[0.0, 1.0]] * raw.shape[0], atol=1e-5)  # 1 unit below
    np.testing.assert_allclose(large[:, wrist, -2:], small[:, wrist, -2:], atol=1e-5)
    np.testing.assert_allclose(small[:, wrist, :2], 0.0, atol=1e-6)  # hands relative: the wrist at 0


def test_face_channels_are_zero_without_a_face():
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05))
    raw[:, LAYOUT.joint("nose")] = np.nan
    out, mask = Normalize(LAYOUT, face_channels=True)(raw, present(raw))
    assert (out[..., -2:] == 0).all() and np.isfinite(out).all()
    with pytest.raises(ValueError, match="nose and eyes"):
        Normalize(LayoutSpec(include_pose=False).build(), face_channels=True)


def test_level_shoulders_removes_camera_roll():
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05))
    left, right = LAYOUT.joint("left_shoulder"), LAYOUT.joint("right_shoulder")
    raw[:, left, 1] = raw[:, right, 1]  # level shoulders in the upright view
    angle = math.radians(12)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rolled = raw.copy()
    rolled[..., :2] = (raw[..., :2] - 0.5) @ rot.T + 0.5
    norm = Normalize(LAYOUT, level_shoulders=True)
    np.testing.assert_allclose(norm(rolled, present(raw))[0], norm(raw, present(raw))[0], atol=1e-5)
    plain = Normalize(LAYOUT)
    assert not np.allclose(plain(rolled, present(raw))[0], plain(raw, present(raw))[0], atol=1e-2)


def mirror_raw(raw: np.ndarray, layout) -> np.ndarray:
    """The same recording seen in a mirror: x -> 1 - x, left and right parts swapped."""
    out = raw[:, layout.mirror_permutation()].copy()
    out[..., 0] = 1.0 - out[..., 0]
    return out


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_mirror_twice_is_identity_and_swaps_each_layouts_parts(name: str):
    layout = LAYOUTS[name]
    perm = layout.mirror_permutation()
    np.testing.assert_array_equal(perm[perm], np.arange(layout.num_nodes))
    for joint in ("shoulder", "elbow", "wrist", "eye"):
        assert perm[layout.joint(f"left_{joint}")] == layout.joint(f"right_{joint}")
    left, right = layout.part_slice("left_hand"), layout.part_slice("right_hand")
    np.testing.assert_array_equal(perm[left], np.arange(right.start, right.stop))  # joint k -> joint k
    assert perm[layout.joint("nose")] == layout.joint("nose")
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(6, layout.num_nodes, 3)).astype(np.float32)
    mask = rng.random((6, layout.num_nodes)) > 0.2
    mirror = RandomMirror(layout, p=1.0)
    once, once_mask = mirror(frames, mask, rng)
    twice, twice_mask = mirror(once, once_mask, rng)
    np.testing.assert_array_equal(twice, frames)
    np.testing.assert_array_equal(twice_mask, mask)
    np.testing.assert_array_equal(once[:, perm[0], 0], -frames[:, 0, 0])


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_dominant_hand_right_reads_a_mirrored_signer_the_same(name: str):
    layout = LAYOUTS[name]
    rng = np.random.default_rng(4)
    raw = rng.uniform(0.3, 0.7, size=(16, layout.num_nodes, 3)).astype(np.float32)
    raw[:, layout.joint("left_shoulder"), :2] = [0.65, 0.6]
    raw[:, layout.joint("right_shoulder"), :2] = [0.35, 0.6]
    raw[:, layout.joint("right_wrist"), :2] = [0.3, 0.8]  # the right hand rests, the left one signs
    raw[:, layout.joint("left_wrist"), 0] = np.linspace(0.5, 0.8, 16)
    norm = Normalize(layout, dominant_hand="right")
    assert norm.params(raw, present(raw)).mirror
    lefty, lefty_mask = norm(raw, present(raw))
    mirrored = mirror_raw(raw, layout)
    assert not norm.params(mirrored, present(mirrored)).mirror
    righty, righty_mask = norm(mirrored, present(mirrored))
    np.testing.assert_allclose(lefty, righty, atol=1e-5)
    np.testing.assert_array_equal(lefty_mask, righty_mask)


def test_train_pipeline_features_follow_the_augmentation():
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05))
    train = default_train_transforms(LAYOUT, hands_relative=True, face_channels=True, augment="strong")
    out, mask = train(raw, present(raw), np.random.default_rng(0))
    assert out.shape[-1] == raw.shape[-1] + 2 and np.isfinite(out).all()
    for part in ("left_hand", "right_hand"):  # hands relative after the augmentation: wrist at 0 (or dropped)
        np.testing.assert_allclose(out[:, LAYOUT.node(part, 0), :2], 0.0, atol=1e-6)
    assert "RandomMirror" not in repr(default_train_transforms(LAYOUT, dominant_hand="right"))
    with pytest.raises(ValueError, match="augment"):
        default_train_transforms(LAYOUT, augment="wild")


def test_random_proportions_gives_a_window_another_videos_build():
    from signstgcn.data.transforms import RandomProportions

    tree = BoneTree(LAYOUT)
    raw = tree_skeleton(LAYOUT, np.full(LAYOUT.num_nodes, 0.05))
    frames, mask = Normalize(LAYOUT)(raw, present(raw))
    profile = np.random.default_rng(0).uniform(0.2, 0.6, size=(1, LAYOUT.num_nodes))
    out, out_mask = RandomProportions(LAYOUT, profile, p=1.0)(frames, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_mask, mask)
    typical = tree.typical(out[..., :2].astype(np.float64), out_mask)
    wrist = LAYOUT.joint("left_wrist")
    assert typical[wrist] == pytest.approx(profile[0, wrist], rel=1e-3)  # the other build's forearm
    same, _ = RandomProportions(LAYOUT, profile, p=0.0)(frames, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(same, frames)


def test_train_records_the_representation_and_defaults_to_the_invariant_one(tiny_folder, tmp_path, capsys):
    from signstgcn.cli.train import main as train_main
    from signstgcn.training.checkpoint import read_checkpoint
    from tests.conftest import TINY_MODEL, one_error_line

    base = ["--data", str(tiny_folder), "--binary", "--window", "8", "--stride", "4", "--epochs", "1",
            "--device", "cpu", "--quiet", *TINY_MODEL]
    assert train_main([*base, "--out", str(tmp_path / "default")]) == 0
    data = read_checkpoint(tmp_path / "default" / "last.pt")["data"]
    assert data["hands_relative"] and len(data["bone_lengths"]) == LAYOUT.num_nodes
    assert max(data["bone_lengths"]) > 0 and not data["face_channels"]
    assert "input hands relative, canonical bones (2 channels" in capsys.readouterr().out
    assert train_main([*base, "--out", str(tmp_path / "plain"), "--no-hands-relative", "--no-canonical-bones",
                       "--face-channels", "--dominant-hand", "right"]) == 0
    raw = read_checkpoint(tmp_path / "plain" / "last.pt")
    assert not raw["data"]["hands_relative"] and raw["data"]["bone_lengths"] == []
    assert raw["data"]["face_channels"] and raw["data"]["dominant_hand"] == "right"
    assert raw["config"]["in_channels"] == 4  # x, y + the two face channels
    assert train_main([*base, "--out", str(tmp_path / "both"), "--cross-signer-augment"]) == 2
    assert "--no-canonical-bones" in one_error_line(capsys)
