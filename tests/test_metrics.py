"""Tests of signstgcn.metrics: hand counts on tiny splits, whole-split vs per-batch, signer bias/probe."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from signstgcn.metrics import (
    MetricAccumulator,
    best_f1_threshold,
    binary_metrics,
    compute_metrics,
    confusion_matrix,
    multiclass_metrics,
    scalar_metrics,
    signer_bias_metrics,
    signer_probe,
    signer_probe_chance,
    within_class_signer_probe,
)

# 6 samples, threshold 0.5 -> pred [1, 1, 0, 1, 0, 0]: TP 2, FP 1, FN 1, TN 2
PROBS = np.array([0.9, 0.8, 0.4, 0.6, 0.2, 0.1])
LABELS = np.array([1, 1, 1, 0, 0, 0])

# compute_metrics keys are metrics.csv columns: the exact sets are part of the contract
SIGNER_KEYS = {
    "per_signer_acc", "mean_signer_acc", "worst_signer_acc", "best_signer_acc", "signer_gap",
    "num_signers", "signer_probe", "signer_probe_chance",
    "within_class_signer_probe", "within_class_signer_probe_chance",
}
BINARY_KEYS = {
    "num_samples", "accuracy", "precision", "recall", "f1", "pr_auc", "roc_auc", "pos_rate",
    "pred_pos_rate", "best_threshold", "best_f1",
} | SIGNER_KEYS
MULTICLASS_KEYS = {"num_samples", "accuracy", "top1", "top5", "macro_f1"} | SIGNER_KEYS


# ---------------------------------------------------------------------------------------------- binary
def test_binary_metrics_hand_counts() -> None:
    m = binary_metrics(PROBS, LABELS)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # ROC-AUC: 8 of the 9 (pos, neg) pairs are ordered correctly (0.4 < 0.6)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    # AP: ranking 1 1 0 1 0 0 -> 1/3 * (1 + 1 + 3/4)
    assert m["pr_auc"] == pytest.approx(11 / 12)
    assert m["pos_rate"] == 0.5 and m["pred_pos_rate"] == 0.5
    assert all(type(v) is float for v in m.values())


def test_binary_threshold_is_inclusive_and_zero_division() -> None:
    assert binary_metrics(np.array([0.5, 0.2]), np.array([1, 0]))["accuracy"] == 1.0
    m = binary_metrics(np.zeros(4), np.array([1, 0, 1, 0]))  # nothing predicted positive
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["roc_auc"] == 0.5


def test_binary_single_class_gives_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for labels in (np.ones(4, dtype=int), np.zeros(4, dtype=int)):
            m = binary_metrics(np.array([0.9, 0.1, 0.7, 0.3]), labels)
            assert math.isnan(m["pr_auc"]) and math.isnan(m["roc_auc"])
        threshold, f1 = best_f1_threshold(np.array([0.9, 0.1]), np.zeros(2, dtype=int))
        assert threshold == 0.5 and math.isnan(f1)


def test_binary_metrics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        binary_metrics(PROBS, np.array([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match="probs"):
        binary_metrics(PROBS[:5], LABELS)
    with pytest.raises(ValueError, match="finite"):
        binary_metrics(np.array([np.nan, 0.5]), np.array([0, 1]))


def test_best_f1_threshold_hand_value() -> None:
    # t = 0.4 predicts 4 positives: TP 3, FP 1 -> P 3/4, R 1, F1 6/7 (t = 0.8 gives 4/5)
    threshold, f1 = best_f1_threshold(PROBS, LABELS)
    assert threshold == pytest.approx(0.4) and f1 == pytest.approx(6 / 7)
    assert binary_metrics(PROBS, LABELS, threshold=threshold)["f1"] == pytest.approx(f1)


# ----------------------------------------------------------------------------------------- multi-class
def test_multiclass_hand_values() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    scores = np.eye(4)[pred]  # (6, 4): class 3 is never a label nor a prediction
    m = multiclass_metrics(scores, labels)
    assert m["top1"] == pytest.approx(4 / 6)
    # per-class F1 over present classes {0, 1, 2}: 1/2, 4/5, 2/3 (class 3 does not count)
    assert m["macro_f1"] == pytest.approx(59 / 90)
    assert m["top5"] == 1.0  # K = 4 < 5 -> top-4 always hits


def test_top5_with_more_classes() -> None:
    scores = np.array([[7, 6, 5, 4, 3, 2, 1], [7, 6, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6, 7]], dtype=float)
    labels = np.array([4, 5, 6])  # rank 5 (hit), rank 6 (miss), rank 1 (hit)
    m = multiclass_metrics(scores, labels)
    assert m["top5"] == pytest.approx(2 / 3) and m["top1"] == pytest.approx(1 / 3)


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(np.array([0, 1, 1, 2, 0]), np.array([0, 0, 1, 2, 2]), num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ValueError, match="pred"):
        confusion_matrix(np.array([3]), np.array([0]), num_classes=3)


# ----------------------------------------------------------------------------------------- signer bias
def test_signer_bias_metrics_ignore_unknown() -> None:
    correct = np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)
    signers = np.array([0, 0, 0, 1, 1, -1, 2])
    m = signer_bias_metrics(correct, signers)
    assert m["per_signer_acc"] == {"0": pytest.approx(2 / 3), "1": 0.5, "2": 1.0}
    assert m["worst_signer_acc"] == 0.5 and m["best_signer_acc"] == 1.0 and m["signer_gap"] == 0.5
    assert m["num_signers"] == 3
    assert m["mean_signer_acc"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    json.dumps(m)


def test_signer_bias_metrics_string_ids_and_none() -> None:
    correct = np.array([True, False, True, True])
    signers = np.array(["alice", "bob", None, "bob"], dtype=object)
    m = signer_bias_metrics(correct, signers)
    assert m["per_signer_acc"] == {"alice": 1.0, "bob": 0.5} and m["num_signers"] == 2
    empty = signer_bias_metrics(correct, np.full(4, -1))
    assert empty["num_signers"] == 0 and math.isnan(empty["signer_gap"]) and empty["per_signer_acc"] == {}


# ---------------------------------------------------------------------------------------- signer probe
def _signer_data(n_per: int, num_signers: int, dim: int, signal: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    signers = np.repeat(np.arange(num_signers), n_per)  # (N,)
    centres = rng.normal(size=(num_signers, dim))  # (S, E)
    emb = signal * centres[signers] + rng.normal(size=(signers.size, dim))  # (N, E)
    return emb, signers


def test_signer_probe_high_when_embedding_encodes_signer() -> None:
    emb, signers = _signer_data(60, 4, 16, signal=2.0)
    assert signer_probe(emb, signers) > 0.9


def test_signer_probe_near_chance_on_random_embeddings() -> None:
    emb, signers = _signer_data(60, 4, 16, signal=0.0)
    chance = signer_probe_chance(signers)
    assert chance == 0.25
    assert signer_probe(emb, signers) < chance + 0.15


def test_signer_probe_groups_block_video_leakage() -> None:
    # every video has its own embedding centre, unrelated to its signer: without groups the probe
    # recognises the video (and so the signer); with groups (videos held out) it is near chance
    rng = np.random.default_rng(0)
    videos = np.repeat(np.arange(12), 20)  # (240,) 12 videos x 20 windows
    signers = videos % 4  # 4 signers x 3 videos
    emb = 3.0 * rng.normal(size=(12, 16))[videos] + rng.normal(size=(videos.size, 16))
    assert signer_probe(emb, signers) > 0.9
    assert signer_probe(emb, signers, groups=videos) < 0.5


def test_signer_probe_degenerate_cases() -> None:
    emb = np.random.default_rng(0).normal(size=(6, 3))
    assert math.isnan(signer_probe(emb, np.zeros(6, dtype=int)))  # one signer
    assert math.isnan(signer_probe(emb, np.full(6, -1)))  # no known signer
    assert math.isnan(signer_probe(emb, np.array([0, 1, 2, 3, 4, 5])))  # every signer seen once
    # signer 2 occurs once -> dropped; 2 samples each for 0 and 1 -> 2 folds
    value = signer_probe(emb[:5], np.array([0, 0, 1, 1, 2]))
    assert 0.0 <= value <= 1.0
    assert math.isnan(signer_probe_chance(np.full(3, -1)))


def test_within_class_probe_ignores_what_the_class_explains() -> None:
    # 4 signers, 4 classes; each signer signs "their" class 70% of the time. An embedding that holds only the
    # class lets the plain probe beat chance (class -> likely signer) but not the within-class probe.
    rng = np.random.default_rng(0)
    signers = np.repeat(np.arange(4), 80)  # (320,)
    other = (signers + rng.integers(1, 4, size=signers.size)) % 4
    labels = np.where(rng.random(signers.size) < 0.7, signers, other)  # (320,)
    class_only = 4.0 * np.eye(4)[labels] + rng.normal(size=(signers.size, 4))  # (320, 4)
    plain = signer_probe(class_only, signers)
    within, chance = within_class_signer_probe(class_only, signers, labels)
    assert plain > 0.55  # chance 0.25: the class alone identifies the signer most of the time
    assert within < chance + 0.1  # inside a class: no better than naming its usual signer
    # add a signer direction: the within-class probe now finds the signer too
    with_signer = class_only + 3.0 * rng.normal(size=(4, 4))[signers]
    assert within_class_signer_probe(with_signer, signers, labels)[0] > 0.9


def test_within_class_probe_degenerate_cases() -> None:
    emb = np.random.default_rng(0).normal(size=(8, 3))
    # every class has a single signer: nothing to probe
    within = within_class_signer_probe(emb, np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0] * 4 + [1] * 4))
    assert all(math.isnan(v) for v in within)
    with pytest.raises(ValueError, match="labels"):
        within_class_signer_probe(emb, np.zeros(8), np.zeros(7))


def test_signer_probe_subsamples_deterministically() -> None:
    emb, signers = _signer_data(100, 3, 8, signal=1.0)
    a = signer_probe(emb, signers, max_samples=120, seed=3)
    assert a == signer_probe(emb, signers, max_samples=120, seed=3)


# ------------------------------------------------------------------------------------------ whole split
def test_whole_split_differs_from_per_batch_average() -> None:
    """Why MetricAccumulator exists: batch means of accuracy/AUC are not the split's metrics."""
    batches = [  # (logits, labels): batch 0 all correct (4), batch 1 one wrong sample
        (np.array([2.0, 1.0, -1.0, -2.0]), np.array([1, 1, 0, 0])),
        (np.array([3.0]), np.array([0])),
    ]
    acc = MetricAccumulator(binary=True)
    for logits, labels in batches:
        acc.update(torch.from_numpy(logits), torch.from_numpy(labels))
    whole = acc.compute()
    per_batch = [compute_metrics({"logits": lg, "labels": lb}, binary=True) for lg, lb in batches]
    assert whole["accuracy"] == pytest.approx(4 / 5)
    assert np.mean([m["accuracy"] for m in per_batch]) == pytest.approx(1 / 2)
    # AUC of a batch with one class is undefined; over the split 4 of the 6 (pos, neg) pairs are right
    assert math.isnan(per_batch[1]["roc_auc"]) and whole["roc_auc"] == pytest.approx(4 / 6)


