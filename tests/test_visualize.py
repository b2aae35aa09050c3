"""``python -m visualize_signer_embeddings``: figure, one CSV row per window, overrides, no signer encoder."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import visualize_signer_embeddings
from signstgcn.cli import visualize as visualize_cli
from signstgcn.cli.train import main as train_main
from signstgcn.data.synthetic import generate_dataset
from signstgcn.evaluation.embeddings import reduce_2d, tsne_perplexity
from signstgcn.evaluation.report import prepare_evaluation
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import TINY_MODEL, one_error_line, png_shape

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread) -> dict[str, Path]:
    """Detection data (4 signers x 1 short video), a 1-epoch model, and a copy without signer encoder."""
    root = tmp_path_factory.mktemp("visualize")
    data = root / "det"
    generate_dataset(data, task="detection", num_signers=4, videos_per_signer=1, frames=(90, 120),
                     segment_seconds=(0.8, 1.6), seed=2)
    assert train_main(["--data", str(data), "--binary", "--signing-labels", "s", "--window", "25", "--stride", "10",
                       "--val-fraction", "0.25", "--epochs", "1", "--batch", "16", *TINY_MODEL, "--quiet",
                       "--out", str(root / "run")]) == 0
    ckpt = root / "run" / "last.pt"
    loaded = load_checkpoint(ckpt)
    plain = SignSTGCNModel(loaded.model.config.replace(attention="plain", signer_encoder=False))
    save_checkpoint(root / "plain.pt", plain, data=loaded.data, epoch=0)
    return {"root": root, "data": data, "ckpt": ckpt, "plain_ckpt": root / "plain.pt"}


def _windows(ckpt: Path, data: Path, **kw) -> int:
    return len(prepare_evaluation(ckpt, data, **kw).dataset)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_design_command_tsne(run, tmp_path, capsys):
    out, emb = tmp_path / "plot.png", tmp_path / "emb.csv"
    rc = visualize_signer_embeddings.main(["--data", str(run["data"]), "--ckpt", str(run["ckpt"]), "--window", "25",
                                           "--include-pose", "--include-hands", "--reduce", "tsne", "--out", str(out),
                                           "--save-csv", str(emb), "--quiet"])
    assert rc == 0
    assert png_shape(out)[:2] == (1200, 1400)  # 2x2 panels
    rows = _csv(emb)
    assert len(rows) == _windows(run["ckpt"], run["data"])  # one row per window
    assert list(rows[0]) == ["video_id", "window_start", "signer", "label", "signer_x", "signer_y",
                             "classifier_x", "classifier_y"]
    assert {r["signer"] for r in rows} == {"sig00", "sig01", "sig02", "sig03"}
    assert {r["label"] for r in rows} == {"not-signing", "signing"}
    assert len({(r["video_id"], r["window_start"]) for r in rows}) == len(rows)
    assert all(int(r["window_start"]) % 10 == 0 for r in rows)  # the checkpoint's stride
    xy = np.array([[float(r[k]) for k in ("signer_x", "signer_y", "classifier_x", "classifier_y")] for r in rows])
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    assert "windows" in capsys.readouterr().out


def test_pca_without_signer_encoder_and_overrides(run, tmp_path, capsys):
    out, emb = tmp_path / "plain.png", tmp_path / "plain.csv"
    rc = visualize_cli.main(["--data", str(run["data"]), "--ckpt", str(run["plain_ckpt"]), "--reduce", "pca",
                             "--stride", "5", "--window", "20", "--out", str(out), "--save-csv", str(emb), "--quiet"])
    assert rc == 0
    assert "only the classifier embedding" in capsys.readouterr().out
    assert png_shape(out)[:2] == (600, 1400)  # one row of 2 panels
    rows = _csv(emb)
    assert list(rows[0]) == ["video_id", "window_start", "signer", "label", "classifier_x", "classifier_y"]
    assert len(rows) == _windows(run["plain_ckpt"], run["data"], window=20, stride=5)
    assert all(int(r["window_start"]) % 5 == 0 for r in rows)


def test_max_points_subsamples_for_tsne(run, tmp_path):
    emb = tmp_path / "sub.csv"
    args = ["--data", str(run["data"]), "--ckpt", str(run["ckpt"]), "--max-points", "12", "--seed", "3",
            "--out", str(tmp_path / "sub.png"), "--save-csv", str(emb), "--quiet"]
    assert visualize_cli.main(args) == 0
    first = _csv(emb)
    assert len(first) == 12
    assert visualize_cli.main(args) == 0
    assert _csv(emb) == first  # seeded: same subset, same coordinates


def test_incompatible_overrides_are_refused(run, tmp_path, capsys):
    base = ["--data", str(run["data"]), "--ckpt", str(run["ckpt"]), "--out", str(tmp_path / "x.png"), "--quiet"]
    assert visualize_cli.main([*base, "--include-pose", "--include-hands", "--include-face"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("visualize_signer_embeddings: error:") and "pose(upper)+hands, 2 coords" in line
    assert visualize_cli.main([*base, "--coords", "3"]) == 2
    assert "3 coords" in one_error_line(capsys)
    assert visualize_cli.main([*base, "--include-hands"]) == 2  # hands only: the model also reads the pose
    assert "hands, 2 coords" in one_error_line(capsys)
    assert visualize_cli.main(["--data", str(run["data"]), "--ckpt", str(tmp_path / "none.pt"),
                               "--out", str(tmp_path / "y.png")]) == 2
    assert "none.pt" in one_error_line(capsys)
    assert not (tmp_path / "x.png").exists()


def test_wrapper_is_thin():
    assert visualize_signer_embeddings.main is visualize_cli.main


def test_reduce_2d_small_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    assert reduce_2d(x, "pca").shape == (6, 2)
    assert reduce_2d(x, "tsne", seed=1).shape == (6, 2)
    np.testing.assert_array_equal(reduce_2d(x, "tsne", seed=1), reduce_2d(x, "tsne", seed=1))
    assert reduce_2d(x[:, :1], "pca").shape == (6, 2)
    assert tsne_perplexity(6) == 2.0 and tsne_perplexity(31) == 10.0 and tsne_perplexity(10_000) == 30.0
    with pytest.raises(ValueError, match="at least 5 windows"):
        reduce_2d(x[:3], "tsne")
    with pytest.raises(ValueError, match="Only tsne, pca"):
        reduce_2d(x, "umap")
