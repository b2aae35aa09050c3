"""The data pipeline as one stored object: folder → windows → normalized tensors.

:class:`DataConfig` holds every decision that turns a data folder into model inputs (parts, layout,
windows, label and signer vocabularies, fitted pseudo-signers, normalization). It is saved in each
checkpoint under ``"data"``, so evaluation, detection and export rebuild exactly the training
pipeline from the ``.pt`` alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from signstgcn.data.canonical import BoneTree, fit_reference_lengths, video_profiles
from signstgcn.data.corpus import Corpus
from signstgcn.data.groundtruth import LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.negatives import StillHands
from signstgcn.data.signers import PseudoSigners, signer_statistics, video_statistics
from signstgcn.data.transforms import (
    AUGMENT_PRESETS,
    DOMINANT_HAND,
    Normalize,
    default_eval_transforms,
    default_train_transforms,
)
from signstgcn.data.windows import WindowConfig, WindowDataset, build_window_index, present_mask
from signstgcn.errors import DataError

log = logging.getLogger("signstgcn.train")

SIGNER_SOURCES = ("real", "pseudo", "none")


@dataclass(frozen=True)
class DataConfig:
    """Everything the data side of a checkpoint needs (DESIGN §6 ``'data'``)."""

    selection: PartSelection
    layout: LayoutSpec
    window: WindowConfig
    vocab: LabelVocab
    hands_relative: bool = False
    signer_source: str = "none"
    signers: tuple[str, ...] = ()
    pseudo_signers: dict[str, Any] | None = field(default=None, compare=False)
    level_shoulders: bool = False
    face_channels: bool = False
    dominant_hand: str = "any"
    bone_lengths: tuple[float, ...] = ()
    augment: str = "standard"
    cross_signer: bool = False
    hard_negatives: float = 0.0  # share of training windows replaced by still-hands negatives (binary)
    fps: float | None = None  # frame rate of the training recordings; None = unknown (inputs are not resampled)
    aspect_augment: bool = False  # training drew camera aspect ratios (RandomAspect)

    def __post_init__(self) -> None:
        if self.fps is not None and not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive frame rate, got {self.fps}")
        if not 0.0 <= self.hard_negatives <= 1.0:
            raise ValueError(f"hard_negatives must be a share in [0, 1], got {self.hard_negatives}")
        if self.hard_negatives and not self.vocab.binary:
            raise ValueError("hard negatives (--hard-negatives) are not-signing windows: binary detection only")
        if self.dominant_hand not in DOMINANT_HAND:
            raise ValueError(f"Invalid dominant_hand {self.dominant_hand!r}. Only {', '.join(DOMINANT_HAND)} "
                             f"are supported")
        if self.augment not in AUGMENT_PRESETS:
            raise ValueError(f"Invalid augment {self.augment!r}. Only {', '.join(AUGMENT_PRESETS)} are supported")
        if self.signer_source not in SIGNER_SOURCES:
            raise ValueError(f"Invalid signer_source {self.signer_source!r}. Only real, pseudo, none are supported")
        if self.signer_source == "pseudo" and self.pseudo_signers is None:
            raise ValueError("signer_source='pseudo' needs the fitted pseudo-signer state")

    @property
    def num_signers(self) -> int:
        return len(self.signers)

    @property
    def in_channels(self) -> int:
        """Channels per joint the model receives: the coordinates, plus 2 face channels."""
        return self.selection.coords + (2 if self.face_channels else 0)

    def normalize_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~signstgcn.data.transforms.Normalize` (and the transform presets)."""
        return {"hands_relative": self.hands_relative, "level_shoulders": self.level_shoulders,
                "face_channels": self.face_channels, "dominant_hand": self.dominant_hand,
                "bone_lengths": self.bone_lengths or None}

    def representation(self) -> str:
        """The input representation in words, e.g. ``hands relative, face channels, canonical bones``."""
        names = [name for on, name in ((self.hands_relative, "hands relative"),
                                       (self.level_shoulders, "shoulders levelled"),
                                       (self.face_channels, "face channels"),
                                       (self.dominant_hand == "right", "right-dominant"),
                                       (bool(self.bone_lengths), "canonical bones")) if on]
        return ", ".join(names) or "plain"

    def to_dict(self) -> dict[str, Any]:
        return {
            "selection": asdict(self.selection),
            "layout": asdict(self.layout),
            "window": asdict(self.window),
            "vocab": self.vocab.to_dict(),
            "hands_relative": self.hands_relative,
            "signer_source": self.signer_source,
            "signers": list(self.signers),
            "pseudo_signers": self.pseudo_signers,
            "level_shoulders": self.level_shoulders,
            "face_channels": self.face_channels,
            "dominant_hand": self.dominant_hand,
            "bone_lengths": list(self.bone_lengths),
            "augment": self.augment,
            "cross_signer": self.cross_signer,
            "hard_negatives": self.hard_negatives,
            "fps": self.fps,
            "aspect_augment": self.aspect_augment,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        try:
            return cls(
                # checkpoints before frame sizes were used read x as a fraction of the width
                selection=PartSelection(**{"isotropic": False, **d["selection"]}),
                layout=LayoutSpec(**d["layout"]),
                window=_window_config(d["window"]),
                vocab=LabelVocab.from_dict(d["vocab"]),
                hands_relative=bool(d.get("hands_relative", False)),
                signer_source=d.get("signer_source", "none"),
                signers=tuple(d.get("signers", ())),
                pseudo_signers=d.get("pseudo_signers"),
                level_shoulders=bool(d.get("level_shoulders", False)),
                face_channels=bool(d.get("face_channels", False)),
                dominant_hand=d.get("dominant_hand", "any"),
                bone_lengths=tuple(float(v) for v in d.get("bone_lengths", ())),
                augment=d.get("augment", "standard"),
                cross_signer=bool(d.get("cross_signer", False)),
                hard_negatives=float(d.get("hard_negatives", 0.0)),
                fps=None if d.get("fps") is None else float(d["fps"]),
                aspect_augment=bool(d.get("aspect_augment", False)),
            )
        except (KeyError, TypeError) as err:
            raise DataError(f"checkpoint data settings are incomplete or from another version ({err})") from None


def fit_signers(
    corpus: Corpus, train_ids: Sequence[str], *, use_pseudo: bool, num_pseudo: int = 8, seed: int = 0
) -> tuple[str, tuple[str, ...], dict[str, Any] | None]:
    """Choose the signer supervision: ``(source, signer names, pseudo-signer state)``.

    Pseudo-signers (K-means on per-video statistics, fit on the train videos only) when asked for;
    otherwise real ids when every train video has one; otherwise none.
    """
    if use_pseudo:
        if num_pseudo > len(train_ids):
            raise DataError(f"--num-pseudo-signers {num_pseudo} needs at least as many training videos, "
                            f"got {len(train_ids)}")
        stats = np.stack([video_statistics(corpus.frames[v], corpus.layout) for v in train_ids])  # (M, S)
        pseudo = PseudoSigners().fit(stats, num_pseudo, seed=seed)
        return "pseudo", tuple(f"pseudo{k}" for k in range(num_pseudo)), pseudo.state_dict()
    known = [corpus.signers.get(v) for v in train_ids]
    if known and all(s is not None for s in known):
        return "real", tuple(sorted(set(known))), None  # type: ignore[arg-type]
    return "none", (), None


def signer_ids_for(corpus: Corpus, video_ids: Sequence[str], config: DataConfig) -> np.ndarray:
    """(M,) int64 signer class of each video for the signer head; -1 where unknown."""
    if config.signer_source == "pseudo":
        assert config.pseudo_signers is not None
        pseudo = PseudoSigners.from_state_dict(config.pseudo_signers)
        stats = np.stack([video_statistics(corpus.frames[v], corpus.layout) for v in video_ids])  # (M, S)
        return pseudo.assign(stats).astype(np.int64)
    index = {s: k for k, s in enumerate(config.signers)}
    return np.array([index.get(corpus.signers.get(v, ""), -1) for v in video_ids], dtype=np.int64)


def make_dataset(
    corpus: Corpus, video_ids: Sequence[str], config: DataConfig, *, train: bool, seed: int = 0
) -> WindowDataset:
    """Windows of ``video_ids`` with training augmentations (``train``) or normalization only."""
    if corpus.gt is None:
        raise DataError(f"{corpus.data_dir}: labelled windows need a ground-truth file")
    ids = list(video_ids)
    videos = [corpus.frames[v] for v in ids]
    labels = [corpus.gt.frame_labels(v, f.shape[0], config.vocab) for v, f in zip(ids, videos)]
    index = build_window_index(labels, config.window, binary=config.vocab.binary)
    if ids and len(index) == 0:
        raise DataError(f"{corpus.data_dir}: the {len(ids)} videos give no usable window "
                        f"(window={config.window.length}, every window touches unlabeled or dropped frames)")
    layout = corpus.layout
    if train:
        profiles = _profiles(corpus, ids, config) if config.cross_signer else None
        transform = default_train_transforms(layout, **config.normalize_options(), augment=config.augment,
                                             profiles=profiles, aspect_augment=config.aspect_augment)
    else:
        transform = default_eval_transforms(layout, **config.normalize_options())
    return WindowDataset(
        videos, ids, index, config.window, layout,
        transform=transform,
        signer_stats=signer_statistics,
        signer_ids=signer_ids_for(corpus, ids, config),
        seed=seed,
        hard_negatives=StillHands(layout, config.hard_negatives) if train and config.hard_negatives else None,
    )


def _spans(corpus: Corpus, video_ids: Sequence[str], window: int) -> list[tuple[str, int]]:
    """Non-overlapping ``(video, start)`` windows of ``window`` frames (one per video shorter than that)."""
    return [(v, s) for v in video_ids for s in range(0, max(corpus.frames[v].shape[0] - window, 0) + 1, window)]


def _absolute_windows(corpus: Corpus, spans: Sequence[tuple[str, int]], config: DataConfig, window: int):
    """Normalize'd windows of ``spans`` without retargeting or features (absolute shoulder-unit coordinates)."""
    options = {**config.normalize_options(), "bone_lengths": None, "face_channels": False}
    normalize = Normalize(corpus.layout, **options, defer_features=True)
    for v, s in spans:
        raw = corpus.frames[v][s:s + window]  # (<=W, V, C)
        yield normalize(raw, present_mask(raw))


def fit_bone_lengths(corpus: Corpus, video_ids: Sequence[str], config: DataConfig, *, max_windows: int = 2000,
                     seed: int = 0) -> tuple[float, ...]:
    """The reference skeleton of ``--canonical-bones``: each bone's median typical length over windows of the
    training videos (``config``'s window length, normalized with ``config``'s options but no retargeting)."""
    return fit_bone_lengths_over([(corpus, video_ids)], config, max_windows=max_windows, seed=seed)


def fit_bone_lengths_over(sources: Sequence[tuple[Corpus, Sequence[str]]], config: DataConfig, *,
                          max_windows: int = 2000, seed: int = 0) -> tuple[float, ...]:
    """:func:`fit_bone_lengths` over the videos of several corpora on one layout (at most ``max_windows`` windows
    from each, drawn with ``seed``)."""
    w = config.window.length

    def windows(corpus: Corpus, video_ids: Sequence[str]):
        spans = _spans(corpus, video_ids, w)
        if len(spans) > max_windows:
            pick = np.random.default_rng(seed).choice(len(spans), size=max_windows, replace=False)
            spans = [spans[i] for i in sorted(pick)]
        return _absolute_windows(corpus, spans, config, w)

    tree = BoneTree(sources[0][0].layout)
    lengths = fit_reference_lengths(tree, (win for corpus, ids in sources for win in windows(corpus, ids)))
    return tuple(float(v) for v in lengths)


def _profiles(corpus: Corpus, video_ids: Sequence[str], config: DataConfig, max_windows: int = 20) -> np.ndarray:
    """(M, V) body proportions of each training video (``--cross-signer-augment``; at most ``max_windows``
    windows per video, evenly spaced)."""
    w = config.window.length
    tree = BoneTree(corpus.layout)

    def per_video():
        for v in video_ids:
            spans = _spans(corpus, [v], w)
            step = max(len(spans) // max_windows, 1)
            yield _absolute_windows(corpus, spans[::step][:max_windows], config, w)

    return video_profiles(tree, per_video())


def check_window_fits(corpus: Corpus, ids: list[str], window: WindowConfig, *, binary: bool, where: str) -> None:
    """A video shorter than ``--window`` gives one zero-padded window. Refuse binary training when every video
    is that short (detection on padding only); otherwise warn with the counts."""
    if window.sample_mode != "window" or not ids:
        return
    lengths = {v: corpus.num_frames(v) for v in ids}
    short = sorted(v for v, t in lengths.items() if t < window.length)
    if not short:
        return
    longest = max(lengths.values())
    if binary and len(short) == len(ids):
        raise ValueError(f"{where}: --window {window.length} is longer than every video (the longest has {longest} "
                         f"frames), so every window would be padded; use --window {longest} or less")
    hint = "" if binary else " (isolated clips: --sample-mode video resamples each clip to --window frames)"
    log.warning("%s: %d of %d videos are shorter than --window %d (e.g. %s, %d frames) and give one padded window "
                "each%s", where, len(short), len(ids), window.length, short[0], lengths[short[0]], hint)


def _window_config(d: Mapping[str, Any]) -> WindowConfig:
    """``WindowConfig`` of a stored dict; checkpoints before the rename call the length ``window``."""
    d = dict(d)
    if "window" in d:
        d["length"] = d.pop("window")
    return WindowConfig(**d)

