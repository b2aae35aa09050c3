"""Training and evaluation loops (torchvision-references shape: ``train_one_epoch``, ``evaluate``).

Metrics are computed once over the whole split from gathered outputs, never averaged per batch; under
DDP each rank scores a disjoint shard and the outputs are gathered before the metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset, WeightedRandomSampler
from tqdm.auto import tqdm

from signstgcn.metrics import compute_metrics, scalar_metrics
from signstgcn.model.heads import dann_lambda
from signstgcn.progress import RunProgress
from signstgcn.training.distributed import DistInfo, all_reduce_sum, gather_objects
from signstgcn.training.losses import SupConLoss, classification_loss, signer_adversarial_loss
from signstgcn.training.mixup import MixedBatch, mix_batch

BEST_METRICS = ("acc", "loss", "pr_auc", "f1")


@dataclass(frozen=True)
class LossSetup:
    """Which losses train the model and how they are weighted (DESIGN §4)."""

    binary: bool
    pos_weight: float | None = None
    label_smoothing: float = 0.0
    signer_weight: float = 0.0
    supcon_weight: float = 0.0
    supcon_temp: float = 0.07
    mixup: float = 0.0  # Beta alpha of mixup (training only); 0 = off


@dataclass(frozen=True)
class Precision:
    """Autocast settings: ``dtype`` None = full fp32."""

    device_type: str
    dtype: torch.dtype | None = None

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def resolve_precision(amp: bool, device: torch.device) -> Precision:
    """``--amp``: bf16 autocast on CPU and on CUDA GPUs that support it, fp16 on older GPUs."""
    if not amp:
        return Precision(device.type)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return Precision("cuda", torch.float16)
    return Precision(device.type, torch.bfloat16)


def grl_lambda(base: float, schedule: str, progress: float) -> float:
    """GRL strength: constant ``base``, or the DANN ramp (:func:`~signstgcn.model.heads.dann_lambda`) to it."""
    if schedule == "constant":
        return base
    if schedule == "dann":
        return dann_lambda(progress, base)
    raise ValueError(f"Invalid GRL schedule {schedule!r}. Only constant, dann are supported")


def best_metric_key(name: str, binary: bool) -> tuple[str, bool]:
    """``--best-metric`` → (metrics key, higher is better)."""
    if name not in BEST_METRICS:
        raise ValueError(f"Invalid --best-metric {name!r}. Only {', '.join(BEST_METRICS)} are supported")
    if name == "loss":
        return "loss", False
    if name == "pr_auc":
        if not binary:
            raise ValueError("--best-metric pr_auc needs --binary (multi-class models have no PR-AUC)")
        return "pr_auc", True
    if name == "f1":
        return ("f1" if binary else "macro_f1"), True
    return ("accuracy" if binary else "top1"), True


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _losses(out, batch: dict[str, torch.Tensor], setup: LossSetup, supcon: SupConLoss | None,
            mixed: MixedBatch | None = None):
    """(total, classification, signer or None, SupCon or None); with ``mixed`` each label loss is mixed."""
    pos_weight = None if setup.pos_weight is None else torch.tensor(setup.pos_weight, device=out.logits.device)

    def cls_loss(labels: torch.Tensor) -> torch.Tensor:
        return classification_loss(out.logits.float(), labels, binary=setup.binary, pos_weight=pos_weight,
                                   label_smoothing=setup.label_smoothing)

    def signer_loss(signers: torch.Tensor) -> torch.Tensor:
        return signer_adversarial_loss(out.signer_logits.float(), signers)

    labels = batch["label"]
    cls = cls_loss(labels) if mixed is None else mixed.mix_loss(cls_loss, labels)
    total = cls
    signer = supcon_loss = None
    if out.signer_logits is not None and setup.signer_weight > 0:
        signer = signer_loss(batch["signer"]) if mixed is None else mixed.mix_loss(signer_loss, batch["signer"])
        total = total + setup.signer_weight * signer
    if supcon is not None and out.projection is not None and setup.supcon_weight > 0:
        supcon_loss = supcon(out.projection.float(), labels if mixed is None else mixed.majority_labels(labels))
        total = total + setup.supcon_weight * supcon_loss
    return total, cls, signer, supcon_loss


def _correct(logits: torch.Tensor, labels: torch.Tensor, binary: bool) -> torch.Tensor:
    pred = (logits.reshape(-1) > 0).long() if binary else logits.argmax(dim=1)
    return (pred == labels).sum()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    setup: LossSetup,
    *,
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    lambda_grl: float,
    dist: DistInfo,
    epoch: int,
    progress: RunProgress | None = None,
    clip_grad: float | None = 5.0,
    seed: int = 0,
) -> dict[str, float]:
    """One pass over ``loader`` (0-based ``epoch``); returns the epoch's mean losses (by part) and training
    accuracy (of the unmixed labels under mixup). ``progress`` shows the epoch's bar (windows/s, loss, run ETA).
    ``seed`` with ``epoch`` and the rank seeds the mixup draws (``setup.mixup > 0``)."""
    model.train()
    supcon = SupConLoss(setup.supcon_temp) if setup.supcon_weight > 0 else None
    mix_rng = np.random.default_rng([seed, epoch, dist.rank]) if setup.mixup > 0 else None
    sums = torch.zeros(6, dtype=torch.float64)  # total, cls, signer, supcon, correct, samples
    if progress is not None:
        progress.start_epoch(epoch, min(len(loader) * (loader.batch_size or 1), len(loader.sampler)))
    for batch in loader:
        batch = _to(batch, device)
        mixed = mix_batch(batch, setup.mixup, mix_rng) if mix_rng is not None else None
        inputs = batch if mixed is None else mixed.batch
        with precision.autocast():
            out = model(inputs["x"], inputs["mask"], inputs["stats"], grl_lambda=lambda_grl)
        total, cls, signer, sc = _losses(out, batch, setup, supcon, mixed)
        if not torch.isfinite(total):
            raise FloatingPointError(f"epoch {epoch}: training loss became {total.item()}; lower --lr or drop --amp")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        if clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        n = batch["label"].shape[0]
        sums += torch.tensor([
            total.item() * n, cls.item() * n, 0.0 if signer is None else signer.item() * n,
            0.0 if sc is None else sc.item() * n, _correct(out.logits.float(), batch["label"], setup.binary).item(), n,
        ], dtype=torch.float64)
        if progress is not None:
            progress.update(n, sums[0].item() / max(sums[5].item(), 1))
    sums = all_reduce_sum(sums.to(device), dist).cpu()
    count = max(sums[5].item(), 1.0)
    return {
        "loss": sums[0].item() / count,
        "cls_loss": sums[1].item() / count,
        "signer_loss": sums[2].item() / count,
        "supcon_loss": sums[3].item() / count,
        "acc": sums[4].item() / count,
    }


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    precision: Precision,
    batch_size: int = 64,
    workers: int = 0,
    dist: DistInfo | None = None,
    progress: bool = False,
    desc: str = "predict",
) -> dict[str, np.ndarray]:
    """Model outputs for every sample of ``dataset`` in order (sharded across ranks, then gathered).

    Returns arrays ``logits (N, K)``, ``embeddings (N, E)``, ``signer_embeddings (N, D_s)`` (empty
    without a signer encoder), ``labels``, ``signers`` (head targets), ``videos``, ``starts`` (all (N,)).
    """
    dist = dist or DistInfo()
    model.eval()
    indices = np.arange(len(dataset))[dist.rank::dist.world_size]
    loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=batch_size, shuffle=False,
                        num_workers=workers)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("logits", "embeddings", "signer_embeddings", "labels", "signers",
                                           "videos", "starts")}
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False):
        batch = _to(batch, device)
        with precision.autocast():
            out = model(batch["x"], batch["mask"], batch["stats"])
        parts["logits"].append(out.logits.float().cpu().numpy())
        parts["embeddings"].append(out.embedding.float().cpu().numpy())
        if out.signer_embedding is not None:  # None without a signer encoder (plain / no attention)
            parts["signer_embeddings"].append(out.signer_embedding.float().cpu().numpy())
        for key, src in (("labels", "label"), ("signers", "signer"), ("videos", "video"), ("starts", "start")):
            parts[key].append(batch[src].cpu().numpy())
    local = {k: (np.concatenate(v) if v else np.zeros((0,))) for k, v in parts.items()}
    local["index"] = indices
    shards = gather_objects(local, dist)
    order = np.argsort(np.concatenate([s["index"] for s in shards]), kind="stable")
    merged = {}
    for key in local:
        if key == "index":
            continue
        pieces = [s[key] for s in shards if len(s[key])]
        merged[key] = np.concatenate(pieces)[order] if pieces and len(pieces[0]) else local[key]
    return merged


def split_loss(outputs: dict[str, np.ndarray], setup: LossSetup) -> float:
    """Mean classification loss over the whole split (no augmentation, no adversary)."""
    if len(outputs["labels"]) == 0:
        return float("nan")
    logits = torch.from_numpy(outputs["logits"])
    labels = torch.from_numpy(outputs["labels"])
    pos_weight = None if setup.pos_weight is None else torch.tensor(setup.pos_weight)
    return float(classification_loss(logits, labels, binary=setup.binary, pos_weight=pos_weight,
                                     label_smoothing=setup.label_smoothing))


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    setup: LossSetup,
    *,
    device: torch.device,
    precision: Precision,
    video_signers: Sequence[str] | None = None,
    batch_size: int = 64,
    workers: int = 0,
    dist: DistInfo | None = None,
    progress: bool = False,
    probe: bool = True,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Every metric of DESIGN §4 over ``dataset`` plus its loss; also returns the raw outputs.

    ``video_signers[v]`` names the signer of video ``v`` for the per-signer metrics and the probe.
    """
    start = time.perf_counter()
    outputs = predict(model, dataset, device=device, precision=precision, batch_size=batch_size,
                      workers=workers, dist=dist, progress=progress, desc="evaluate")
    metric_inputs = {"logits": outputs["logits"], "labels": outputs["labels"], "groups": outputs["videos"]}
    if video_signers is not None:
        names = np.asarray(list(video_signers), dtype=object)
        metric_inputs["signers"] = names[outputs["videos"]] if len(outputs["videos"]) else names[:0]
        metric_inputs["embeddings"] = outputs["embeddings"]
    metrics = compute_metrics(metric_inputs, binary=setup.binary, probe=probe)
    metrics["loss"] = split_loss(outputs, setup)
    metrics["seconds"] = time.perf_counter() - start
    return metrics, outputs


