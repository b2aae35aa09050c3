"""Tests of signstgcn.training.losses: hand-computed values, SupCon vs a reference loop, degenerate batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from signstgcn.training.losses import (
    LossWeights,
    SupConLoss,
    auto_pos_weight,
    classification_loss,
    signer_adversarial_loss,
)


# ------------------------------------------------------------------------------------ classification
def test_bce_known_value_and_shapes() -> None:
    logits = torch.tensor([0.0, math.log(3.0)])  # sigmoid: 1/2, 3/4
    labels = torch.tensor([0, 1])
    expected = 0.5 * (math.log(2.0) + math.log(4.0 / 3.0))
    loss = classification_loss(logits, labels, binary=True)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss_2d = classification_loss(logits[:, None], labels.float(), binary=True)  # (N, 1), float labels
    assert loss_2d.item() == pytest.approx(expected, abs=1e-6)


def test_bce_pos_weight_scales_positive_term() -> None:
    logits = torch.tensor([0.0, math.log(3.0)])
    labels = torch.tensor([0, 1])
    expected = 0.5 * (math.log(2.0) + 2.0 * math.log(4.0 / 3.0))
    for pw in (torch.tensor(2.0), torch.tensor([2.0]), 2.0):
        loss = classification_loss(logits, labels, binary=True, pos_weight=pw)
        assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_bce_label_smoothing_targets() -> None:
    logits = torch.tensor([math.log(3.0)])  # p = 3/4, target 1 -> 0.9 with eps 0.2
    loss = classification_loss(logits, torch.tensor([1]), binary=True, label_smoothing=0.2)
    expected = -(0.9 * math.log(0.75) + 0.1 * math.log(0.25))
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_ce_label_smoothing_matches_manual_formula() -> None:
    logits = torch.log(torch.tensor([[1.0, 2.0, 5.0]]))  # softmax = 1/8, 2/8, 5/8
    eps = 0.3
    loss = classification_loss(logits, torch.tensor([2]), binary=False, label_smoothing=eps)
    nll = [-math.log(1 / 8), -math.log(2 / 8), -math.log(5 / 8)]
    expected = (1 - eps) * nll[2] + eps / 3 * sum(nll)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    plain = classification_loss(logits, torch.tensor([2]), binary=False)
    assert plain.item() == pytest.approx(nll[2], abs=1e-6)


def test_classification_loss_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="pos_weight"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 1]), binary=False, pos_weight=2.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 1]), binary=False, label_smoothing=1.0)
    with pytest.raises(ValueError, match="binary"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 1]), binary=True)
    with pytest.raises(ValueError, match="labels"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 1, 2]), binary=False)


def test_auto_pos_weight() -> None:
    assert auto_pos_weight(np.array([0, 0, 0, 1])) == 3.0
    assert auto_pos_weight(np.array([1.0, 1.0, 0.0])) == 0.5
    with pytest.raises(ValueError, match="0 positive"):
        auto_pos_weight(np.zeros(5))
    with pytest.raises(ValueError, match="0 negative"):
        auto_pos_weight(np.ones(5, dtype=np.int64))


# ------------------------------------------------------------------------------------------ adversary
def test_signer_adversarial_loss_ignores_unknown() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 3)
    ids = torch.tensor([0, -1, 2, -1, 1])
    known = ids != -1
    expected = F.cross_entropy(logits[known], ids[known])
    assert signer_adversarial_loss(logits, ids).item() == pytest.approx(expected.item(), abs=1e-6)


def test_signer_adversarial_loss_all_unknown_is_zero_with_graph() -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    loss = signer_adversarial_loss(logits, torch.full((4,), -1))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros(4, 3))


# -------------------------------------------------------------------------------------------- SupCon
def supcon_reference(features: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Straightforward loop over anchors / positives (Khosla et al., eq. 2), float64."""
    z = F.normalize(features.double(), dim=1)
    n = z.shape[0]
    per_anchor = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(z[i] @ z[a]) / temperature) for a in range(n) if a != i)
        terms = [math.log(math.exp(float(z[i] @ z[p]) / temperature) / denom) for p in positives]
        per_anchor.append(-sum(terms) / len(terms))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def test_supcon_hand_values() -> None:
    loss = SupConLoss(temperature=0.5)
    # two samples of one class: the only non-self sample is the positive -> log(1) = 0
    assert loss(torch.randn(2, 4), torch.tensor([3, 3])).item() == pytest.approx(0.0, abs=1e-6)
    # orthogonal features, classes [0, 0, 1]: anchors 0 and 1 each get log(1/2)
    value = loss(torch.eye(3), torch.tensor([0, 0, 1])).item()
    assert value == pytest.approx(math.log(2.0), abs=1e-6)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_matches_reference_loop(temperature: float) -> None:
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(12, 8, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 3, 2, 4, 1, 0, 5])  # classes 3, 4, 5 are singletons
    value = SupConLoss(temperature)(features, labels).item()
    assert value == pytest.approx(supcon_reference(features, labels, temperature), rel=1e-5)


def test_supcon_scale_invariant() -> None:
    features = torch.randn(6, 5)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = SupConLoss()
    assert loss(features, labels).item() == pytest.approx(loss(7.0 * features, labels).item(), rel=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 1, 2, 2, 2],  # singleton class 0
        [4, 4, 4, 4, 4, 4],  # all same class
        [0, 1, 2, 3, 4, 5],  # no positives at all -> 0
    ],
)
def test_supcon_finite_with_finite_gradient(labels: list[int]) -> None:
    features = torch.randn(len(labels), 16, requires_grad=True)
    value = SupConLoss(temperature=0.07)(features, torch.tensor(labels))
    value.backward()
    assert torch.isfinite(value)
    assert features.grad is not None and torch.isfinite(features.grad).all()


def test_supcon_single_sample_is_zero_and_connected() -> None:
    features = torch.randn(1, 4, requires_grad=True)
    value = SupConLoss()(features, torch.tensor([0]))
    assert value.item() == 0.0
    value.backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


def test_supcon_extreme_similarity_stays_finite() -> None:
    # identical features with a tiny temperature: exp(1 / 1e-4) overflows without the max subtraction
    features = torch.ones(4, 3, requires_grad=True)
    value = SupConLoss(temperature=1e-4)(features, torch.tensor([0, 0, 1, 1]))
    value.backward()
    assert torch.isfinite(value) and value.item() == pytest.approx(math.log(3.0), abs=1e-5)
    assert torch.isfinite(features.grad).all()


def test_supcon_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="temperature"):
        SupConLoss(temperature=0.0)
    with pytest.raises(ValueError, match="features"):
        SupConLoss()(torch.randn(2, 3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        SupConLoss()(torch.randn(3, 4), torch.tensor([0, 1]))


# ----------------------------------------------------------------------------------------- weights
def test_loss_weights_combine() -> None:
    w = LossWeights(signer=0.5, supcon=0.0)
    total = w.combine(torch.tensor(2.0), signer=torch.tensor(4.0), supcon=torch.tensor(float("nan")))
    assert total.item() == 4.0  # 2 + 0.5 * 4; supcon skipped (weight 0)
    assert LossWeights().combine(torch.tensor(1.5)).item() == 1.5
