"""SignSTGCN: signer-bias-aware ST-GCN for sign language detection and isolated sign recognition."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
