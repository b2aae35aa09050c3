"""Signer identities: real ids from ``signers.txt``, pose statistics and K-means pseudo-signers.

``signer_statistics`` summarises a window (or a whole video) of RAW landmarks in ``NUM_SIGNER_STATS``
numbers that describe the person and the camera rather than the sign: body proportions, where the
signer sits in the image, how far the hands travel, which hand moves more. They feed the model's signer
encoder per window and, per video, the pseudo-signer clustering used when no real signer ids exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.data.layout import Layout
from signstgcn.errors import CheckpointError, DataError

__all__ = [
    "NUM_SIGNER_STATS",
    "PSEUDO_SIGNER_WEIGHTS",
    "SESSIONS_FILE",
    "SIGNERS_FILE",
    "SIGNER_STAT_NAMES",
    "PseudoSigners",
    "load_signer_ids",
    "read_signers_file",
    "read_video_groups",
    "read_video_table",
    "signer_statistics",
    "signer_statistics_many",
    "video_statistics",
]

SIGNERS_FILE = "signers.txt"
SESSIONS_FILE = "sessions.txt"  # <video_id> <session_id>: recording sessions, for session-disjoint splits

# Order of the values returned by `signer_statistics`. "sw" = median shoulder width in image units;
# every "*_ratio", spread and height is divided by it. Unavailable values are 0.
SIGNER_STAT_NAMES: tuple[str, ...] = (
    "shoulder_width",  # camera distance / body size (image units)
    "shoulder_mid_x",  # camera position (image units)
    "shoulder_mid_y",
    "upper_arm_ratio",  # shoulder-elbow / sw
    "forearm_ratio",  # elbow-wrist / sw
    "hand_size_ratio",  # hand wrist - middle finger MCP / sw
    "head_ratio",  # nose - shoulder midpoint / sw
    "eye_distance_ratio",  # left eye - right eye / sw
    "wrist_spread_x",  # signing-space extent: std of the wrist x over time / sw
    "wrist_spread_y",
    "handedness",  # (right - left) / (right + left) wrist motion, in [-1, 1]
    "left_hand_rate",  # fraction of frames with the left hand detected
    "right_hand_rate",
    "wrist_height",  # mean height of the wrists above the shoulder midpoint / sw
    "shoulder_tilt",  # (left shoulder y - right shoulder y) / sw
    "head_offset_x",  # (nose x - shoulder midpoint x) / sw
)
NUM_SIGNER_STATS = len(SIGNER_STAT_NAMES)

# Pseudo-signer clustering weight of each standardized statistic: how much it describes the person and
# the camera rather than the sign being made. Body proportions and camera placement are stable per
# signer (1.0); projected forearm/hand lengths and posture change with arm and hand orientation (0.5);
# signing space, handedness, hand presence and wrist height mostly follow the sign (0.3). Equal weights
# let those sign-driven columns split signers by sign (synthetic recognition clips: ARI 0.52-0.87 with
# equal weights vs 1.0 with these; real mp_signers: 0.24 vs 0.45).
PSEUDO_SIGNER_WEIGHTS: tuple[float, ...] = (
    1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.5,
)

_EPS = 1e-6

# Joints gathered from a window, in this column order.
_POSE_JOINTS = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "nose", "left_eye", "right_eye",
)
_HAND_JOINTS = (("left_hand", 0), ("left_hand", 9), ("right_hand", 0), ("right_hand", 9))
_LS, _RS, _LE, _RE, _LW, _RW, _NOSE, _LEYE, _REYE, _LH0, _LH9, _RH0, _RH9 = range(13)
_POSE_WRISTS, _HAND_WRISTS = [_LW, _RW], [_LH0, _RH0]  # (left, right)
# Distances measured per frame: shoulder width, upper arms, forearms, hand sizes, eye distance.
_PAIR_A = np.array([_LS, _LS, _RS, _LE, _RE, _LH0, _RH0, _LEYE])
_PAIR_B = np.array([_RS, _LE, _RE, _LW, _RW, _LH9, _RH9, _REYE])
_ARMS, _FOREARMS, _HANDS, _EYES = [1, 2], [3, 4], [5, 6], [7]


@dataclass(frozen=True)
class _Nodes:
    index: np.ndarray  # (J,) node of each gathered joint (0 where the layout lacks it)
    present: np.ndarray  # (J,) whether the layout has it
    hands: tuple[slice | None, slice | None]  # left_hand, right_hand node slices


_NODE_CACHE: dict[int, tuple[Layout, _Nodes]] = {}


def _nodes(layout: Layout) -> _Nodes:
    cached = _NODE_CACHE.get(id(layout))
    if cached is not None and cached[0] is layout:
        return cached[1]
    nodes = [layout.joint(name) for name in _POSE_JOINTS] + [layout.node(p, i) for p, i in _HAND_JOINTS]
    result = _Nodes(
        index=np.array([0 if n is None else n for n in nodes], dtype=np.int64),
        present=np.array([n is not None for n in nodes]),
        hands=(layout.part_slice("left_hand"), layout.part_slice("right_hand")),
    )
    if len(_NODE_CACHE) > 64:
        _NODE_CACHE.clear()
    _NODE_CACHE[id(layout)] = (layout, result)
    return result


def _detected(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Finite and not the all-zero "undetected" marker (same shape as x, y)."""
    return np.isfinite(x) & np.isfinite(y) & ((x != 0) | (y != 0))


