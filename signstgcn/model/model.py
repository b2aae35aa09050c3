"""``SignSTGCNModel``: ST-GCN backbone -> signer-conditioned attention -> BiGRU -> heads (DESIGN §3).

``config.backbone="linear"`` swaps the ST-GCN for :class:`~signstgcn.model.linear.LinearBackbone` (a per-frame
linear projection, no graph: the GRU floor); everything after the backbone is the same.

    x (N, C, T, V), mask (N, T, V) --streams--> (N, C', T, V) --backbone--> (N, T, D)
    (N, T, D) --attention(signer emb)--> (N, T, D)
    stats (N, S) --signer encoder--> signer_embedding (N, 64) ----^
    (N, T, D) --BiGRU + masked mean--> embedding (N, E) --> logits, signer_logits (via GRL), projection
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from signstgcn.data.layout import spatial_partition
from signstgcn.model.attention import SignerConditionedAttention
from signstgcn.model.config import ModelConfig
from signstgcn.model.features import InputStreams
from signstgcn.model.heads import ClassifierHead, ProjectionHead, SignerHead
from signstgcn.model.linear import LinearBackbone
from signstgcn.model.signer import SignerEncoder
from signstgcn.model.stgcn import STGCNBackbone
from signstgcn.model.temporal import BiGRUAggregator, MaskedMeanPool


class Features(NamedTuple):
    """What :meth:`SignSTGCNModel.forward_features` returns (everything before the heads)."""

    embedding: Tensor  # (N, E)
    signer_embedding: Tensor | None  # (N, signer_emb_dim); None when config.signer_encoder is False
    attention: Tensor | None  # (N, H, T); None when config.attention == "none"


class ModelOutput(NamedTuple):
    """What :meth:`SignSTGCNModel.forward` returns."""

    logits: Tensor  # (N, num_classes); num_classes == 1 in binary mode
    embedding: Tensor  # (N, E)
    signer_logits: Tensor | None  # (N, num_signers); None when config.num_signers == 0
    signer_embedding: Tensor | None  # (N, signer_emb_dim); None when config.signer_encoder is False
    attention: Tensor | None  # (N, H, T); None when config.attention == "none"
    projection: Tensor | None  # (N, supcon_dim), L2-normalized; None when config.supcon_dim == 0


class SignSTGCNModel(nn.Module):
    """Signer-bias-aware ST-GCN. Build with ``SignSTGCNModel(ModelConfig(...))``.

    ``data_settings`` holds the checkpoint's ``data`` dict (parts, coords, window, label and signer
    vocabularies, ...) when the model comes from :func:`signstgcn.training.checkpoint.load_model`, else None.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
        self.config = config
        self.data_settings: dict[str, Any] | None = None
        layout = config.layout.build()
        A = torch.from_numpy(spatial_partition(layout))  # (K, V, V)
        self.num_nodes = A.shape[-1]
        self.streams = InputStreams(layout, config.input_streams)
        self.backbone: STGCNBackbone | LinearBackbone = (
            STGCNBackbone(
                config.backbone_in_channels,
                A,
                channels=config.stgcn_channels,
                kernel_size=config.stgcn_kernel,
                dilations=config.stgcn_dilations,
                edge_importance=config.edge_importance,
                joint_pool=config.joint_pool,
            )
            if config.backbone == "stgcn"
            else LinearBackbone(config.backbone_in_channels, self.num_nodes, config.stgcn_channels[-1], config.dropout)
        )
        D = self.backbone.out_channels
        self.signer_encoder = (
            SignerEncoder(config.signer_stats_dim, config.signer_emb_dim, config.signer_hidden)
            if config.signer_encoder
            else None
        )
        self.attention = (
            None
            if config.attention == "none"
            else SignerConditionedAttention(
                D, config.attn_heads, config.signer_emb_dim, conditioned=config.attention == "signer"
            )
        )
        self.temporal: nn.Module = (
            BiGRUAggregator(D, config.temporal_hidden) if config.temporal == "bigru" else MaskedMeanPool(D)
        )
        E = config.embedding_dim
        self.classifier = ClassifierHead(E, config.num_classes, config.dropout)
        self.signer_head = (
            SignerHead(E, config.num_signers, config.signer_head_hidden, config.dropout)
            if config.num_signers > 0
            else None
        )
        self.projection = ProjectionHead(E, config.supcon_dim) if config.supcon_dim > 0 else None

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    def _check_inputs(self, x: Tensor, mask: Tensor | None, stats: Tensor | None) -> None:
        C, V, S = self.config.in_channels, self.num_nodes, self.config.signer_stats_dim
        if x.dim() != 4 or x.shape[1] != C or x.shape[3] != V or x.shape[0] < 1 or x.shape[2] < 1:
            raise ValueError(f"x: expected (N, C, T, V) with C={C}, V={V}, got {tuple(x.shape)}")
        N, _, T, _ = x.shape
        if mask is not None and (mask.shape != (N, T, V) or mask.dtype != torch.bool):
            raise ValueError(
                f"mask: expected a bool (N, T, V) = {(N, T, V)} tensor, got {mask.dtype} {tuple(mask.shape)}"
            )
        if stats is not None and stats.shape != (N, S):
            raise ValueError(f"stats: expected (N, S) = {(N, S)}, got {tuple(stats.shape)}")

    def forward_features(self, x: Tensor, mask: Tensor | None = None, stats: Tensor | None = None) -> Features:
        """Window embedding, signer embedding and attention weights; no heads."""
        self._check_inputs(x, mask, stats)
        N, _, T, V = x.shape
        if mask is None:
            mask = torch.ones(N, T, V, dtype=torch.bool, device=x.device)
        feats = self.backbone(self.streams(x, mask), mask)  # (N, T, D); streams: (N, C * streams, T, V)
        return self.aggregate(feats, mask.any(dim=-1), stats)

    def aggregate(self, feats: Tensor, frame_valid: Tensor, stats: Tensor | None = None) -> Features:
        """Everything after the backbone: ``feats (N, T, D)`` per-frame backbone features, ``frame_valid
        (N, T)`` bool (a frame with any joint), ``stats (N, S)`` -> :class:`Features` (streaming entry point)."""
        N = feats.shape[0]
        signer_emb = None
        if self.signer_encoder is not None:
            if stats is None:
                stats = feats.new_zeros(N, self.config.signer_stats_dim)
            signer_emb = self.signer_encoder(stats.to(feats.dtype))  # (N, signer_emb_dim)
        weights = None
        if self.attention is not None:
            feats, weights = self.attention(feats, frame_valid, signer_emb)  # (N, T, D), (N, H, T)
        embedding = self.temporal(feats, frame_valid)  # (N, E)
        return Features(embedding, signer_emb, weights)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        stats: Tensor | None = None,
        grl_lambda: float | None = None,
    ) -> ModelOutput:
        """``x (N, C, T, V)``, ``mask (N, T, V)`` bool (None = all present), ``stats (N, S)`` (None = zeros).

        ``grl_lambda`` overrides ``config.lambda_grl`` for this call (DANN schedules, see
        :func:`signstgcn.model.heads.dann_lambda`).
        """
        f = self.forward_features(x, mask, stats)
        logits = self.classifier(f.embedding)  # (N, num_classes)
        signer_logits = None
        if self.signer_head is not None:
            lambd = self.config.lambda_grl if grl_lambda is None else grl_lambda
            signer_logits = self.signer_head(f.embedding, lambd)  # (N, num_signers)
        projection = self.projection(f.embedding) if self.projection is not None else None
        return ModelOutput(logits, f.embedding, signer_logits, f.signer_embedding, f.attention, projection)

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per top-level part (backbone, signer_encoder, attention, temporal, heads); parts without
        parameters (the input streams) are left out."""
        counts = {name: sum(p.numel() for p in child.parameters()) for name, child in self.named_children()}
        return {name: n for name, n in counts.items() if n > 0}
