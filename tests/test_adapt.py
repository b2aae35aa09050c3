"""Test-time adaptation (AdaBN): no labels read, only BatchNorm statistics change, adapted checkpoints work
with every command, and evaluate / cross-validate score per-signer adapted models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli.adapt import main as adapt_main
from signstgcn.cli.cross_validate import main as cv_main
from signstgcn.cli.detect import main as detect_main
from signstgcn.cli.evaluate import main as evaluate_main
from signstgcn.cli.export import main as export_main
from signstgcn.cli.train import main as train_main
from signstgcn.data.synthetic import generate_dataset
from signstgcn.training.adaptation import adapt_batchnorm, unlabeled_windows
from signstgcn.training.checkpoint import load_checkpoint, read_checkpoint
from tests.conftest import TINY_MODEL, one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")

TRAIN = ["--epochs", "1", "--batch", "8", "--device", "cpu", "--quiet", *TINY_MODEL]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Synthetic detection data (4 signers), a binary model trained with the new input options, and one signer's
    recordings copied into their own folder."""
    root = tmp_path_factory.mktemp("adapt")
    data = root / "data"
    generate_dataset(data, task="detection", num_signers=4, videos_per_signer=2, seed=3)
    run = root / "run"
    assert train_main(["--data", str(data), "--binary", "--window", "16", "--stride", "8", "--out", str(run),
                       "--hands-relative", "--face-channels", "--canonical-bones", "--level-shoulders", *TRAIN]) == 0
    signers = dict(line.split()[:2] for line in (data / "signers.txt").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    new = root / "new_signer"
    new.mkdir()
    for video, signer in signers.items():
        if signer == sorted(set(signers.values()))[-1]:
            shutil.copy(data / f"{video}.npz", new / f"{video}.npz")
    return {"data": data, "ckpt": run / "last.pt", "new": new, "root": root}


def _state(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


def test_adapt_reads_no_labels_and_changes_only_batchnorm_statistics(trained, tmp_path, capsys):
    new = trained["new"]
    plain = tmp_path / "plain.pt"
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(new), "--out", str(plain)]) == 0
    assert "adapted all BatchNorm statistics" in capsys.readouterr().out
    lines = [f"{p.stem} 0 {'n' if k % 2 else 's'}" for k, p in enumerate(sorted(new.glob("*.npz")))]
    (new / "groundtruth.txt").write_text("\n".join(lines) + "\n")  # labels: made up
    wrong = tmp_path / "wrong.pt"
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(new), "--out", str(wrong)]) == 0
    (new / "groundtruth.txt").write_text("this is not a ground-truth file\n")  # unreadable: never opened
    broken = tmp_path / "broken.pt"
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(new), "--out", str(broken)]) == 0
    (new / "groundtruth.txt").unlink()
    original, adapted = _state(trained["ckpt"]), _state(plain)
    for other in (wrong, broken):
        for key, value in _state(other).items():
            torch.testing.assert_close(value, adapted[key], rtol=0, atol=0)
    stats = [k for k in original if k.endswith(("running_mean", "running_var"))]
    assert stats and any(not torch.equal(original[k], adapted[k]) for k in stats)
    for key in original:
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(adapted[key], original[key], rtol=0, atol=0)  # no weight is trained
    raw = read_checkpoint(plain)
    assert raw["data"]["adaptation"]["layers"] == "all" and raw["optimizer"] is None

    inputs = tmp_path / "input.pt"
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(new), "--out", str(inputs),
                       "--layers", "input"]) == 0
    changed = [k for k in stats if not torch.equal(original[k], _state(inputs)[k])]
    assert changed and all(k.startswith("backbone.data_bn.") for k in changed)

    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(new), "--out", str(plain)]) == 2
    assert "--overwrite" in one_error_line(capsys)  # never silently replaced
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(tmp_path / "nowhere"),
                       "--out", str(tmp_path / "x.pt")]) == 2
    assert "folder not found" in one_error_line(capsys)


def test_adabn_recentres_the_input_statistics_on_the_new_data(trained):
    loaded = load_checkpoint(trained["ckpt"])
    from signstgcn.data.corpus import load_corpus
    from signstgcn.data.pipeline import DataConfig

    config = DataConfig.from_dict(loaded.data)
    corpus = load_corpus(trained["new"], selection=config.selection, layout_spec=config.layout,
                         require_labels=False, read_labels=False)
    dataset = unlabeled_windows(corpus.frames, config, corpus.layout)
    x = torch.stack([dataset[i]["x"] for i in range(len(dataset))])  # (N, C, T, V)
    n, c, t, v = x.shape
    expected = x.permute(0, 3, 1, 2).reshape(n, v * c, t).mean(dim=(0, 2))  # (V*C,) BatchNorm1d feature order
    adapt_batchnorm(loaded.model, dataset, layers="input", batch_size=len(dataset))
    torch.testing.assert_close(loaded.model.backbone.data_bn.running_mean, expected, rtol=1e-4, atol=1e-5)


def test_adapted_checkpoint_works_with_detect_export_and_evaluate(trained, tmp_path, capsys):
    adapted = tmp_path / "adapted.pt"
    assert adapt_main(["--ckpt", str(trained["ckpt"]), "--data", str(trained["new"]), "--out", str(adapted)]) == 0
    video = sorted(trained["new"].glob("*.npz"))[0]
    assert detect_main(["--ckpt", str(adapted), str(video), "--out", str(tmp_path / "det"), "--quiet"]) == 0
    out = tmp_path / "model.pt"
    assert export_main(["--ckpt", str(adapted), "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file()
    assert evaluate_main(["--ckpt", str(trained["ckpt"]), "--data", str(trained["data"]), "--out",
                          str(tmp_path / "eval"), "--adapt", "all", "--no-plots", "--quiet"]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["adaptation"]["per"] == "signer" and report["metrics"]["num_samples"] > 0
    assert "frame_pr_auc" not in report["metrics"]  # the frame scores would come from the unadapted model
    assert evaluate_main(["--ckpt", str(trained["ckpt"]), "--data", str(trained["data"]), "--out",
                          str(tmp_path / "eval0"), "--no-plots", "--quiet"]) == 0
    plain = json.loads((tmp_path / "eval0" / "report.json").read_text())
    assert plain["adaptation"] is None and plain["counts"]["windows"] == report["counts"]["windows"]


def test_cross_validate_adapt_adds_adapted_rows_and_resume_adds_them_later(tmp_path, capsys):
    data = tmp_path / "data"
    generate_dataset(data, task="recognition", num_signers=4, videos_per_signer=3, num_classes=2, seed=1)
    out = tmp_path / "cv"
    train = ["--epochs", "1", "--batch", "8", "--sample-mode", "video", "--window", "16", "--device", "cpu",
             *TINY_MODEL]
    base = ["--data", str(data), "--folds", "2", "--out", str(out), "--quiet"]
    assert cv_main([*base, "--", *train]) == 0
    trained_at = (out / "default" / "fold0" / "last.pt").stat().st_mtime_ns
    assert cv_main([*base, "--resume", "--adapt", "all", "--", *train]) == 0  # adds the adapted scores only
    assert (out / "default" / "fold0" / "last.pt").stat().st_mtime_ns == trained_at
    summary = json.loads((out / "summary.json").read_text())["configs"]
    assert set(summary) == {"default", "default+adapt"}
    report = json.loads((out / "default" / "fold1" / "eval_adapted" / "report.json").read_text())
    assert report["adaptation"]["layers"] == "all"
    assert "within-class probe" in (out / "summary.md").read_text()
    assert np.isfinite(summary["default+adapt"]["metrics"]["top1"]["mean"])
