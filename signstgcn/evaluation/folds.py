"""Group-disjoint folds: which videos each fold tests, trains and (optionally) validates on.

1. :func:`video_groups`: every video's group: its signer (``group_by="signer"``, real ids from ``signers.txt`` /
   the npz ``signer``), its recording session (``"sessions"``, ``DATA/sessions.txt``), its group in any
   ``<video> <group>`` file (``"file"``, ``--groups FILE``), or itself (``"video"``).
2. :func:`assign_folds`: every group goes to exactly one of K folds. Groups are shuffled with the seed, then
   placed largest first on the fold with the fewest videos (greedy longest-first), so fold sizes differ by at
   most the largest group's videos and the same seed gives the same folds. (sklearn's ``GroupKFold`` balances
   sizes but ignores the seed; with ``shuffle`` it stops balancing.) :func:`stratified_folds` instead folds
   single videos by label (multi-class data grouped by video): every label's videos are dealt over the folds
   in turn, so each label has ``floor`` or ``ceil(n / K)`` videos in every fold.
3. :func:`fold_splits`: fold k is the test split, the other folds train. With ``inner_val_fraction > 0`` a
   validation split is carved out of the *training* groups only (group-disjoint unless ``group_by="video"``)
   for model selection (``best.pt`` evaluated); by default there is none: training uses every training-fold
   video and ``last.pt`` is evaluated. The test fold never selects anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from signstgcn import __version__
from signstgcn.data.corpus import Corpus
from signstgcn.data.signers import SESSIONS_FILE, read_video_groups
from signstgcn.data.splits import SPLITS_VERSION, corpus_window_counts, validation_split
from signstgcn.data.windows import WindowConfig
from signstgcn.errors import DataError

if TYPE_CHECKING:
    from signstgcn.training.config import TrainConfig

__all__ = ["GROUPS_FILE", "GROUP_BY", "FoldSplits", "assign_folds", "fold_splits", "group_unit",
           "groups_path", "splits_payload", "stratified_folds", "video_groups", "video_labels"]

GROUP_BY = ("signer", "video", "sessions")  # the --group-by choices
GROUPS_FILE = "file"  # group_by of --groups FILE
_UNITS = {"signer": "signer", "video": "video", "sessions": "session", GROUPS_FILE: "group"}

def group_unit(group_by: str) -> str:
    """What one group is, in words: ``signer``, ``video``, ``session`` or ``group``."""
    if group_by not in _UNITS:
        raise ValueError(f"Invalid group_by {group_by!r}. Only {', '.join(_UNITS)} are supported")
    return _UNITS[group_by]


def groups_path(group_by: str, data_dir: str | Path, groups_file: str | Path | None = None) -> Path | None:
    """The ``<video> <group>`` file of ``group_by``: ``DATA/sessions.txt``, ``groups_file``, or None."""
    if group_by == "sessions":
        return Path(data_dir) / SESSIONS_FILE
    if group_by == GROUPS_FILE:
        if groups_file is None:
            raise ValueError("group_by='file' needs the groups file (--groups FILE)")
        return Path(groups_file)
    return None


def video_groups(video_ids: Sequence[str], signers: Mapping[str, str], group_by: str, *,
                 groups_file: str | Path | None = None) -> dict[str, str]:
    """Video → group: its signer id (``"signer"``), its line of ``groups_file`` (``"sessions"``, ``"file"``; see
    :func:`groups_path`) or itself (``"video"``).

    Raises DataError naming the videos without a signer id, or the groups file and videos it lacks.
    """
    unit = group_unit(group_by)
    if group_by == "video":
        return {v: v for v in video_ids}
    if group_by == "signer":
        missing = [v for v in video_ids if v not in signers]
        if missing:
            raise DataError(f"{len(missing)} of {len(video_ids)} videos have no signer id in signers.txt or their "
                            f"npz 'signer' (e.g. {', '.join(missing[:5])}); add them, or use --group-by video (folds "
                            f"of videos: a signer may then be in both train and test)")
        return {v: str(signers[v]) for v in video_ids}
    if groups_file is None:
        raise ValueError(f"group_by={group_by!r} needs its groups file (DATA/{SESSIONS_FILE} or --groups FILE)")
    return read_video_groups(groups_file, video_ids, unit)


def video_labels(corpus: Corpus, video_ids: Sequence[str], config: TrainConfig) -> dict[str, str]:
    """Video → its most frequent window label (ties: the first name) under ``config``'s windows, multi-class;
    ``""`` for a video without a usable window."""
    d = config.data
    counts = corpus_window_counts(corpus, video_ids, WindowConfig(d.window, d.stride, d.rule, d.sample_mode),
                                  binary=False, signing_labels=d.signing_labels)
    classes = counts.classes or {}
    return {v: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] if (c := classes.get(v)) else ""
            for v in video_ids}


def _check_folds(folds: int, names: Sequence[str], unit: str) -> None:
    if folds < 2:
        raise ValueError(f"--folds must be at least 2 (one fold is tested, the others train), got {folds}")
    if len(names) < folds:
        shown = f": {', '.join(names[:10])}" if unit != "video" else ""
        raise ValueError(f"--folds {folds} needs at least {folds} {unit}s (one per fold), found {len(names)}{shown}; "
                         f"lower --folds")


def assign_folds(groups: Mapping[str, str], folds: int, *, seed: int = 0, unit: str = "signer") -> list[list[str]]:
    """Sorted test videos of each of ``folds`` folds; a group's videos always share a fold.

    Seeded shuffle of the groups, then greedy longest-first onto the fold with the fewest videos (ties: fewer
    groups, then the lower fold). Raises ValueError for ``folds < 2`` or fewer groups than folds.
    """
    members: dict[str, list[str]] = {}
    for video, group in sorted(groups.items()):
        members.setdefault(group, []).append(video)
    names = sorted(members)
    _check_folds(folds, names, unit)
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order = sorted(shuffled, key=lambda g: -len(members[g]))  # stable: the shuffle breaks size ties
    videos: list[list[str]] = [[] for _ in range(folds)]
    count = [0] * folds
    for group in order:
        k = min(range(folds), key=lambda i: (len(videos[i]), count[i], i))
        videos[k].extend(members[group])
        count[k] += 1
    return [sorted(v) for v in videos]


def stratified_folds(labels: Mapping[str, str], folds: int, *, seed: int = 0) -> list[list[str]]:
    """Sorted test videos of each of ``folds`` folds, stratified by ``labels`` (video → label).

    The labels in a seeded order, each label's videos in a seeded order, are dealt over the folds in turn, each
    label starting where the previous one stopped: every label has ``floor`` or ``ceil(n / folds)`` of its ``n``
    videos in each fold (a label with at least ``folds`` videos is in every fold; one with fewer is in as many
    folds as it has videos) and fold sizes differ by at most one video. The same seed gives the same folds.
    """
    _check_folds(folds, sorted(labels), "video")
    by_label: dict[str, list[str]] = {}
    for video in sorted(labels):
        by_label.setdefault(labels[video], []).append(video)
    names = sorted(by_label)
    rng = np.random.default_rng(seed)
    videos: list[list[str]] = [[] for _ in range(folds)]
    dealt = 0
    for i in rng.permutation(len(names)):
        members = by_label[names[i]]
        for j in rng.permutation(len(members)):
            videos[dealt % folds].append(members[j])
            dealt += 1
    return [sorted(v) for v in videos]


class FoldSplits(NamedTuple):
    train: list[str]
    val: list[str]  # empty without inner validation
    test: list[str]


def fold_splits(
    fold: int,
    test_folds: Sequence[Sequence[str]],
    *,
    groups: Mapping[str, str],
    group_by: str,
    inner_val_fraction: float = 0.0,
    corpus: Corpus | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
) -> FoldSplits:
    """Train / inner validation / test videos of fold ``fold`` (test = that fold, train = the others).

    The inner validation split (``inner_val_fraction > 0``, needs ``corpus`` and the training ``config`` for the
    window counts) is balanced like ``train_landmarks --val-fraction`` but taken from the training groups
    only, group-disjoint from the rest of training unless ``group_by="video"``.
    """
    test = sorted(test_folds[fold])
    train = sorted(v for k, vids in enumerate(test_folds) if k != fold for v in vids)
    if inner_val_fraction <= 0:
        return FoldSplits(train, [], test)
    if corpus is None or config is None:
        raise ValueError("fold_splits: an inner validation split needs the corpus and the training config")
    d = config.data
    counts = corpus_window_counts(corpus, train, WindowConfig(d.window, d.stride, d.rule, d.sample_mode),
                                  binary=d.binary, signing_labels=d.signing_labels)
    grouped = group_by != "video"
    try:
        split = validation_split(train, val_fraction=inner_val_fraction, window_counts=counts.windows,
                                 positive_counts=counts.positives, class_counts=counts.classes,
                                 signers=dict(groups) if grouped else None, signer_disjoint=grouped, seed=seed)
    except DataError as err:
        raise DataError(f"fold {fold}: --inner-val-fraction {inner_val_fraction:g} cannot carve a validation split "
                        f"out of the {len({groups[v] for v in train})} training {group_unit(group_by)}s "
                        f"({err})") from None
    return FoldSplits(list(split.train), list(split.val), test)


def splits_payload(splits: FoldSplits, groups: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The fold's splits JSON (the :mod:`signstgcn.data.splits` format, read by ``--splits-json``)."""
    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    return {"version": SPLITS_VERSION, "tool": f"signstgcn {__version__} cross-validate", "settings": dict(settings),
            "splits": named, "counts": {k: {"videos": len(v)} for k, v in named.items()},
            "groups": {k: sorted({groups[v] for v in vids}) for k, vids in named.items()}}
