"""How the backbone's per-joint features become one feature vector per frame (``joint_pool``).

- ``mean``: the mean over the joints present in the frame (ST-GCN's global pooling). Which joint carried a
  feature is lost: a hand shape and an elbow angle land in the same average.
- ``flat``: the features of every joint side by side, ``(V * D)``, through one ``Linear(V * D, D)`` and ReLU.
  Each joint keeps its identity (where the thumb is, not only that some joint is there), as in the linear
  models and MLPs that do well on isolated signs from few clips; absent joints are zero, as in the blocks.

Both pool each frame on its own, so the frame-by-frame streaming backbones
(:mod:`signstgcn.model.incremental`) call the same module with the joints on another axis.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["JOINT_POOLS", "JOINT_POOL_CHOICES", "JointPool", "resolve_joint_pool"]

JOINT_POOLS = ("mean", "flat")
JOINT_POOL_CHOICES = ("auto", *JOINT_POOLS)  # what the training flags accept


def resolve_joint_pool(kind: str, num_classes: int) -> str:
    """``auto`` (the training default) -> ``flat`` for a multi-class model, ``mean`` for a binary detector (one
    logit); ``mean`` and ``flat`` stay. Flat wins on every real multi-class set and ties on detection, where the
    mean keeps the smaller, measured default (docs/results.md)."""
    if kind == "auto":
        return "flat" if num_classes > 1 else "mean"
    return kind


class JointPool(nn.Module):
    """``x (..., V, ..., D)`` with the joints on axis ``dim``, ``mv (..., V, ..., 1)`` (1.0 = present) ->
    ``(..., D)`` with that axis removed; a frame without any joint gives zeros."""

    def __init__(self, kind: str, num_nodes: int, channels: int) -> None:
        super().__init__()
        if kind not in JOINT_POOLS:
            raise ValueError(f"Invalid joint_pool {kind!r}. Only {', '.join(JOINT_POOLS)} are supported")
        self.kind = kind
        self.proj = nn.Linear(num_nodes * channels, channels) if kind == "flat" else None

    def forward(self, x: Tensor, mv: Tensor, dim: int = 0) -> Tensor:
        count = mv.sum(dim=dim)  # (..., 1) joints present per frame
        if self.proj is None:
            return x.sum(dim=dim) / count.clamp(min=1.0).to(x.dtype)  # (..., D)
        h = x.movedim(dim, -2).flatten(-2)  # (..., V * D), joint-major
        return F.relu(self.proj(h.to(self.proj.weight.dtype))).to(x.dtype) * (count > 0).to(x.dtype)  # (..., D)