def test_ranking_within_batches_is_not_ranking_over_split() -> None:
    # each batch is perfectly ranked (AUC 1) but batch 1's scores are all higher than batch 0's
    b0 = (np.array([0.2, 0.1]), np.array([1, 0]))
    b1 = (np.array([0.9, 0.8]), np.array([1, 0]))
    whole = binary_metrics(np.concatenate([b0[0], b1[0]]), np.concatenate([b0[1], b1[1]]))
    assert binary_metrics(*b0)["roc_auc"] == 1.0 and binary_metrics(*b1)["roc_auc"] == 1.0
    assert whole["roc_auc"] == pytest.approx(3 / 4)


def test_compute_metrics_binary_keys_and_json() -> None:
    signers = np.array([0, 0, 1, 1, 2, -1])
    out = compute_metrics({"probs": PROBS, "labels": LABELS, "signers": signers}, binary=True)
    assert set(out) == BINARY_KEYS
    no_signers = compute_metrics({"probs": PROBS, "labels": LABELS}, binary=True)
    assert set(no_signers) == BINARY_KEYS and no_signers["num_signers"] == 0
    assert out["num_samples"] == 6 and out["best_f1"] == pytest.approx(6 / 7)
    # correct = [1, 1, 0, 0, 1, 1]: signer 0 -> 1, signer 1 -> 0, signer 2 -> 1
    assert out["worst_signer_acc"] == 0.0 and out["signer_gap"] == 1.0 and out["num_signers"] == 3
    assert math.isnan(out["signer_probe"])  # no embeddings
    json.loads(json.dumps(out))
    assert "per_signer_acc" not in scalar_metrics(out) and "signer_gap" in scalar_metrics(out)


