"""Signer-disjoint folds: which videos each fold tests, trains and (optionally) validates on.

1. :func:`video_groups` + :func:`assign_folds`: every signer (``group_by="signer"``, real ids from
   ``signers.txt`` / the npz ``signer``) or every video (``group_by="video"``) goes to exactly one of K
   folds. Groups are shuffled with the seed, then placed largest first on the fold with the fewest videos
   (greedy longest-first), so fold sizes differ by at most the largest group's videos and the same seed gives
   the same folds. (sklearn's ``GroupKFold`` balances sizes but ignores the seed; with ``shuffle`` it stops balancing.)
2. :func:`fold_splits`: fold k is the test split, the other folds train. With ``inner_val_fraction > 0`` a
   validation split is carved out of the *training* groups only (signer-disjoint with ``group_by="signer"``)
   for model selection (``best.pt`` evaluated); by default there is none: training uses every training-fold
   video and ``last.pt`` is evaluated. The test fold never selects anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from signstgcn import __version__
from signstgcn.data.corpus import Corpus
from signstgcn.data.splits import SPLITS_VERSION, corpus_window_counts, validation_split
from signstgcn.data.windows import WindowConfig
from signstgcn.errors import DataError

if TYPE_CHECKING:
    from signstgcn.training.config import TrainConfig

__all__ = ["GROUP_BY", "FoldSplits", "assign_folds", "fold_splits", "splits_payload", "video_groups"]

GROUP_BY = ("signer", "video")



def video_groups(video_ids: Sequence[str], signers: Mapping[str, str], group_by: str) -> dict[str, str]:
    """Video → group: its signer id (``"signer"``) or itself (``"video"``).

    Raises DataError naming the videos without a signer id when grouping by signer.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"Invalid group_by {group_by!r}. Only {', '.join(GROUP_BY)} are supported")
    if group_by == "video":
        return {v: v for v in video_ids}
    missing = [v for v in video_ids if v not in signers]
    if missing:
        raise DataError(f"{len(missing)} of {len(video_ids)} videos have no signer id in signers.txt or their npz "
                        f"'signer' (e.g. {', '.join(missing[:5])}); add them, or use --group-by video (folds of "
                        f"videos: a signer may then be in both train and test)")
    return {v: str(signers[v]) for v in video_ids}


def assign_folds(groups: Mapping[str, str], folds: int, *, seed: int = 0, unit: str = "signer") -> list[list[str]]:
    """Sorted test videos of each of ``folds`` folds; a group's videos always share a fold.

    Seeded shuffle of the groups, then greedy longest-first onto the fold with the fewest videos (ties: fewer
    groups, then the lower fold). Raises ValueError for ``folds < 2`` or fewer groups than folds.
    """
    if folds < 2:
        raise ValueError(f"--folds must be at least 2 (one fold is tested, the others train), got {folds}")
    members: dict[str, list[str]] = {}
    for video, group in sorted(groups.items()):
        members.setdefault(group, []).append(video)
    names = sorted(members)
    if len(names) < folds:
        raise ValueError(f"--folds {folds} needs at least {folds} {unit}s (one per fold), found {len(names)}"
                         f"{': ' + ', '.join(names[:10]) if unit == 'signer' else ''}; lower --folds")
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order = sorted(shuffled, key=lambda g: -len(members[g]))  # stable: the shuffle breaks size ties
    videos: list[list[str]] = [[] for _ in range(folds)]
    count = [0] * folds
    for group in order:
        k = min(range(folds), key=lambda i: (len(videos[i]), count[i], i))
        videos[k].extend(members[group])
        count[k] += 1
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
    only, signer-disjoint from the rest of training with ``group_by="signer"``.
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
    by_signer = group_by == "signer"
    try:
        split = validation_split(train, val_fraction=inner_val_fraction, window_counts=counts.windows,
                                 positive_counts=counts.positives, class_counts=counts.classes,
                                 signers=dict(groups) if by_signer else None, signer_disjoint=by_signer, seed=seed)
    except DataError as err:
        unit = "signers" if by_signer else "videos"
        raise DataError(f"fold {fold}: --inner-val-fraction {inner_val_fraction:g} cannot carve a validation split "
                        f"out of the {len({groups[v] for v in train})} training {unit} ({err})") from None
    return FoldSplits(list(split.train), list(split.val), test)


def splits_payload(splits: FoldSplits, groups: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The fold's splits JSON (the :mod:`signstgcn.data.splits` format, read by ``--splits-json``)."""
    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    return {"version": SPLITS_VERSION, "tool": f"signstgcn {__version__} cross-validate", "settings": dict(settings),
            "splits": named, "counts": {k: {"videos": len(v)} for k, v in named.items()},
            "groups": {k: sorted({groups[v] for v in vids}) for k, vids in named.items()}}
