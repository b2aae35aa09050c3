"""``pretrain(config)``: self-supervised pretraining of the encoder by masked pose modelling, and ``--init``.

Every landmark folder given is read without labels (a ground-truth file is not needed and not opened). A video
of at most ``2 * window`` frames (an isolated clip) is one sample, resampled to ``window`` frames as
``--sample-mode video`` does; a longer recording gives sliding windows of ``window`` frames every ``window // 2``.
The windows go through the same normalization and augmentation as training (the ``input`` options, with the
canonical skeleton fitted on all the folders), some joints are hidden and the encoder learns to rebuild them
(:mod:`signstgcn.model.masked`). A twentieth of the videos is held out to report the reconstruction loss.

The result is one file (``encoder.pt``): the encoder's weights under the names they have in
:class:`~signstgcn.model.model.SignSTGCNModel`, the model config and the input representation it was trained
with, and what it was trained on. :func:`init_from_encoder` (``train --init encoder.pt``) loads it into a new
model, whatever its head, after checking that the backbone and the input representation are the same.

    from signstgcn.training.pretrain import PretrainConfig, pretrain
    result = pretrain(PretrainConfig(data=("data/a", "data/b"), out="encoder.pt", epochs=20))
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader

from signstgcn import __version__
from signstgcn.atomic import atomic_open
from signstgcn.data.corpus import Corpus, load_corpus
from signstgcn.data.groundtruth import LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig, fit_bone_lengths_over
from signstgcn.data.signers import signer_statistics
from signstgcn.data.transforms import default_eval_transforms, default_train_transforms
from signstgcn.data.windows import WindowConfig, WindowDataset, WindowIndex, window_starts
from signstgcn.errors import CheckpointError, DataError
from signstgcn.model.config import ModelConfig
from signstgcn.model.masked import ENCODER_PREFIXES, MaskedPoseModel, MaskSpec, hide_joints, reconstruction_loss
from signstgcn.runtime import configure_threads, resolve_device
from signstgcn.training.checkpoint import plain_data
from signstgcn.training.config import InputOptions, ModelOptions, config_flags
from signstgcn.training.loop import resolve_precision
from signstgcn.training.schedule import make_scheduler

__all__ = ["ENCODER_FORMAT", "PretrainConfig", "PretrainResult", "pretrain", "read_encoder", "init_from_encoder"]

PROG = "signstgcn pretrain"
ENCODER_FORMAT = "signstgcn-encoder/1"
# ModelConfig fields that make the encoder's weights: they must match for --init
ENCODER_FIELDS = ("layout", "in_channels", "input_streams", "backbone", "joint_pool", "stgcn_channels",
                  "stgcn_kernel", "stgcn_dilations", "edge_importance")
# ... of which these follow from the parts, --coords and --face-channels, or have no flag
_NO_FLAG_FIELDS = ("layout", "in_channels", "edge_importance")
# the input representation (DataConfig fields) the encoder learned to read: they must match for --init
REPRESENTATION_FIELDS = ("selection", "hands_relative", "level_shoulders", "face_channels", "dominant_hand")
log = logging.getLogger("signstgcn.pretrain")


@dataclass(frozen=True)
class PretrainConfig:
    """Every setting of :func:`pretrain` (``signstgcn pretrain --help`` lists them with their flags)."""

    data: tuple[str, ...]
    out: str = "runs/pretrain/encoder.pt"
    window: int = 30
    parts: PartSelection = field(default_factory=PartSelection)  # pose + hands, x and y: the training default
    input: InputOptions = field(default_factory=InputOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    mask: MaskSpec = field(default_factory=MaskSpec)
    epochs: int = 20
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = False
    overwrite: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        data = (self.data,) if isinstance(self.data, (str, Path)) else tuple(self.data)
        object.__setattr__(self, "data", tuple(str(d) for d in data))
        if not self.data:
            raise ValueError("pretraining needs at least one --data folder")
        for name in ("window", "epochs", "batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"--{name} must be at least 1, got {value!r}")
        if self.window < 4:
            raise ValueError(f"--window must be at least 4 frames for masked frames to have neighbours, "
                             f"got {self.window}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.model.backbone != "stgcn":
            raise ValueError("pretraining learns the ST-GCN backbone; --backbone linear has none to pretrain")
        if self.input.cross_signer_augment or self.input.hard_negatives:
            raise ValueError("--cross-signer-augment and --hard-negatives are training options, not pretraining "
                             "ones")

    def flat(self) -> dict[str, Any]:
        """Plain settings for the encoder file (nested options flattened to dicts)."""
        return dataclasses.asdict(self)


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns."""

    out: Path
    videos: int
    windows: int
    history: list[dict[str, float]]  # one row per epoch: epoch, train_loss, val_loss, seconds


