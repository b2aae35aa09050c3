"""Bias-aware multi-head temporal attention with channel gates conditioned on the signer embedding.

Each of ``H`` heads owns ``D / H`` channels. A head scores every frame with a query; the softmax over the
window's valid frames gives its weights ``(N, H, T)`` (zero on frames without any joint, rows of zeros for
a window without any valid frame). The head's channels are re-weighted per frame by ``weight * T_valid``
(uniform attention = scale 1) and per channel by a gate in ``(0, 2)``; an output projection is added back
residually, so the output keeps the input's shape ``(N, T, D)``.

``conditioned=True`` ("signer"): query = learned query + linear(signer embedding), gates =
2 * sigmoid(linear(signer embedding)), so the output changes with the embedding.
``conditioned=False`` ("plain", the ``--no-signer-attention`` ablation): learned query and gates only;
the signer embedding is ignored.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SignerConditionedAttention(nn.Module):
    """``x (N, T, D)``, ``frame_valid (N, T)`` bool, ``signer (N, E)`` -> ``(y (N, T, D), weights (N, H, T))``."""

    def __init__(self, dim: int, heads: int = 4, signer_dim: int = 64, conditioned: bool = True) -> None:
        super().__init__()
        if heads < 1 or dim % heads != 0:
            raise ValueError(f"heads: expected a divisor of dim={dim}, got {heads}")
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.conditioned = conditioned
        self.key = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.randn(heads, self.head_dim) / math.sqrt(self.head_dim))
        if conditioned:
            self.signer_query = nn.Linear(signer_dim, dim)
            self.signer_gate = nn.Linear(signer_dim, dim)
            self.gate_logit = None
        else:
            self.signer_query = None
            self.signer_gate = None
            self.gate_logit = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, frame_valid: Tensor, signer: Tensor | None = None) -> tuple[Tensor, Tensor]:
        N, T, D = x.shape
        H, Dh = self.heads, self.head_dim
        k = self.key(x).view(N, T, H, Dh)  # (N, T, H, Dh)
        q = self.query.unsqueeze(0).expand(N, H, Dh)  # (N, H, Dh)
        if self.signer_query is not None and self.signer_gate is not None:
            if signer is None:
                raise ValueError("signer: a (N, E) signer embedding is required by signer-conditioned attention")
            q = q + self.signer_query(signer).view(N, H, Dh)  # (N, H, Dh)
            gate = 2.0 * torch.sigmoid(self.signer_gate(signer))  # (N, D)
        else:
            assert self.gate_logit is not None
            gate = (2.0 * torch.sigmoid(self.gate_logit)).expand(N, D)  # (N, D)
        scores = torch.einsum("nthd,nhd->nht", k, q).float() / math.sqrt(Dh)  # (N, H, T)
        valid = frame_valid.unsqueeze(1)  # (N, 1, T)
        # A finite fill (not -inf) keeps an all-invalid row finite; it is zeroed right after.
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1) * valid  # (N, H, T)
        n_valid = valid.sum(dim=-1, keepdim=True)  # (N, 1, 1)
        scale = (weights * n_valid).transpose(1, 2).unsqueeze(-1)  # (N, T, H, 1)
        v = x.view(N, T, H, Dh) * gate.view(N, 1, H, Dh)  # (N, T, H, Dh)
        v = (v * scale.to(v.dtype)).reshape(N, T, D)  # (N, T, D)
        y = (x + self.proj(v)) * frame_valid.unsqueeze(-1).to(x.dtype)  # (N, T, D)
        return y, weights
