"""Layouts and the ST-GCN spatial partition."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from signstgcn.data.layout import Layout, LayoutSpec, hop_distance, spatial_partition
from tests.conftest import REPO

EXPECTED = REPO / "tests" / "expected"
ACCEPT = os.environ.get("SIGNSTGCN_ACCEPT") == "1"


def test_partition_of_a_three_node_chain_matches_hand_computed_values():
    # 0 - 1 - 2 with the centre in the middle; column degrees (with self-loops) 2, 3, 2.
    layout = Layout(name="toy", skeleton="mediapipe", parts=(("pose", (0, 1, 2)),),
                    edges=((0, 1), (1, 2)), center=1, mirror=(2, 1, 0))
    a = spatial_partition(layout)
    expected = np.zeros((3, 3, 3), dtype=np.float32)
    expected[0] = np.diag([1 / 2, 1 / 3, 1 / 2])
    expected[1, 0, 1] = expected[1, 2, 1] = 1 / 3  # node 1 hears its farther neighbours
    expected[2, 1, 0] = expected[2, 1, 2] = 1 / 2  # nodes 0 and 2 hear the nearer centre
    np.testing.assert_allclose(a, expected, rtol=0, atol=1e-7)


def test_partition_columns_sum_to_one_and_subsets_are_disjoint():
    a = spatial_partition(LayoutSpec(include_face=True).build())
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, atol=1e-6)
    assert ((a > 0).sum(axis=0) <= 1).all()


@pytest.mark.parametrize("name,spec", [
    ("mediapipe_upper_hands", LayoutSpec()),
    ("body25_upper_hands", LayoutSpec(skeleton="body25")),
])
def test_default_partitions_match_expected_files(name, spec):
    """Expected-output test; re-accept intended changes with SIGNSTGCN_ACCEPT=1 pytest tests/test_graph.py."""
    a = spatial_partition(spec.build())
    path = EXPECTED / f"partition_{name}.npy"
    if ACCEPT or not path.exists():
        if not ACCEPT:
            pytest.fail(f"{path} missing; run SIGNSTGCN_ACCEPT=1 pytest tests/test_graph.py to create it")
        np.save(path, a)
    expected = np.load(path)
    assert a.shape == expected.shape, "shape changed; if intended, re-accept with SIGNSTGCN_ACCEPT=1"
    np.testing.assert_array_equal(a, expected, err_msg="partition changed; if intended, re-accept with "
                                  "SIGNSTGCN_ACCEPT=1 pytest tests/test_graph.py")


def _combos():
    for skeleton, pose, hands, face, pose_subset, face_subset in itertools.product(
            ("mediapipe", "body25", "coco18"), (True, False), (True, False), (True, False),
            ("upper", "full"), ("compact", "full")):
        if pose or hands or face:
            points = 478 if skeleton == "mediapipe" else 70
            yield LayoutSpec(skeleton, pose, hands, face, pose_subset, face_subset, points)


@pytest.mark.parametrize("spec", list(_combos()), ids=str)
def test_every_layout_is_consistent(spec):
    layout = spec.build()
    v = layout.num_nodes
    assert v == sum(len(s) for _, s in layout.parts)
    assert all(0 <= i < v and 0 <= j < v and i != j for i, j in layout.edges)
    mirror = layout.mirror_permutation()
    assert sorted(mirror.tolist()) == list(range(v))
    np.testing.assert_array_equal(mirror[mirror], np.arange(v))
    a = spatial_partition(layout)
    assert a.shape == (3, v, v) and a.dtype == np.float32 and np.isfinite(a).all()


def test_node_order_and_lookups():
    layout = LayoutSpec(include_face=True).build()
    assert layout.part_names == ("pose", "left_hand", "right_hand", "face")
    assert layout.part_slice("pose") == slice(0, 25)
    assert layout.part_slice("left_hand") == slice(25, 46)
    assert layout.part_slice("right_hand") == slice(46, 67)
    assert layout.node("pose", 11) == 11 and layout.node("pose", 30) is None
    assert layout.node("right_hand", 0) == 46
    assert layout.joint("left_wrist") == 15 and layout.joint("right_shoulder") == 12
    # the hands hang off the pose wrists
    assert (15, 25) in layout.edges and (16, 46) in layout.edges


def test_mirror_swaps_hands_and_pose_sides():
    layout = LayoutSpec(pose_subset="full").build()
    m = layout.mirror_permutation()
    assert m[11] == 12 and m[15] == 16 and m[0] == 0
    left, right = layout.part_slice("left_hand"), layout.part_slice("right_hand")
    np.testing.assert_array_equal(m[left], np.arange(right.start, right.stop))
    face = LayoutSpec(include_pose=False, include_hands=False, include_face=True, face_subset="full").build()
    fm = face.mirror_permutation()
    assert fm[33] == 263 and fm[61] == 291 and fm[1] == 1  # eye corners, mouth corners, nose tip
    assert fm[468] == 473  # right iris centre <-> left iris centre


def test_hop_distance():
    adj = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32)
    hop = hop_distance(adj, max_hop=1)
    assert hop[0, 0] == 0 and hop[0, 1] == 1 and np.isinf(hop[0, 2])


@pytest.mark.parametrize("kwargs,match", [
    ({"skeleton": "kinect"}, "Invalid skeleton"),
    ({"pose_subset": "lower"}, "Invalid pose_subset"),
    ({"include_pose": False, "include_hands": False}, "at least one"),
    ({"include_face": True, "face_points": 70}, "face_points=70"),
])
def test_bad_specs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LayoutSpec(**kwargs)
