"""Temperature scaling (Guo et al., 2017): one scalar ``T > 0`` so that ``softmax(logits / T)`` (multi-class) or
``sigmoid(logit / T)`` (binary) says how often the model is right.

``T`` is fitted after training on the validation split's logits, minimizing their negative log-likelihood (NLL):
a bounded 1-D search over ``log T`` (the NLL is convex in ``1 / T``, so the search finds the one minimum;
deterministic). Dividing by ``T`` never changes which class has the largest logit, nor which side of 0 a binary
logit is on: top-1 predictions are unchanged, only the confidence moves (``T > 1``: less confident).

:func:`fit_temperature` returns a :class:`Calibration`, stored in checkpoints as ``ckpt["calibration"]``
(:meth:`Calibration.to_dict`); :meth:`Calibration.from_checkpoint` reads it back, ``T = 1`` for checkpoints that
have none. A validation split without a single error carries no evidence of how confident to be (the NLL falls
forever as ``T -> 0``): ``T`` stays 1 and the calibration records why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

__all__ = ["TEMPERATURE_RANGE", "Calibration", "apply_temperature", "fit_temperature", "nll", "probabilities",
           "temperature_threshold"]

TEMPERATURE_RANGE = (0.1, 10.0)  # the search interval of T: beyond it a fit is degenerate (tiny or separable split)
CALIBRATION_KEY = "calibration"  # the checkpoint entry


@dataclass(frozen=True)
class Calibration:
    """A fitted (or default) temperature and what it was fitted on."""

    temperature: float = 1.0
    fitted_on: str | None = None  # "val" when fitted, None when T is the default 1
    samples: int = 0  # validation samples the fit used
    nll_before: float | None = None  # mean NLL at T = 1
    nll_after: float | None = None  # mean NLL at the fitted T
    note: str = ""  # why T was not fitted, or that it sits at a bound of TEMPERATURE_RANGE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")

    @property
    def fitted(self) -> bool:
        return self.fitted_on is not None

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``calibration`` entry (plain python)."""
        return {"method": "temperature", "temperature": float(self.temperature), "fitted_on": self.fitted_on,
                "samples": int(self.samples), "nll_before": self.nll_before, "nll_after": self.nll_after,
                "note": self.note}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        t = d.get("temperature", 1.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
            raise ValueError(f"calibration: expected a temperature > 0, got {t!r}")

        def num(key: str) -> float | None:
            v = d.get(key)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        fitted_on = d.get("fitted_on")
        return cls(float(t), str(fitted_on) if fitted_on else None, int(d.get("samples") or 0), num("nll_before"),
                   num("nll_after"), str(d.get("note") or ""))

    @classmethod
    def from_checkpoint(cls, raw: Mapping[str, Any]) -> Calibration:
        """The calibration of a raw checkpoint dict; ``T = 1`` (not fitted) when it has none."""
        entry = raw.get(CALIBRATION_KEY)
        if not isinstance(entry, Mapping):
            return cls(note="the checkpoint stores no calibration (written before temperature scaling)")
        return cls.from_dict(entry)

    def describe(self) -> str:
        """One line: ``temperature 1.42 (fitted on 120 validation samples, NLL 0.912 -> 0.640)``."""
        if not self.fitted:
            return f"temperature 1 (not fitted: {self.note or 'no validation split'})"
        text = f"temperature {self.temperature:.3g} (fitted on {self.samples} {self.fitted_on} samples"
        if self.nll_before is not None and self.nll_after is not None:
            text += f", NLL {self.nll_before:.4f} -> {self.nll_after:.4f}"
        return text + (f"; {self.note}" if self.note else "") + ")"


# ------------------------------------------------------------------------------------------------ math


def _check(logits: np.ndarray, labels: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N,) or (N, K) float64, labels (N,) int64)``, validated."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).reshape(-1)
    if binary:
        if z.ndim == 2 and z.shape[1] == 1:
            z = z[:, 0]  # (N,)
        if z.ndim != 1 or z.shape[0] != y.shape[0]:
            raise ValueError(f"logits: expected ({y.shape[0]},) binary logits matching labels, got {z.shape}")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"labels: expected 0/1 for binary logits, got values {np.unique(y)[:5]}")
    else:
        if z.ndim != 2 or z.shape[0] != y.shape[0] or z.shape[1] < 2:
            raise ValueError(f"logits: expected (N, K) with N={y.shape[0]}, K >= 2, got {z.shape}")
        if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
            raise ValueError(f"labels: expected class indices in [0, {z.shape[1]}), got {y.min()}..{y.max()}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits: expected finite values, got NaN or inf")
    return z, y.astype(np.int64)


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return t


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``logits / T`` as float64 (any shape)."""
    return np.asarray(logits, dtype=np.float64) / _check_temperature(temperature)


def probabilities(logits: np.ndarray, temperature: float = 1.0, *, binary: bool) -> np.ndarray:
    """Calibrated probabilities: binary ``sigmoid(logits / T)`` (same shape), multi-class ``softmax(logits / T)``
    over the last axis."""
    z = apply_temperature(logits, temperature)
    if binary:
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow warnings
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, *, binary: bool, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``logits / T`` (binary: the BCE; NaN for 0 samples)."""
    z, y = _check(logits, labels, binary)
    if y.size == 0:
        return float("nan")
    z = z / _check_temperature(temperature)
    if binary:
        return float(np.mean(np.logaddexp(0.0, z) - y * z))  # softplus(z) - y z
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(y.size), y]))


