"""``fit(config)``: one training run, as ``train_landmarks`` does it, from Python.

    from signstgcn import TrainConfig, fit
    result = fit(TrainConfig.from_flat(data="data/", sample_mode="video", window=30, epochs=15, out="runs/x"))
    result.best_metrics["top1"], result.last_checkpoint

Writes ``OUT/last.pt`` every epoch, ``OUT/best.pt`` with ``save_best``, ``OUT/metrics.csv`` with ``log_csv`` and
the resolved settings in ``OUT/config.json``. After the last epoch the temperature of the final model
(``last.pt``) and of ``best.pt`` is fitted on the validation split and stored in each (:func:`calibrate`).
Runs unchanged under ``torchrun --nproc_per_node=K`` (DDP: gloo on CPU, nccl on GPU; only rank 0 writes).
The steps, each a function: :func:`prepare_data` (corpus, splits, data config, datasets), :func:`build_model`
(model, optimizer, losses), :func:`restore` (``resume``), then the epoch loop (:func:`run_epochs`), which calls
every callback once per epoch with that epoch's metrics (a callback that returns True stops the run after that
epoch), then :func:`calibrate`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from signstgcn.data.corpus import Corpus, load_corpus
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.pipeline import DataConfig, check_window_fits, fit_bone_lengths, fit_signers, make_dataset
from signstgcn.data.signers import video_signer_names
from signstgcn.data.splits import check_split_videos, corpus_window_counts, load_splits, validation_split
from signstgcn.data.windows import WindowConfig, WindowDataset
from signstgcn.metrics import scalar_metrics
from signstgcn.plots import plot_metrics
from signstgcn.progress import RunProgress, wants_progress
from signstgcn.runtime import configure_threads, resolve_device
from signstgcn.training.calibration import CALIBRATION_KEY, Calibration, fit_temperature
from signstgcn.training.checkpoint import read_checkpoint, save_checkpoint, update_checkpoint
from signstgcn.training.config import TrainConfig
from signstgcn.training.distributed import DistInfo, all_reduce_sum, barrier, cleanup_distributed, init_distributed
from signstgcn.training.loop import (
    LossSetup,
    Precision,
    best_metric_key,
    evaluate,
    grl_lambda,
    make_loader,
    predict,
    resolve_precision,
    train_one_epoch,
    val_columns,
)
from signstgcn.training.losses import auto_pos_weight
from signstgcn.training.outputs import CsvLog, check_out_dir, start_run_dir
from signstgcn.training.pretrain import init_from_encoder
from signstgcn.training.schedule import check_resume_epochs, epochs_for, make_scheduler, steps_per_epoch

__all__ = ["Callback", "TrainResult", "fit", "prepare_data", "build_model", "restore", "run_epochs", "calibrate"]

PROG = "train_landmarks"
log = logging.getLogger("signstgcn.train")

Callback = Callable[[int, dict[str, float]], "bool | None"]
"""``callback(epoch, metrics)`` after every epoch (1-based epoch; ``metrics``: the ``metrics.csv`` row: lr,
train and validation values); return True to stop the run after this epoch."""


@dataclass
class TrainResult:
    """What :func:`fit` returns."""

    out: Path
    best_metrics: dict[str, Any]  # validation metrics of the best epoch (with its "epoch"); {} without validation
    last_metrics: dict[str, Any]  # validation metrics of the last epoch
    last_checkpoint: Path
    best_checkpoint: Path | None  # None without save_best or without an improving epoch
    history: list[dict[str, float]] = field(default_factory=list)  # one metrics row per epoch run now
    stopped_early: bool = False
    calibration: dict[str, Calibration] = field(default_factory=dict)  # checkpoint file name -> its temperature


@dataclass
class PreparedData:
    """The output of :func:`prepare_data`."""

    corpus: Corpus
    config: DataConfig
    train_ids: list[str]
    val_ids: list[str]
    split_source: str
    train: WindowDataset
    val: WindowDataset | None
    val_signers: list[str | None] | None


@dataclass
class Trainee:
    """The output of :func:`build_model`: the model and everything that updates it."""

    model: Any  # SignSTGCNModel
    optimizer: torch.optim.Optimizer
    setup: LossSetup
    precision: Precision
    scaler: Any
    adversarial: bool


@dataclass
class Progress:
    """Where a run stands: epochs done, the best value so far and epochs since."""

    start_epoch: int = 0
    best: float | None = None
    stale: int = 0
    best_metrics: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- steps


def _split(config: TrainConfig, corpus: Corpus) -> tuple[list[str], list[str], str]:
    """Train / validation videos: ``splits_json``, else a balanced split of ``val_fraction``."""
    d = config.data
    if d.splits_json:
        splits = load_splits(d.splits_json)
        check_split_videos(splits, corpus.video_ids, d.splits_json)
        train, val = list(splits.get("train", [])), list(splits.get("val", []))
        if not train:
            raise ValueError(f"{d.splits_json}: training needs a non-empty 'train' split (got 0 videos)")
        if not val:
            config.check_selection(f"the empty 'val' split of {d.splits_json}")
        return train, val, "splits-json"
    window = WindowConfig(d.window, d.stride, d.rule, d.sample_mode)
    counts = corpus_window_counts(corpus, corpus.video_ids, window, binary=d.binary, signing_labels=d.signing_labels)
    split = validation_split(corpus.video_ids, val_fraction=d.val_fraction, window_counts=counts.windows,
                             positive_counts=counts.positives, class_counts=counts.classes,
                             signers=corpus.signers, seed=config.run.seed)
    if not split.train or (not split.val and d.val_fraction > 0):
        raise ValueError(f"{d.data}: {len(corpus.video_ids)} videos cannot be split into train and validation "
                         f"with --val-fraction {d.val_fraction}")
    source = f"val-fraction ({split.grouped_by}-disjoint)" if split.val else "--val-fraction 0"
    return list(split.train), list(split.val), source


def _data_config(config: TrainConfig, corpus: Corpus, train_ids: list[str]) -> DataConfig:
    """A new run's data config: vocabulary, signers and the input representation fitted on ``train_ids``."""
    d, i, s = config.data, config.input, config.signer
    vocab = build_vocab(corpus.gt, train_ids, binary=d.binary, signing_labels=d.signing_labels,
                        num_classes=d.num_classes, exclude=d.exclude_labels)
    source, names, pseudo = fit_signers(corpus, train_ids, use_pseudo=s.use_pseudo_signers,
                                        num_pseudo=s.num_pseudo_signers, seed=config.run.seed)
    data_cfg = DataConfig(d.selection(), corpus.layout_spec, WindowConfig(d.window, d.stride, d.rule, d.sample_mode),
                          vocab, hands_relative=i.hands_relative, signer_source=source, signers=names,
                          pseudo_signers=pseudo, level_shoulders=i.level_shoulders, face_channels=i.face_channels,
                          dominant_hand=i.dominant_hand, augment=i.augment, cross_signer=i.cross_signer_augment,
                          hard_negatives=i.hard_negatives, fps=d.fps, aspect_augment=i.aspect_augment)
    if i.canonical_bones:
        lengths = fit_bone_lengths(corpus, train_ids, data_cfg, seed=config.run.seed)
        data_cfg = dataclasses.replace(data_cfg, bone_lengths=lengths)
    return data_cfg


