"""The data pipeline as one stored object: folder → windows → normalized tensors.

:class:`DataConfig` holds every decision that turns a data folder into model inputs (parts, layout,
windows, label and signer vocabularies, fitted pseudo-signers, normalization). It is saved in each
checkpoint under ``"data"``, so evaluation, detection and export rebuild exactly the training
pipeline from the ``.pt`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from signstgcn.data.corpus import Corpus
from signstgcn.data.groundtruth import LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.signers import PseudoSigners, signer_statistics, video_statistics
from signstgcn.data.transforms import default_eval_transforms, default_train_transforms
from signstgcn.data.windows import WindowConfig, WindowDataset, build_window_index
from signstgcn.errors import DataError
from signstgcn.graph import LayoutSpec

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

    def __post_init__(self) -> None:
        if self.signer_source not in SIGNER_SOURCES:
            raise ValueError(f"Invalid signer_source {self.signer_source!r}. Only real, pseudo, none are supported")
        if self.signer_source == "pseudo" and self.pseudo_signers is None:
            raise ValueError("signer_source='pseudo' needs the fitted pseudo-signer state")

    @property
    def num_signers(self) -> int:
        return len(self.signers)

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
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        try:
            return cls(
                selection=PartSelection(**d["selection"]),
                layout=LayoutSpec(**d["layout"]),
                window=WindowConfig(**d["window"]),
                vocab=LabelVocab.from_dict(d["vocab"]),
                hands_relative=bool(d.get("hands_relative", False)),
                signer_source=d.get("signer_source", "none"),
                signers=tuple(d.get("signers", ())),
                pseudo_signers=d.get("pseudo_signers"),
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
                        f"(window={config.window.window}, every window touches unlabeled or dropped frames)")
    layout = corpus.layout
    make = default_train_transforms if train else default_eval_transforms
    return WindowDataset(
        videos, ids, index, config.window, layout,
        transform=make(layout, hands_relative=config.hands_relative),
        signer_stats=signer_statistics,
        signer_ids=signer_ids_for(corpus, ids, config),
        seed=seed,
    )
