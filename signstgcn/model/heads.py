"""Heads on the window embedding: classifier, adversarial signer head (gradient reversal), SupCon projection."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``-lambd`` (Ganin & Lempitsky, DANN)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambd: float) -> Tensor:
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        return grad_output * (-ctx.lambd), None


def grad_reverse(x: Tensor, lambd: float) -> Tensor:
    """Gradient reversal layer: ``x`` forward, ``-lambd * grad`` backward."""
    return GradientReversal.apply(x, lambd)


def dann_lambda(progress: float, max_lambda: float = 1.0, gamma: float = 10.0) -> float:
    """DANN schedule ``max_lambda * (2 / (1 + exp(-gamma * p)) - 1)`` for training progress ``p`` in [0, 1]."""
    p = min(max(float(progress), 0.0), 1.0)
    return max_lambda * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


class ClassifierHead(nn.Module):
    """``(N, E)`` -> ``(N, num_classes)`` logits (one logit in binary mode): dropout + linear."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(x))  # (N, num_classes)


class SignerHead(nn.Module):
    """Adversary: ``(N, E)`` -> ``(N, num_signers)`` behind a gradient reversal layer.

    ``forward(x, lambd)`` reverses the gradient with strength ``lambd``; ``self.net`` is the plain MLP.
    """

    def __init__(self, in_dim: int, num_signers: int, hidden_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_signers),
        )

    def forward(self, x: Tensor, lambd: float) -> Tensor:
        return self.net(grad_reverse(x, lambd))  # (N, num_signers)


class ProjectionHead(nn.Module):
    """SupCon projection: ``(N, E)`` -> L2-normalized ``(N, out_dim)`` (linear -> ReLU -> linear)."""

    def __init__(self, in_dim: int, out_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.net(x), dim=-1)  # (N, out_dim)