def prepare_data(config: TrainConfig, resume_ckpt: dict[str, Any] | None = None, *,
                 progress: bool = False) -> PreparedData:
    """Read the corpus, split it (or take a resumed run's split and data config) and build both datasets."""
    stored = DataConfig.from_dict(resume_ckpt["data"]) if resume_ckpt is not None else None
    selection = stored.selection if stored is not None else config.data.selection()
    corpus = load_corpus(config.data.data, selection=selection, gt_path=config.data.gt, progress=progress,
                         layout_spec=None if stored is None else stored.layout)
    assert corpus.gt is not None
    if resume_ckpt is not None and stored is not None:
        splits = resume_ckpt["data"]["splits"]
        train_ids, val_ids, source, data_cfg = list(splits["train"]), list(splits["val"]), "resumed", stored
        if not val_ids:
            config.check_selection("the resumed run's empty validation split")
    else:
        train_ids, val_ids, source = _split(config, corpus)
        data_cfg = _data_config(config, corpus, train_ids)
    check_window_fits(corpus, train_ids + val_ids, data_cfg.window, binary=config.data.binary,
                      where=str(config.data.data))
    seed = config.run.seed
    train_ds = make_dataset(corpus, train_ids, data_cfg, train=True, seed=seed)
    val_ds = make_dataset(corpus, val_ids, data_cfg, train=False, seed=seed) if val_ids else None
    val_signers = None
    if val_ds is not None:
        val_signers, _ = video_signer_names(val_ids, corpus.signers, source=data_cfg.signer_source,
                                            pseudo_ids=val_ds.signer_ids)
    return PreparedData(corpus, data_cfg, train_ids, val_ids, source, train_ds, val_ds, val_signers)


