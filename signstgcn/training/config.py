"""``TrainConfig``: every setting of a training run, grouped the way ``train_landmarks --help`` groups them.

One frozen, validated dataclass per group (:class:`DataOptions`, :class:`InputOptions`,
:class:`SignerOptions`, :class:`ModelOptions`, :class:`OptimOptions`, :class:`RunOptions`) and
:class:`TrainConfig` holding one of each. A field's name is its flag's (``--sample-mode`` → ``sample_mode``), and
field names are unique over the groups, so :meth:`TrainConfig.from_flat` / :meth:`TrainConfig.flat` map one
flat ``{name: value}`` dict (what ``argparse`` gives, and what a checkpoint stores under ``args``) to the
groups and back. ``to_dict`` / ``from_dict`` is the nested form of ``config.json``.

    cfg = TrainConfig.from_flat(data="data/", sample_mode="video", window=30, epochs=15, out="runs/x")
    cfg = cfg.updated(lr=2e-3, stgcn_channels=(32, 64, 64))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from signstgcn.data.groundtruth import DEFAULT_SIGNING_LABELS
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.layout import FACE_SUBSETS, POSE_SUBSETS
from signstgcn.data.transforms import AUGMENT_PRESETS, DOMINANT_HAND
from signstgcn.data.windows import RULES, SAMPLE_MODES
from signstgcn.model.config import ATTENTION_MODES, BACKBONES, TEMPORAL_MODES, ModelConfig
from signstgcn.model.features import check_streams
from signstgcn.model.pooling import JOINT_POOL_CHOICES, resolve_joint_pool
from signstgcn.training.loop import BEST_METRICS, best_metric_key

__all__ = ["config_flags", "DataOptions", "InputOptions", "ModelOptions", "OptimOptions", "RunOptions", "SignerOptions",
           "TrainConfig", "SCHEDULERS", "GRL_SCHEDULES"]

SCHEDULERS = ("cosine", "step", "none")
GRL_SCHEDULES = ("constant", "dann")
_MODEL_DEFAULTS = ModelConfig()


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"Invalid {name} {value!r}. Only {', '.join(choices)} are supported")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value!r}")


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class DataOptions:
    """What to read and how to cut it into samples (the ``data`` flags)."""

    data: str = ""
    gt: str | None = None
    window: int = 25
    stride: int = 1
    rule: str = "majority"
    sample_mode: str = "window"
    coords: int = 2
    include_pose: bool = False
    include_hands: bool = False
    include_face: bool = False
    pose_subset: str = "upper"
    face_subset: str = "compact"
    binary: bool = False
    signing_labels: tuple[str, ...] = DEFAULT_SIGNING_LABELS
    num_classes: int | None = None
    exclude_labels: tuple[str, ...] = ()
    splits_json: str | None = None
    val_fraction: float = 0.2
    fps: float | None = None  # frame rate of the training recordings (recorded; detect resamples to it)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", str(self.data))
        if isinstance(self.signing_labels, str):
            object.__setattr__(self, "signing_labels", tuple(v for v in self.signing_labels.split(",") if v))
        object.__setattr__(self, "signing_labels", tuple(str(v) for v in self.signing_labels))
        for name in ("window", "stride"):
            _positive(name, getattr(self, name))
        _choice("rule", self.rule, RULES)
        _choice("sample_mode", self.sample_mode, SAMPLE_MODES)
        _choice("pose_subset", self.pose_subset, POSE_SUBSETS)
        _choice("face_subset", self.face_subset, FACE_SUBSETS)
        object.__setattr__(self, "exclude_labels", tuple(self.exclude_labels))
        if self.binary and self.exclude_labels:
            raise ValueError("--exclude-labels is for multi-class training; drop it with --binary")
        if self.binary and self.num_classes is not None:
            raise ValueError("--num-classes is for multi-class training; drop it with --binary")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise ValueError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"--fps must be a positive frame rate, got {self.fps}")

    def selection(self) -> PartSelection:
        """The parts of ``include_*`` (none given: pose + hands), the subsets and ``coords``."""
        return PartSelection.from_flags(self.include_pose, self.include_hands, self.include_face,
                                        pose_subset=self.pose_subset, face_subset=self.face_subset, coords=self.coords)


@dataclass(frozen=True)
class InputOptions:
    """The input representation (signer and camera invariance; recorded in the checkpoint)."""

    hands_relative: bool = True
    face_channels: bool = False
    canonical_bones: bool = True
    cross_signer_augment: bool = False
    level_shoulders: bool = False
    dominant_hand: str = "any"
    augment: str = "standard"
    aspect_augment: bool = False
    hard_negatives: float = 0.0

    def __post_init__(self) -> None:
        _choice("dominant_hand", self.dominant_hand, DOMINANT_HAND)
        if not 0.0 <= self.hard_negatives <= 1.0:
            raise ValueError(f"--hard-negatives must be a share in [0, 1], got {self.hard_negatives}")
        _choice("augment", self.augment, AUGMENT_PRESETS)
        if self.cross_signer_augment and self.canonical_bones:
            raise ValueError("--cross-signer-augment varies body proportions and --canonical-bones (on by default) "
                             "removes them; add --no-canonical-bones")


@dataclass(frozen=True)
class SignerOptions:
    """The signer-bias losses: adversarial signer head, pseudo-signers, supervised contrastive loss."""

    signer_loss_weight: float = 0.5
    use_pseudo_signers: bool = False
    num_pseudo_signers: int = 8
    grl_schedule: str = "constant"
    use_supcon: bool = False
    supcon_weight: float = 0.1
    supcon_temp: float = 0.07

    def __post_init__(self) -> None:
        _choice("grl_schedule", self.grl_schedule, GRL_SCHEDULES)
        if not (math.isfinite(self.signer_loss_weight) and self.signer_loss_weight >= 0):
            raise ValueError(f"--signer-loss-weight must be >= 0, got {self.signer_loss_weight}")
        _positive("num_pseudo_signers", self.num_pseudo_signers)


@dataclass(frozen=True)
class ModelOptions:
    """The model hyper-parameters a user chooses (:class:`~signstgcn.model.config.ModelConfig` gets the rest —
    layout, channels, classes, signers — from the data)."""

    input_streams: tuple[str, ...] = _MODEL_DEFAULTS.input_streams
    backbone: str = _MODEL_DEFAULTS.backbone
    joint_pool: str = "auto"  # flat for multi-class, mean for binary (resolve_joint_pool)
    stgcn_channels: tuple[int, ...] = _MODEL_DEFAULTS.stgcn_channels
    stgcn_kernel: int = _MODEL_DEFAULTS.stgcn_kernel
    stgcn_dilations: tuple[int, ...] = _MODEL_DEFAULTS.stgcn_dilations
    temporal_hidden: int = _MODEL_DEFAULTS.temporal_hidden
    temporal: str = _MODEL_DEFAULTS.temporal
    signer_emb_dim: int = _MODEL_DEFAULTS.signer_emb_dim
    attn_heads: int = _MODEL_DEFAULTS.attn_heads
    attention: str = _MODEL_DEFAULTS.attention
    lambda_grl: float = _MODEL_DEFAULTS.lambda_grl
    dropout: float = _MODEL_DEFAULTS.dropout

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_streams", check_streams(tuple(self.input_streams)))
        object.__setattr__(self, "stgcn_channels", _ints(self.stgcn_channels))
        object.__setattr__(self, "stgcn_dilations", _ints(self.stgcn_dilations))
        _choice("backbone", self.backbone, BACKBONES)
        _choice("joint_pool", self.joint_pool, JOINT_POOL_CHOICES)
        _choice("attention", self.attention, ATTENTION_MODES)
        _choice("temporal", self.temporal, TEMPORAL_MODES)
        self.model_config()  # every ModelConfig rule (dilations per block, heads dividing the width, ...)

    def model_config(self, **fields: Any) -> ModelConfig:
        """The :class:`ModelConfig` of these options; ``fields`` sets the data-given rest and wins. ``joint_pool
        auto`` becomes flat when ``fields`` give ``num_classes > 1``, else mean."""
        kwargs = dataclasses.asdict(self)
        kwargs["signer_encoder"] = self.attention == "signer"  # only signer attention reads the embedding
        kwargs.update(fields)
        kwargs["joint_pool"] = resolve_joint_pool(kwargs["joint_pool"], kwargs.get("num_classes", 1))
        return ModelConfig(**kwargs)


@dataclass(frozen=True)
class OptimOptions:
    """Optimization: batch, epochs, AdamW, schedule, losses' weights, early stopping and selection."""

    batch: int = 32
    epochs: int = 50
    min_steps: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    label_smoothing: float = 0.0
    mixup: float = 0.0
    pos_weight: str = "none"  # none, auto or a positive number (as text, like the flag)
    weighted_sampler: bool = False
    patience: int = 0
    best_metric: str = "acc"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pos_weight", str(self.pos_weight))
        for name in ("batch", "epochs"):
            _positive(name, getattr(self, name))
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("best_metric", self.best_metric, BEST_METRICS)
        if self.pos_weight not in ("none", "auto"):
            try:
                if float(self.pos_weight) <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError(f"--pos-weight must be none, auto or a positive number, got "
                                 f"{self.pos_weight!r}") from None
        if self.patience < 0:
            raise ValueError(f"--patience must be >= 0, got {self.patience}")
        if self.min_steps < 0:
            raise ValueError(f"--min-steps must be >= 0 (0 = no minimum), got {self.min_steps}")
        if not (math.isfinite(self.mixup) and self.mixup >= 0):
            raise ValueError(f"--mixup must be a Beta alpha >= 0 (0 = off), got {self.mixup}")