def _errors(z: np.ndarray, y: np.ndarray, binary: bool) -> int:
    """Top-1 mistakes (binary: the side of 0 the logit is on)."""
    if binary:
        return int(np.count_nonzero((z > 0) != (y == 1)))
    return int(np.count_nonzero(np.argmax(z, axis=1) != y))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, binary: bool, fitted_on: str = "val") -> Calibration:
    """The ``T`` in :data:`TEMPERATURE_RANGE` minimizing the mean NLL of ``labels`` under ``logits / T``.

    Args:
        logits: binary ``(N,)`` / ``(N, 1)`` or multi-class ``(N, K)`` raw logits of a held-out split.
        labels: ``(N,)`` 0/1 or class indices.
        binary: sigmoid (binary) or softmax (multi-class) probabilities.
        fitted_on: the split's name, recorded in the result.

    Returns:
        The :class:`Calibration`; ``T = 1`` (not fitted, with the reason in ``note``) when there are no samples or
        no errors.
    """
    z, y = _check(logits, labels, binary)
    if y.size == 0:
        return Calibration(note=f"the {fitted_on} split has no samples")
    before = nll(z, y, binary=binary)
    if _errors(z, y, binary) == 0:
        return Calibration(samples=int(y.size), nll_before=before, nll_after=before,
                           note=f"every {fitted_on} sample is classified correctly: no evidence of how confident to "
                                f"be (the NLL falls forever as T -> 0), T kept at 1")
    lo, hi = (math.log(t) for t in TEMPERATURE_RANGE)
    res = minimize_scalar(lambda log_t: nll(z, y, binary=binary, temperature=math.exp(log_t)),
                          bounds=(lo, hi), method="bounded", options={"xatol": 1e-6, "maxiter": 500})
    t = float(math.exp(res.x))
    after = nll(z, y, binary=binary, temperature=t)
    if not after <= before:  # the search can only help; guard against a flat or degenerate objective
        t, after = 1.0, before
    note = ""
    if abs(math.log(t) - lo) < 1e-3 or abs(math.log(t) - hi) < 1e-3:
        note = f"T at the bound of the search range {TEMPERATURE_RANGE[0]:g}..{TEMPERATURE_RANGE[1]:g}"
    return Calibration(t, fitted_on, int(y.size), before, after, note)


def temperature_threshold(threshold: float, temperature: float) -> float:
    """A binary probability threshold on ``sigmoid(z)`` moved to ``sigmoid(z / T)``: the same decisions (kept
    inside ``[1e-12, 1 - 1e-12]``, so it stays a usable threshold where ``z / T`` saturates the sigmoid)."""
    t = _check_temperature(temperature)
    if not 0.0 < threshold < 1.0 or t == 1.0:
        return float(threshold)
    logit = math.log(threshold) - math.log1p(-threshold)
    moved = 0.5 * (1.0 + math.tanh(0.5 * logit / t))
    return float(min(max(moved, 1e-12), 1.0 - 1e-12))