def build_model(config: TrainConfig, data: PreparedData, device: torch.device) -> Trainee:
    """The model of ``config.model`` for ``data`` (layout, channels, classes, signers), AdamW and the losses."""
    from signstgcn.model.model import SignSTGCNModel

    s, o, binary = config.signer, config.optim, config.data.binary
    adversarial = s.signer_loss_weight > 0 and data.config.num_signers >= 2
    pos_weight = None
    if binary and o.pos_weight == "auto":
        pos_weight = auto_pos_weight(data.train.labels)
    elif binary and o.pos_weight != "none":
        pos_weight = float(o.pos_weight)
    setup = LossSetup(binary=binary, pos_weight=pos_weight, label_smoothing=o.label_smoothing,
                      signer_weight=s.signer_loss_weight if adversarial else 0.0,
                      supcon_weight=s.supcon_weight if s.use_supcon else 0.0, supcon_temp=s.supcon_temp,
                      mixup=o.mixup)
    model_cfg = config.model.model_config(
        layout=data.config.layout, in_channels=data.config.in_channels, num_classes=data.config.vocab.num_classes,
        num_signers=data.config.num_signers if adversarial else 0, supcon_dim=128 if s.use_supcon else 0)
    model = SignSTGCNModel(model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    precision = resolve_precision(config.run.amp, device)
    scaler = torch.amp.GradScaler("cuda") if precision.dtype == torch.float16 else None
    return Trainee(model, optimizer, setup, precision, scaler, adversarial)


def restore(trainee: Trainee, resume_ckpt: dict[str, Any] | None, config: TrainConfig) -> Progress:
    """Load a resumed run's weights, optimizer and selection state; a fresh run starts at epoch 0."""
    if resume_ckpt is None:
        return Progress()
    trainee.model.load_state_dict(resume_ckpt["model"])
    trainee.optimizer.load_state_dict(resume_ckpt["optimizer"])
    state = resume_ckpt.get("train_state") or {}
    done = int(resume_ckpt["epoch"])  # epochs completed (epochs are numbered from 1)
    o = config.optim
    check_resume_epochs(resume_ckpt, o.epochs, o.scheduler, o.lr, done, Path(config.run.out))
    if "torch_rng" in state:
        torch.set_rng_state(torch.as_tensor(state["torch_rng"], dtype=torch.uint8))
    return Progress(done, state.get("best"), int(state.get("stale", 0)), dict(state.get("best_metrics") or {}))


# ------------------------------------------------------------------------------------------ epoch loop


@dataclass
class _Run:
    """What the epoch loop reads: the settings, the data, the model and where results go."""

    config: TrainConfig
    data: PreparedData
    trainee: Trainee
    device: torch.device
    dist: DistInfo
    out: Path
    progress: bool
    net: Any = None  # the model, DDP-wrapped under torchrun
    bars: Any = None  # RunProgress


def _epoch_metrics(run: _Run, epoch: int, state: Progress) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Train one epoch and validate: (train stats, validation metrics, improved)."""
    cfg, t, data = run.config, run.trainee, run.data
    data.train.set_epoch(epoch)
    loader = make_loader(data.train, batch=cfg.optim.batch, seed=cfg.run.seed, epoch=epoch, dist=run.dist,
                         labels=data.train.labels, weighted=cfg.optim.weighted_sampler, workers=cfg.run.workers)
    lam = grl_lambda(cfg.model.lambda_grl, cfg.signer.grl_schedule, epoch / max(1, cfg.optim.epochs - 1))
    stats = train_one_epoch(run.net, loader, t.optimizer, t.setup, device=run.device, precision=t.precision,
                            scaler=t.scaler, lambda_grl=lam, dist=run.dist, epoch=epoch, progress=run.bars,
                            seed=cfg.run.seed)
    stats = {**stats, "grl_lambda": lam if t.adversarial else 0.0}
    if data.val is None:  # no validation: nothing to select (save_best and patience were refused)
        return stats, {}, False
    metrics, _ = evaluate(t.model, data.val, t.setup, device=run.device, precision=t.precision,
                          video_signers=data.val_signers, batch_size=max(cfg.optim.batch, 64),
                          workers=cfg.run.workers, dist=run.dist, progress=run.progress)
    key, higher = best_metric_key(cfg.optim.best_metric, cfg.data.binary)
    value = metrics[key]  # NaN (e.g. PR-AUC of a one-class split) never counts as an improvement
    improved = math.isfinite(value) and (state.best is None or (value > state.best if higher else value < state.best))
    if improved:
        state.best, state.stale, state.best_metrics = value, 0, dict(metrics, epoch=epoch + 1)
    else:
        state.stale += 1
    return stats, metrics, improved


def _save_epoch(run: _Run, epoch: int, state: Progress, metrics: dict[str, Any], improved: bool,
                scheduler: Any, data_record: dict[str, Any]) -> None:
    """``last.pt`` (and ``best.pt`` when it improved with ``save_best``) of this epoch."""
    key, _ = best_metric_key(run.config.optim.best_metric, run.config.data.binary)
    train_state = {"best": state.best, "stale": state.stale, "torch_rng": torch.get_rng_state(), "metric_key": key,
                   "best_metrics": scalar_metrics(state.best_metrics) if state.best_metrics else {}}
    common = dict(data=data_record, epoch=epoch + 1, optimizer=run.trainee.optimizer, scheduler=scheduler,
                  args=run.config.flat(), val_acc=metrics.get("accuracy", metrics.get("top1")),
                  metrics=scalar_metrics(metrics), train_state=train_state)
    save_checkpoint(run.out / "last.pt", run.trainee.model, **common)
    if improved and run.config.run.save_best:
        save_checkpoint(run.out / "best.pt", run.trainee.model, **common)


def _epoch_line(config: TrainConfig, epoch: int, stats: dict[str, Any], metrics: dict[str, Any], seconds: float,
                improved: bool) -> str:
    keys = ("accuracy", "f1", "pr_auc") if config.data.binary else ("top1", "macro_f1")
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in (*keys, "worst_signer_acc") if isinstance(metrics.get(k), float))
    val_text = f"val loss {metrics['loss']:.4f}  {shown}" if metrics else "no validation"
    return (f"epoch {epoch + 1}/{config.optim.epochs}  train loss {stats['loss']:.4f}  {val_text}  "
            f"({seconds:.1f}s){'  *' if improved else ''}")


def _stop_requested(callbacks: Sequence[Callback], epoch: int, row: dict[str, float], dist: DistInfo) -> bool:
    """Run the callbacks (every rank); any True on any rank stops every rank."""
    stop = any(bool(cb(epoch + 1, dict(row))) for cb in callbacks)
    if dist.enabled:
        stop = bool(all_reduce_sum(torch.tensor([float(stop)]), dist).item() > 0)
    return stop


def run_epochs(run: _Run, state: Progress, data_record: dict[str, Any],
               callbacks: Sequence[Callback] = ()) -> tuple[dict[str, Any], list[dict[str, float]], bool]:
    """Train from ``state.start_epoch`` to ``epochs`` (or an early stop): (last metrics, history, stopped early)."""
    cfg, t, is_main = run.config, run.trainee, run.dist.is_main
    scheduler = make_scheduler(t.optimizer, cfg.optim.scheduler, cfg.optim.epochs, state.start_epoch)
    csv_log = CsvLog(run.out / "metrics.csv", cfg.run.resume, state.start_epoch) \
        if (cfg.run.log_csv and is_main) else None
    history: list[dict[str, float]] = []
    metrics: dict[str, Any] = {}
    for epoch in range(state.start_epoch, cfg.optim.epochs):  # 0-based index; users see epoch + 1
        tic, lr = time.perf_counter(), t.optimizer.param_groups[0]["lr"]
        stats, metrics, improved = _epoch_metrics(run, epoch, state)
        if scheduler is not None:
            scheduler.step()
        seconds = time.perf_counter() - tic
        run.bars.end_epoch(seconds)
        val_row = ({f"val_{k}": v for k, v in scalar_metrics(metrics).items() if k != "seconds"} if metrics
                   else dict.fromkeys(val_columns(cfg.data.binary, run.data.config.vocab.num_classes), ""))
        lam = stats.pop("grl_lambda")
        row = {"epoch": epoch + 1, "lr": lr, "grl_lambda": lam, "seconds": seconds,
               **{f"train_{k}": v for k, v in stats.items()}, **val_row}
        history.append(row)
        if is_main:
            if csv_log is not None:
                csv_log.write(row)  # before last.pt: resume drops rows >= its epoch
            _save_epoch(run, epoch, state, metrics, improved, scheduler, data_record)
            print(_epoch_line(cfg, epoch, {"loss": row["train_loss"]}, metrics, seconds, improved), flush=True)
        if _stop_requested(callbacks, epoch, row, run.dist):
            if is_main:
                print(f"stopped by a callback after epoch {epoch + 1}", flush=True)
            return metrics, history, True
        if cfg.optim.patience and state.stale >= cfg.optim.patience:
            if is_main:
                key, _ = best_metric_key(cfg.optim.best_metric, cfg.data.binary)
                print(f"early stop: no better {key} for {cfg.optim.patience} epochs", flush=True)
            return metrics, history, True
    return metrics, history, False


# ------------------------------------------------------------------------------------------ calibration


def calibrate(run: _Run) -> dict[str, Calibration]:
    """Fit the temperature of ``last.pt`` (the model in memory) and ``best.pt`` on the validation split and store
    it in each checkpoint (``ckpt["calibration"]``); without validation ``last.pt`` records ``T = 1``, not fitted.

    Returns ``{file name: Calibration}`` of the checkpoints updated. Main process only (no collective call).
    """
    cfg, t, data = run.config, run.trainee, run.data
    last_path, best_path = run.out / "last.pt", run.out / "best.pt"
    if not last_path.is_file():
        return {}
    if data.val is None:
        found = {"last.pt": Calibration(note="no validation split")}
    else:
        def fitted(model: Any) -> Calibration:
            outputs = predict(model, data.val, device=run.device, precision=t.precision,
                              batch_size=max(cfg.optim.batch, 64), workers=cfg.run.workers)
            return fit_temperature(outputs["logits"], outputs["labels"], binary=cfg.data.binary)

        found = {"last.pt": fitted(t.model)}
        if best_path.is_file() and cfg.run.save_best:
            best = read_checkpoint(best_path)
            if best["epoch"] == read_checkpoint(last_path)["epoch"]:
                found["best.pt"] = found["last.pt"]  # the same weights
            else:
                model = copy.deepcopy(t.model)
                model.load_state_dict(best["model"])
                found["best.pt"] = fitted(model)
    for name, cal in found.items():
        update_checkpoint(run.out / name, {CALIBRATION_KEY: cal.to_dict()})
    return found


def _calibration_line(found: dict[str, Calibration]) -> str:
    if not found:
        return "calibration: no checkpoint to calibrate"
    texts = {name: cal.describe() for name, cal in found.items()}
    if len(set(texts.values())) == 1:
        return f"calibration: {next(iter(texts.values()))}; stored in {' and '.join(texts)}"
    return "calibration: " + "; ".join(f"{name} {text}" for name, text in texts.items())


# ----------------------------------------------------------------------------------------------- fit


def _start_line(run: _Run, threads: str) -> str:
    data, cfg, corpus = run.data, run.data.config, run.data.corpus
    n_train, n_val = len(data.train_ids), len(data.val_ids)
    videos = (f"{n_train} train / {n_val} val videos ({data.split_source}), {len(data.train)} / {len(data.val)} "
              f"samples" if data.val is not None else
              f"{n_train} train videos, no validation split ({data.split_source}: no model selection, last.pt is "
              f"the final model), {len(data.train)} samples")
    return (f"{PROG}: {videos}, layout {corpus.layout.name} (V={corpus.layout.num_nodes}), "
            f"input {cfg.representation()} ({cfg.in_channels} channels, augment {cfg.augment}"
            f"{' + cross-signer proportions' if cfg.cross_signer else ''}"
            f"{' + camera aspect 9:16..16:9' if cfg.aspect_augment else ''}"
            f"{f' + {cfg.hard_negatives:g} hard negatives' if cfg.hard_negatives else ''}), "
            f"{'binary' if run.config.data.binary else f'{cfg.vocab.num_classes} classes'}, signers: "
            f"{_signer_counts(data)}, adversarial head: {'on' if run.trainee.adversarial else 'off'}, "
            f"{run.trainee.model.num_parameters():,} parameters, device {run.device}, {threads}"
            f"{f', {run.dist.world_size} ranks' if run.dist.enabled else ''}")


def _signer_counts(data: PreparedData) -> str:
    """E.g. ``real ids, 3 in train + 1 in val of 4`` (the head learns the training signers only)."""
    cfg, known = data.config, data.corpus.signers
    if cfg.signer_source == "pseudo":
        return f"{cfg.num_signers} pseudo-signers (K-means on the training videos)"
    if not known:
        return "none (no signers.txt or npz signer ids)"

    def count(ids: list[str]) -> int:
        return len({known[v] for v in ids if v in known})
    return f"real ids, {count(data.train_ids)} in train + {count(data.val_ids)} in val of {len(set(known.values()))}"


def _final_line(config: TrainConfig, state: Progress, has_val: bool, out: Path) -> str:
    key, _ = best_metric_key(config.optim.best_metric, config.data.binary)
    if not has_val:
        return f"no validation split: last.pt is the final model; wrote {out}"
    if state.best is None:
        return (f"no epoch had a finite validation {key} (a validation split with one class has no PR-AUC); "
                f"{'best.pt was not written; ' if config.run.save_best else ''}last.pt is the final model; "
                f"wrote {out}")
    when = f"epoch {state.best_metrics['epoch']}" if "epoch" in state.best_metrics else "an epoch before --resume"
    return f"best {key} {state.best:.4f} ({when}); wrote {out}"


def _resolve_epochs(config: TrainConfig, samples: int, dist: DistInfo, *, announce: bool) -> TrainConfig:
    """``config`` with ``--epochs`` raised to reach ``--min-steps`` on ``samples`` training samples (the run's
    ``config.json`` and checkpoints record the epochs trained)."""
    o = config.optim
    epochs = epochs_for(o.epochs, o.min_steps, samples, o.batch, dist.world_size)
    if epochs == o.epochs:
        return config
    if announce:
        per_epoch = steps_per_epoch(samples, o.batch, dist.world_size)
        print(f"{PROG}: --min-steps {o.min_steps}: {samples} training samples are {per_epoch} steps per epoch, so "
              f"{epochs} epochs instead of --epochs {o.epochs}", flush=True)
    return config.updated(epochs=epochs)


def fit(config: TrainConfig, *, callbacks: Sequence[Callback] | None = None) -> TrainResult:
    """Train as ``config`` says (see the module docstring); returns the metrics, checkpoints and history."""
    device = resolve_device(config.run.device)
    dist = init_distributed(device)
    try:
        threads = configure_threads(config.run.threads, config.run.workers)
        if device.type == "cuda" and dist.enabled:
            device = torch.device("cuda", dist.local_rank)
        progress = wants_progress(config.run.quiet, dist.is_main)
        out = Path(config.run.out)
        check_out_dir(out, resume=config.run.resume, overwrite=config.run.overwrite)
        torch.manual_seed(config.run.seed)  # model init and dropout; data order and augmentation have own seeds
        resume_ckpt = read_checkpoint(out / "last.pt") if config.run.resume else None
        data = prepare_data(config, resume_ckpt, progress=progress)
        config = _resolve_epochs(config, len(data.train), dist, announce=dist.is_main)
        trainee = build_model(config, data, device)
        if config.run.init and resume_ckpt is None:
            pretrained = init_from_encoder(trainee.model, data.config, config.run.init)
            if dist.is_main:
                folders = ", ".join(map(str, pretrained.get("folders", []))) or "?"
                print(f"{PROG}: backbone initialized from {config.run.init} (pretrained on "
                      f"{pretrained.get('windows', '?')} windows of {folders})", flush=True)
        state = restore(trainee, resume_ckpt, config)
        net = DistributedDataParallel(trainee.model, device_ids=[device.index] if device.type == "cuda" else None) \
            if dist.enabled else trainee.model
        run = _Run(config, data, trainee, device, dist, out, progress, net, RunProgress(config.optim.epochs,
                                                                                      enabled=progress))
        data_record = {**data.config.to_dict(), "splits": {"train": data.train_ids, "val": data.val_ids},
                       "data_dir": str(config.data.data)}
        if dist.is_main:
            start_run_dir(out, config, trainee.model.config, data_record, data.split_source, dist.world_size)
            print(_start_line(run, threads), flush=True)
        barrier(dist)
        last, history, stopped = run_epochs(run, state, data_record, callbacks or ())
        calibration = calibrate(run) if dist.is_main else {}
        if dist.is_main:
            print(_calibration_line(calibration), flush=True)
        barrier(dist)
        if dist.is_main and config.run.log_csv:
            plot_metrics(out / "metrics.csv", out / "curves.png")
        if dist.is_main:
            print(_final_line(config, state, data.val is not None, out), flush=True)
    finally:
        cleanup_distributed(dist)
    best_path = out / "best.pt"
    return TrainResult(out=out, best_metrics=state.best_metrics, last_metrics=scalar_metrics(last) if last else {},
                       last_checkpoint=out / "last.pt",
                       best_checkpoint=best_path if config.run.save_best and best_path.is_file() else None,
                       history=history, stopped_early=stopped, calibration=calibration)


