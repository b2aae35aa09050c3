"""Self-describing checkpoints (DESIGN §6), written atomically, readable with ``torch.load(weights_only=True)``.

Layout: ``{'model', 'epoch', 'val_acc', 'metrics', 'config', 'data', 'optimizer', 'scheduler', 'args',
'version'}``, plus ``'calibration'`` once training has fitted the temperature
(:mod:`signstgcn.training.calibration`; absent = ``T = 1``). ``config`` is ``ModelConfig.to_dict()``;
``data`` holds the data settings (parts, coords, window, normalization, label vocabulary, signer vocabulary,
pseudo-signer centroids). Everything is
plain python (dict, list, tuple, str, int, float, bool, None) or tensors, so loading never needs to
unpickle arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import pickle
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from signstgcn import __version__
from signstgcn.atomic import atomic_open
from signstgcn.errors import CheckpointError
from signstgcn.model.config import ModelConfig
from signstgcn.model.model import SignSTGCNModel

CHECKPOINT_FORMAT = 2  # 2: ``epoch`` counts from 1 (the epochs completed); format 1 counted from 0
CHECKPOINT_KEYS = (
    "model", "epoch", "val_acc", "metrics", "config", "data", "optimizer", "scheduler", "args", "version",
)


class LoadedCheckpoint(NamedTuple):
    model: SignSTGCNModel  # in eval mode, on map_location
    data: dict[str, Any]
    metrics: dict[str, Any]
    epoch: int
    raw: dict[str, Any]  # the whole checkpoint dict (optimizer/scheduler state for --resume, args, ...)


def _plain(value: Any, where: str, strict: bool) -> Any:
    """Convert ``value`` to plain python + tensors. ``strict``: unknown types are an error, else ``str()``."""
    if value is None or type(value) in (bool, int, float, str) or isinstance(value, torch.Tensor):
        return value
    for plain_type in (bool, int, float, str):  # subclasses (np.float64, TorchVersion, IntEnum) need a
        if isinstance(value, plain_type):       # global to unpickle, which weights_only=True refuses
            return plain_type(value)
    if isinstance(value, dict):
        return {_plain(k, f"{where} key", strict): _plain(v, f"{where}[{k!r}]", strict) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{where}[{i}]", strict) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(_plain(v, f"{where}[{i}]", strict) for i, v in enumerate(value))
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v, f"{where} item", strict) for v in value)
    if isinstance(value, PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, enum.Enum):
        return _plain(value.value, where, strict)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value), where, strict)
    if not strict and hasattr(value, "__dict__") and not callable(value):  # e.g. an argparse.Namespace
        return _plain(vars(value), where, strict)
    if strict:
        raise ValueError(
            f"checkpoint {where}: cannot store a {type(value).__name__}; use dicts, lists, numbers, strings or tensors"
        )
    return str(value)


def plain_data(value: Any, where: str, strict: bool = True) -> Any:
    """``value`` as plain python + tensors, loadable with ``weights_only=True`` (``strict``: unknown types are an
    error naming ``where``, else they become ``str()``)."""
    return _plain(value, where, strict)


def _unwrap(model: nn.Module) -> SignSTGCNModel:
    """Strip DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        else:
            break
    if not isinstance(model, SignSTGCNModel):
        raise ValueError(f"model: expected a SignSTGCNModel (optionally DDP/compiled), got {type(model).__name__}")
    return model


