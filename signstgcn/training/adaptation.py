"""Test-time adaptation to a new signer without labels: AdaBN (Li et al., 2016).

A model's BatchNorm statistics describe the people it was trained on: where their hands usually are, how
far they move, how big they are in the normalized frame. AdaBN re-estimates those statistics on a new
person's unlabeled recordings, so the network sees that person's inputs centred and scaled the way it saw
its training signers'. No weight is trained and no label is read.

``layers="all"`` re-estimates every BatchNorm (classic AdaBN); ``"input"`` only the input BatchNorm of the
backbone (per joint and coordinate: the person's typical pose).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from signstgcn.data.layout import Layout
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.signers import signer_statistics
from signstgcn.data.transforms import default_eval_transforms
from signstgcn.data.windows import WindowDataset, WindowIndex, window_starts
from signstgcn.errors import DataError

__all__ = ["ADAPT_LAYERS", "adapt_batchnorm", "adapted_copy", "unlabeled_windows"]

ADAPT_LAYERS = ("all", "input")


def unlabeled_windows(videos: Mapping[str, np.ndarray], config: DataConfig, layout: Layout) -> WindowDataset:
    """Every window of ``videos`` (raw ``(T, V, C)``) as the checkpoint's pipeline makes them, without labels.

    ``sample_mode="video"``: one sample per video; else windows every ``stride`` frames. Labels are 0 and
    signers -1 (never read).
    """
    ids = list(videos)
    if not ids:
        raise DataError("no videos to adapt to")
    win = config.window
    starts = [np.zeros(1, dtype=np.int64) if win.sample_mode == "video"
              else window_starts(videos[v].shape[0], win.length, win.stride) for v in ids]
    index = WindowIndex(np.concatenate([np.full(len(s), k, dtype=np.int32) for k, s in enumerate(starts)]),
                        np.concatenate(starts).astype(np.int32), np.zeros(sum(len(s) for s in starts), np.int64))
    return WindowDataset([videos[v] for v in ids], ids, index, win, layout,
                         transform=default_eval_transforms(layout, **config.normalize_options()),
                         signer_stats=signer_statistics, signer_ids=np.full(len(ids), -1, dtype=np.int64))


def _batchnorms(model: nn.Module, layers: str) -> list[nn.modules.batchnorm._BatchNorm]:
    if layers not in ADAPT_LAYERS:
        raise ValueError(f"Invalid adaptation layers {layers!r}. Only {', '.join(ADAPT_LAYERS)} are supported")
    if layers == "input":
        backbone = getattr(model, "backbone", None)
        bn = getattr(backbone, "data_bn", None)
        return [bn] if isinstance(bn, nn.modules.batchnorm._BatchNorm) else []
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, dataset: Dataset, *, layers: str = "all", device: torch.device | str = "cpu",
                    batch_size: int = 256, indices: Sequence[int] | None = None) -> int:
    """Re-estimate ``model``'s BatchNorm statistics (``layers``) on ``dataset`` in place; returns the windows used.

    Each chosen BatchNorm's running mean and variance become the average over the data's batches (momentum
    None); every other module stays in eval mode, so nothing else changes. The model is left in eval mode.
    """
    subset = dataset if indices is None else Subset(dataset, [int(i) for i in indices])
    count = len(subset)  # type: ignore[arg-type]
    if count == 0:
        raise DataError("no window to adapt to (every video is shorter than nothing?)")
    norms = _batchnorms(model, layers)
    model.eval()
    saved = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
        bn.train()
    device = torch.device(device)
    try:
        for batch in DataLoader(subset, batch_size=batch_size, shuffle=False):
            x = batch["x"].to(device)  # (N, C, T, V)
            if x.shape[0] < 2:  # a BatchNorm in training mode needs two samples: repeat the one
                x, mask, stats = x.repeat(2, 1, 1, 1), batch["mask"].repeat(2, 1, 1), batch["stats"].repeat(2, 1)
            else:
                mask, stats = batch["mask"], batch["stats"]
            model(x, mask.to(device), stats.to(device))
    finally:
        for bn, momentum in zip(norms, saved):
            bn.momentum = momentum
        model.eval()
    return count


def adapted_copy(model: nn.Module, dataset: Dataset, indices: Sequence[int] | None = None, *, layers: str = "all",
                 device: torch.device | str = "cpu", batch_size: int = 256) -> nn.Module:
    """A deep copy of ``model`` adapted to ``dataset`` (or its ``indices``); ``model`` is untouched."""
    clone = copy.deepcopy(model)
    adapt_batchnorm(clone, dataset, layers=layers, device=device, batch_size=batch_size, indices=indices)
    return clone
