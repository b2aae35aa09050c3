"""Video-level train/val/test splits, balanced on windows and labels (DESIGN §5 ``build_video_splits``).

Windows of one video overlap, so splitting windows leaks frames between splits. Here whole *units*
are assigned: videos, or groups of videos (all videos of one signer, real or pseudo). Each unit has a
few count columns — videos, windows, and positive windows (binary) or windows per class (multi-class)
— and the assignment minimises

    J = sum_split sum_column w_column * ((X[split, column] - f_split * total[column]) / total[column]) ** 2

where ``X`` sums the units of a split and ``f`` are the fractions. Every column's share follows its
split's fraction, so a split's share of windows is close to its fraction *and* its positive ratio (class
distribution) close to the global one. The search is exhaustive for a handful of units, else seeded
randomized greedy restarts polished by single-unit moves and pairwise swaps, keeping the best ``J``.
It is deterministic for a seed and independent of the order of the ids given.

The JSON written by ``build_video_splits`` (see :func:`write_splits`, :func:`load_splits`)::

    {"version": 1, "settings": {...}, "splits": {"train": [ids], "val": [...], "test": [...]},
     "counts": {"train": {"videos", "windows", "positive_windows", "positive_ratio", "signers"}, ...},
     "total": {...},                                   # the same counts over all videos
     "groups": {"train": [signer ids], ...}, "signer_of": {video: signer}}   # only when grouped

Multi-class counts hold ``"class_windows": {label: windows}`` instead of the positive keys.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from signstgcn.atomic import write_text_atomic
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.windows import WindowConfig, build_window_index
from signstgcn.errors import DataError

if TYPE_CHECKING:
    from signstgcn.data.corpus import Corpus
    from signstgcn.data.windows import WindowIndex

log = logging.getLogger(__name__)

__all__ = [
    "SPLITS",
    "SPLITS_VERSION",
    "ValidationSplit",
    "VideoCounts",
    "check_fractions",
    "check_split_videos",
    "corpus_window_counts",
    "count_windows",
    "load_splits",
    "split_counts",
    "split_videos",
    "validation_split",
    "write_splits",
]

SPLITS: tuple[str, str, str] = ("train", "val", "test")
SPLITS_VERSION = 1
FRACTION_TOL = 1e-6

_VIDEO_WEIGHT = 0.1  # videos matter less than windows: long and short videos may share a split
_EXHAUSTIVE_MAX = 6561  # assignments enumerated outright (3 splits ** 8 units)
_SWAP_MAX_UNITS = 200  # pairwise swaps (an n x n search per swap) only for this many units or fewer
_SWAP_MAX_PAIRS_COLS = 10_000_000  # n * n * D budget of one best-swap search
_MAX_PASSES = 6


# --------------------------------------------------------------------------------------------------
# Per-video counts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoCounts:
    """Usable windows per video, plus positives (binary) or windows per class label (multi-class)."""

    windows: dict[str, int]
    positives: dict[str, int] | None = None
    classes: dict[str, dict[str, int]] | None = None


def count_windows(
    video_ids: Sequence[str], index: WindowIndex, *, binary: bool, class_names: Sequence[str] = ()
) -> VideoCounts:
    """Per-video counts of a window index (``index.video`` indexes ``video_ids``).

    Binary: windows and positive windows (label 1). Multi-class: windows per class, ``class_names[k]``
    naming class id ``k``; only non-zero counts are kept.
    """
    n = len(video_ids)
    video = np.asarray(index.video, dtype=np.int64)  # (W,)
    label = np.asarray(index.label, dtype=np.int64)  # (W,)
    windows = np.bincount(video, minlength=n)  # (M,)
    counts = {v: int(windows[i]) for i, v in enumerate(video_ids)}
    if binary:
        pos = np.bincount(video, weights=(label == 1), minlength=n)  # (M,)
        return VideoCounts(counts, positives={v: int(pos[i]) for i, v in enumerate(video_ids)})
    k = len(class_names)
    if len(label) and (label.min() < 0 or label.max() >= k):
        raise ValueError(f"count_windows: window labels must be class ids in [0, {k}), "
                         f"got {label.min()}..{label.max()}")
    per_class = np.bincount(video * k + label, minlength=n * k).reshape(n, k)  # (M, K)
    classes = {v: {class_names[c]: int(per_class[i, c]) for c in np.flatnonzero(per_class[i])}
               for i, v in enumerate(video_ids)}
    return VideoCounts(counts, classes=classes)


def corpus_window_counts(corpus: Corpus, ids: Sequence[str], window: WindowConfig, *, binary: bool,
                         signing_labels: Sequence[str]) -> VideoCounts:
    """Per-video window counts of ``ids`` cut by ``window`` (what validation and fold splits balance): labels
    from ``corpus.gt`` under the vocabulary of these videos. Raises DataError when they give no window."""
    if corpus.gt is None:
        raise DataError(f"{corpus.data_dir}: no ground truth to count windows by label")
    vocab = build_vocab(corpus.gt, ids, binary=binary, signing_labels=tuple(signing_labels))
    labels = [corpus.gt.frame_labels(v, corpus.num_frames(v), vocab) for v in ids]
    index = build_window_index(labels, window, binary=binary)
    if len(index) == 0:
        raise DataError(f"{corpus.data_dir}: the {len(ids)} videos give no usable window (--window "
                        f"{window.length}: every window touches unlabeled frames)")
    return count_windows(list(ids), index, binary=binary, class_names=vocab.classes)


# --------------------------------------------------------------------------------------------------
# Fractions
# --------------------------------------------------------------------------------------------------


def _flags(fractions: Sequence[float]) -> str:
    return " ".join(f"--{name} {value:g}" for name, value in zip(SPLITS, fractions))


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """``(train, val, test)`` as floats, each in [0, 1], summing to 1 within ``FRACTION_TOL``."""
    if len(fractions) != len(SPLITS):
        raise ValueError(f"expected 3 fractions (train, val, test), got {len(fractions)}: {list(fractions)}")
    values = tuple(float(f) for f in fractions)
    for name, value in zip(SPLITS, values):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"--{name} must be a fraction in [0, 1], got {value:g}")
    total = sum(values)
    if abs(total - 1.0) > FRACTION_TOL:
        raise ValueError(f"{_flags(values)} sum to {total:.6g}, expected 1")
    return values  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# Balanced assignment
# --------------------------------------------------------------------------------------------------


@dataclass
class _Problem:
    """Units as sparse count rows over D columns, and the per-column weights ``w / total**2``."""

    members: list[list[str]]  # videos of each unit
    cols: list[np.ndarray]  # (nnz_u,) column ids of unit u
    vals: list[np.ndarray]  # (nnz_u,) counts of unit u
    total: np.ndarray  # (D,)
    weight: np.ndarray  # (D,) 0 for empty columns
    target: np.ndarray  # (S, D) f_s * total for the active splits

    @property
    def size(self) -> int:
        return len(self.members)

    def dense(self) -> np.ndarray:
        out = np.zeros((self.size, len(self.total)))  # (n, D)
        for u, (c, v) in enumerate(zip(self.cols, self.vals)):
            out[u, c] = v
        return out

    def sums(self, assign: np.ndarray) -> np.ndarray:
        x = np.zeros_like(self.target)  # (S, D)
        for u, s in enumerate(assign):
            x[s, self.cols[u]] += self.vals[u]
        return x

    def objective(self, x: np.ndarray) -> float:
        return float((self.weight * (x - self.target) ** 2).sum())


def _build_problem(
    ids: list[str],
    groups: Mapping[str, str] | None,
    window_counts: Mapping[str, int],
    positive_counts: Mapping[str, int] | None,
    class_counts: Mapping[str, Mapping[str, int]] | None,
    fractions: np.ndarray,
) -> tuple[_Problem, list[str]]:
    units: dict[tuple[str, str], list[str]] = {}
    for v in ids:  # a video without a group is a unit of its own
        g = None if groups is None else groups.get(v)
        key = ("video", v) if g is None else ("group", str(g))
        units.setdefault(key, []).append(v)
    keys = sorted(units)
    members = [units[k] for k in keys]
    names = [k[1] for k in keys]

    class_names = sorted({c for v in ids for c in (class_counts or {}).get(v, {})})
    class_col = {c: 2 + k for k, c in enumerate(class_names)}
    num_cols = 2 + (1 if positive_counts is not None else len(class_names))
    col_weight = np.ones(num_cols)
    col_weight[0] = _VIDEO_WEIGHT
    if class_names:
        col_weight[2:] = 1.0 / len(class_names)  # the class distribution weighs as much as the window share
    cols, vals = [], []
    for vids in members:
        row: dict[int, float] = {0: float(len(vids)), 1: float(sum(window_counts[v] for v in vids))}
        if positive_counts is not None:
            row[2] = float(sum(positive_counts[v] for v in vids))
        for v in vids:
            for c, n in (class_counts or {}).get(v, {}).items():
                row[class_col[c]] = row.get(class_col[c], 0.0) + float(n)
        nz = sorted(c for c, n in row.items() if n)
        cols.append(np.array(nz, dtype=np.int64))
        vals.append(np.array([row[c] for c in nz], dtype=np.float64))
    total = np.zeros(num_cols)
    for c, v in zip(cols, vals):
        total[c] += v
    weight = np.where(total > 0, col_weight / np.maximum(total, 1.0) ** 2, 0.0)  # (D,)
    target = fractions[:, None] * total[None, :]  # (S, D)
    return _Problem(members, cols, vals, total, weight, target), names


def _exhaustive(p: _Problem, num_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Best assignment among all ``num_splits ** n`` with every split non-empty (ties: seeded pick)."""
    n = p.size
    grid = np.indices((num_splits,) * n).reshape(n, -1).T  # (M, n) every assignment
    filled = np.stack([(grid == s).any(1) for s in range(num_splits)], 1).all(1)  # (M,)
    grid = grid[filled]
    dense = p.dense()  # (n, D)
    onehot = grid[:, None, :] == np.arange(num_splits)[None, :, None]  # (M, S, n)
    x = onehot.astype(np.float64) @ dense  # (M, S, D)
    j = (p.weight * (x - p.target) ** 2).sum((1, 2))  # (M,)
    best = np.flatnonzero(j <= j.min() + 1e-12 * (1.0 + j.min()))
    return grid[rng.choice(best)].astype(np.int64)


