"""Isolated-sign recognition on real MediaPipe recordings of people the model never saw (issue 8).

``../shared/data/mp_signers``: 19 real signers (each a different person, camera and room), 3 signs, 45
sequences of 30 frames per signer. Train on 12 signers, test on the other 7 (the signer-disjoint validation
split of ``--val-fraction 0.37 --seed 0``; its last epoch is evaluated, no model selection on it).
For scale: chance is 0.33, a logistic regression on normalized coordinates about 0.86. Uses the default
input representation (hands relative, canonical bones).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signstgcn.cli import evaluate as evaluate_cli
from signstgcn.cli import train as train_cli
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


def test_unseen_real_signers_top1(tmp_path: Path) -> None:
    data = shared_data("mp_signers")
    run = tmp_path / "run"
    argv = ["--data", str(data), "--sample-mode", "video", "--window", "30",
            "--stgcn-channels", "32,64,64", "--temporal-hidden", "64", "--epochs", "10", "--lr", "2e-3",
            "--val-fraction", "0.37", "--seed", "0", "--out", str(run), "--quiet"]
    assert train_cli.main(argv) == 0
    assert evaluate_cli.main(["--ckpt", str(run / "last.pt"), "--data", str(data), "--split", "val",
                              "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    counts, metrics = report["counts"], report["metrics"]
    assert counts["signers"] == 7 and counts["windows"] == 7 * 45, counts
    assert counts["videos_seen_in_training"] == 0
    # The default input measures top-1 0.921 here (and 0.921 on the splits of seeds 1 and 2), worst signer 0.78;
    # single runs on these signers move by 0.02-0.03 with the seed, so the bounds are the measurement minus that.
    assert metrics["top1"] >= 0.90, metrics
    assert metrics["macro_f1"] >= 0.88, metrics
    assert metrics["worst_signer_acc"] >= 0.70, metrics