def make_loader(ds: Dataset, *, batch: int, seed: int, epoch: int, dist: DistInfo, labels: np.ndarray,
                weighted: bool = False, workers: int = 0) -> DataLoader:
    """The training loader of ``epoch``: shuffled (seeded by ``seed`` and the epoch), class-balanced with
    ``weighted``, or this rank's shard under DDP; the last partial batch is dropped when a rank has more."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if dist.enabled:
        sampler = DistributedSampler(ds, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
    elif weighted:
        classes, counts = np.unique(labels, return_counts=True)
        freq = dict(zip(classes.tolist(), counts.tolist()))
        weights = torch.tensor([1.0 / freq[int(y)] for y in labels], dtype=torch.double)
        sampler = WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=g)
    else:
        sampler = RandomSampler(ds, generator=g)
    per_rank = math.ceil(len(ds) / dist.world_size)
    return DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers,
                      drop_last=per_rank > batch, persistent_workers=False,
                      generator=g if workers else None)


def val_columns(binary: bool, num_classes: int) -> list[str]:
    """The ``metrics.csv`` val columns of a run with validation (a run without keeps them, empty)."""
    k = 1 if binary else num_classes
    dummy = compute_metrics({"logits": np.zeros((1, k)), "labels": np.zeros(1, dtype=np.int64)}, binary=binary,
                            probe=False)  # one sample: only the keys are used
    return [f"val_{key}" for key in (*scalar_metrics(dummy), "loss")]