@dataclass(frozen=True)
class RunOptions:
    """Where the run goes and what it runs on."""

    out: str = "runs/train"
    init: str | None = None  # encoder.pt of ``signstgcn pretrain``: the backbone starts from its weights
    save_best: bool = False
    log_csv: bool = False
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    threads: int | None = None  # None = auto
    amp: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", str(self.out))
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the run in --out and --overwrite replaces it; pass only one")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be auto or a positive integer, got {self.threads!r}")


_GROUPS: dict[str, type] = {"data": DataOptions, "input": InputOptions, "signer": SignerOptions,
                            "model": ModelOptions, "optim": OptimOptions, "run": RunOptions}
_FIELD_GROUP: dict[str, str] = {f.name: g for g, cls in _GROUPS.items() for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of :func:`signstgcn.fit`; the defaults are ``train_landmarks``'s."""

    data: DataOptions = field(default_factory=DataOptions)
    input: InputOptions = field(default_factory=InputOptions)
    signer: SignerOptions = field(default_factory=SignerOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    run: RunOptions = field(default_factory=RunOptions)

    def __post_init__(self) -> None:
        for name, cls in _GROUPS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, _build(cls, value, name))
            elif not isinstance(value, cls):
                raise ValueError(f"TrainConfig.{name}: expected {cls.__name__}, got {type(value).__name__}")
        if not self.data.data:
            raise ValueError("TrainConfig: data.data (--data, the folder of landmark files) is required")
        best_metric_key(self.optim.best_metric, self.data.binary)
        if self.input.hard_negatives and not self.data.binary:
            raise ValueError("--hard-negatives makes not-signing windows: it needs --binary")
        if self.optim.pos_weight != "none" and not self.data.binary:
            raise ValueError("--pos-weight applies to --binary training only")
        if self.data.val_fraction == 0 and not self.data.splits_json:
            self.check_selection("--val-fraction 0")

    def check_selection(self, why: str) -> None:
        """Refuse the settings that select epochs on a validation split when ``why`` says there is none."""
        needs = [flag for flag, on in (("--save-best", self.run.save_best), ("--patience", self.optim.patience))
                 if on]
        if needs:
            flags = " and ".join(needs)
            raise ValueError(f"{flags} {'needs' if len(needs) == 1 else 'need'} a validation split to pick epochs, "
                             f"but {why} gives none; drop {flags} (last.pt is the final model) or give a "
                             f"validation split")

    # ------------------------------------------------------------------------------------------ conversions

    @classmethod
    def from_flat(cls, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> TrainConfig:
        """From flat ``{field: value}`` (flag names with ``_``); unknown names are an error."""
        merged = {**(values or {}), **kwargs}
        unknown = sorted(set(merged) - set(_FIELD_GROUP))
        if unknown:
            raise ValueError(f"TrainConfig: unknown settings {unknown}")
        groups: dict[str, dict[str, Any]] = {g: {} for g in _GROUPS}
        for name, value in merged.items():
            groups[_FIELD_GROUP[name]][name] = value
        return cls(**{g: _build(_GROUPS[g], v, g) for g, v in groups.items()})

    def flat(self) -> dict[str, Any]:
        """Every setting as one flat dict (the ``args`` of ``config.json`` and checkpoints)."""
        return {k: v for g in _GROUPS for k, v in dataclasses.asdict(getattr(self, g)).items()}

    def updated(self, changes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> TrainConfig:
        """A copy with flat ``changes`` applied (validated again)."""
        return TrainConfig.from_flat({**self.flat(), **(changes or {}), **kwargs})

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain types, one dict per group (JSON-safe)."""
        return {g: dataclasses.asdict(getattr(self, g)) for g in _GROUPS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown groups or settings are an error."""
        unknown = sorted(set(d) - set(_GROUPS))
        if unknown:
            raise ValueError(f"TrainConfig: unknown groups {unknown}; expected {sorted(_GROUPS)}")
        return cls(**{g: _build(_GROUPS[g], d.get(g) or {}, g) for g in _GROUPS})


def _build(cls: type, values: Mapping[str, Any], group: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"TrainConfig.{group}: unknown settings {unknown}; expected a subset of {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def config_flags(settings: Mapping[str, Any]) -> list[str]:
    """Flat settings as ``train_landmarks`` flags (a field's flag is its name with ``-``): True → ``--x``,
    False → ``--no-x``, tuples as comma lists, floats as ``%g``; None is left out."""
    flags: list[str] = []
    for name, value in settings.items():
        if name not in _FIELD_GROUP:
            raise ValueError(f"TrainConfig: unknown setting {name!r}")
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, (tuple, list)):
            flags += [flag, ",".join(str(v) for v in value)]
        elif isinstance(value, float):
            flags += [flag, f"{value:g}"]
        else:
            flags += [flag, str(value)]
    return flags

