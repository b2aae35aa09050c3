"""Skeleton layouts and ST-GCN adjacency partitions.

The graph is data: every skeleton is one table (joint count, edges, left/right pairs, named joints,
upper-body subset). A :class:`LayoutSpec` names a selection of parts; :meth:`LayoutSpec.build` turns it
into a :class:`Layout` whose node order is always pose, left hand, right hand, face. The data layer uses
the layout to pick joints out of the landmark arrays and the model uses it to build its ``(K, V, V)``
spatial partition, so the two can never disagree about what node ``v`` is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from signstgcn.data import _facemesh

Edge = tuple[int, int]

SKELETONS = ("mediapipe", "body25", "coco18")
POSE_SUBSETS = ("upper", "full")
FACE_SUBSETS = ("compact", "full")
PART_NAMES = ("pose", "left_hand", "right_hand", "face")


@dataclass(frozen=True)
class _Skeleton:
    """One body-pose format: its joints, edges, mirror pairs and named joints (source indexing)."""

    num_joints: int
    edges: tuple[Edge, ...]
    mirror_pairs: tuple[Edge, ...]
    upper: tuple[int, ...]
    center: int  # graph centre used by the spatial partition
    joints: dict[str, int] = field(default_factory=dict)


_MP_POSE = _Skeleton(
    num_joints=33,
    edges=(
        (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13),
        (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20),
        (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
        (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
        (0, 9), (0, 10), (0, 11), (0, 12),  # join the head to the torso (MediaPipe draws them apart)
    ),
    mirror_pairs=(
        (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
        (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
    ),
    upper=tuple(range(25)),
    center=0,
    joints={
        "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8, "mouth_left": 9,
        "mouth_right": 10, "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
        "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24,
    },
)

_BODY25 = _Skeleton(
    num_joints=25,
    edges=(
        (0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (10, 11),
        (8, 12), (12, 13), (13, 14), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20),
        (14, 21), (11, 22), (22, 23), (11, 24),
    ),
    mirror_pairs=((2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18), (19, 22),
                  (20, 23), (21, 24)),
    upper=(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 18),
    center=1,
    joints={
        "nose": 0, "neck": 1, "right_eye": 15, "left_eye": 16, "right_ear": 17, "left_ear": 18,
        "right_shoulder": 2, "left_shoulder": 5, "right_elbow": 3, "left_elbow": 6,
        "right_wrist": 4, "left_wrist": 7, "right_hip": 9, "left_hip": 12,
    },
)

_COCO18 = _Skeleton(
    num_joints=18,
    edges=(
        (4, 3), (3, 2), (7, 6), (6, 5), (13, 12), (12, 11), (10, 9), (9, 8), (11, 5), (8, 2), (5, 1),
        (2, 1), (0, 1), (15, 0), (14, 0), (17, 15), (16, 14),
    ),
    mirror_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    upper=(0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 15, 16, 17),
    center=1,
    joints={
        "nose": 0, "neck": 1, "right_eye": 14, "left_eye": 15, "right_ear": 16, "left_ear": 17,
        "right_shoulder": 2, "left_shoulder": 5, "right_elbow": 3, "left_elbow": 6,
        "right_wrist": 4, "left_wrist": 7, "right_hip": 8, "left_hip": 11,
    },
)

_POSE_SKELETONS = {"mediapipe": _MP_POSE, "body25": _BODY25, "coco18": _COCO18}

# MediaPipe and OpenPose share the 21-point hand: 0 wrist, then 4 joints per finger, thumb to pinky.
HAND_EDGES: tuple[Edge, ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)
HAND_JOINTS = 21


def _chain(a: int, b: int, closed: bool = False) -> list[Edge]:
    edges = [(i, i + 1) for i in range(a, b)]
    return edges + [(b, a)] if closed else edges


# OpenPose / iBUG 70-point face: jaw, brows, nose, eyes, lips, pupils.
_OPENPOSE_FACE_EDGES: tuple[Edge, ...] = tuple(
    _chain(0, 16) + _chain(17, 21) + _chain(22, 26) + _chain(27, 30) + _chain(31, 35) + [(30, 33)]
    + _chain(36, 41, True) + _chain(42, 47, True) + _chain(48, 59, True) + _chain(60, 67, True)
    + [(68, 37), (68, 40), (69, 43), (69, 46)]
)
_OPENPOSE_FACE_MIRROR: tuple[int, ...] = tuple(
    [16 - i for i in range(17)] + [26 - (i - 17) for i in range(17, 27)] + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65] + [69, 68]
)

_MP_FACE_CONTOURS = ("LIPS", "LEFT_EYE", "RIGHT_EYE", "LEFT_EYEBROW", "RIGHT_EYEBROW", "FACE_OVAL")


def _mediapipe_face(subset: str, points: int) -> tuple[tuple[int, ...], tuple[Edge, ...], int]:
    """Return (source indices, edges in source indexing, joint attached to the pose nose)."""
    if subset == "compact":
        edges = [e for name in _MP_FACE_CONTOURS for e in getattr(_facemesh, name)]
        nodes = sorted({i for e in edges for i in e})
        return tuple(nodes), tuple(edges), 0  # upper-lip centre sits on the face midline
    edges = list(_facemesh.TESSELATION)
    if points == 478:
        edges += list(_facemesh.LEFT_IRIS) + list(_facemesh.RIGHT_IRIS)
        edges += [(468, i) for i in range(469, 473)] + [(473, i) for i in range(474, 478)]
        edges += [(468, 33), (473, 263)]  # iris centres to the outer eye corners
    return tuple(range(points)), tuple(edges), 1  # nose tip


# The MediaPipe face mesh's contours (lips, eyes, brows, oval) in mesh indexing: the face drawn, not meshed.
FACE_CONTOUR_EDGES: tuple[Edge, ...] = tuple(e for name in _MP_FACE_CONTOURS for e in getattr(_facemesh, name))


def part_edges(part: str, points: int, skeleton: str) -> tuple[Edge, ...]:
    """The edges of one whole part in its own point indexing (for drawing and for pose-format limbs):
    ``pose`` of ``skeleton`` (mediapipe, body25, coco18), the hands, ``face`` of 468 / 478 (MediaPipe mesh) or
    70 (OpenPose) points; () for anything else."""
    if part in ("left_hand", "right_hand"):
        return HAND_EDGES
    if part == "pose" and skeleton in _POSE_SKELETONS and _POSE_SKELETONS[skeleton].num_joints == points:
        return _POSE_SKELETONS[skeleton].edges
    if part == "face" and points == 70:
        return _OPENPOSE_FACE_EDGES
    if part == "face" and points in (468, 478):
        return _mediapipe_face("full", points)[1]
    return ()


def _face_mirror(skeleton: str, points: int) -> tuple[int, ...]:
    if skeleton != "mediapipe":
        return _OPENPOSE_FACE_MIRROR
    mirror = list(_facemesh.MIRROR_468)
    if points == 478:  # the right iris (468-472) mirrors the left iris (473-477)
        mirror += [473, 474, 477, 476, 475, 468, 469, 472, 471, 470]
    return tuple(mirror)


@dataclass(frozen=True)
class Layout:
    """A concrete graph: which source joints are nodes (in node order) and how they connect.

    ``parts`` lists ``(part, source_indices)`` in node order; node ``v`` of part ``p`` reads
    ``array_p[:, source_indices[v - offset_p]]``.
    """

    name: str
    skeleton: str
    parts: tuple[tuple[str, tuple[int, ...]], ...]
    edges: tuple[Edge, ...]
    center: int
    mirror: tuple[int, ...]
    joints: tuple[tuple[str, int], ...] = ()

    @property
    def num_nodes(self) -> int:
        return sum(len(idx) for _, idx in self.parts)

    @cached_property
    def _offsets(self) -> dict[str, int]:
        offsets, start = {}, 0
        for part, idx in self.parts:
            offsets[part] = start
            start += len(idx)
        return offsets

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(part for part, _ in self.parts)

    def part_slice(self, part: str) -> slice | None:
        """Nodes of ``part`` (they are contiguous), or None when the layout lacks it."""
        for name, idx in self.parts:
            if name == part:
                start = self._offsets[part]
                return slice(start, start + len(idx))
        return None

    def node(self, part: str, source_index: int) -> int | None:
        """Node index of joint ``source_index`` of ``part``, or None when it is not a node."""
        for name, idx in self.parts:
            if name == part:
                return self._offsets[part] + idx.index(source_index) if source_index in idx else None
        return None

    def joint(self, name: str) -> int | None:
        """Node index of a named pose joint (``left_shoulder``, ``right_wrist``, ``nose``, ...)."""
        return dict(self.joints).get(name)

    def mirror_permutation(self) -> np.ndarray:
        """(V,) permutation mapping each node to its left/right mirror image (an involution)."""
        return np.asarray(self.mirror, dtype=np.int64)

    def adjacency(self) -> np.ndarray:
        """(V, V) symmetric 0/1 adjacency without self-loops."""
        v = self.num_nodes
        a = np.zeros((v, v), dtype=np.float32)
        for i, j in self.edges:
            a[i, j] = a[j, i] = 1.0
        return a


@dataclass(frozen=True)
class LayoutSpec:
    """Which parts and subsets make up the graph; stored in checkpoints and model configs."""

    skeleton: str = "mediapipe"
    include_pose: bool = True
    include_hands: bool = True
    include_face: bool = False
    pose_subset: str = "upper"
    face_subset: str = "compact"
    face_points: int = 478

    def __post_init__(self) -> None:
        if self.skeleton not in SKELETONS:
            raise ValueError(f"Invalid skeleton {self.skeleton!r}. Only {', '.join(SKELETONS)} are supported")
        if self.pose_subset not in POSE_SUBSETS:
            raise ValueError(f"Invalid pose_subset {self.pose_subset!r}. Only upper, full are supported.")
        if self.face_subset not in FACE_SUBSETS:
            raise ValueError(f"Invalid face_subset {self.face_subset!r}. Only compact, full are supported.")
        allowed = (70,) if self.skeleton != "mediapipe" else (468, 478)
        if self.include_face and self.face_points not in allowed:
            raise ValueError(f"face_points={self.face_points} does not fit skeleton {self.skeleton!r}; "
                             f"expected one of {allowed}")
        if not (self.include_pose or self.include_hands or self.include_face):
            raise ValueError("a layout needs at least one of pose, hands, face")

    def build(self) -> Layout:
        return build_layout(self)

    def part_joint_counts(self) -> dict[str, tuple[int, ...]]:
        """Joint counts each selected part's array may have in a landmark file."""
        counts: dict[str, tuple[int, ...]] = {}
        if self.include_pose:
            counts["pose"] = (_POSE_SKELETONS[self.skeleton].num_joints,)
        if self.include_hands:
            counts["left_hand"] = counts["right_hand"] = (HAND_JOINTS,)
        if self.include_face:
            counts["face"] = (70,) if self.skeleton != "mediapipe" else (self.face_points,)
        return counts