def signer_statistics(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """(S,) float32 signer/camera statistics of RAW landmarks ``frames (T, V, C)``; see SIGNER_STAT_NAMES.

    NaN or all-zero joints count as missing; whatever cannot be measured (no pose, no shoulders, one
    frame for motion and spread) is 0, so the result is always finite. Only x and y are used.
    """
    if frames.ndim != 3 or frames.shape[-1] < 2 or frames.shape[1] != layout.num_nodes:
        raise ValueError(
            f"signer_statistics: expected frames (T, V, C>=2) with V={layout.num_nodes} "
            f"for layout {layout.name!r}, got {tuple(frames.shape)}"
        )
    return signer_statistics_many(frames[None], layout)[0]


def _masked_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N,) mean of ``values (N, T)`` over the ``valid (N, T)`` entries of each row; 0 for a row without any."""
    count = valid.sum(axis=1)
    return np.where(valid, values, 0.0).sum(axis=1) / np.maximum(count, 1)


def signer_statistics_many(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """(N, S) :func:`signer_statistics` of ``N`` windows at once, ``frames (N, T, V, C)`` (a live server scores
    every due window of a tick together)."""
    nodes = _nodes(layout)
    N, T = frames.shape[:2]
    if T == 0:
        return np.zeros((N, NUM_SIGNER_STATS), dtype=np.float32)
    sub = np.take(frames, nodes.index, axis=2)  # (N, T, J, C)
    x, y = sub[..., 0].astype(np.float64), sub[..., 1].astype(np.float64)  # (N, T, J)
    valid = _detected(x, y) & nodes.present  # (N, T, J)
    x, y = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    out = np.zeros((N, NUM_SIGNER_STATS), dtype=np.float64)

    for k, part in enumerate(nodes.hands):  # hand presence does not need the pose
        if part is not None:
            out[:, 11 + k] = _detected(frames[:, :, part, 0], frames[:, :, part, 1]).any(2).mean(1)

    # Wrists (left, right): the hand's own wrist where detected, else the pose wrist.  (N, T, 2)
    hand_ok = valid[..., _HAND_WRISTS]
    wx = np.where(hand_ok, x[..., _HAND_WRISTS], x[..., _POSE_WRISTS])
    wy = np.where(hand_ok, y[..., _HAND_WRISTS], y[..., _POSE_WRISTS])
    wrist_ok = hand_ok | valid[..., _POSE_WRISTS]
    if T > 1:
        step_ok = wrist_ok[:, 1:] & wrist_ok[:, :-1]  # (N, T-1, 2)
        step = np.where(step_ok, np.hypot(np.diff(wx, axis=1), np.diff(wy, axis=1)), 0.0)
        motion = step.sum(1) / np.maximum(step_ok.sum(1), 1)  # (N, 2)
        total = motion.sum(1)  # (N,)
        moves = total > _EPS
        out[:, 10] = np.where(moves, (motion[:, 1] - motion[:, 0]) / np.where(moves, total, 1.0), 0.0)

    # Rows without both shoulders in any frame, or with a zero width, keep only the values above (and the
    # width and centre measured, for the latter).
    ok = valid[..., _PAIR_A] & valid[..., _PAIR_B]  # (N, T, P)
    both = ok[..., 0]  # (N, T) frames with both shoulders
    count = both.sum(1)  # (N,)
    dist = np.hypot(x[..., _PAIR_A] - x[..., _PAIR_B], y[..., _PAIR_A] - y[..., _PAIR_B])  # (N, T, P)
    ordered = np.sort(np.where(both, dist[..., 0], np.inf), axis=1)  # (N, T), frames without both last
    rows = np.arange(N)
    sw = (ordered[rows, np.maximum(count - 1, 0) // 2] + ordered[rows, count // 2]) * 0.5  # median
    sw = np.where(count > 0, sw, 0.0)
    mid_x, mid_y = (x[..., _LS] + x[..., _RS]) * 0.5, (y[..., _LS] + y[..., _RS]) * 0.5  # (N, T)
    out[:, 0], out[:, 1], out[:, 2] = sw, _masked_mean(mid_x, both), _masked_mean(mid_y, both)
    full = (count > 0) & (sw > _EPS)  # (N,) rows with every statistic
    unit = np.where(full, sw, 1.0)  # (N,)

    sums, counts = np.where(ok, dist, 0.0).sum(1), ok.sum(1)  # (N, P)
    for k, cols in ((3, _ARMS), (4, _FOREARMS), (5, _HANDS), (7, _EYES)):
        c = counts[:, cols].sum(1)
        out[:, k] = np.where(c > 0, sums[:, cols].sum(1) / np.maximum(c, 1) / unit, 0.0)
    nose_ok = valid[..., _NOSE]  # (N, T)
    out[:, 6] = _masked_mean(np.hypot(x[..., _NOSE] - mid_x, y[..., _NOSE] - mid_y), nose_ok & both) / unit
    out[:, 15] = np.where(nose_ok.any(1), (_masked_mean(x[..., _NOSE], nose_ok) - out[:, 1]) / unit, 0.0)
    seen = wrist_ok.sum(1)  # (N, 2) frames with each wrist
    sides = seen >= 2
    n = np.maximum(seen, 1)[:, None]  # (N, 1, 2)
    wx0, wy0 = wx - (wx * wrist_ok).sum(1)[:, None] / n, wy - (wy * wrist_ok).sum(1)[:, None] / n  # (N, T, 2)
    std_x = np.sqrt((wx0**2 * wrist_ok).sum(1) / n[:, 0])  # (N, 2)
    std_y = np.sqrt((wy0**2 * wrist_ok).sum(1) / n[:, 0])
    n_sides = np.maximum(sides.sum(1), 1)  # std of each wrist's x and y, averaged over the sides seen twice
    out[:, 8] = np.where(sides.any(1), np.where(sides, std_x, 0.0).sum(1) / n_sides / unit, 0.0)
    out[:, 9] = np.where(sides.any(1), np.where(sides, std_y, 0.0).sum(1) / n_sides / unit, 0.0)
    out[:, 13] = _masked_mean(out[:, 2, None] - wy.reshape(N, -1), wrist_ok.reshape(N, -1)) / unit
    out[:, 14] = _masked_mean(y[..., _LS] - y[..., _RS], both) / unit
    out[~full, 3:10] = 0.0
    out[~full, 13:16] = 0.0
    return out.astype(np.float32)


def video_statistics(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """(S,) statistics of a whole video's RAW frames ``(T, V, C)`` (input of the pseudo-signers)."""
    return signer_statistics(frames, layout)


