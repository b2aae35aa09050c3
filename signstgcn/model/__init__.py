"""SignSTGCN model: ST-GCN backbone, signer encoder, signer-conditioned attention, BiGRU and heads."""

from __future__ import annotations

from signstgcn.model.config import DEFAULT_SIGNER_STATS_DIM, ModelConfig, add_model_args, model_config_from_args
from signstgcn.model.heads import dann_lambda, grad_reverse
from signstgcn.model.model import Features, ModelOutput, SignSTGCNModel

__all__ = [
    "DEFAULT_SIGNER_STATS_DIM",
    "Features",
    "ModelConfig",
    "ModelOutput",
    "SignSTGCNModel",
    "add_model_args",
    "dann_lambda",
    "grad_reverse",
    "model_config_from_args",
]