def build_layout(spec: LayoutSpec) -> Layout:
    """Assemble nodes, edges, mirror map and named joints for ``spec`` (node order: pose, hands, face)."""
    parts: list[tuple[str, tuple[int, ...]]] = []
    edges: list[Edge] = []
    mirror: list[int] = []
    joints: list[tuple[str, int]] = []
    skel = _POSE_SKELETONS[spec.skeleton]
    offset = 0
    pose_nodes: dict[int, int] = {}

    def add_part(part: str, source: tuple[int, ...], part_edges, part_mirror) -> dict[int, int]:
        nonlocal offset
        local = {s: offset + k for k, s in enumerate(source)}
        parts.append((part, source))
        edges.extend((local[a], local[b]) for a, b in part_edges if a in local and b in local)
        mirror.extend(local[part_mirror[s]] if part_mirror[s] in local else local[s] for s in source)
        offset += len(source)
        return local

    if spec.include_pose:
        source = skel.upper if spec.pose_subset == "upper" else tuple(range(skel.num_joints))
        pose_mirror = list(range(skel.num_joints))
        for a, b in skel.mirror_pairs:
            pose_mirror[a], pose_mirror[b] = b, a
        pose_nodes = add_part("pose", source, skel.edges, pose_mirror)
        joints = [(name, pose_nodes[src]) for name, src in skel.joints.items() if src in pose_nodes]
    if spec.include_hands:
        hand = tuple(range(HAND_JOINTS))
        left = add_part("left_hand", hand, HAND_EDGES, list(hand))
        right = add_part("right_hand", hand, HAND_EDGES, list(hand))
        for k in range(HAND_JOINTS):  # mirroring swaps the hands joint for joint
            mirror[left[k]], mirror[right[k]] = right[k], left[k]
        for side, nodes in (("left", left), ("right", right)):
            wrist = skel.joints[f"{side}_wrist"]
            if wrist in pose_nodes:
                edges.append((pose_nodes[wrist], nodes[0]))
    if spec.include_face:
        if spec.skeleton == "mediapipe":
            source, face_edges, anchor = _mediapipe_face(spec.face_subset, spec.face_points)
        else:
            source, face_edges, anchor = tuple(range(70)), _OPENPOSE_FACE_EDGES, 30
        face = add_part("face", source, face_edges, _face_mirror(spec.skeleton, spec.face_points))
        nose = skel.joints["nose"]
        if nose in pose_nodes:
            edges.append((pose_nodes[nose], face[anchor]))

    if spec.include_pose:
        center = pose_nodes[skel.center]
    elif spec.include_hands:
        center = parts[0][1].index(0)  # left wrist
    else:
        center = 0
    names = [f"pose_{spec.pose_subset}"] if spec.include_pose else []
    names += ["hands"] if spec.include_hands else []
    if spec.include_face:
        names += [f"face_{spec.face_subset}" if spec.skeleton == "mediapipe" else "face70"]
    unique_edges = tuple(sorted({(min(a, b), max(a, b)) for a, b in edges if a != b}))
    return Layout(
        name=f"{spec.skeleton}:{'+'.join(names)}",
        skeleton=spec.skeleton,
        parts=tuple(parts),
        edges=unique_edges,
        center=center,
        mirror=tuple(mirror),
        joints=tuple(joints),
    )


