"""``python -m train_landmarks`` / ``signstgcn train``: train a SignSTGCN model on a landmark folder.

Writes ``OUT/last.pt`` every epoch, ``OUT/best.pt`` with ``--save-best``, ``OUT/metrics.csv`` (and
``OUT/curves.png``) with ``--log-csv`` and the resolved settings in ``OUT/config.json``. Runs unchanged
under ``torchrun --nproc_per_node=K`` (DDP: gloo on CPU, nccl on GPU; only rank 0 writes).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, WeightedRandomSampler

from signstgcn.atomic import write_text_atomic
from signstgcn.cli.common import HelpFormatter, add_threads_arg, run_cli, selection_from_args
from signstgcn.data.corpus import Corpus, load_corpus
from signstgcn.data.groundtruth import DEFAULT_SIGNING_LABELS, LabelVocab, build_vocab, parse_signing_labels
from signstgcn.data.pipeline import DataConfig, fit_bone_lengths, fit_signers, make_dataset
from signstgcn.data.splits import check_split_videos, count_windows, load_splits, validation_split
from signstgcn.data.transforms import AUGMENT_PRESETS, DOMINANT_HAND
from signstgcn.data.windows import RULES, SAMPLE_MODES, WindowConfig, build_window_index
from signstgcn.errors import SignSTGCNError
from signstgcn.metrics import compute_metrics, scalar_metrics
from signstgcn.model.config import add_model_args, model_config_from_args
from signstgcn.model.model import SignSTGCNModel
from signstgcn.progress import RunProgress, wants_progress
from signstgcn.runtime import configure_threads
from signstgcn.training.checkpoint import read_checkpoint, save_checkpoint
from signstgcn.training.distributed import DistInfo, barrier, cleanup_distributed, init_distributed
from signstgcn.training.loop import (
    BEST_METRICS,
    LossSetup,
    best_metric_key,
    evaluate,
    grl_lambda,
    resolve_precision,
    train_one_epoch,
)
from signstgcn.training.losses import auto_pos_weight

PROG = "train_landmarks"
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "config.json", "curves.png")
log = logging.getLogger("signstgcn.train")


def _int_or_auto(text: str) -> int | None:
    return None if text == "auto" else int(text)


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train SignSTGCN on a folder of landmark .npz files.",
                                formatter_class=HelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help="folder of .npz landmark files (searched recursively)")
    d.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    d.add_argument("--window", type=int, default=25, help="frames per window")
    d.add_argument("--stride", type=int, default=1, help="frames between window starts")
    d.add_argument("--rule", choices=RULES, default="majority", help="binary window label rule")
    d.add_argument("--sample-mode", choices=SAMPLE_MODES, default="window",
                   help="window: sliding windows; video: one sample per video resampled to --window frames")
    d.add_argument("--coords", type=int, default=2, help="coordinate channels to use (2 = x,y; 3 adds z)")
    d.add_argument("--include-pose", action="store_true", help="use the pose (none of --include-* = pose+hands)")
    d.add_argument("--include-hands", action="store_true", help="use both hands")
    d.add_argument("--include-face", action="store_true", help="use the face (see --face-subset)")
    d.add_argument("--pose-subset", choices=("upper", "full"), default="upper",
                   help="pose joints: upper body (no legs) or the full pose")
    d.add_argument("--face-subset", choices=("compact", "full"), default="compact",
                   help="face points with --include-face: the contour subset or the full mesh")
    r = p.add_argument_group("input representation (signer and camera invariance; stored in the checkpoint)")
    r.add_argument("--hands-relative", action=argparse.BooleanOptionalAction, default=True,
                   help="hand joints relative to their own wrist (hand shape apart from hand location)")
    r.add_argument("--face-channels", action=argparse.BooleanOptionalAction, default=False,
                   help="2 more channels per joint: its position relative to the nose in face units, so a hand "
                        "'at the chin' reads the same for every person and camera (needs the pose)")
    r.add_argument("--canonical-bones", action=argparse.BooleanOptionalAction, default=True,
                   help="retarget every bone onto a reference skeleton fitted on the training videos, keeping "
                        "its direction (arm length, hand size and build no longer identify the signer)")
    r.add_argument("--cross-signer-augment", action=argparse.BooleanOptionalAction, default=False,
                   help="training augmentation: half the windows get the body proportions of another training "
                        "video, bone directions kept (an alternative to --canonical-bones)")
    r.add_argument("--level-shoulders", action=argparse.BooleanOptionalAction, default=False,
                   help="rotate each window so the shoulder line is level (camera roll, leaning)")
    r.add_argument("--dominant-hand", choices=DOMINANT_HAND, default="any",
                   help="right: mirror windows whose left hand moves more, in training and at test time "
                        "(left-handed signing read as right-handed; replaces the random mirror)")
    r.add_argument("--augment", choices=AUGMENT_PRESETS, default="standard",
                   help="training augmentation: standard (mirror, rotation 15 deg, scale, shear, speed "
                        "0.8-1.2x, joint dropout), strong (wider: speed 0.5-1.5x, whole-hand dropout, ...) "
                        "or none")
    d.add_argument("--binary", action="store_true", help="signing-vs-not detection (else multi-class)")
    d.add_argument("--signing-labels", default=",".join(DEFAULT_SIGNING_LABELS),
                   help="labels counted as signing in --binary mode (comma list, case-insensitive)")
    d.add_argument("--num-classes", type=int, default=None,
                   help="keep the N most frequent labels (multi-class; default: every label)")
    d.add_argument("--splits-json", default=None, help="splits from build_video_splits (uses train and val; "
                   "an empty or missing val = no validation; default: a split by --val-fraction)")
    d.add_argument("--val-fraction", type=float, default=0.2, help="share of videos for validation "
                   "(without --splits-json; signer-disjoint when signer ids are known; 0 = no validation: "
                   "train on every video, keep last.pt)")
    s = p.add_argument_group("signer bias")
    s.add_argument("--signer-loss-weight", type=float, default=0.5,
                   help="weight of the adversarial signer loss (0 = no signer head)")
    s.add_argument("--use-pseudo-signers", action="store_true",
                   help="K-means pseudo-signers (fit on train videos) instead of real signer ids")
    s.add_argument("--num-pseudo-signers", type=int, default=8, help="K of the pseudo-signer K-means")
    s.add_argument("--grl-schedule", choices=("constant", "dann"), default="constant",
                   help="GRL strength: constant --lambda-grl, or the DANN ramp from 0 to it")
    s.add_argument("--use-supcon", action="store_true", help="add the supervised contrastive loss")
    s.add_argument("--supcon-weight", type=float, default=0.1, help="weight of the contrastive loss (--use-supcon)")
    s.add_argument("--supcon-temp", type=float, default=0.07, help="temperature of the contrastive loss")
    add_model_args(p)
    o = p.add_argument_group("optimization")
    o.add_argument("--batch", type=int, default=32, help="training windows per batch (per process under torchrun)")
    o.add_argument("--epochs", type=int, default=50, help="training epochs")
    o.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    o.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    o.add_argument("--scheduler", choices=("cosine", "step", "none"), default="cosine",
                   help="learning-rate schedule: cosine decay, step (x0.1 every third of --epochs) or none")
    o.add_argument("--label-smoothing", type=float, default=0.0, help="multi-class cross-entropy smoothing")
    o.add_argument("--pos-weight", default="none", help="binary positive-class weight: none, auto or a number")
    o.add_argument("--weighted-sampler", action="store_true", help="sample training windows class-balanced")
    o.add_argument("--patience", type=int, default=0, help="stop after N epochs without improvement (0 = off)")
    o.add_argument("--best-metric", choices=BEST_METRICS, default="acc", help="what --save-best keeps")
    r = p.add_argument_group("run")
    r.add_argument("--out", default="runs/train", help="output folder")
    r.add_argument("--save-best", action="store_true", help="also keep OUT/best.pt (by --best-metric)")
    r.add_argument("--log-csv", action="store_true", help="write OUT/metrics.csv and OUT/curves.png")
    r.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    r.add_argument("--overwrite", action="store_true", help="replace a previous run in OUT")
    r.add_argument("--seed", type=int, default=0,
                   help="random seed (validation split, pseudo-signers, model init, data order)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    r.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    add_threads_arg(r)
    r.add_argument("--amp", action="store_true", help="mixed precision: bf16 autocast (fp16 on old GPUs)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


# ----------------------------------------------------------------------------------------------- setup


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"Invalid --device {name!r}. Use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    return device


def _check_args(args: argparse.Namespace) -> None:
    for name in ("batch", "epochs", "window", "stride"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it; pass only one")
    if args.binary and args.num_classes is not None:
        raise ValueError("--num-classes is for multi-class training; drop it with --binary")
    if args.cross_signer_augment and args.canonical_bones:
        raise ValueError("--cross-signer-augment varies body proportions and --canonical-bones (on by default) "
                         "removes them; add --no-canonical-bones")
    best_metric_key(args.best_metric, args.binary)
    if args.pos_weight not in ("none", "auto"):
        try:
            if float(args.pos_weight) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"--pos-weight must be none, auto or a positive number, got {args.pos_weight!r}") from None
        if not args.binary:
            raise ValueError("--pos-weight applies to --binary training only")
    if args.val_fraction == 0 and not args.splits_json:
        _check_no_validation(args, "--val-fraction 0")


def _check_no_validation(args: argparse.Namespace, why: str) -> None:
    """Refuse the flags that select epochs on the validation split when there is none."""
    needs = [flag for flag, on in (("--save-best", args.save_best), ("--patience", args.patience)) if on]
    if needs:
        flags = " and ".join(needs)
        raise ValueError(f"{flags} {'needs' if len(needs) == 1 else 'need'} a validation split to pick epochs, but "
                         f"{why} gives none; drop {flags} (last.pt is the final model) or give a validation split")


def _check_out_dir(out: Path, args: argparse.Namespace) -> None:
    previous = [name for name in RUN_FILES if (out / name).exists()]
    if args.resume:
        if not (out / "last.pt").is_file():
            raise ValueError(f"--resume: {out / 'last.pt'} not found; nothing to continue")
        return
    if previous and not args.overwrite:
        raise ValueError(f"{out} holds a previous run ({', '.join(previous)}); pass --resume to continue it "
                         f"or --overwrite to replace it")


def _check_resume_epochs(ckpt: dict[str, Any], args: argparse.Namespace, completed: int, out: Path) -> None:
    """Refuse to resume a finished run without more epochs; warn when ``--epochs`` changes the schedule."""
    stored = (ckpt.get("args") or {}).get("epochs")
    if completed >= args.epochs:
        raise ValueError(f"--resume: {out / 'last.pt'} has already trained {completed} epochs and --epochs is "
                         f"{args.epochs}; pass a larger --epochs to train more")
    if isinstance(stored, int) and stored != args.epochs and args.scheduler != "none":
        old = args.lr * lr_factor(args.scheduler, completed, stored)
        new = args.lr * lr_factor(args.scheduler, completed, args.epochs)
        log.warning("--epochs %d differs from the resumed run's %d: the %s learning-rate schedule now spans %d "
                    "epochs, so epoch %d trains at lr %.3g instead of %.3g", args.epochs, stored, args.scheduler,
                    args.epochs, completed + 1, new, old)


def _check_window_fits(corpus: Corpus, ids: list[str], window: WindowConfig, *, binary: bool, where: str) -> None:
    """A video shorter than ``--window`` gives one zero-padded window. Refuse binary training when every video
    is that short (detection on padding only); otherwise warn with the counts."""
    if window.sample_mode != "window" or not ids:
        return
    lengths = {v: corpus.num_frames(v) for v in ids}
    short = sorted(v for v, t in lengths.items() if t < window.window)
    if not short:
        return
    longest = max(lengths.values())
    if binary and len(short) == len(ids):
        raise ValueError(f"{where}: --window {window.window} is longer than every video (the longest has {longest} "
                         f"frames), so every window would be padded; use --window {longest} or less")
    hint = "" if binary else " (isolated clips: --sample-mode video resamples each clip to --window frames)"
    log.warning("%s: %d of %d videos are shorter than --window %d (e.g. %s, %d frames) and give one padded window "
                "each%s", where, len(short), len(ids), window.window, short[0], lengths[short[0]], hint)


def _split(corpus: Corpus, args: argparse.Namespace, vocab_all: LabelVocab) -> tuple[list[str], list[str], str]:
    if args.splits_json:
        splits = load_splits(args.splits_json)
        check_split_videos(splits, corpus.video_ids, args.splits_json)
        train, val = list(splits.get("train", [])), list(splits.get("val", []))
        if not train:
            raise ValueError(f"{args.splits_json}: training needs a non-empty 'train' split (got 0 videos)")
        if not val:
            _check_no_validation(args, f"the empty 'val' split of {args.splits_json}")
        return train, val, "splits-json"
    window = WindowConfig(args.window, args.stride, args.rule, args.sample_mode)
    assert corpus.gt is not None
    labels = [corpus.gt.frame_labels(v, corpus.num_frames(v), vocab_all) for v in corpus.video_ids]
    counts = count_windows(corpus.video_ids, build_window_index(labels, window, binary=args.binary),
                           binary=args.binary, class_names=vocab_all.classes)
    split = validation_split(corpus.video_ids, val_fraction=args.val_fraction, window_counts=counts.windows,
                             positive_counts=counts.positives, class_counts=counts.classes,
                             signers=corpus.signers, seed=args.seed)
    if not split.train or (not split.val and args.val_fraction > 0):
        raise ValueError(f"{args.data}: {len(corpus.video_ids)} videos cannot be split into train and validation "
                         f"with --val-fraction {args.val_fraction}")
    source = f"val-fraction ({split.grouped_by}-disjoint)" if split.val else "--val-fraction 0"
    return list(split.train), list(split.val), source


def _video_signers(corpus: Corpus, ids: list[str], cfg: DataConfig, signer_ids: np.ndarray) -> list[str]:
    """Signer name per video for the bias metrics: real ids, else the pseudo-signer cluster."""
    if all(v in corpus.signers for v in ids):
        return [corpus.signers[v] for v in ids]
    if cfg.signer_source == "pseudo":
        return [f"pseudo{int(s)}" for s in signer_ids]
    return [corpus.signers.get(v, "unknown") for v in ids]


def _signer_counts(corpus: Corpus, cfg: DataConfig, train_ids: list[str], val_ids: list[str]) -> str:
    """E.g. ``real ids, 3 in train + 1 in val of 4`` (the head learns the training signers only)."""
    if cfg.signer_source == "pseudo":
        return f"{cfg.num_signers} pseudo-signers (K-means on the training videos)"
    if not corpus.signers:
        return "none (no signers.txt or npz signer ids)"
    def count(ids: list[str]) -> int:
        return len({corpus.signers[v] for v in ids if v in corpus.signers})
    return (f"real ids, {count(train_ids)} in train + {count(val_ids)} in val of "
            f"{len(set(corpus.signers.values()))}")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, default=str))


class CsvLog:
    """``metrics.csv``: one row per epoch, numbered from 1; appends on --resume (header written once)."""

    def __init__(self, path: Path, resume: bool, completed: int) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if resume and path.is_file():  # drop rows of epochs that will be re-run after the checkpoint
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.fields = list(rows[0].keys())
                if int(rows[0]["epoch"]) == 0:  # written before epochs were numbered from 1
                    rows = [{**r, "epoch": str(int(r["epoch"]) + 1)} for r in rows]
                kept = [r for r in rows if int(r["epoch"]) <= completed]
                self._rewrite(kept)
        elif path.exists():
            path.unlink()

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        assert self.fields is not None
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row.keys())
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def _make_loader(ds, args, epoch: int, dist: DistInfo, labels: np.ndarray) -> DataLoader:
    g = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
    if dist.enabled:
        sampler = DistributedSampler(ds, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=args.seed)
        sampler.set_epoch(epoch)
    elif args.weighted_sampler:
        classes, counts = np.unique(labels, return_counts=True)
        freq = dict(zip(classes.tolist(), counts.tolist()))
        weights = torch.tensor([1.0 / freq[int(y)] for y in labels], dtype=torch.double)
        sampler = WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=g)
    else:
        sampler = RandomSampler(ds, generator=g)
    per_rank = math.ceil(len(ds) / dist.world_size)
    return DataLoader(ds, batch_size=args.batch, sampler=sampler, num_workers=args.workers,
                      drop_last=per_rank > args.batch, persistent_workers=False,
                      generator=g if args.workers else None)


def lr_factor(kind: str, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch`` of ``epochs`` over the base rate: ``cosine`` decay to 0 (the closed
    form of ``CosineAnnealingLR``), ``step`` (x0.1 every third of the run) or ``none``."""
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    if kind == "step":
        return 0.1 ** (epoch // max(1, epochs // 3))
    return 1.0


def _scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace, start_epoch: int = 0):
    """A per-epoch schedule computed from the epoch and ``--epochs`` alone, starting at 0-based ``start_epoch``
    (sets the optimizer's learning rate for it), so a resumed run with a larger ``--epochs`` follows the longer
    schedule from where it is instead of one planned for the old length."""
    if args.scheduler == "none":
        return None
    kind, epochs = args.scheduler, args.epochs
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(kind, e, epochs),
                                             last_epoch=start_epoch - 1)


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def _val_columns(binary: bool, num_classes: int) -> list[str]:
    """The ``metrics.csv`` val columns of a run with validation (a run without keeps them, empty)."""
    k = 1 if binary else num_classes
    dummy = compute_metrics({"logits": np.zeros((1, k)), "labels": np.zeros(1, dtype=np.int64)}, binary=binary,
                            probe=False)  # one sample: only the keys are used
    return [f"val_{key}" for key in (*scalar_metrics(dummy), "loss")]


