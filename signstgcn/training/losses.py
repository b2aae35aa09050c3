"""Training losses: classification, adversarial signer loss and supervised contrastive loss (DESIGN §4).

Glossary: N batch, K classes (1 logit for binary detection), S signers, D embedding dims.

- :func:`classification_loss` — BCE-with-logits (binary, optional ``pos_weight``; see
  :func:`auto_pos_weight`) or cross-entropy (multi-class, optional label smoothing).
- :func:`signer_adversarial_loss` — cross-entropy of the signer head, ignoring unknown signers (``-1``).
  The gradient reversal itself lives in the model; this is a plain CE.
- :class:`SupConLoss` — supervised contrastive loss (Khosla et al., 2020, the ``L_out`` form), finite for
  singleton classes, all-same-class batches and ``N = 1``.
- :class:`LossWeights` — the three weights and a small :meth:`LossWeights.combine`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LossWeights",
    "SupConLoss",
    "auto_pos_weight",
    "classification_loss",
    "signer_adversarial_loss",
]


def _zero_like_graph(t: Tensor) -> Tensor:
    """A scalar 0 that stays connected to ``t``'s autograd graph (so ``backward()`` still works)."""
    return t.sum() * 0.0


def classification_loss(
    logits: Tensor,
    labels: Tensor,
    *,
    binary: bool,
    pos_weight: Tensor | float | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean classification loss over the batch.

    Args:
        logits: binary: ``(N, 1)`` or ``(N,)`` raw scores; multi-class: ``(N, K)`` raw scores.
        labels: ``(N,)``; binary: 0/1 (int, bool or float, soft targets allowed); multi-class: class index.
        binary: BCE-with-logits if True, cross-entropy otherwise.
        pos_weight: binary only; weight of the positive class (``neg / pos``, see :func:`auto_pos_weight`).
        label_smoothing: in ``[0, 1)``. Multi-class: as ``F.cross_entropy``. Binary: targets become
            ``y * (1 - eps) + eps / 2`` (the two-class case of the same rule).

    Returns:
        Scalar tensor.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing}")
    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels: expected shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    if binary:
        return _binary_loss(logits, labels, pos_weight, label_smoothing)
    if pos_weight is not None:
        raise ValueError("pos_weight: only valid with binary=True (use class weights for multi-class)")
    if logits.dim() != 2:
        raise ValueError(f"logits: expected (N, K) for multi-class, got {tuple(logits.shape)}")
    return F.cross_entropy(logits, labels.long(), label_smoothing=label_smoothing)


def _binary_loss(
    logits: Tensor, labels: Tensor, pos_weight: Tensor | float | None, label_smoothing: float
) -> Tensor:
    """BCE-with-logits on ``(N,)`` / ``(N, 1)`` logits; see :func:`classification_loss`."""
    if logits.dim() == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]  # (N,)
    if logits.dim() != 1:
        raise ValueError(f"logits: expected (N,) or (N, 1) for binary, got {tuple(logits.shape)}")
    targets = labels.to(logits.dtype)
    if label_smoothing > 0.0:
        targets = targets * (1.0 - label_smoothing) + 0.5 * label_smoothing
    weight = None
    if pos_weight is not None:
        weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device).reshape(())
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)


def auto_pos_weight(labels: np.ndarray) -> float:
    """``--pos-weight auto``: ratio ``#negatives / #positives`` of binary training labels.

    Raises:
        ValueError: when ``labels`` has no positives or no negatives (the ratio is undefined/zero).
    """
    y = np.asarray(labels).reshape(-1)
    pos = int(np.count_nonzero(y > 0.5))
    neg = int(y.size - pos)
    if pos == 0 or neg == 0:
        raise ValueError(
            f"auto pos-weight: training labels need both classes, got {pos} positive and {neg} negative"
        )
    return neg / pos