def hop_distance(adjacency: np.ndarray, max_hop: int = 1) -> np.ndarray:
    """(V, V) number of hops between nodes, ``inf`` beyond ``max_hop`` (as in ST-GCN)."""
    v = adjacency.shape[0]
    reach = [np.linalg.matrix_power(adjacency + np.eye(v), d) > 0 for d in range(max_hop + 1)]
    dist = np.full((v, v), np.inf)
    for d in range(max_hop, -1, -1):
        dist[reach[d]] = d
    return dist


def _bfs_distance(adjacency: np.ndarray, source: int) -> np.ndarray:
    """(V,) shortest-path hops from ``source``; ``inf`` for nodes in other components."""
    dist = np.full(adjacency.shape[0], np.inf)
    dist[source] = 0
    frontier = np.zeros(adjacency.shape[0], dtype=bool)
    frontier[source] = True
    step = 0
    while frontier.any():
        step += 1
        nxt = (adjacency[frontier].sum(axis=0) > 0) & np.isinf(dist)
        dist[nxt] = step
        frontier = nxt
    return dist


def normalize_digraph(a: np.ndarray) -> np.ndarray:
    """Column-normalize: ``A D^-1`` with D the column degrees (ST-GCN ``normalize_digraph``)."""
    deg = a.sum(axis=0)
    inv = np.where(deg > 0, 1.0 / np.where(deg > 0, deg, 1.0), 0.0)
    return a * inv[None, :]


