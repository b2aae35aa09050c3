"""Mixup of skeleton sequences (Zhang et al. 2018): train on convex combinations of two samples.

With few clips per class a network memorizes them; mixup asks it instead to be linear between training
samples, which keeps it from placing sharp boundaries around each clip. A batch is paired with a shuffled
copy of itself; both the inputs and the losses are mixed with one ``lam ~ Beta(alpha, alpha)`` per batch:

    x = lam * x_i + (1 - lam) * x_j                     # (N, C, T, V), frame by frame, joint by joint
    mask = mask_i | mask_j                              # a joint seen in either clip is present
    loss = lam * loss(out, y_i) + (1 - lam) * loss(out, y_j)

Missing joints are 0 in ``x``, so a joint seen in one clip only keeps ``lam`` (or ``1 - lam``) of its value.
Clips are resampled to one window length (``--sample-mode video``) or cut to it, so frames align by index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["MixedBatch", "mix_batch"]


@dataclass(frozen=True)
class MixedBatch:
    """A mixed batch: ``batch`` with mixed ``x``/``mask``/``stats``, the pair order and the weight of the first."""

    batch: dict[str, torch.Tensor]
    perm: torch.Tensor  # (N,) int64: sample i was mixed with sample perm[i]
    lam: float  # weight of the original samples, in [0, 1]

    def mix_loss(self, loss_fn, labels: torch.Tensor) -> torch.Tensor:
        """``lam * loss_fn(labels) + (1 - lam) * loss_fn(labels[perm])``."""
        return self.lam * loss_fn(labels) + (1.0 - self.lam) * loss_fn(labels[self.perm])

    def majority_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Each mixed sample's label by its larger share (for losses that take hard labels, e.g. SupCon)."""
        return labels if self.lam >= 0.5 else labels[self.perm]


def mix_batch(batch: dict[str, torch.Tensor], alpha: float, rng: np.random.Generator) -> MixedBatch:
    """Mix ``batch`` (``x (N, C, T, V)``, ``mask (N, T, V)``, ``stats (N, S)``) with a shuffled copy of itself.

    ``alpha > 0``: the Beta parameter (0.2 keeps most mixes close to one clip). ``rng`` draws ``lam`` and the
    pairing, so a seeded run is reproducible.
    """
    if not alpha > 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    n = batch["x"].shape[0]
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(n)).to(batch["x"].device)
    mixed = dict(batch)
    mixed["x"] = lam * batch["x"] + (1.0 - lam) * batch["x"][perm]  # (N, C, T, V)
    mixed["mask"] = batch["mask"] | batch["mask"][perm]  # (N, T, V)
    mixed["stats"] = lam * batch["stats"] + (1.0 - lam) * batch["stats"][perm]  # (N, S)
    return MixedBatch(mixed, perm, lam)
