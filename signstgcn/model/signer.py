"""Signer encoder: a small MLP from per-window signer statistics ``(N, S)`` to ``(N, signer_emb_dim)``."""

from __future__ import annotations

from torch import Tensor, nn


class SignerEncoder(nn.Module):
    """``stats (N, S)`` -> ``(N, emb_dim)``.

    Linear -> LayerNorm -> ReLU -> Linear. The LayerNorm keeps the hidden activations on one scale
    whatever the raw statistics' units (they mix pixel fractions and ratios), and, unlike BatchNorm,
    works with a batch of one in training mode.
    """

    def __init__(self, stats_dim: int, emb_dim: int = 64, hidden_dim: int = 128) -> None:
        super().__init__()
        self.stats_dim = stats_dim
        self.emb_dim = emb_dim
        self.net = nn.Sequential(
            nn.Linear(stats_dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, emb_dim),
        )

    def forward(self, stats: Tensor) -> Tensor:
        return self.net(stats)  # (N, emb_dim)