def spatial_partition(layout: Layout) -> np.ndarray:
    """ST-GCN spatial partition, ``(3, V, V)`` float32, exactly as in Yan et al.'s ``Graph``.

    ``A[k, j, i]`` weights the message from node ``j`` to node ``i`` (column-normalized). Subset 0
    holds the self-loops; subset 1 the neighbours at the same distance from the centre as ``i`` or
    farther; subset 2 the neighbours nearer the centre. Nodes in components without the centre
    compare distances of ``inf``, so all their neighbours fall in subset 1 (as in ST-GCN/pyskl).
    """
    adj = layout.adjacency()
    v = adj.shape[0]
    hop = hop_distance(adj, max_hop=1)
    norm = normalize_digraph((hop <= 1).astype(np.float64))
    dist = _bfs_distance(adj, layout.center)
    dj, di = dist[:, None], dist[None, :]  # (V, 1) source j, (1, V) target i
    same = dj == di  # inf == inf holds, as in the reference implementation
    nearer = ~same & (dj < di)
    neighbour = hop == 1
    root = np.where(np.eye(v, dtype=bool), norm, 0.0)
    outward = np.where(neighbour & ~nearer, norm, 0.0)
    inward = np.where(neighbour & nearer, norm, 0.0)
    return np.stack([root, outward, inward]).astype(np.float32)  # (3, V, V)


def bone_parents(layout: Layout) -> np.ndarray:
    """(V,) int64: each joint's neighbour one hop nearer the layout's centre (the lowest index if several);
    the centre, and joints in components without it, are their own parent (a zero bone)."""
    adj = layout.adjacency()
    dist = _bfs_distance(adj, layout.center)  # (V,)
    parents = np.arange(adj.shape[0], dtype=np.int64)
    for v in range(adj.shape[0]):
        if not np.isfinite(dist[v]) or dist[v] == 0:
            continue
        nearer = np.flatnonzero((adj[v] > 0) & (dist == dist[v] - 1))
        parents[v] = int(nearer[0])
    return parents