def save_checkpoint(
    path: str | PathLike[str],
    model: nn.Module,
    *,
    data: dict[str, Any],
    epoch: int,
    metrics: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    args: dict[str, Any] | Any | None = None,
    val_acc: float | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder + ``os.replace``); return its path.

    ``epoch`` is the number of epochs trained, counted from 1 as everywhere a user sees epochs (0: untrained).
    """
    path = Path(path)
    net = _unwrap(model)
    ckpt = {
        "model": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "epoch": int(epoch),
        "val_acc": None if val_acc is None else float(val_acc),
        "metrics": _plain(dict(metrics or {}), "metrics", strict=True),
        "config": net.config.to_dict(),
        "data": _plain(dict(data), "data", strict=True),
        "optimizer": None if optimizer is None else _plain(optimizer.state_dict(), "optimizer", strict=True),
        "scheduler": None if scheduler is None else _plain(scheduler.state_dict(), "scheduler", strict=True),
        "args": None if args is None else _plain(args, "args", strict=False),
        "version": {"format": CHECKPOINT_FORMAT, "signstgcn": __version__, "torch": str(torch.__version__)},
    }
    if train_state is not None:  # what --resume needs beyond the weights: best value, patience, RNG state
        ckpt["train_state"] = _plain(dict(train_state), "train_state", strict=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb", fsync=True) as f:
        torch.save(ckpt, f)
    return path


def update_checkpoint(path: str | PathLike[str], entries: dict[str, Any]) -> Path:
    """Set top-level ``entries`` (plain python) of an existing checkpoint, rewritten atomically."""
    path = Path(path)
    raw = read_checkpoint(path)
    reserved = sorted(set(entries) & set(CHECKPOINT_KEYS))
    if reserved:
        raise ValueError(f"update_checkpoint: {reserved} are written by save_checkpoint, not updated")
    raw.update(_plain(dict(entries), "entries", strict=True))
    raw["version"] = {**raw["version"], "format": CHECKPOINT_FORMAT}  # read_checkpoint already converted the epoch
    with atomic_open(path, "wb", fsync=True) as f:
        torch.save(raw, f)
    return path


def read_checkpoint(path: str | PathLike[str], map_location: str | torch.device = "cpu",
                    *, weights_only: bool = True) -> dict[str, Any]:
    """Load and validate the raw checkpoint dict. ``weights_only=False`` only for files you trust."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint {path}: not a SignSTGCN checkpoint or holds non-plain objects ({first}); "
            "pass weights_only=False only if you trust the file"
        ) from e
    except Exception as e:  # zip/EOF/format errors from torch.load on a non-checkpoint file
        raise CheckpointError(f"checkpoint {path}: cannot be read as a torch checkpoint ({type(e).__name__})") from e
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict with keys {list(CHECKPOINT_KEYS)}, "
                              f"got {type(raw).__name__}")
    missing = [k for k in CHECKPOINT_KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing keys {missing}; not a SignSTGCN checkpoint?")
    version = raw["version"]
    fmt = version.get("format") if isinstance(version, dict) else None
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path}: format {fmt!r} is not supported (this version reads "
                              f"<= {CHECKPOINT_FORMAT}); upgrade signstgcn")
    if fmt < 2 and isinstance(raw["epoch"], int):
        raw["epoch"] += 1  # format 1 stored the 0-based epoch index
    return raw


def load_checkpoint(path: str | PathLike[str], map_location: str | torch.device = "cpu",
                    *, weights_only: bool = True) -> LoadedCheckpoint:
    """Rebuild the model from a checkpoint (eval mode, on ``map_location``) with its data settings."""
    raw = read_checkpoint(path, map_location, weights_only=weights_only)
    try:
        config = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: invalid model config ({e})") from e
    model = SignSTGCNModel(config)
    try:
        model.load_state_dict(raw["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit the stored config ({' '.join(first[:2])})"
        ) from e
    model.to(map_location).eval()
    data = raw["data"] if isinstance(raw["data"], dict) else {}
    model.data_settings = data
    metrics = raw["metrics"] if isinstance(raw["metrics"], dict) else {}
    return LoadedCheckpoint(model, data, metrics, int(raw["epoch"]), raw)


def load_model(path: str | PathLike[str], map_location: str | torch.device = "cpu") -> SignSTGCNModel:
    """The model of a checkpoint (eval mode); its ``data`` dict lands in ``model.data_settings``."""
    return load_checkpoint(path, map_location=map_location).model