def _greedy(p: _Problem, order: np.ndarray, num_splits: int) -> np.ndarray:
    """Each unit in ``order`` goes where it lowers J the most; the last units fill empty splits."""
    x = np.zeros_like(p.target)  # (S, D)
    filled = np.zeros(num_splits, dtype=np.int64)
    assign = np.zeros(p.size, dtype=np.int64)
    for step, u in enumerate(order):
        c, v = p.cols[u], p.vals[u]
        wv = p.weight[c] * v
        delta = ((2.0 * (x[:, c] - p.target[:, c]) + v) * wv).sum(1)  # (S,) change of J
        empty = filled == 0
        if empty.sum() >= p.size - step:  # as many units left as empty splits: fill them
            delta = np.where(empty, delta, np.inf)
        s = int(np.argmin(delta))
        assign[u] = s
        x[s, c] += v
        filled[s] += 1
    return assign


def _moves(p: _Problem, assign: np.ndarray, x: np.ndarray, filled: np.ndarray, rng: np.random.Generator) -> bool:
    """One pass of single-unit moves that lower J (no split left empty); True if anything moved."""
    moved = False
    tol = 1e-12
    for u in rng.permutation(p.size):
        s = assign[u]
        if filled[s] == 1:
            continue
        c, v = p.cols[u], p.vals[u]
        wv = p.weight[c] * v
        r = x[:, c] - p.target[:, c]  # (S, nnz)
        gain = ((2.0 * r + v) * wv).sum(1) + ((-2.0 * r[s] + v) * wv).sum()  # (S,) J change of s -> t
        gain[s] = np.inf
        t = int(np.argmin(gain))
        if gain[t] < -tol:
            x[s, c] -= v
            x[t, c] += v
            filled[s] -= 1
            filled[t] += 1
            assign[u] = t
            moved = True
    return moved


