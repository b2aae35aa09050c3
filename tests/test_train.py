"""``python -m train_landmarks``: the DESIGN §5 commands end to end on small synthetic data."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli.train import main
from signstgcn.data.synthetic import generate_dataset
from signstgcn.training.checkpoint import CHECKPOINT_KEYS, load_checkpoint, read_checkpoint
from signstgcn.training.config import TrainConfig
from signstgcn.training.fit import fit
from tests.conftest import REPO, TINY_MODEL, one_error_line


@pytest.fixture(scope="module")
def detection_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("det") / "data"
    generate_dataset(out, task="detection", num_signers=4, videos_per_signer=2, seed=1)
    return out


@pytest.fixture(scope="module")
def recognition_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "data"
    generate_dataset(out, task="recognition", num_signers=4, videos_per_signer=6, num_classes=3, seed=1)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _train(data: Path, out: Path, *extra: str) -> int:
    return main(["--data", str(data), "--out", str(out), "--epochs", "1", "--batch", "16", "--quiet",
                 *TINY_MODEL, *extra])


def test_binary_command_of_the_design(detection_data, tmp_path):
    out = tmp_path / "run"
    rc = _train(detection_data, out, "--binary", "--signing-labels", "s,sign", "--window", "25", "--stride", "8",
                "--coords", "2", "--include-pose", "--include-hands", "--best-metric", "pr_auc",
                "--signer-loss-weight", "0.5", "--lambda-grl", "0.5", "--dropout", "0.1", "--save-best",
                "--log-csv", "--epochs", "2", "--lr", "1e-3")
    assert rc == 0
    for name in ("last.pt", "best.pt", "metrics.csv", "config.json", "curves.png"):
        assert (out / name).is_file(), name
    ckpt = read_checkpoint(out / "last.pt")
    assert set(CHECKPOINT_KEYS) <= set(ckpt)
    assert ckpt["epoch"] == 2 and ckpt["config"]["num_classes"] == 1 and ckpt["config"]["num_signers"] == 3
    assert ckpt["data"]["vocab"]["binary"] and ckpt["data"]["signer_source"] == "real"
    assert set(ckpt["data"]["splits"]["train"]).isdisjoint(ckpt["data"]["splits"]["val"])
    rows = _rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]  # epochs count from 1, as on the console
    for col in ("lr", "seconds", "train_loss", "train_cls_loss", "train_signer_loss", "val_loss", "val_accuracy",
                "val_precision", "val_recall", "val_f1", "val_pr_auc", "val_roc_auc", "val_worst_signer_acc",
                "val_signer_gap", "val_signer_probe"):
        assert col in rows[0], col
    assert float(rows[0]["train_signer_loss"]) > 0
    loaded = load_checkpoint(out / "best.pt")
    assert loaded.data["layout"]["include_face"] is False and loaded.model.config.in_channels == 2
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["binary"] is True and config["model"]["stgcn_channels"] == [8, 16]


def test_multiclass_with_pseudo_signers_supcon_and_face(recognition_data, tmp_path):
    out = tmp_path / "run"
    rc = _train(recognition_data, out, "--sample-mode", "video", "--window", "16", "--num-classes", "3",
                "--include-pose", "--include-hands", "--include-face", "--coords", "3", "--use-pseudo-signers",
                "--num-pseudo-signers", "3", "--signer-loss-weight", "0.3", "--use-supcon", "--supcon-weight",
                "0.1", "--supcon-temp", "0.07", "--best-metric", "f1", "--save-best", "--log-csv")
    assert rc == 0
    ckpt = read_checkpoint(out / "best.pt")
    assert ckpt["config"]["num_classes"] == 3 and ckpt["config"]["num_signers"] == 3
    assert ckpt["config"]["supcon_dim"] > 0 and ckpt["config"]["in_channels"] == 3
    assert ckpt["data"]["signer_source"] == "pseudo" and len(ckpt["data"]["pseudo_signers"]["centroids"]) == 3
    assert ckpt["data"]["vocab"]["classes"] == ["sign00", "sign01", "sign02"]
    rows = _rows(out / "metrics.csv")
    assert {"val_top1", "val_top5", "val_macro_f1", "train_supcon_loss"} <= set(rows[0])
    assert float(rows[0]["train_supcon_loss"]) > 0


@pytest.mark.parametrize("ablation", [["--attention", "none", "--temporal", "pool"], ["--no-signer-attention"]])
def test_ablations_without_signer_encoder_train(recognition_data, tmp_path, ablation):
    rc = _train(recognition_data, tmp_path / "run", "--sample-mode", "video", "--window", "16", *ablation)
    assert rc == 0
    config = read_checkpoint(tmp_path / "run" / "last.pt")["config"]
    assert config["signer_encoder"] is False and config["attention"] == ("none" if "none" in ablation else "plain")


def test_input_streams_train_and_detect(detection_data, tmp_path):
    """A bone + motion model trains, records its streams in the checkpoint and runs through detect."""
    from signstgcn.cli.detect import main as detect_main

    rc = _train(detection_data, tmp_path / "run", "--binary", "--window", "16", "--stride", "8",
                "--input-streams", "joint,bone,motion")
    assert rc == 0
    loaded = load_checkpoint(tmp_path / "run" / "last.pt")
    assert loaded.model.config.input_streams == ("joint", "bone", "motion")
    assert loaded.model.backbone.in_channels == 3 * loaded.model.config.in_channels
    video = sorted(detection_data.glob("*.npz"))[0]
    assert detect_main(["--ckpt", str(tmp_path / "run" / "last.pt"), "--out", str(tmp_path / "det"), "--quiet",
                        str(video)]) == 0
    rows = _rows(tmp_path / "det" / f"{video.stem}.frames.csv")
    probs = np.array([float(r["probability"]) for r in rows])
    assert len(probs) == np.load(video)["pose"].shape[0] and ((probs >= 0) & (probs <= 1)).all()


def test_splits_json_is_used(detection_data, tmp_path):
    splits = tmp_path / "splits.json"
    subprocess.run([sys.executable, "-m", "build_video_splits", "--data", str(detection_data), "--window", "25",
                    "--stride", "8", "--s-label", "s", "--rule", "any", "--train", "0.5", "--val", "0.25",
                    "--test", "0.25", "--group-by", "signer", "--out", str(splits)], cwd=REPO, check=True,
                   capture_output=True)
    expected = json.loads(splits.read_text())["splits"]
    assert _train(detection_data, tmp_path / "run", "--binary", "--signing-labels", "s", "--stride", "8",
                  "--splits-json", str(splits)) == 0
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["data"]["splits"]["train"] == expected["train"] and ckpt["data"]["splits"]["val"] == expected["val"]


def test_val_fraction_zero_trains_on_every_video_without_validation(recognition_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(recognition_data, out, "--sample-mode", "video", "--window", "16", "--val-fraction", "0",
                  "--log-csv", "--epochs", "2") == 0
    printed = capsys.readouterr().out
    assert "no validation split" in printed and "no validation  (" in printed and "best acc" not in printed
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt["data"]["splits"]["val"] == [] and len(ckpt["data"]["splits"]["train"]) == 24
    assert ckpt["epoch"] == 2 and ckpt["metrics"] == {} and not (out / "best.pt").exists()
    rows = _rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[1]["train_loss"]) > 0
    val = [c for c in rows[0] if c.startswith("val_")]
    assert {"val_loss", "val_top1", "val_macro_f1", "val_worst_signer_acc"} <= set(val)
    assert all(r[c] == "" for r in rows for c in val)  # the columns exist, empty
    assert (out / "curves.png").is_file()
    assert _train(recognition_data, out, "--sample-mode", "video", "--window", "16", "--val-fraction", "0",
                  "--log-csv", "--epochs", "3", "--resume") == 0  # resuming a run without validation
    assert read_checkpoint(out / "last.pt")["epoch"] == 3 and len(_rows(out / "metrics.csv")) == 3


def test_splits_json_without_val_trains_without_validation(detection_data, tmp_path, capsys):
    ids = sorted(p.stem for p in detection_data.glob("*.npz"))
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"splits": {"train": ids[:6], "test": ids[6:]}}))
    assert _train(detection_data, tmp_path / "run", "--binary", "--signing-labels", "s", "--stride", "12",
                  "--splits-json", str(splits)) == 0
    ckpt = read_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["data"]["splits"] == {"train": ids[:6], "val": []}
    capsys.readouterr()
    assert _train(detection_data, tmp_path / "sel", "--binary", "--signing-labels", "s", "--stride", "12",
                  "--splits-json", str(splits), "--save-best") == 2
    err = capsys.readouterr().err
    assert "--save-best needs a validation split" in err and "empty 'val' split" in err and "\n" not in err.strip()
    assert not (tmp_path / "sel" / "last.pt").exists()


def test_same_seed_same_run(detection_data, tmp_path):
    args = ("--binary", "--signing-labels", "s", "--stride", "10", "--epochs", "2", "--seed", "7", "--log-csv")
    assert _train(detection_data, tmp_path / "a", *args) == 0
    assert _train(detection_data, tmp_path / "b", *args) == 0
    a, b = read_checkpoint(tmp_path / "a" / "last.pt"), read_checkpoint(tmp_path / "b" / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in _rows(tmp_path / "a" / "metrics.csv")]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in _rows(tmp_path / "b" / "metrics.csv")]


def test_resume_gives_the_uninterrupted_result(detection_data, tmp_path, monkeypatch):
    args = ("--binary", "--signing-labels", "s", "--stride", "10", "--seed", "3", "--log-csv", "--save-best",
            "--epochs", "3")
    assert _train(detection_data, tmp_path / "full", *args) == 0

    import signstgcn.training.fit as train_cli

    real_save = train_cli.save_checkpoint

    def save_then_crash(path, model, **kw):  # the process dies right after epoch 1's last.pt
        real_save(path, model, **kw)
        if Path(path).name == "last.pt" and kw["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _train(detection_data, tmp_path / "part", *args)
    monkeypatch.setattr(train_cli, "save_checkpoint", real_save)
    assert read_checkpoint(tmp_path / "part" / "last.pt")["epoch"] == 2
    assert _train(detection_data, tmp_path / "part", *args, "--resume") == 0
    full, part = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "part" / "last.pt")
    assert part["epoch"] == 3
    for key in full["model"]:
        torch.testing.assert_close(part["model"][key], full["model"][key], rtol=0, atol=0, msg=key)
    rows_full, rows_part = _rows(tmp_path / "full" / "metrics.csv"), _rows(tmp_path / "part" / "metrics.csv")
    assert [r["epoch"] for r in rows_part] == ["1", "2", "3"]
    assert [r["val_loss"] for r in rows_part] == [r["val_loss"] for r in rows_full]
    assert [r["lr"] for r in rows_part] == [r["lr"] for r in rows_full]


def _epoch_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("epoch ", "best "))]


def test_one_epoch_numbering_on_console_csv_and_checkpoints(detection_data, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    args = ("--binary", "--signing-labels", "s", "--stride", "10", "--epochs", "3", "--log-csv", "--save-best",
            "--best-metric", "loss")
    assert _train(detection_data, out, *args) == 0
    lines = _epoch_lines(capsys.readouterr().out)
    starred = [int(line.split()[1].split("/")[0]) for line in lines if line.endswith("*")]
    best_line = lines[-1]
    assert lines[0].startswith("epoch 1/3") and best_line.endswith(f"(epoch {starred[-1]}); wrote {out}")
    assert [r["epoch"] for r in _rows(out / "metrics.csv")] == ["1", "2", "3"]
    assert read_checkpoint(out / "last.pt")["epoch"] == 3 and read_checkpoint(out / "best.pt")["epoch"] == starred[-1]
    # resuming with more epochs names the best epoch (not "?"), warns about the longer schedule, numbers on
    assert _train(detection_data, out, *args[:-6], "--epochs", "4", "--log-csv", "--save-best", "--best-metric",
                  "loss", "--resume") == 0
    lines = _epoch_lines(capsys.readouterr().out)
    assert lines[0].startswith("epoch 4/4") and "(epoch ?)" not in lines[-1] and "(epoch " in lines[-1]
    assert "--epochs 4 differs from the resumed run's 3" in caplog.text and "epoch 4 trains at lr" in caplog.text
    rows = _rows(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"] and float(rows[-1]["lr"]) > 0


def test_resuming_a_finished_run_needs_more_epochs(detection_data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ("--binary", "--signing-labels", "s", "--stride", "10")
    assert _train(detection_data, out, *args) == 0
    capsys.readouterr()
    assert _train(detection_data, out, *args, "--resume") == 2
    err = one_error_line(capsys)
    assert "has already trained 1 epochs and --epochs is 1; pass a larger --epochs" in err


def test_checkpoints_of_format_1_count_epochs_from_1_when_read(detection_data, tmp_path):
    out = tmp_path / "run"
    assert _train(detection_data, out, "--binary", "--signing-labels", "s", "--stride", "10") == 0
    raw = torch.load(out / "last.pt", weights_only=True)
    raw["epoch"], raw["version"]["format"] = 0, 1  # what earlier versions wrote after one epoch
    torch.save(raw, out / "old.pt")
    assert read_checkpoint(out / "old.pt")["epoch"] == 1 == load_checkpoint(out / "old.pt").epoch


def test_a_window_longer_than_every_video_is_refused_in_binary_mode(detection_data, tmp_path, capsys):
    longest = max(np.load(f)["pose"].shape[0] for f in detection_data.glob("*.npz"))
    assert _train(detection_data, tmp_path / "run", "--binary", "--signing-labels", "s", "--window",
                  str(longest + 1)) == 2
    err = one_error_line(capsys)
    assert f"--window {longest + 1} is longer than every video (the longest has {longest} frames)" in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_clips_shorter_than_the_window_are_counted_in_a_warning(recognition_data, tmp_path, caplog):
    assert _train(recognition_data, tmp_path / "run", "--window", "1000", "--stride", "1000") == 0
    assert "24 of 24 videos are shorter than --window 1000" in caplog.text and "--sample-mode video" in caplog.text


def test_nan_validation_metric_never_selects_a_best_checkpoint(detection_data, tmp_path, capsys, monkeypatch):
    import signstgcn.training.fit as train_cli

    real = train_cli.evaluate

    def nan_pr_auc(*args, **kwargs):  # a validation split with one class has no PR-AUC
        metrics, outputs = real(*args, **kwargs)
        return {**metrics, "pr_auc": float("nan")}, outputs

    monkeypatch.setattr(train_cli, "evaluate", nan_pr_auc)
    out = tmp_path / "run"
    assert _train(detection_data, out, "--binary", "--signing-labels", "s", "--stride", "10", "--epochs", "2",
                  "--save-best", "--best-metric", "pr_auc") == 0
    printed = capsys.readouterr().out
    assert not (out / "best.pt").exists() and (out / "last.pt").exists()
    assert "no epoch had a finite validation pr_auc" in printed and "*" not in printed


def test_start_line_counts_signers_and_threads(detection_data, tmp_path, capsys):
    assert _train(detection_data, tmp_path / "run", "--binary", "--signing-labels", "s", "--stride", "10",
                  "--threads", "1") == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "signers: real ids, 3 in train + 1 in val of 4" in first and "1 CPU thread " in first


def test_torchrun_two_processes(detection_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "train_landmarks", "--data", str(detection_data), "--binary", "--signing-labels", "s", "--stride", "10",
           "--epochs", "1", "--batch", "8", "--out", str(out), "--log-csv", "--save-best", "--quiet", *TINY_MODEL]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("epoch 1/1") == 1  # only rank 0 prints and writes
    loaded = load_checkpoint(out / "last.pt")
    assert loaded.epoch == 1 and all(torch.isfinite(p).all() for p in loaded.model.parameters())
    assert not any(k.startswith("module.") for k in read_checkpoint(out / "last.pt")["model"])
    rows = _rows(out / "metrics.csv")
    assert len(rows) == 1
    single = read_checkpoint(out / "last.pt")["data"]["splits"]["val"]
    assert int(rows[0]["val_num_samples"]) > 0 and single


@pytest.mark.parametrize("argv,message", [
    (["--data", "{tmp}/nope"], "nope: data folder does not exist"),
    (["--data", "{tmp}/empty"], "no landmark files"),
    (["--data", "{rec}", "--sample-mode", "video", "--window", "16", "--num-classes", "9"],
     "--num-classes 9 asked but the training videos have only 3 labels"),
    (["--data", "{det}", "--best-metric", "pr_auc"], "--best-metric pr_auc needs --binary"),
    (["--data", "{det}", "--binary", "--signing-labels", "zzz"], "no label matches the signing labels zzz"),
    (["--data", "{det}", "--binary", "--device", "cuda:3"], "CUDA is not available"),
    (["--data", "{det}", "--binary", "--resume"], "nothing to continue"),
    (["--data", "{det}", "--binary", "--val-fraction", "0", "--save-best"],
     "--save-best needs a validation split to pick epochs, but --val-fraction 0 gives none"),
    (["--data", "{det}", "--binary", "--val-fraction", "0", "--save-best", "--patience", "2"],
     "--save-best and --patience need a validation split"),
])
def test_bad_input_gives_one_clear_line(argv, message, detection_data, recognition_data, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, det=detection_data, rec=recognition_data) for a in argv]
    if "cuda" in " ".join(argv) and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc = main([*argv, "--out", str(tmp_path / "out"), "--quiet", "--epochs", "1", *TINY_MODEL])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and err.startswith("train_landmarks: error:") and "\n" not in err


def test_unknown_best_metric_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--data", "x", "--best-metric", "auc"])
    assert exc.value.code == 2 and "invalid choice: 'auc'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_threads_value_is_rejected_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--data", "x", "--threads", value])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"argument --threads: must be auto or a positive integer, got '{value}'" in err


def test_previous_run_is_not_overwritten(detection_data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ("--binary", "--signing-labels", "s", "--stride", "12", "--log-csv")
    assert _train(detection_data, out, *args) == 0
    before = (out / "last.pt").read_bytes()
    assert _train(detection_data, out, *args) == 2
    assert "holds a previous run" in capsys.readouterr().err
    assert (out / "last.pt").read_bytes() == before
    assert _train(detection_data, out, *args, "--overwrite", "--seed", "5") == 0
    assert (out / "last.pt").read_bytes() != before


@pytest.mark.slow
def test_synthetic_accuracy_on_unseen_signers(tmp_path):
    """Binary PR-AUC >= 0.95 and multi-class top-1 >= 0.9 on held-out videos of unseen signers."""
    det = generate_dataset(tmp_path / "det", task="detection", seed=0)
    rec = generate_dataset(tmp_path / "rec", task="recognition", seed=0)
    model = ["--stgcn-channels", "32,64,64", "--temporal-hidden", "64", "--signer-emb-dim", "32"]
    from signstgcn.cli import train as train_cli

    args = train_cli.get_args_parser().parse_args([
        "--data", str(det.out_dir), "--binary", "--signing-labels", "s", "--window", "25", "--stride", "4",
        "--epochs", "4", "--lr", "2e-3", "--best-metric", "pr_auc", "--val-fraction", "0.34",
        "--out", str(tmp_path / "bin"), "--quiet", *model])
    best = fit(train_cli.config_from_args(args)).best_metrics
    assert best["pr_auc"] >= 0.95, best
    args = train_cli.get_args_parser().parse_args([
        "--data", str(rec.out_dir), "--sample-mode", "video", "--window", "32", "--epochs", "12", "--batch", "16",
        "--lr", "2e-3", "--val-fraction", "0.34", "--out", str(tmp_path / "mc"), "--quiet", *model])
    best = fit(train_cli.config_from_args(args)).best_metrics
    assert best["top1"] >= 0.9, best
    ckpt = read_checkpoint(tmp_path / "mc" / "last.pt")
    val_signers = {v.split("_")[0] for v in ckpt["data"]["splits"]["val"]}
    train_signers = {v.split("_")[0] for v in ckpt["data"]["splits"]["train"]}
    assert val_signers.isdisjoint(train_signers)  # the figures are on unseen signers
    assert np.isfinite(best["worst_signer_acc"])


def test_min_steps_raises_the_epochs_of_a_small_data_set(recognition_data, tmp_path, capsys):
    from signstgcn.training.schedule import epochs_for, steps_per_epoch

    assert steps_per_epoch(252, 32) == 7 and steps_per_epoch(20, 32) == 1 and steps_per_epoch(64, 32, 2) == 1
    assert epochs_for(50, 0, 252, 32) == 50 and epochs_for(50, 1200, 252, 32) == 172
    assert epochs_for(50, 100, 5000, 32) == 50  # a large set already takes more steps: --epochs stands
    out = tmp_path / "run"
    rc = _train(recognition_data, out, "--sample-mode", "video", "--window", "12", "--epochs", "1", "--batch", "8",
                "--min-steps", "7", "--val-fraction", "0")
    assert rc == 0
    samples = read_checkpoint(out / "last.pt")
    per_epoch = steps_per_epoch(len(samples["data"]["splits"]["train"]), 8)
    expected = -(-7 // per_epoch)
    assert samples["epoch"] == expected and samples["args"]["epochs"] == expected
    assert samples["args"]["min_steps"] == 7
    assert f"so {expected} epochs instead of --epochs 1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--min-steps"):
        TrainConfig.from_flat(min_steps=-1)


def test_joint_pool_auto_is_flat_for_signs_and_mean_for_detectors():
    from signstgcn.training.config import ModelOptions

    options = ModelOptions()
    assert options.joint_pool == "auto"
    assert options.model_config(num_classes=5).joint_pool == "flat"
    assert options.model_config(num_classes=1).joint_pool == "mean"
    assert ModelOptions(joint_pool="mean").model_config(num_classes=5).joint_pool == "mean"
    with pytest.raises(ValueError, match="joint_pool"):
        ModelOptions(joint_pool="max")