# --------------------------------------------------------------------------------------------------
# Real signer ids
# --------------------------------------------------------------------------------------------------


def read_signers_file(path: str | Path) -> dict[str, str]:
    """Parse ``<video_id> <signer_id>`` lines; blank lines and ``#`` comments are ignored."""
    return read_video_table(path, "signer")


def read_video_table(path: str | Path, what: str = "group") -> dict[str, str]:
    """Video -> ``what`` id of ``<video_id> <what_id>`` lines (``signers.txt``, ``sessions.txt``, any groups
    file); blank lines and ``#`` comments are ignored. A video given two different ids is an error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found (expected lines '<video_id> <{what}_id>')")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read {what} file ({exc})") from exc
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split()
        for k, token in enumerate(tokens):
            if token.startswith("#"):
                tokens = tokens[:k]
                break
        if not tokens:
            continue
        if len(tokens) != 2:
            raise DataError(f"{path}:{lineno}: expected '<video_id> <{what}_id>', got {raw.strip()!r}")
        video, group = tokens
        if video in table and table[video] != group:
            raise DataError(
                f"{path}:{lineno}: video {video!r} has {what} {group!r} but line {first_line[video]} "
                f"gave {table[video]!r}"
            )
        table[video] = group
        first_line.setdefault(video, lineno)
    return table


def read_video_groups(path: str | Path, video_ids: Sequence[str], what: str = "group") -> dict[str, str]:
    """Video → ``what`` of each of ``video_ids`` from a ``<video_id> <what_id>`` file (``sessions.txt``, a
    ``--groups`` file). Raises DataError naming the file and a few videos it lacks."""
    table = read_video_table(path, what)
    missing = [v for v in video_ids if v not in table]
    if missing:
        raise DataError(f"{path}: {len(missing)} of {len(video_ids)} videos have no {what} (e.g. "
                        f"{', '.join(missing[:5])}); add a '<video> <{what}>' line for each")
    return {v: table[v] for v in video_ids}


def load_signer_ids(
    data_dir: str | Path,
    video_ids: Iterable[str],
    landmarks_signer: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """Signer id of each video: ``DATA_DIR/signers.txt`` first, else the npz ``signer`` scalar.

    Videos without either are left out of the returned dict (order follows ``video_ids``).
    """
    path = Path(data_dir) / SIGNERS_FILE
    from_file = read_signers_file(path) if path.is_file() else {}
    from_npz = landmarks_signer or {}
    signers: dict[str, str] = {}
    for video in video_ids:
        signer = from_file.get(video)
        if signer is None:
            value = from_npz.get(video)
            signer = str(value).strip() if value is not None else ""
        if signer:
            signers[video] = signer
    return signers


# --------------------------------------------------------------------------------------------------
# Pseudo-signers
# --------------------------------------------------------------------------------------------------


def _check_stats(stats: np.ndarray, where: str, num_stats: int | None = None) -> np.ndarray:
    array = np.asarray(stats, dtype=np.float64)
    if array.ndim != 2 or (num_stats is not None and array.shape[1] != num_stats):
        expected = f"(M, {num_stats})" if num_stats is not None else "(M, S)"
        raise ValueError(f"{where}: expected stats of shape {expected}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{where}: stats contain NaN or inf")
    return array


class PseudoSigners:
    """K-means over standardized, weighted per-video statistics; stands in for unknown signer ids.

    Fit on the training videos only, then ``assign`` any video (new ones included) to its nearest
    centroid. ``state_dict`` holds plain lists and floats, so it fits in a ``weights_only`` checkpoint.
    """

    def __init__(self) -> None:
        self.k = 0
        self.seed = 0
        self.mean_: np.ndarray | None = None  # (S,)
        self.scale_: np.ndarray | None = None  # (S,)
        self.weights_: np.ndarray | None = None  # (S,) applied after standardizing
        self.centroids_: np.ndarray | None = None  # (k, S) in standardized, weighted units
        self.labels_: np.ndarray | None = None  # (M,) clusters of the fitted videos

    def __repr__(self) -> str:
        state = f"k={self.k}, seed={self.seed}" if self.fitted else "unfitted"
        return f"PseudoSigners({state})"

    @property
    def fitted(self) -> bool:
        return self.centroids_ is not None

    def fit(
        self, stats: np.ndarray, k: int, seed: int = 0, weights: Sequence[float] | None = None
    ) -> PseudoSigners:
        """Cluster ``stats (M, S)`` into ``k`` pseudo-signers: StandardScaler, per-column ``weights``
        (default ``PSEUDO_SIGNER_WEIGHTS`` when S = NUM_SIGNER_STATS, else ones), KMeans (n_init=10)."""
        from sklearn.cluster import KMeans
        from sklearn.preprocessing import StandardScaler

        array = _check_stats(stats, "PseudoSigners.fit")
        if not 1 <= k <= len(array):
            raise ValueError(
                f"PseudoSigners.fit: expected 1 <= k <= number of videos ({len(array)}), got k={k}"
            )
        if weights is None:
            default = array.shape[1] == NUM_SIGNER_STATS
            weights = PSEUDO_SIGNER_WEIGHTS if default else (1.0,) * array.shape[1]
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (array.shape[1],) or not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError(
                f"PseudoSigners.fit: expected {array.shape[1]} finite weights >= 0, got {list(weights)}"
            )
        scaler = StandardScaler().fit(array)
        z = scaler.transform(array) * w  # (M, S)
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
        self.k, self.seed = int(k), int(seed)
        self.mean_ = scaler.mean_.astype(np.float64)
        self.scale_ = scaler.scale_.astype(np.float64)
        self.weights_ = w
        self.centroids_ = kmeans.cluster_centers_.astype(np.float64)
        self.labels_ = self.assign(array)
        return self

    def _fitted_arrays(self, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None or self.weights_ is None or self.centroids_ is None:
            raise ValueError(f"PseudoSigners.{where}: not fitted; call fit() or from_state_dict() first")
        return self.mean_, self.scale_, self.weights_, self.centroids_

    def assign(self, stats: np.ndarray) -> np.ndarray:
        """(M,) int64 pseudo-signer of each row of ``stats (M, S)`` (nearest centroid)."""
        mean, scale, weights, centroids = self._fitted_arrays("assign")
        array = _check_stats(stats, "PseudoSigners.assign", centroids.shape[1])
        z = (array - mean) / scale * weights  # (M, S)
        d2 = ((z[:, None, :] - centroids[None]) ** 2).sum(-1)  # (M, k)
        return d2.argmin(1).astype(np.int64)

    def state_dict(self) -> dict[str, Any]:
        mean, scale, weights, centroids = self._fitted_arrays("state_dict")
        return {
            "k": self.k,
            "seed": self.seed,
            "mean": [float(v) for v in mean],
            "scale": [float(v) for v in scale],
            "weights": [float(v) for v in weights],
            "centroids": [[float(v) for v in row] for row in centroids],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> PseudoSigners:
        missing = {"k", "seed", "mean", "scale", "weights", "centroids"} - set(state)
        if missing:
            raise CheckpointError(f"pseudo-signer state: missing keys {sorted(missing)}")
        mean, scale, weights, centroids = (
            np.asarray(state[key], dtype=np.float64) for key in ("mean", "scale", "weights", "centroids")
        )
        k = int(state["k"])
        if (
            k < 1 or mean.ndim != 1 or scale.shape != mean.shape or weights.shape != mean.shape
            or centroids.shape != (k, len(mean))
        ):
            raise CheckpointError(
                f"pseudo-signer state: expected k >= 1, mean/scale/weights (S,) and centroids (k, S), "
                f"got k={k}, mean {mean.shape}, scale {scale.shape}, weights {weights.shape}, "
                f"centroids {centroids.shape}"
            )
        model = cls()
        model.k, model.seed = k, int(state["seed"])
        model.mean_, model.scale_, model.weights_, model.centroids_ = mean, scale, weights, centroids
        return model


def video_signer_names(
    ids: Sequence[str], known: Mapping[str, str], *, source: str, pseudo_ids: Sequence[int] | np.ndarray = (),
) -> tuple[list[str | None], str]:
    """Signer name per video for the per-signer metrics and the signer probe, and where the names come from.

    The one rule for training's validation and ``evaluate``: real ids (``known``) whenever any video has one,
    ``None`` (left out of the per-signer metrics, never lumped into a made-up signer) for the videos without;
    else the pseudo-signer cluster (``source == "pseudo"``, ``pseudo_ids[i]`` >= 0) as ``pseudo<k>``; else none.
    Returns ``(names, "real" | "pseudo" | "none")``.
    """
    real = [known.get(v) for v in ids]
    if any(s is not None for s in real):
        return real, "real"
    if source == "pseudo" and len(pseudo_ids) == len(ids):
        return [f"pseudo{int(k)}" if int(k) >= 0 else None for k in pseudo_ids], "pseudo"
    return [None] * len(ids), "none"
