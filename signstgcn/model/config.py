"""``ModelConfig``: the one frozen dataclass holding every hyper-parameter of :class:`SignSTGCNModel`."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from signstgcn.data.layout import LayoutSpec
from signstgcn.model.features import check_streams
from signstgcn.model.pooling import JOINT_POOLS

DEFAULT_SIGNER_STATS_DIM = 16
BACKBONES = ("stgcn", "linear")
ATTENTION_MODES = ("signer", "plain", "none")
TEMPORAL_MODES = ("bigru", "pool")


def _positive_ints(name: str, value: Any) -> tuple[int, ...]:
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name}: expected a tuple of positive integers, got {value!r}") from None
    if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
        raise ValueError(f"{name}: expected a non-empty tuple of positive integers, got {value!r}")
    return items


@dataclass(frozen=True)
class ModelConfig:
    """Every hyper-parameter of the model (DESIGN §3), with the documented defaults.

    Glossary: ``C = in_channels`` (coordinates per joint), ``V = layout.build().num_nodes``,
    ``D = stgcn_channels[-1]``, ``S = signer_stats_dim``, ``H = attn_heads``.
    """

    layout: LayoutSpec = field(default_factory=LayoutSpec)
    in_channels: int = 2
    num_classes: int = 1  # 1 = binary (one logit)
    # input streams stacked as channels: joint coordinates, bone vectors, frame-to-frame motion
    input_streams: tuple[str, ...] = ("joint",)
    # backbone: "stgcn" (graph network), or "linear" (per-frame linear projection of all joints x channels to
    # the width D = stgcn_channels[-1], no graph: the GRU floor; the other stgcn_* settings are unused)
    backbone: str = "stgcn"
    # joint_pool: how the ST-GCN's per-joint features become one vector per frame: "mean" over the joints
    # present, or "flat" (every joint's features side by side through one linear layer; joints keep identity).
    joint_pool: str = "mean"
    stgcn_channels: tuple[int, ...] = (64, 128, 128)
    stgcn_kernel: int = 3
    stgcn_dilations: tuple[int, ...] = (1, 2, 3)
    edge_importance: bool = True
    # signer encoder and bias-aware attention
    signer_stats_dim: int = DEFAULT_SIGNER_STATS_DIM
    signer_encoder: bool = True
    signer_emb_dim: int = 64
    signer_hidden: int = 128
    attention: str = "signer"  # "signer" | "plain" (--no-signer-attention) | "none"
    attn_heads: int = 4
    # temporal aggregator
    temporal: str = "bigru"  # "bigru" | "pool"
    temporal_hidden: int = 256
    # heads
    dropout: float = 0.1
    num_signers: int = 0  # 0 = no adversarial signer head
    signer_head_hidden: int = 256
    lambda_grl: float = 0.5
    supcon_dim: int = 128  # 0 = no projection head

    def __post_init__(self) -> None:
        if not isinstance(self.layout, LayoutSpec):
            raise ValueError(f"layout: expected a LayoutSpec, got {type(self.layout).__name__}")
        # Lists (from JSON or argparse) become tuples so the config stays hashable.
        object.__setattr__(self, "stgcn_channels", _positive_ints("stgcn_channels", self.stgcn_channels))
        object.__setattr__(self, "stgcn_dilations", _positive_ints("stgcn_dilations", self.stgcn_dilations))
        object.__setattr__(self, "input_streams", check_streams(self.input_streams))
        if len(self.stgcn_channels) != len(self.stgcn_dilations):
            raise ValueError(
                f"stgcn_dilations: expected one per block ({len(self.stgcn_channels)} for stgcn_channels="
                f"{self.stgcn_channels}), got {self.stgcn_dilations}"
            )
        for name in ("in_channels", "num_classes", "signer_stats_dim", "signer_emb_dim", "signer_hidden",
                     "attn_heads", "temporal_hidden", "signer_head_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name in ("num_signers", "supcon_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0 (0 = off), got {value!r}")
        if not isinstance(self.stgcn_kernel, int) or self.stgcn_kernel < 1 or self.stgcn_kernel % 2 == 0:
            raise ValueError(f"stgcn_kernel: expected an odd positive integer, got {self.stgcn_kernel!r}")
        if self.joint_pool not in JOINT_POOLS:
            raise ValueError(f"Invalid joint_pool {self.joint_pool!r}. Only {', '.join(JOINT_POOLS)} are supported.")
        if self.backbone not in BACKBONES:
            raise ValueError(f"Invalid backbone {self.backbone!r}. Only {', '.join(BACKBONES)} are supported.")
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"Invalid attention {self.attention!r}. Only {', '.join(ATTENTION_MODES)} are supported.")
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"Invalid temporal {self.temporal!r}. Only {', '.join(TEMPORAL_MODES)} are supported.")
        if self.attention == "signer" and not self.signer_encoder:
            raise ValueError("attention='signer' needs signer_encoder=True (use attention='plain' without it)")
        if self.attention != "none" and self.stgcn_channels[-1] % self.attn_heads != 0:
            raise ValueError(
                f"attn_heads: expected a divisor of stgcn_channels[-1]={self.stgcn_channels[-1]}, "
                f"got {self.attn_heads}"
            )
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout: expected a float in [0, 1), got {self.dropout!r}")
        if not (isinstance(self.lambda_grl, (int, float)) and math.isfinite(self.lambda_grl)
                and self.lambda_grl >= 0):
            raise ValueError(f"lambda_grl: expected a finite float >= 0, got {self.lambda_grl!r}")

    @property
    def backbone_in_channels(self) -> int:
        """Channels the backbone reads: ``C`` per input stream."""
        return self.in_channels * len(self.input_streams)

    @property
    def embedding_dim(self) -> int:
        """``E``: size of the window embedding fed to the heads."""
        return 2 * self.temporal_hidden if self.temporal == "bigru" else self.stgcn_channels[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain python types only (tuples, nested dict for the layout): safe for JSON and checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; lists become tuples, unknown keys are an error."""
        if not isinstance(d, dict):
            raise ValueError(f"model config: expected a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"model config: unknown keys {unknown}; expected a subset of {sorted(names)}")
        kwargs = dict(d)
        kwargs.setdefault("joint_pool", "mean")  # checkpoints from before joint_pool pooled by the mean
        layout = kwargs.get("layout")
        if isinstance(layout, dict):
            layout_names = {f.name for f in dataclasses.fields(LayoutSpec)}
            bad = sorted(set(layout) - layout_names)
            if bad:
                raise ValueError(
                    f"model config: unknown layout keys {bad}; expected a subset of {sorted(layout_names)}"
                )
            kwargs["layout"] = LayoutSpec(**layout)
        for name in ("stgcn_channels", "stgcn_dilations", "input_streams"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
