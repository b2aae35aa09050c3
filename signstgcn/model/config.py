"""``ModelConfig``: the one frozen dataclass holding every hyper-parameter of :class:`SignSTGCNModel`."""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from signstgcn.data.layout import LayoutSpec
from signstgcn.model.features import INPUT_STREAMS, check_streams

DEFAULT_SIGNER_STATS_DIM = 16
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
    # ST-GCN backbone
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


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers like 64,128,128, got {text!r}") from None


def _streams(text: str) -> tuple[str, ...]:
    items = tuple(v for v in text.replace(" ", "").split(",") if v)
    try:
        return check_streams(items)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of distinct streams from {','.join(INPUT_STREAMS)}, got {text!r}"
        ) from None


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add the model flags of DESIGN §5 (defaults = :class:`ModelConfig` defaults) to ``parser``."""
    d = ModelConfig.__dataclass_fields__
    g = parser.add_argument_group("model")
    g.add_argument("--input-streams", type=_streams, default=d["input_streams"].default,
                   help="input streams stacked as channels, comma list of joint, bone (joint minus its "
                        "parent), motion (joint minus the previous frame)")
    g.add_argument("--stgcn-channels", type=_int_list, default=d["stgcn_channels"].default,
                   help="ST-GCN block widths, comma list")
    g.add_argument("--stgcn-kernel", type=int, default=d["stgcn_kernel"].default, help="temporal kernel size (odd)")
    g.add_argument("--stgcn-dilations", type=_int_list, default=d["stgcn_dilations"].default,
                   help="temporal dilation per block, comma list")
    g.add_argument("--temporal-hidden", type=int, default=d["temporal_hidden"].default, help="BiGRU hidden size")
    g.add_argument("--temporal", choices=TEMPORAL_MODES, default=d["temporal"].default,
                   help="temporal aggregator: bigru, or pool (masked mean, no GRU)")
    g.add_argument("--signer-emb-dim", type=int, default=d["signer_emb_dim"].default, help="signer embedding size")
    g.add_argument("--attn-heads", type=int, default=d["attn_heads"].default, help="attention heads")
    g.add_argument("--no-signer-attention", action="store_true",
                   help="ablation: plain attention, not conditioned on the signer embedding")
    g.add_argument("--attention", choices=("signer", "plain", "none"), default=None,
                   help="temporal attention: signer (conditioned on the signer embedding), or the ablations "
                        "plain and none; overrides --no-signer-attention "
                        "(default: signer; plain with --no-signer-attention)")
    g.add_argument("--lambda-grl", type=float, default=d["lambda_grl"].default,
                   help="gradient reversal strength for the signer head")
    g.add_argument("--dropout", type=float, default=d["dropout"].default, help="classifier dropout")


def model_config_from_args(args: argparse.Namespace, **fields: Any) -> ModelConfig:
    """``ModelConfig`` from the flags of :func:`add_model_args`; ``fields`` sets the rest (layout,
    in_channels, num_classes, num_signers, supcon_dim, ...) and wins over the flags."""
    kwargs: dict[str, Any] = {
        "input_streams": tuple(args.input_streams),
        "stgcn_channels": tuple(args.stgcn_channels),
        "stgcn_kernel": args.stgcn_kernel,
        "stgcn_dilations": tuple(args.stgcn_dilations),
        "temporal_hidden": args.temporal_hidden,
        "temporal": args.temporal,
        "signer_emb_dim": args.signer_emb_dim,
        "attn_heads": args.attn_heads,
        "attention": getattr(args, "attention", None) or ("plain" if args.no_signer_attention else "signer"),
        "lambda_grl": args.lambda_grl,
        "dropout": args.dropout,
    }
    kwargs["signer_encoder"] = kwargs["attention"] == "signer"  # only signer attention reads the embedding
    kwargs.update(fields)
    return ModelConfig(**kwargs)