def signer_adversarial_loss(signer_logits: Tensor, signer_ids: Tensor, ignore_index: int = -1) -> Tensor:
    """Cross-entropy of the signer head over samples with a known signer.

    Args:
        signer_logits: ``(N, S)``.
        signer_ids: ``(N,)`` int, ``ignore_index`` (default ``-1``) for unknown signers.

    Returns:
        Scalar; 0 (still connected to ``signer_logits``' graph) when no sample has a known signer.
    """
    if signer_logits.dim() != 2:
        raise ValueError(f"signer_logits: expected (N, S), got {tuple(signer_logits.shape)}")
    if signer_ids.dim() != 1 or signer_ids.shape[0] != signer_logits.shape[0]:
        raise ValueError(
            f"signer_ids: expected shape ({signer_logits.shape[0]},), got {tuple(signer_ids.shape)}"
        )
    known = signer_ids != ignore_index  # (N,)
    if not bool(known.any()):
        return _zero_like_graph(signer_logits)
    return F.cross_entropy(signer_logits, signer_ids.long(), ignore_index=ignore_index)


class SupConLoss(nn.Module):
    """Supervised contrastive loss (Khosla et al., 2020, eq. 2, ``L_out``), one view per sample.

    For an anchor ``i`` with positives ``P(i) = {p != i : y_p = y_i}`` and ``A(i) = {a != i}``::

        L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / t) / sum_{a in A(i)} exp(z_i.z_a / t) )

    and the loss is the mean of ``L_i`` over anchors with ``|P(i)| > 0``. Anchors whose class occurs
    once in the batch are excluded (they still act as negatives for the others), so singleton classes
    never produce NaN; when no anchor has a positive (``N = 1``, all classes distinct) the loss is 0,
    connected to the graph. An all-same-class batch is finite (every other sample is a positive).
    Features are L2-normalized here (idempotent if they already are); the row maximum is subtracted
    before the log-sum-exp. No ``base_temperature`` rescaling (it equals ``temperature`` in the paper's
    code, i.e. a factor of 1).
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        if temperature <= 0.0:
            raise ValueError(f"temperature: expected > 0, got {temperature}")
        self.temperature = float(temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    def forward(self, features: Tensor, labels: Tensor) -> Tensor:
        """Args: features ``(N, D)``, labels ``(N,)`` int. Returns a scalar tensor."""
        if features.dim() != 2:
            raise ValueError(f"features: expected (N, D), got {tuple(features.shape)}")
        n = features.shape[0]
        if labels.dim() != 1 or labels.shape[0] != n:
            raise ValueError(f"labels: expected shape ({n},), got {tuple(labels.shape)}")
        z = F.normalize(features.float(), dim=1)  # (N, D)
        eye = torch.eye(n, dtype=torch.bool, device=z.device)  # (N, N)
        positives = (labels[:, None] == labels[None, :]) & ~eye  # (N, N)
        num_pos = positives.sum(dim=1)  # (N,)
        anchors = num_pos > 0  # (N,)
        if not bool(anchors.any()):
            return _zero_like_graph(features)
        sim = z[anchors] @ z.T / self.temperature  # (A, N), A anchors with a positive
        sim = sim - sim.max(dim=1, keepdim=True).values.detach()  # (A, N), stability only
        # every anchor row has >= 1 non-self entry, so the log-sum-exp below is finite
        denom = torch.logsumexp(sim.masked_fill(eye[anchors], float("-inf")), dim=1)  # (A,)
        log_prob = sim - denom[:, None]  # (A, N), finite everywhere (self entry unused)
        pos = positives[anchors]  # (A, N)
        mean_log_prob_pos = (log_prob * pos).sum(dim=1) / num_pos[anchors]  # (A,)
        return -mean_log_prob_pos.mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms: ``--signer-loss-weight`` and ``--supcon-weight`` (classification 1)."""

    classification: float = 1.0
    signer: float = 0.0
    supcon: float = 0.0

    def combine(
        self, classification: Tensor, signer: Tensor | None = None, supcon: Tensor | None = None
    ) -> Tensor:
        """Weighted sum; terms that are None or have weight 0 are skipped."""
        total = self.classification * classification
        if signer is not None and self.signer != 0.0:
            total = total + self.signer * signer
        if supcon is not None and self.supcon != 0.0:
            total = total + self.supcon * supcon
        return total