def test_compute_metrics_logit_zero_is_positive() -> None:
    out = compute_metrics({"logits": np.array([[0.0], [-1.0]]), "labels": np.array([1, 0])}, binary=True)
    assert out["accuracy"] == 1.0


def test_accumulator_multiclass_with_probe() -> None:
    emb, signers = _signer_data(30, 3, 8, signal=3.0)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, size=signers.size)
    logits = rng.normal(size=(signers.size, 6)).astype(np.float32)
    acc = MetricAccumulator(binary=False)
    for start in range(0, signers.size, 16):
        sl = slice(start, start + 16)
        acc.update(
            torch.from_numpy(logits[sl]).to(torch.bfloat16).float(),
            torch.from_numpy(labels[sl]),
            signers=torch.from_numpy(signers[sl]),
            embeddings=torch.from_numpy(emb[sl]).requires_grad_(),
        )
    assert len(acc) == signers.size
    out = acc.compute()
    assert set(out) == MULTICLASS_KEYS
    assert out["accuracy"] == out["top1"]
    assert out["signer_probe"] > 0.9 and out["signer_probe_chance"] == pytest.approx(1 / 3)
    direct = multiclass_metrics(acc.outputs()["logits"], labels)
    assert out["macro_f1"] == pytest.approx(direct["macro_f1"])
    acc.reset()
    assert len(acc) == 0


def test_accumulator_requires_consistent_optional_fields() -> None:
    acc = MetricAccumulator(binary=True)
    acc.update(torch.zeros(2), torch.zeros(2), signers=torch.zeros(2))
    with pytest.raises(ValueError, match="signers"):
        acc.update(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="no batch"):
        MetricAccumulator(binary=True).compute()