def _swaps(p: _Problem, dense: np.ndarray, assign: np.ndarray, x: np.ndarray) -> bool:
    """Apply best J-lowering swaps of two units in different splits; True if any was applied."""
    a = p.weight  # (D,)
    fa = dense * a  # (n, D)
    q = fa @ dense.T  # (n, n) sum_d a F_u F_w
    qd = np.diag(q)
    swapped = False
    for _ in range(2 * p.size):
        r = (x - p.target)[assign]  # (n, D) residual of each unit's split
        pm = fa @ r.T  # (n, n) P[u, w] = sum_d a F_u R_w
        pd = np.diag(pm)
        # J change of swapping u (split s) and w (split t), with d = F_w - F_u:
        # 2 sum a d (R_s - R_t) + 2 sum a d^2
        delta = 2.0 * (pm.T + pm - pd[:, None] - pd[None, :]) + 2.0 * (qd[:, None] + qd[None, :] - 2.0 * q)
        delta[assign[:, None] == assign[None, :]] = np.inf
        u, w = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if not delta[u, w] < -1e-12:
            break
        s, t = assign[u], assign[w]
        diff = dense[w] - dense[u]  # (D,)
        x[s] += diff
        x[t] -= diff
        assign[u], assign[w] = t, s
        swapped = True
    return swapped


