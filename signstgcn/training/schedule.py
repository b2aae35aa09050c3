"""The learning-rate schedule: a closed form of the epoch and the run's length, so ``--resume`` with more epochs
follows the longer schedule from where it is."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("signstgcn.train")


def lr_factor(kind: str, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch`` of ``epochs`` over the base rate: ``cosine`` decay to 0 (the closed
    form of ``CosineAnnealingLR``), ``step`` (x0.1 every third of the run) or ``none``."""
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    if kind == "step":
        return 0.1 ** (epoch // max(1, epochs // 3))
    return 1.0


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, epochs: int, start_epoch: int = 0):
    """A per-epoch schedule computed from the epoch and ``--epochs`` alone, starting at 0-based ``start_epoch``
    (sets the optimizer's learning rate for it), so a resumed run with a larger ``--epochs`` follows the longer
    schedule from where it is instead of one planned for the old length."""
    if kind == "none":
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(kind, e, epochs),
                                             last_epoch=start_epoch - 1)


def check_resume_epochs(ckpt: dict[str, Any], epochs: int, scheduler: str, lr: float, completed: int,
                        out: Path) -> None:
    """Refuse to resume a finished run without more epochs; warn when ``--epochs`` changes the schedule."""
    stored = (ckpt.get("args") or {}).get("epochs")
    if completed >= epochs:
        raise ValueError(f"--resume: {out / 'last.pt'} has already trained {completed} epochs and --epochs is "
                         f"{epochs}; pass a larger --epochs to train more")
    if isinstance(stored, int) and stored != epochs and scheduler != "none":
        old = lr * lr_factor(scheduler, completed, stored)
        new = lr * lr_factor(scheduler, completed, epochs)
        log.warning("--epochs %d differs from the resumed run's %d: the %s learning-rate schedule now spans %d "
                    "epochs, so epoch %d trains at lr %.3g instead of %.3g", epochs, stored, scheduler,
                    epochs, completed + 1, new, old)


def steps_per_epoch(samples: int, batch: int, world_size: int = 1) -> int:
    """Optimizer steps of one epoch of ``samples`` training samples (:func:`~signstgcn.training.loop.make_loader`:
    each rank takes its share, the last partial batch is dropped when a rank has more than one batch)."""
    per_rank = math.ceil(samples / max(world_size, 1))
    return max(per_rank // batch if per_rank > batch else 1, 1)


def epochs_for(epochs: int, min_steps: int, samples: int, batch: int, world_size: int = 1) -> int:
    """``--epochs``, raised so that training takes at least ``--min-steps`` optimizer steps (0 = no minimum).

    Small data sets give few steps per epoch: 252 clips in batches of 32 are 7 steps, so 50 epochs are 350
    updates, too few to fit a network from scratch; the same 50 epochs of a large set are thousands.
    """
    if min_steps <= 0:
        return epochs
    return max(epochs, math.ceil(min_steps / steps_per_epoch(samples, batch, world_size)))