# ----------------------------------------------------------------------------------------------- main


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as the flags say; returns the best validation metrics (rank 0's view; {} without validation)."""
    _check_args(args)
    device = resolve_device(args.device)
    dist = init_distributed(device)
    threads = configure_threads(args.threads, args.workers)
    if device.type == "cuda" and dist.enabled:
        device = torch.device("cuda", dist.local_rank)
    progress = wants_progress(args.quiet, dist.is_main)
    out = Path(args.out)
    _check_out_dir(out, args)
    torch.manual_seed(args.seed)  # model init and dropout; data order and augmentation have their own seeds

    resume_ckpt = read_checkpoint(out / "last.pt") if args.resume else None
    selection = selection_from_args(args)
    if resume_ckpt is not None:
        stored = DataConfig.from_dict(resume_ckpt["data"])
        selection = stored.selection
    corpus = load_corpus(args.data, selection=selection, gt_path=args.gt, progress=progress,
                         layout_spec=None if resume_ckpt is None else stored.layout)
    assert corpus.gt is not None
    signing = parse_signing_labels(args.signing_labels)
    if resume_ckpt is not None:
        train_ids, val_ids = resume_ckpt["data"]["splits"]["train"], resume_ckpt["data"]["splits"]["val"]
        split_source = "resumed"
        data_cfg = stored
    else:
        vocab_all = build_vocab(corpus.gt, corpus.video_ids, binary=args.binary, signing_labels=signing)
        train_ids, val_ids, split_source = _split(corpus, args, vocab_all)
        vocab = build_vocab(corpus.gt, train_ids, binary=args.binary, signing_labels=signing,
                            num_classes=args.num_classes)
        source, names, pseudo = fit_signers(corpus, train_ids, use_pseudo=args.use_pseudo_signers,
                                            num_pseudo=args.num_pseudo_signers, seed=args.seed)
        data_cfg = DataConfig(selection, corpus.layout_spec,
                              WindowConfig(args.window, args.stride, args.rule, args.sample_mode), vocab,
                              hands_relative=args.hands_relative, signer_source=source, signers=names,
                              pseudo_signers=pseudo, level_shoulders=args.level_shoulders,
                              face_channels=args.face_channels, dominant_hand=args.dominant_hand,
                              augment=args.augment, cross_signer=args.cross_signer_augment)
        if args.canonical_bones:
            lengths = fit_bone_lengths(corpus, train_ids, data_cfg, seed=args.seed)
            data_cfg = dataclasses.replace(data_cfg, bone_lengths=lengths)
    if resume_ckpt is not None and not val_ids:
        _check_no_validation(args, "the resumed run's empty validation split")
    _check_window_fits(corpus, train_ids + val_ids, data_cfg.window, binary=args.binary, where=str(args.data))
    train_ds = make_dataset(corpus, train_ids, data_cfg, train=True, seed=args.seed)
    val_ds = make_dataset(corpus, val_ids, data_cfg, train=False, seed=args.seed) if val_ids else None
    val_signers = _video_signers(corpus, val_ids, data_cfg, val_ds.signer_ids) if val_ds is not None else None

    adversarial = args.signer_loss_weight > 0 and data_cfg.num_signers >= 2
    pos_weight = None
    if args.binary and args.pos_weight == "auto":
        pos_weight = auto_pos_weight(train_ds.labels)
    elif args.binary and args.pos_weight != "none":
        pos_weight = float(args.pos_weight)
    setup = LossSetup(binary=args.binary, pos_weight=pos_weight, label_smoothing=args.label_smoothing,
                      signer_weight=args.signer_loss_weight if adversarial else 0.0,
                      supcon_weight=args.supcon_weight if args.use_supcon else 0.0, supcon_temp=args.supcon_temp)
    model_cfg = model_config_from_args(
        args, layout=data_cfg.layout, in_channels=data_cfg.in_channels, num_classes=data_cfg.vocab.num_classes,
        num_signers=data_cfg.num_signers if adversarial else 0, supcon_dim=128 if args.use_supcon else 0)
    model = SignSTGCNModel(model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    precision = resolve_precision(args.amp, device)
    scaler = torch.amp.GradScaler("cuda") if precision.dtype == torch.float16 else None
    metric_key, higher = best_metric_key(args.best_metric, args.binary)

    start_epoch, best, stale = 0, None, 0
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["model"])
        optimizer.load_state_dict(resume_ckpt["optimizer"])
        state = resume_ckpt.get("train_state") or {}
        start_epoch = int(resume_ckpt["epoch"])  # epochs completed (epochs are numbered from 1)
        best, stale = state.get("best"), int(state.get("stale", 0))
        _check_resume_epochs(resume_ckpt, args, start_epoch, out)
        if "torch_rng" in state:
            torch.set_rng_state(torch.as_tensor(state["torch_rng"], dtype=torch.uint8))
    scheduler = _scheduler(optimizer, args, start_epoch)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if dist.enabled else model

    data_record = {**data_cfg.to_dict(), "splits": {"train": train_ids, "val": val_ids}, "data_dir": str(args.data)}
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if args.overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        _write_json(out / "config.json", {"args": vars(args), "model": model_cfg.to_dict(),
                                          "data": {k: v for k, v in data_record.items() if k != "pseudo_signers"},
                                          "split_source": split_source, "world_size": dist.world_size})
        videos = (f"{len(train_ids)} train / {len(val_ids)} val videos ({split_source}), "
                  f"{len(train_ds)} / {len(val_ds)} samples" if val_ds is not None else
                  f"{len(train_ids)} train videos, no validation split ({split_source}: no model selection, "
                  f"last.pt is the final model), {len(train_ds)} samples")
        print(f"{PROG}: {videos}, layout {corpus.layout.name} (V={corpus.layout.num_nodes}), "
              f"input {data_cfg.representation()} ({data_cfg.in_channels} channels, augment {data_cfg.augment}"
              f"{' + cross-signer proportions' if data_cfg.cross_signer else ''}), "
              f"{'binary' if args.binary else f'{data_cfg.vocab.num_classes} classes'}, signers: "
              f"{_signer_counts(corpus, data_cfg, train_ids, val_ids)}, "
              f"adversarial head: {'on' if adversarial else 'off'}, "
              f"{model.num_parameters():,} parameters, device {device}, {threads}"
              f"{f', {dist.world_size} ranks' if dist.enabled else ''}", flush=True)
    csv_log = CsvLog(out / "metrics.csv", args.resume, start_epoch) if (args.log_csv and dist.is_main) else None
    barrier(dist)

    best_metrics: dict[str, Any] = {}
    if resume_ckpt is not None:
        best_metrics = dict((resume_ckpt.get("train_state") or {}).get("best_metrics") or {})
    bars = RunProgress(args.epochs, enabled=progress)
    for epoch in range(start_epoch, args.epochs):  # 0-based index; users see epoch + 1
        tic = time.perf_counter()
        train_ds.set_epoch(epoch)
        loader = _make_loader(train_ds, args, epoch, dist, train_ds.labels)
        lam = grl_lambda(args.lambda_grl, args.grl_schedule, epoch / max(1, args.epochs - 1))
        lr = optimizer.param_groups[0]["lr"]
        train_stats = train_one_epoch(net, loader, optimizer, setup, device=device, precision=precision,
                                      scaler=scaler, lambda_grl=lam, dist=dist, epoch=epoch, progress=bars)
        if scheduler is not None:
            scheduler.step()
        if val_ds is not None:
            metrics, _ = evaluate(model, val_ds, setup, device=device, precision=precision,
                                  video_signers=val_signers, batch_size=max(args.batch, 64), workers=args.workers,
                                  dist=dist, progress=progress)
            value = metrics[metric_key]  # NaN (e.g. PR-AUC of a one-class split) never counts as an improvement
            improved = math.isfinite(value) and (best is None or (value > best if higher else value < best))
            if improved:
                best, stale, best_metrics = value, 0, dict(metrics, epoch=epoch + 1)
            else:
                stale += 1
        else:  # no validation: no metrics, nothing to select (--save-best and --patience were refused)
            metrics, improved = {}, False
        seconds = time.perf_counter() - tic
        bars.end_epoch(seconds)
        if dist.is_main:
            state = {"best": best, "stale": stale, "torch_rng": torch.get_rng_state(), "metric_key": metric_key,
                     "best_metrics": scalar_metrics(best_metrics) if best_metrics else {}}
            common = dict(data=data_record, epoch=epoch + 1, optimizer=optimizer, scheduler=scheduler, args=args,
                          val_acc=metrics.get("accuracy", metrics.get("top1")))
            val_row = ({f"val_{k}": v for k, v in scalar_metrics(metrics).items() if k != "seconds"} if metrics
                       else dict.fromkeys(_val_columns(args.binary, data_cfg.vocab.num_classes), ""))
            row = {"epoch": epoch + 1, "lr": lr, "grl_lambda": lam if adversarial else 0.0, "seconds": seconds,
                   **{f"train_{k}": v for k, v in train_stats.items()}, **val_row}
            if csv_log is not None:
                csv_log.write({k: _fmt(v) for k, v in row.items()})  # before last.pt: resume drops rows >= its epoch
            save_checkpoint(out / "last.pt", model, metrics=scalar_metrics(metrics), train_state=state, **common)
            if improved and args.save_best:
                save_checkpoint(out / "best.pt", model, metrics=scalar_metrics(metrics), train_state=state, **common)
            shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in
                              (("accuracy", "f1", "pr_auc") if args.binary else ("top1", "macro_f1"))
                              + ("worst_signer_acc",) if isinstance(metrics.get(k), float))
            val_text = f"val loss {metrics['loss']:.4f}  {shown}" if metrics else "no validation"
            print(f"epoch {epoch + 1}/{args.epochs}  train loss {train_stats['loss']:.4f}  {val_text}  "
                  f"({seconds:.1f}s){'  *' if improved else ''}", flush=True)
        if args.patience and stale >= args.patience:
            if dist.is_main:
                print(f"early stop: no better {metric_key} for {args.patience} epochs", flush=True)
            break
    barrier(dist)
    if dist.is_main and csv_log is not None:
        from signstgcn.plots import plot_metrics

        plot_metrics(out / "metrics.csv", out / "curves.png")
    if dist.is_main and val_ds is None:
        print(f"no validation split: last.pt is the final model; wrote {out}", flush=True)
    elif dist.is_main and best is None:
        print(f"no epoch had a finite validation {metric_key} (a validation split with one class has no "
              f"PR-AUC); {'best.pt was not written; ' if args.save_best else ''}last.pt is the final model; "
              f"wrote {out}", flush=True)
    elif dist.is_main:
        when = f"epoch {best_metrics['epoch']}" if "epoch" in best_metrics else "an epoch before --resume"
        print(f"best {metric_key} {best:.4f} ({when}); wrote {out}", flush=True)
    cleanup_distributed(dist)
    return best_metrics


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, FileNotFoundError, FloatingPointError))


if __name__ == "__main__":
    raise SystemExit(main())
