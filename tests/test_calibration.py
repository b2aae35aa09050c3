"""Calibrated confidence: temperature scaling (fit, checkpoint, every consumer), ECE / reliability bins, open-set
metrics and ``--min-confidence`` ("unknown"), on synthetic logits and tiny 2-epoch models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli import detect as detect_cli
from signstgcn.cli.train import main as train_main
from signstgcn.data.readers import load_landmarks
from signstgcn.data.synthetic import generate_dataset
from signstgcn.inference.predictor import UNKNOWN, Predictor, Recognition, clip_scores, recognize
from signstgcn.metrics import expected_calibration_error, open_set_metrics, reliability_bins
from signstgcn.training.calibration import (
    TEMPERATURE_RANGE,
    Calibration,
    fit_temperature,
    nll,
    probabilities,
    temperature_threshold,
)
from signstgcn.training.checkpoint import read_checkpoint, update_checkpoint
from tests.conftest import REPO, TINY_MODEL, one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")


def _sampled(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N, K)`` logits and labels drawn from ``softmax(logits)``: perfectly calibrated at T = 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, k))
    probs = probabilities(logits, binary=False)
    labels = np.array([rng.choice(k, p=p) for p in probs])
    return logits, labels


# ------------------------------------------------------------------------------------------- fitting


def test_temperature_scaling_fixes_overconfident_logits_and_keeps_every_top1():
    logits, labels = _sampled(4000, 5, seed=0)
    sharp = 3.0 * logits  # over-confident: the right temperature is 3
    cal = fit_temperature(sharp, labels, binary=False)
    assert cal.fitted and cal.fitted_on == "val" and cal.samples == 4000
    assert cal.temperature == pytest.approx(3.0, rel=0.1)
    assert cal.nll_after < cal.nll_before - 0.1
    assert cal.nll_after == pytest.approx(nll(sharp, labels, binary=False, temperature=cal.temperature))
    scaled = probabilities(sharp, cal.temperature, binary=False)
    np.testing.assert_array_equal(np.argmax(scaled, axis=1), np.argmax(sharp, axis=1))
    assert expected_calibration_error(scaled, labels, binary=False) < \
        expected_calibration_error(probabilities(sharp, binary=False), labels, binary=False) - 0.05
    # deterministic, and an under-confident model gets T < 1
    assert fit_temperature(sharp, labels, binary=False) == cal
    assert fit_temperature(logits / 2.0, labels, binary=False).temperature == pytest.approx(0.5, rel=0.1)


def test_binary_temperature_and_threshold_keep_every_decision():
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 2.0, size=3000)
    y = (rng.random(3000) < probabilities(z, binary=True)).astype(np.int64)
    cal = fit_temperature(4.0 * z[:, None], y, binary=True)  # (N, 1) binary logits, 4x over-confident
    assert cal.temperature == pytest.approx(4.0, rel=0.15) and cal.nll_after < cal.nll_before
    for t in (0.3, 0.5, 0.8):
        moved = temperature_threshold(t, cal.temperature)
        np.testing.assert_array_equal(probabilities(4 * z, binary=True) >= t,
                                      probabilities(4 * z, cal.temperature, binary=True) >= moved)
    assert temperature_threshold(0.5, 7.0) == pytest.approx(0.5)


def test_fit_without_evidence_keeps_temperature_one_and_bad_input_is_a_clear_error():
    logits = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, -1.0]])
    perfect = fit_temperature(logits, np.array([0, 1, 0]), binary=False)
    assert perfect.temperature == 1.0 and not perfect.fitted and "classified correctly" in perfect.note
    empty = fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=np.int64), binary=False)
    assert empty.temperature == 1.0 and not empty.fitted
    noise = fit_temperature(np.random.default_rng(0).normal(size=(200, 3)) * 5,
                            np.random.default_rng(1).integers(0, 3, 200), binary=False)
    assert noise.temperature == pytest.approx(TEMPERATURE_RANGE[1], rel=1e-3) and "bound" in noise.note
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.array([[np.nan, 0.0]]), np.array([0]), binary=False)
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature(logits, np.array([0, 1, 5]), binary=False)
    with pytest.raises(ValueError, match="0/1"):
        fit_temperature(np.zeros(2), np.array([0, 2]), binary=True)
    with pytest.raises(ValueError, match="temperature"):
        probabilities(logits, 0.0, binary=False)


def test_calibration_entry_round_trip_and_old_checkpoints():
    cal = Calibration(1.7, "val", 12, 0.9, 0.7)
    assert Calibration.from_checkpoint({"calibration": cal.to_dict()}) == cal
    old = Calibration.from_checkpoint({"model": {}})
    assert old.temperature == 1.0 and not old.fitted and "no calibration" in old.note
    with pytest.raises(ValueError, match="temperature"):
        Calibration.from_checkpoint({"calibration": {"temperature": -1}})


# -------------------------------------------------------------------------------------------- metrics


def test_ece_is_near_zero_when_calibrated_and_high_when_overconfident():
    rng = np.random.default_rng(2)
    n, k = 20000, 4
    conf = rng.uniform(1 / k, 1.0, size=n)  # top-1 probability; the others share the rest
    probs = np.repeat(((1 - conf) / (k - 1))[:, None], k, axis=1)
    probs[:, 0] = conf
    right = rng.random(n) < conf  # correct exactly as often as the confidence says
    labels = np.where(right, 0, rng.integers(1, k, size=n))
    assert expected_calibration_error(probs, labels, binary=False) < 0.015
    sure = np.full((n, k), 0.01 / (k - 1))
    sure[:, 0] = 0.99
    wrong = np.where(rng.random(n) < 0.6, 0, 1)  # 60 % right at 99 % confidence
    assert expected_calibration_error(sure, wrong, binary=False) == pytest.approx(0.39, abs=0.015)
    p = rng.random(n)  # binary: positive probability vs share of positives
    assert expected_calibration_error(p, (rng.random(n) < p).astype(int), binary=True) < 0.015
    assert expected_calibration_error(p, (p > 0.5).astype(int), binary=True) > 0.2


def test_reliability_bins_by_hand():
    probs = np.array([[0.95, 0.05], [0.92, 0.08], [0.55, 0.45], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    r = reliability_bins(probs, labels, binary=False, bins=10)
    assert r["edges"] == pytest.approx(np.linspace(0, 1, 11).tolist()) and sum(r["count"]) == 4
    assert r["count"][9] == 2 and r["accuracy"][9] == 0.5 and r["confidence"][9] == pytest.approx(0.935)
    assert r["count"][5] == 1 and r["count"][7] == 1 and np.isnan(r["accuracy"][0])
    expected = (2 * abs(0.5 - 0.935) + abs(1 - 0.55) + abs(1 - 0.7)) / 4
    assert r["ece"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="probabilities"):
        reliability_bins(probs * 3, labels, binary=False)


def test_open_set_metrics_on_a_constructed_case():
    known = np.linspace(0.5, 1.0, 101)  # 101 known samples, all correct
    unknown = np.array([0.1, 0.2, 0.3, 0.4, 0.9725])
    m = open_set_metrics(known, np.ones(101, bool), unknown)
    # the unknown 0.9725 outranks the 95 known samples below it (of 101 x 5 pairs)
    assert m["open_set_auroc"] == pytest.approx(1 - 95 / 505)
    assert m["open_set_threshold"] == pytest.approx(np.percentile(known, 5)) == pytest.approx(0.525)
    assert m["unknown_rejected"] == pytest.approx(0.8) and m["known_correct_kept"] == pytest.approx(96 / 101)
    assert (m["num_known"], m["num_unknown"]) == (101, 5)
    # wrong known predictions do not set the threshold, but count in known_rejected
    correct = known > 0.6
    m2 = open_set_metrics(known, correct, unknown)
    assert m2["open_set_threshold"] == pytest.approx(np.percentile(known[correct], 5))
    assert m2["known_rejected"] == pytest.approx(np.mean(known < m2["open_set_threshold"]))
    none = open_set_metrics(known, np.zeros(101, bool), np.zeros(0))
    assert np.isnan(none["open_set_auroc"]) and np.isnan(none["open_set_threshold"])


# --------------------------------------------------------------------------------- training and inference


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread) -> dict[str, Path]:
    """A 2-epoch clip classifier (3 classes) with best.pt, and one without validation."""
    root = tmp_path_factory.mktemp("calibration")
    data = generate_dataset(root / "rec", task="recognition", num_signers=4, videos_per_signer=6, num_classes=3,
                            seed=3).out_dir
    common = ["--data", str(data), "--sample-mode", "video", "--window", "16", "--epochs", "2", "--batch", "8",
              *TINY_MODEL, "--quiet"]
    assert train_main([*common, "--save-best", "--best-metric", "loss", "--out", str(root / "run")]) == 0
    assert train_main([*common, "--val-fraction", "0", "--out", str(root / "noval")]) == 0
    return {"data": data, "run": root / "run", "noval": root / "noval"}


def test_training_stores_the_fitted_temperature_in_both_checkpoints(run, capsys):
    for name in ("last.pt", "best.pt"):
        raw = read_checkpoint(run["run"] / name)
        cal = Calibration.from_checkpoint(raw)
        assert cal.fitted and cal.fitted_on == "val" and cal.samples == 6, name
        assert cal.nll_after <= cal.nll_before
        assert Predictor.from_checkpoint(run["run"] / name).temperature == pytest.approx(cal.temperature)
    noval = Calibration.from_checkpoint(read_checkpoint(run["noval"] / "last.pt"))
    assert noval.temperature == 1.0 and not noval.fitted and noval.note == "no validation split"


def test_predictor_divides_by_the_stored_temperature_and_keeps_the_top1(run, tmp_path):
    ckpt = tmp_path / "hot.pt"
    ckpt.write_bytes((run["run"] / "last.pt").read_bytes())
    update_checkpoint(ckpt, {"calibration": Calibration(4.0, "val", 6, 1.0, 0.9).to_dict()})
    hot, plain = Predictor.from_checkpoint(ckpt), Predictor.from_checkpoint(run["run"] / "last.pt")
    assert hot.temperature == 4.0
    frames = hot.frames(load_landmarks(sorted(Path(run["data"]).glob("*.npz"))[0]))
    logits = clip_scores(hot, frames)[0]  # (K,)
    rec = recognize(hot, frames)
    np.testing.assert_allclose(rec.video_probs, probabilities(logits, 4.0, binary=False), atol=1e-6)
    assert np.argmax(rec.video_probs) == np.argmax(recognize(plain, frames).video_probs)
    assert rec.video_probs.max() < recognize(Predictor(hot.model, hot.data), frames).video_probs.max()


def test_an_old_checkpoint_without_calibration_loads_with_temperature_one():
    ckpt = REPO / "tests" / "data" / "checkpoint_before_library_api.pt"
    raw = torch.load(ckpt, weights_only=True)
    assert "calibration" not in raw
    assert Predictor.from_checkpoint(ckpt).temperature == 1.0


def test_min_confidence_reports_unknown_and_keeps_the_top_k():
    rec = Recognition(("a", "b", "c"), np.array([0.5, 0.3, 0.2]), None, None, min_confidence=0.6)
    assert rec.prediction == UNKNOWN and rec.top_k(rec.video_probs, 2) == [("a", 0.5), ("b", 0.3)]
    assert rec.label(np.array([0.1, 0.7, 0.2])) == "b" and rec.window_predictions is None
    windows = Recognition(("a", "b"), np.array([0.6, 0.4]), np.array([0, 5]), np.array([[0.9, 0.1], [0.55, 0.45]]),
                          min_confidence=0.6)
    assert windows.window_predictions == ["a", UNKNOWN] and windows.prediction == "a"
    assert Recognition(("a", "b"), np.array([0.5, 0.5]), None, None).prediction == "a"  # default 0: never unknown


def test_detect_min_confidence_writes_unknown_in_json_and_csv(run, tmp_path, capsys):
    ckpt = run["run"] / "best.pt"
    clip = sorted(Path(run["data"]).glob("*.npz"))[0]
    assert detect_cli.main([str(clip), "--ckpt", str(ckpt), "--out", str(tmp_path / "all"), "--quiet"]) == 0
    sure = json.loads((tmp_path / "all" / f"{clip.stem}.topk.json").read_text())
    assert sure["prediction"] == sure["top_k"][0]["label"] and sure["min_confidence"] == 0.0
    assert sure["temperature"] == pytest.approx(Predictor.from_checkpoint(ckpt).temperature)
    assert detect_cli.main([str(clip), "--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--min-confidence", "1",
                            "--top-k", "2"]) == 0
    assert "unknown (below --min-confidence 1)" in capsys.readouterr().out
    payload = json.loads((tmp_path / "o" / f"{clip.stem}.topk.json").read_text())
    assert payload["prediction"] == UNKNOWN and payload["min_confidence"] == 1.0
    assert [e["label"] for e in payload["top_k"]] == [e["label"] for e in sure["top_k"][:2]]  # top-k kept
    with open(tmp_path / "o" / f"{clip.stem}.topk.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["prediction"] == UNKNOWN and rows[0]["label_1"] == sure["top_k"][0]["label"]
    assert detect_cli.main([str(clip), "--ckpt", str(ckpt), "--out", str(tmp_path / "bad"),
                            "--min-confidence", "1.5"]) == 2
    assert "--min-confidence must be a probability in [0, 1]" in one_error_line(capsys)
