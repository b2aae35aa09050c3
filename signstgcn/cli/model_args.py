"""The ``model`` flags of ``train_landmarks`` (DESIGN §5) and the :class:`ModelConfig` they give."""

from __future__ import annotations

import argparse
from typing import Any

from signstgcn.model.config import BACKBONES, TEMPORAL_MODES, ModelConfig
from signstgcn.model.features import INPUT_STREAMS, check_streams
from signstgcn.model.pooling import JOINT_POOL_CHOICES, resolve_joint_pool


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
    g.add_argument("--backbone", choices=BACKBONES, default=d["backbone"].default,
                   help="stgcn: the graph network; linear: a per-frame linear projection of all joints x channels "
                        "to the last --stgcn-channels width, no graph (the floor the graph network must beat)")
    g.add_argument("--joint-pool", choices=JOINT_POOL_CHOICES, default="auto",
                   help="per-frame pooling of the ST-GCN's joint features: mean over the joints present, or flat "
                        "(every joint side by side through one linear layer: joints keep their identity); auto: "
                        "flat for multi-class models, mean for --binary detectors")
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


def model_flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of :func:`add_model_args` as ``{ModelOptions field: value}`` (``--no-signer-attention`` and
    ``--attention`` become ``attention``)."""
    return {
        "input_streams": tuple(args.input_streams),
        "backbone": args.backbone,
        "joint_pool": args.joint_pool,
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


def model_config_from_args(args: argparse.Namespace, **fields: Any) -> ModelConfig:
    """``ModelConfig`` from the flags of :func:`add_model_args`; ``fields`` sets the rest (layout,
    in_channels, num_classes, num_signers, supcon_dim, ...) and wins over the flags."""
    kwargs = model_flag_values(args)
    kwargs["signer_encoder"] = kwargs["attention"] == "signer"  # only signer attention reads the embedding
    kwargs.update(fields)
    kwargs["joint_pool"] = resolve_joint_pool(kwargs["joint_pool"], kwargs.get("num_classes", 1))
    return ModelConfig(**kwargs)
