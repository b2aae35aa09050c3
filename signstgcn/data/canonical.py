"""Body-proportion canonicalization: retarget a skeleton onto reference bone lengths, keeping directions.

Arm length, hand size and torso build identify a signer as surely as a face does, and a model trained on
a few people learns them. Retargeting removes them: every bone ``parent(v) -> v`` of the layout's tree
(:func:`~signstgcn.data.layout.bone_parents`, towards the graph centre) keeps its direction in the
image and gets the length of one reference skeleton.

Landmarks are 2-D projections, so a bone's length in the image also says how it points towards the
camera (a forearm pointing at the lens looks short). The scale applied to a bone is therefore one number
per window, ``reference / typical``, with ``typical`` the bone's 90th-percentile image length in the
window (its length when it lies flat, about): foreshortening inside the window is kept, the person's own
proportions are not.

All coordinates are Normalize's (shoulder-centred, shoulder widths); ``(T, V, 2)`` x/y only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from signstgcn.data.layout import Layout, _bfs_distance, bone_parents

__all__ = ["BoneTree", "fit_reference_lengths", "video_profiles"]

_EPS = 1e-6
TYPICAL_QUANTILE = 0.9


class BoneTree:
    """The layout's bone tree in an order where every parent comes before its children."""

    def __init__(self, layout: Layout) -> None:
        self.parents = bone_parents(layout)  # (V,) own index for roots
        dist = _bfs_distance(layout.adjacency(), layout.center)  # (V,) inf in other components
        depth = np.where(np.isfinite(dist), dist, 0.0)
        self.order = np.argsort(depth, kind="stable")  # parents first
        self.children = np.array([v for v in self.order if self.parents[v] != v], dtype=np.int64)  # (B,)
        # path[v, u] = 1 when bone u (the bone from u's parent to u) lies on the path from v's root to v
        self.path = np.zeros((self.num_nodes, self.num_nodes), dtype=np.float32)  # (V, V)
        for v in range(self.num_nodes):
            u = v
            while self.parents[u] != u:
                self.path[v, u] = 1.0
                u = self.parents[u]
        self._is_bone = self.parents != np.arange(self.num_nodes)  # (V,) False for roots
        left, right = layout.joint("left_shoulder"), layout.joint("right_shoulder")
        self.shoulders = (left, right) if left is not None and right is not None else None

    @property
    def num_nodes(self) -> int:
        return len(self.parents)

    def lengths(self, xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(..., T, V) image length of each node's bone of ``xy (..., T, V, 2)`` (NaN where it or its parent is
        missing, or a root). Leading axes are independent windows."""
        vec = xy - np.take(xy, self.parents, axis=-2)  # (..., T, V, 2)
        both = valid & valid[..., self.parents]  # (..., T, V)
        both[..., ~self._is_bone] = False
        return np.where(both, np.hypot(vec[..., 0], vec[..., 1]), np.nan)  # (..., T, V)

    def typical(self, xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(..., V) each bone's typical length in a window ``xy (..., T, V, 2)``: 90th percentile over its
        frames; NaN where never seen."""
        length = self.lengths(xy, valid)  # (..., T, V)
        count = np.isfinite(length).sum(axis=-2)  # (..., V)
        ordered = np.sort(length, axis=-2)  # (..., T, V), NaN last
        pos = np.maximum(count - 1, 0) * TYPICAL_QUANTILE  # (..., V) np.quantile's linear rule, seen frames
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        low = np.take_along_axis(ordered, lo[..., None, :], axis=-2)[..., 0, :]  # (..., V)
        high = np.take_along_axis(ordered, hi[..., None, :], axis=-2)[..., 0, :]
        return np.where(count > 0, low + (high - low) * (pos - lo), np.nan)

    def scales(self, xy: np.ndarray, valid: np.ndarray, reference: np.ndarray,
               typical: np.ndarray | None = None) -> np.ndarray:
        """(V,) factor for each bone of a window: reference / typical (1 where either is unknown or ~0).

        ``typical`` (V,): the window's :meth:`typical` lengths when already known (``xy`` is then unused)."""
        typical = self.typical(xy, valid) if typical is None else typical
        ok = np.isfinite(typical) & (typical > _EPS) & (reference > _EPS)
        return np.where(ok, reference / np.where(ok, typical, 1.0), 1.0)

    def retarget(self, xy: np.ndarray, valid: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Scale every bone of ``xy (T, V, 2)`` by ``scales (V,)``, keeping its direction; ``(T, V, 2)``.

        Joints are placed from the root outwards: ``new[v] = new[parent] + scale[v] * (xy[v] - xy[parent])``.
        A joint whose parent is missing moves with its nearest placed ancestor. The shoulder midpoint stays
        where it was in every frame with both shoulders, so the body does not drift off Normalize's origin.
        """
        # Placing v at new[parent] + scale * (xy[v] - xy[parent]) moves it by shift[parent] + (scale - 1) * bone;
        # a joint or parent that is missing adds nothing. So each joint's shift is the sum of (scale - 1) * bone
        # over the bones on its path from the root: one product with the path matrix for every frame at once.
        # Leading axes before T are independent windows, with ``scales (..., V)`` one row per window.
        xy = xy.astype(np.float32, copy=False)
        bone = xy - xy[..., self.parents, :]  # (..., T, V, 2)
        ok = (valid & valid[..., self.parents] & self._is_bone)[..., None]  # (..., T, V, 1)
        grow = (np.asarray(scales, dtype=np.float32) - np.float32(1))[..., None, :, None]  # (..., 1, V, 1)
        step = np.where(ok, grow * bone, np.float32(0))  # (..., T, V, 2)
        shift = np.matmul(self.path, step)  # (..., T, V, 2)
        new = xy + shift
        if self.shoulders is not None:
            a, b = self.shoulders
            both = (valid[..., a] & valid[..., b])[..., None]  # (..., T, 1)
            drift = 0.5 * (shift[..., a, :] + shift[..., b, :])  # (..., T, 2) how far the shoulder midpoint moved
            new -= np.where(both, drift, np.float32(0))[..., None, :]
        return np.where(valid[..., None], new, xy)


def _median_typical(tree: BoneTree, windows: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(V,) median over Normalize'd ``windows`` ``(frames (T, V, C), mask (T, V))`` of each bone's typical
    length; NaN for a bone never seen (or no window)."""
    typical = [tree.typical(frames[..., :2], mask) for frames, mask in windows]
    out = np.full(tree.num_nodes, np.nan)
    if typical:
        stack = np.stack(typical)  # (N, V)
        seen = np.isfinite(stack).any(axis=0)
        out[seen] = np.nanmedian(stack[:, seen], axis=0)
    return out


def fit_reference_lengths(tree: BoneTree, windows: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(V,) reference skeleton: the median over ``windows`` of each bone's typical length (0 = never seen).

    ``windows`` yields Normalize'd ``(frames (T, V, C), mask (T, V))`` of the training data.
    """
    return np.nan_to_num(_median_typical(tree, windows), nan=0.0)


def video_profiles(tree: BoneTree, videos: Iterable[Iterable[tuple[np.ndarray, np.ndarray]]]) -> np.ndarray:
    """(M, V) body-proportion profile of each of M videos: the median typical length of each bone over the
    video's windows (NaN where a bone is never seen). ``videos`` yields, per video, its Normalize'd windows."""
    rows = [_median_typical(tree, windows) for windows in videos]
    return np.stack(rows) if rows else np.zeros((0, tree.num_nodes))