def _search(p: _Problem, num_splits: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = p.size
    if num_splits == 1:
        return np.zeros(n, dtype=np.int64)
    if num_splits**n <= _EXHAUSTIVE_MAX:
        return _exhaustive(p, num_splits, rng)
    use_swaps = n <= _SWAP_MAX_UNITS and n * n * len(p.total) <= _SWAP_MAX_PAIRS_COLS
    dense = p.dense() if use_swaps else None
    windows = np.array([v[c == 1].sum() for c, v in zip(p.cols, p.vals)])  # (n,)
    size = windows / max(p.total[1], 1.0) + 1.0 / n  # share of windows, then of videos
    restarts = 8 if n <= 2000 else 3
    best, best_j = None, np.inf
    for r in range(restarts):
        jitter = rng.permutation(n)  # random tie order
        if r == 0:
            order = jitter[np.argsort(-size[jitter], kind="stable")]
        elif r % 2:
            noisy = size * rng.uniform(0.5, 1.5, n)
            order = np.argsort(-noisy, kind="stable")
        else:
            order = jitter
        assign = _greedy(p, order, num_splits)
        x = p.sums(assign)
        filled = np.bincount(assign, minlength=num_splits)
        for _ in range(_MAX_PASSES):
            changed = _moves(p, assign, x, filled, rng)
            if dense is not None:
                changed = _swaps(p, dense, assign, x) or changed
            if not changed:
                break
        j = p.objective(p.sums(assign))
        if j < best_j - 1e-12:
            best, best_j = assign.copy(), j
    assert best is not None
    return best


def _check_counts(ids: list[str], name: str, counts: Mapping[str, Any] | None) -> None:
    if counts is None:
        return
    missing = [v for v in ids if v not in counts]
    if missing:
        raise ValueError(f"split_videos: {name} lacks {len(missing)} of {len(ids)} videos "
                         f"(e.g. {', '.join(missing[:3])})")


def split_videos(
    video_ids: Iterable[str],
    *,
    groups: Mapping[str, str] | None = None,
    window_counts: Mapping[str, int],
    positive_counts: Mapping[str, int] | None = None,
    class_counts: Mapping[str, Mapping[str, int]] | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_name: str = "group",
) -> dict[str, list[str]]:
    """Assign whole videos (or whole groups of videos) to ``train``/``val``/``test``.

    ``groups`` maps video → group (e.g. signer); a group's videos always share a split and a video
    missing from ``groups`` is a unit of its own. The split balances ``window_counts`` against the
    fractions and, per split, the positive ratio (``positive_counts``, binary) or the class distribution
    (``class_counts``: video → {label: windows}, multi-class; give at most one of the two). A split
    with fraction 0 is empty; every other split gets at least one unit, else ``DataError`` naming how
    many units exist and are needed. Returns sorted ids per split, all three keys present.
    """
    f = np.array(check_fractions(fractions))
    ids = sorted(dict.fromkeys(video_ids))
    if positive_counts is not None and class_counts is not None:
        raise ValueError("split_videos: give positive_counts (binary) or class_counts (multi-class), not both")
    _check_counts(ids, "window_counts", window_counts)
    _check_counts(ids, "positive_counts", positive_counts)
    for v in ids:
        w = window_counts[v]
        if w < 0 or (positive_counts is not None and not 0 <= positive_counts[v] <= w):
            pos = "" if positive_counts is None else f", {positive_counts[v]} positive"
            raise ValueError(f"split_videos: video {v!r} has {w} windows{pos}; expected 0 <= positive <= windows")
    active = np.flatnonzero(f > 0)  # splits that must get units
    problem, names = _build_problem(ids, groups, window_counts, positive_counts, class_counts, f[active])

    grouped = groups is not None and any(v in groups for v in ids)
    unit = f"{group_name}s" if grouped else "videos"
    if problem.size < len(active):
        flags = [f"--{SPLITS[s]} {f[s]:g}" for s in active]
        asked = flags[0] if len(flags) == 1 else ", ".join(flags[:-1]) + " and " + flags[-1]
        found = f" ({', '.join(names)})" if grouped and problem.size else ""
        raise DataError(f"{asked} need at least {len(active)} {unit} (one per split with a fraction > 0), "
                        f"found {problem.size}{found}")
    assign = _search(problem, len(active), seed)
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for u, s in enumerate(assign):
        out[SPLITS[active[s]]].extend(problem.members[u])
    return {name: sorted(vids) for name, vids in out.items()}


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------


def split_counts(
    splits: Mapping[str, Sequence[str]],
    *,
    window_counts: Mapping[str, int],
    positive_counts: Mapping[str, int] | None = None,
    class_counts: Mapping[str, Mapping[str, int]] | None = None,
    signers: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per split: videos, windows, positive windows and ratio (binary) or windows per class, signers.

    ``signers`` (video → signer id) adds the number of distinct signers among the split's videos.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, vids in splits.items():
        windows = int(sum(window_counts[v] for v in vids))
        row: dict[str, Any] = {"videos": len(vids), "windows": windows}
        if positive_counts is not None:
            pos = int(sum(positive_counts[v] for v in vids))
            row["positive_windows"] = pos
            row["positive_ratio"] = round(pos / windows, 6) if windows else 0.0
        if class_counts is not None:
            per_class: dict[str, int] = {}
            for v in vids:
                for c, n in class_counts.get(v, {}).items():
                    per_class[c] = per_class.get(c, 0) + int(n)
            row["class_windows"] = dict(sorted(per_class.items()))
        if signers is not None:
            row["signers"] = len({signers[v] for v in vids if v in signers})
        out[name] = row
    return out


# --------------------------------------------------------------------------------------------------
# Validation split for training without --splits-json
# --------------------------------------------------------------------------------------------------


class ValidationSplit(NamedTuple):
    train: list[str]
    val: list[str]
    grouped_by: str  # "signer" (no signer in both) or "video"


def validation_split(
    video_ids: Iterable[str],
    *,
    val_fraction: float,
    window_counts: Mapping[str, int],
    positive_counts: Mapping[str, int] | None = None,
    class_counts: Mapping[str, Mapping[str, int]] | None = None,
    signers: Mapping[str, str] | None = None,
    signer_disjoint: bool | None = None,
    seed: int = 0,
) -> ValidationSplit:
    """Train/val videos for ``train_landmarks`` without ``--splits-json`` (never one video in both).

    Balanced like :func:`split_videos` with fractions ``(1 - val_fraction, val_fraction, 0)``.
    ``signer_disjoint``: True groups by ``signers`` (videos without a signer are units of their own);
    False splits plain videos; None (default) groups by signer when at least 2 signers are known and
    the signer-disjoint val set holds a share of the windows within ``max(val_fraction / 2, 0.05)`` of
    ``val_fraction`` (e.g. not 1 of 3 signers = 33% for 10%), else falls back to videos with a warning.
    """
    vf = float(val_fraction)
    if not (math.isfinite(vf) and 0.0 <= vf < 1.0):
        raise ValueError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    ids = sorted(dict.fromkeys(video_ids))
    fractions = (1.0 - vf, vf, 0.0)
    kwargs: dict[str, Any] = dict(window_counts=window_counts, positive_counts=positive_counts,
                                  class_counts=class_counts, fractions=fractions, seed=seed)
    if vf == 0.0:
        return ValidationSplit(ids, [], "video")
    known = {v: signers[v] for v in ids if signers and v in signers}
    forced = signer_disjoint is True
    if signer_disjoint is None:
        signer_disjoint = len(set(known.values())) >= 2
        if not signer_disjoint and known:
            log.warning("only one signer is known: the validation split is video-level (train and val share it)")
    if signer_disjoint and known:
        split = split_videos(ids, groups=known, group_name="signer", **kwargs)
        total = sum(window_counts[v] for v in ids)
        share = sum(window_counts[v] for v in split["val"]) / total if total else vf
        if forced or abs(share - vf) <= max(vf / 2, 0.05):
            return ValidationSplit(split["train"], split["val"], "signer")
        log.warning("a signer-disjoint validation set would hold %.0f%% of the windows (asked %.0f%%) with "
                    "%d signers; splitting videos instead (signers appear in train and val)",
                    100 * share, 100 * vf, len(set(known.values())))
    split = split_videos(ids, **kwargs)
    return ValidationSplit(split["train"], split["val"], "video")


# --------------------------------------------------------------------------------------------------
# JSON file
# --------------------------------------------------------------------------------------------------


def write_splits(path: str | Path, payload: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Write ``payload`` as JSON atomically (temp file + rename); refuse an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path}: already exists; pass --overwrite to replace it")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; --out expects a .json file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(payload, indent=1) + "\n", fsync=True)


_FORMAT = '{"splits": {"train": [video ids], "val": [...], "test": [...]}}'


def load_splits(path: str | Path) -> dict[str, list[str]]:
    """Video ids per split (keys ``train``, ``val``, ``test``; a missing val/test is empty).

    Accepts the ``build_video_splits`` JSON and a bare ``{"train": [...], "val": [...], "test": [...]}``.
    Raises DataError naming the file for a missing file, invalid JSON, missing keys, ids that are not
    strings, and a video listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: splits file not found (write one with python -m build_video_splits)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a JSON splits file ({err}); expected {_FORMAT}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object {_FORMAT}, got {type(data).__name__}")
    version = data.get("version", SPLITS_VERSION)
    if not isinstance(version, int) or version > SPLITS_VERSION:
        raise DataError(f"{path}: splits format version {version!r} is not supported (this signstgcn reads "
                        f"version <= {SPLITS_VERSION})")
    if "splits" in data:
        splits = data["splits"]
        if not isinstance(splits, dict):
            raise DataError(f"{path}: 'splits' must be an object {_FORMAT}, got {type(splits).__name__}")
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise DataError(f"{path}: unknown split names {unknown}; expected train, val, test")
    elif "train" in data:
        splits = {k: data[k] for k in SPLITS if k in data}
    else:
        raise DataError(f"{path}: missing key 'splits'; expected {_FORMAT}")
    if "train" not in splits:
        raise DataError(f"{path}: missing split 'train'; expected {_FORMAT}")
    out: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for name in SPLITS:
        ids = splits.get(name, [])
        if not isinstance(ids, list) or not all(isinstance(v, str) and v for v in ids):
            raise DataError(f"{path}: split {name!r} must be a list of video id strings")
        for v in ids:
            if v in seen:
                where = f"twice in {name!r}" if seen[v] == name else f"in both {seen[v]!r} and {name!r}"
                raise DataError(f"{path}: video {v!r} is {where}; splits must be disjoint")
            seen[v] = name
        out[name] = list(ids)
    return out


def check_split_videos(
    splits: Mapping[str, Sequence[str]], video_ids: Iterable[str], source: str | Path = "splits"
) -> list[str]:
    """Raise DataError when a split lists videos that have no data; return the data's unassigned videos."""
    available = list(dict.fromkeys(video_ids))
    have = set(available)
    listed = {v for vids in splits.values() for v in vids}
    missing = sorted(listed - have)
    if missing:
        raise DataError(f"{source}: {len(missing)} videos in the splits have no labeled landmark file "
                        f"(e.g. {', '.join(missing[:5])})")
    return [v for v in available if v not in listed]
