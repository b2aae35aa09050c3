"""SignSTGCN: signer-bias-aware ST-GCN for sign language detection and isolated sign recognition.

The library, in the order of the pipeline (each name is imported on first use, so ``import signstgcn`` is fast):

- training: :class:`TrainConfig`, :func:`fit` (→ :class:`TrainResult`);
- evaluation: :func:`evaluate` (→ ``EvaluationResult`` with ``.report``), :func:`cross_validate`;
- inference: :class:`Predictor`, :func:`detect` (signing segments of a recording), :func:`transcribe` (its signs),
  :func:`load_model`.

Packages: ``data`` (readers, layouts, windows, transforms) → ``model`` → ``training`` → ``inference`` →
``evaluation`` → ``cli``; a package imports only the ones before it (``cli`` imports everything, nothing imports
``cli``). The modules at the top (errors, atomic files, progress, threads and devices, metrics, plots) import
none of the packages.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "TrainConfig": "signstgcn.training.config",
    "TrainResult": "signstgcn.training.fit",
    "fit": "signstgcn.training.fit",
    "load_model": "signstgcn.training.checkpoint",
    "Predictor": "signstgcn.inference.predictor",
    "detect": "signstgcn.inference.api",
    "transcribe": "signstgcn.inference.api",
    "evaluate": "signstgcn.evaluation.evaluate",
    "cross_validate": "signstgcn.evaluation.crossval",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'signstgcn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