# ------------------------------------------------------------------------------------------------ data


def _load_all(config: PretrainConfig) -> list[Corpus]:
    """Every ``--data`` folder, unlabeled, on one layout (the first folder's)."""
    corpora: list[Corpus] = []
    selection = config.parts
    for path in config.data:
        if not Path(path).exists():
            raise DataError(f"{path}: no such landmark folder")
        corpus = load_corpus(path, selection=selection, require_labels=False, read_labels=False,
                             layout_spec=corpora[0].layout_spec if corpora else None, progress=not config.quiet)
        if not corpus.video_ids:
            raise DataError(f"{path}: no landmark files found")
        corpora.append(corpus)
    return corpora


def _sample_index(corpus: Corpus, ids: Sequence[str], window: int) -> tuple[WindowIndex, WindowIndex]:
    """(clips, windows): one resampled sample per video of at most ``2 * window`` frames, sliding windows of
    ``window`` frames every ``window // 2`` over longer ones. Indices refer to positions in ``ids``."""
    clip_v, win_v, win_s = [], [], []
    for k, v in enumerate(ids):
        t = corpus.num_frames(v)
        if t <= 2 * window:
            clip_v.append(k)
        else:
            starts = window_starts(t, window, max(window // 2, 1))
            win_v += [k] * len(starts)
            win_s += list(starts)

    def index(videos: list[int], starts: list[int]) -> WindowIndex:
        n = len(videos)
        return WindowIndex(np.asarray(videos, dtype=np.int32), np.asarray(starts or [0] * n, dtype=np.int32),
                           np.zeros(n, dtype=np.int64))

    return index(clip_v, []), index(win_v, win_s)


def _datasets(corpus: Corpus, ids: Sequence[str], data_cfg: DataConfig, *, train: bool,
              seed: int) -> list[WindowDataset]:
    layout, w, options = corpus.layout, data_cfg.window.length, data_cfg.normalize_options()
    transform = (default_train_transforms(layout, **options, augment=data_cfg.augment,
                                          aspect_augment=data_cfg.aspect_augment) if train
                 else default_eval_transforms(layout, **options))
    videos = [corpus.frames[v] for v in ids]
    out = []
    for index, mode in zip(_sample_index(corpus, ids, w), ("video", "window")):
        if len(index):
            out.append(WindowDataset(videos, list(ids), index, WindowConfig(w, max(w // 2, 1), "majority", mode),
                                     layout, transform=transform, signer_stats=signer_statistics, seed=seed))
    return out


def _split_ids(ids: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """A twentieth of the videos (at least one, none when there are fewer than 4) held out for the loss."""
    n_val = len(ids) // 20 if len(ids) >= 20 else (1 if len(ids) >= 4 else 0)
    order = np.random.default_rng(seed).permutation(len(ids))
    val = {ids[i] for i in order[:n_val]}
    return [v for v in ids if v not in val], [v for v in ids if v in val]


def _data_config(config: PretrainConfig, corpora: list[Corpus],
                 splits: list[tuple[list[str], list[str]]]) -> DataConfig:
    i = config.input
    window = WindowConfig(config.window, max(config.window // 2, 1), "majority", "video")
    cfg = DataConfig(config.parts, corpora[0].layout_spec, window, LabelVocab(binary=False, classes=()),
                     hands_relative=i.hands_relative, level_shoulders=i.level_shoulders,
                     face_channels=i.face_channels, dominant_hand=i.dominant_hand, augment=i.augment,
                     aspect_augment=i.aspect_augment)
    if i.canonical_bones:  # one reference skeleton over every folder's training videos
        lengths = fit_bone_lengths_over([(c, train) for c, (train, _) in zip(corpora, splits)], cfg, seed=config.seed)
        cfg = dataclasses.replace(cfg, bone_lengths=lengths)
    return cfg


# ------------------------------------------------------------------------------------------------ loop


def _batches(loader: DataLoader, device: torch.device):
    for batch in loader:
        yield batch["x"].to(device), batch["mask"].to(device)


def _epoch(model: MaskedPoseModel, loader: DataLoader, config: PretrainConfig, device: torch.device, precision: Any,
           optimizer: torch.optim.Optimizer | None, generator: torch.Generator, *, token: bool = False) -> float:
    """Mean reconstruction loss over the batches; trains when ``optimizer`` is given. ``token``: the loss of
    answering the mask token (0) for every hidden joint instead (the reference a useful encoder beats)."""
    model.train(optimizer is not None)
    total, count = 0.0, 0
    with torch.set_grad_enabled(optimizer is not None):
        for x, mask in _batches(loader, device):
            x_hidden, hidden = hide_joints(x, mask, model.layout, config.mask, generator)
            with precision.autocast():
                pred = x_hidden if token else model(x_hidden, mask)  # (N, C, T, V)
            loss = reconstruction_loss(pred, x, hidden)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{PROG}: the reconstruction loss became {loss.item()}; lower --lr")
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()
            total += float(loss.item()) * x.shape[0]
            count += x.shape[0]
    return total / max(count, 1)


def pretrain(config: PretrainConfig) -> PretrainResult:
    """Pretrain the encoder (module docstring) and write ``config.out``; returns the loss history."""
    out = Path(config.out)
    if out.exists() and not config.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if out.suffix != ".pt":
        raise ValueError(f"--out names the encoder file, e.g. runs/pretrain/encoder.pt; got {out}")
    device = resolve_device(config.device)
    threads = configure_threads(config.threads, 0)
    torch.manual_seed(config.seed)
    corpora = _load_all(config)
    splits = [_split_ids(c.video_ids, config.seed) for c in corpora]
    data_cfg = _data_config(config, corpora, splits)
    train_sets = [ds for c, (tr, _) in zip(corpora, splits) for ds in _datasets(c, tr, data_cfg, train=True,
                                                                               seed=config.seed)]
    val_sets = [ds for c, (_, va) in zip(corpora, splits) if va for ds in _datasets(c, va, data_cfg, train=False,
                                                                                    seed=config.seed)]
    train_ds = ConcatDataset(train_sets)
    val_ds = ConcatDataset(val_sets) if val_sets else None
    # joint_pool auto: flat, the multi-class choice (an encoder for a --binary detector: pass --joint-pool mean)
    pool = "flat" if config.model.joint_pool == "auto" else config.model.joint_pool
    model_cfg = config.model.model_config(layout=data_cfg.layout, in_channels=data_cfg.in_channels, num_classes=1,
                                          joint_pool=pool)
    model = MaskedPoseModel(model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = make_scheduler(optimizer, "cosine", config.epochs, 0)
    precision = resolve_precision(config.amp, device)
    n_videos = sum(len(c.video_ids) for c in corpora)
    print(f"{PROG}: {n_videos} videos in {len(corpora)} folders, {len(train_ds)} training / "
          f"{len(val_ds) if val_ds else 0} held-out samples of {config.window} frames, layout "
          f"{corpora[0].layout.name} (V={corpora[0].layout.num_nodes}), input {data_cfg.representation()}, "
          f"hiding joints {config.mask.joints:g} / hands {config.mask.hands:g} / frames {config.mask.frames:g}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, device {device}, {threads}", flush=True)
    val_gen_seed = config.seed + 1
    token_loss = math.nan
    if val_ds is not None:
        token_loss = _epoch(model, DataLoader(val_ds, batch_size=max(config.batch, 64)), config, device, precision,
                            None, torch.Generator(device=device).manual_seed(val_gen_seed), token=True)
        print(f"{PROG}: held-out loss of answering the mask token (0) for every hidden joint: {token_loss:.4f}",
              flush=True)
    history: list[dict[str, float]] = []
    mask_gen = torch.Generator(device=device).manual_seed(config.seed)
    for epoch in range(config.epochs):
        tic = time.perf_counter()
        for ds in train_sets:
            ds.set_epoch(epoch)
        loader = DataLoader(train_ds, batch_size=config.batch, shuffle=True, drop_last=len(train_ds) > config.batch,
                            generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        train_loss = _epoch(model, loader, config, device, precision, optimizer, mask_gen)
        scheduler.step()
        val_loss = math.nan
        if val_ds is not None:  # the same hidden joints every epoch, so epochs compare
            val_loader = DataLoader(val_ds, batch_size=max(config.batch, 64))
            val_loss = _epoch(model, val_loader, config, device, precision, None,
                              torch.Generator(device=device).manual_seed(val_gen_seed))
        seconds = time.perf_counter() - tic
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "seconds": seconds})
        print(f"epoch {epoch + 1}/{config.epochs}  train loss {train_loss:.4f}  held-out loss {val_loss:.4f}  "
              f"({seconds:.1f}s)", flush=True)
    _save_encoder(out, model, data_cfg, config, corpora, len(train_ds), history, token_loss)
    print(f"{PROG}: wrote {out} (use it with: signstgcn train ... --init {out})", flush=True)
    return PretrainResult(out, n_videos, len(train_ds), history)


# ------------------------------------------------------------------------------------------ encoder file


def _representation(data: DataConfig) -> dict[str, Any]:
    d = data.to_dict()
    rep = {k: d[k] for k in REPRESENTATION_FIELDS}
    rep["canonical_bones"] = bool(data.bone_lengths)
    return rep


def _save_encoder(out: Path, model: MaskedPoseModel, data: DataConfig, config: PretrainConfig,
                  corpora: list[Corpus], windows: int, history: list[dict[str, float]], token_loss: float) -> None:
    record = {
        "format": ENCODER_FORMAT,
        "version": {"signstgcn": __version__, "torch": str(torch.__version__)},
        "config": model.config.to_dict(),
        "encoder": model.encoder_state(),
        "decoder": {k: v.detach().cpu().clone() for k, v in model.decoder.state_dict().items()},
        "representation": plain_data(_representation(data), "representation", strict=True),
        "pretrain": plain_data({"settings": config.flat(), "folders": list(config.data),
                            "videos": sum(len(c.video_ids) for c in corpora), "windows": windows,
                            "history": history, "mask_token_loss": token_loss}, "pretrain", strict=False),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb", fsync=True) as f:
        torch.save(record, f)


def read_encoder(path: str | Path) -> dict[str, Any]:
    """The dict of an ``encoder.pt`` written by :func:`pretrain` (validated; weights only, no pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"--init {path}: file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"--init {path}: cannot be read as a torch file ({type(e).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != ENCODER_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"--init {path}: not an encoder written by 'signstgcn pretrain' (format "
                              f"{found!r}, expected {ENCODER_FORMAT!r})")
    for key in ("config", "encoder", "representation"):
        if key not in raw:
            raise CheckpointError(f"--init {path}: the encoder file lacks {key!r}")
    return raw


def init_from_encoder(model: torch.nn.Module, data: DataConfig, path: str | Path) -> dict[str, Any]:
    """Load the encoder of ``path`` into ``model`` (a :class:`SignSTGCNModel`; heads and aggregator keep their
    fresh weights). Refuses, in one line naming the flag, a backbone or input representation other than the
    encoder's. Returns what the encoder was pretrained on (``raw["pretrain"]``)."""
    raw = read_encoder(path)
    try:
        stored = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"--init {path}: invalid model config ({e})") from None
    for name in ENCODER_FIELDS:
        mine, theirs = getattr(model.config, name), getattr(stored, name)
        if mine != theirs:
            hint = (f"; pass {' '.join(config_flags({name: theirs}))}" if name not in _NO_FLAG_FIELDS
                    else "; use the same parts and --coords (and --face-channels) as the pretraining")
            raise ValueError(f"--init {path}: the encoder was pretrained with {name} = {theirs}, this model has "
                             f"{mine}{hint}")
    mine_rep, theirs_rep = _representation(data), raw["representation"]
    for name in (*REPRESENTATION_FIELDS, "canonical_bones"):
        if name in theirs_rep and mine_rep[name] != theirs_rep[name]:
            flag = ("parts and --coords" if name == "selection"
                    else " ".join(config_flags({name: theirs_rep[name]})))
            raise ValueError(f"--init {path}: the encoder was pretrained on input with {name} = {theirs_rep[name]}, "
                             f"this run has {mine_rep[name]}; use the same {flag}")
    state = raw["encoder"]
    wrong = sorted(k for k in state if not k.startswith(ENCODER_PREFIXES))
    if wrong:
        raise CheckpointError(f"--init {path}: unexpected weights {wrong[:3]} in the encoder")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k.startswith(ENCODER_PREFIXES)]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"--init {path}: the encoder's weights do not fit this model (missing {missing[:3]}, "
                              f"unexpected {list(result.unexpected_keys)[:3]})")
    return dict(raw.get("pretrain") or {})
