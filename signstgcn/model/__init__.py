"""SignSTGCN model: ST-GCN backbone, signer encoder, signer-conditioned attention, BiGRU and heads."""

from __future__ import annotations

from signstgcn.model.config import DEFAULT_SIGNER_STATS_DIM, ModelConfig
from signstgcn.model.heads import dann_lambda, grad_reverse
from signstgcn.model.model import Features, ModelOutput, SignSTGCNModel

__all__ = [
    "DEFAULT_SIGNER_STATS_DIM",
    "Features",
    "ModelConfig",
    "ModelOutput",
    "SignSTGCNModel",
    "dann_lambda",
    "grad_reverse",
]
