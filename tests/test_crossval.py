"""``signstgcn cross-validate``: signer-disjoint folds, clear errors, and an end-to-end run on tiny synthetic data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from signstgcn.cli.cross_validate import PRESET_FLAGS as PRESETS
from signstgcn.cli.cross_validate import check_train_flags, main, parse_train_flags
from signstgcn.cli.train import config_from_args
from signstgcn.data.corpus import load_corpus
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.synthetic import generate_dataset
from signstgcn.errors import DataError
from signstgcn.evaluation.folds import assign_folds, fold_splits, video_groups
from signstgcn.training.checkpoint import read_checkpoint
from tests.conftest import TINY_MODEL, one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")

TRAIN = ["--epochs", "1", "--batch", "8", "--sample-mode", "video", "--window", "16", "--device", "cpu", *TINY_MODEL]


@pytest.fixture(scope="module")
def rec_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cv") / "data"
    generate_dataset(out, task="recognition", num_signers=4, videos_per_signer=3, num_classes=2, seed=1)
    return out


def _groups(sizes: dict[str, int]) -> dict[str, str]:
    return {f"{s}_v{i}": s for s, n in sizes.items() for i in range(n)}


def _check_partition(folds: list[list[str]], groups: dict[str, str]) -> None:
    assert sorted(v for f in folds for v in f) == sorted(groups)  # every video, once
    fold_of = {groups[v]: k for k, f in enumerate(folds) for v in f}
    assert all(fold_of[groups[v]] == k for k, f in enumerate(folds) for v in f)  # a group never straddles folds


# ------------------------------------------------------------------------------------------------ folds


def test_signer_folds_are_disjoint_complete_reproducible_and_balanced():
    groups = _groups({f"s{i}": 3 for i in range(10)})
    folds = assign_folds(groups, 4, seed=0)
    _check_partition(folds, groups)
    assert sorted(len(f) for f in folds) == [6, 6, 9, 9]  # 10 signers of 3 videos: 2, 2, 3, 3 signers
    assert assign_folds(groups, 4, seed=0) == folds
    assert any(assign_folds(groups, 4, seed=s) != folds for s in range(1, 6))

    uneven = _groups({"a": 5, "b": 4, "c": 3, "d": 3, "e": 2, "f": 2, "g": 1})
    folds = assign_folds(uneven, 3, seed=3)
    _check_partition(folds, uneven)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 5 and sorted(sizes) == [6, 7, 7]


def test_group_by_video_folds_videos():
    ids = [f"v{i}" for i in range(10)]
    groups = video_groups(ids, {"v0": "alice"}, "video")
    assert groups == {v: v for v in ids}
    folds = assign_folds(groups, 3, seed=1, unit="video")
    _check_partition(folds, groups)
    assert sorted(len(f) for f in folds) == [3, 3, 4]


def test_fold_errors_are_clear():
    with pytest.raises(ValueError, match="--folds must be at least 2"):
        assign_folds(_groups({"a": 2, "b": 2}), 1)
    with pytest.raises(ValueError, match="--folds 4 needs at least 4 signers .* found 3: a, b, c"):
        assign_folds(_groups({"a": 2, "b": 2, "c": 1}), 4)
    with pytest.raises(DataError, match="1 of 2 videos have no signer id .* use --group-by video"):
        video_groups(["x", "y"], {"x": "alice"}, "signer")


def test_inner_validation_comes_from_training_signers_only(rec_data):
    corpus = load_corpus(rec_data, selection=PartSelection(coords=2))
    groups = video_groups(corpus.video_ids, corpus.signers, "signer")
    folds = assign_folds(groups, 2, seed=0)
    train_args = config_from_args(parse_train_flags(TRAIN))
    for k in range(2):
        plain = fold_splits(k, folds, groups=groups, group_by="signer")
        assert plain.val == [] and sorted(plain.train + plain.test) == sorted(groups)
        split = fold_splits(k, folds, groups=groups, group_by="signer", inner_val_fraction=0.3, corpus=corpus,
                            config=train_args)
        signers = {name: {groups[v] for v in vids} for name, vids in split._asdict().items()}
        assert split.test == folds[k] and all(signers.values())
        assert signers["val"].isdisjoint(signers["train"]) and signers["val"].isdisjoint(signers["test"])
        assert sorted(split.train + split.val) == plain.train


def test_managed_and_invalid_train_flags_are_refused():
    for flag in ("--out", "--data=x", "--splits-json", "--val-fraction", "--resume", "--overwrite", "--gt"):
        with pytest.raises(ValueError, match=f"train flag {flag.split('=')[0]} after '--' is set by cross-validate"):
            check_train_flags(["--epochs", "2", flag], 0.0)
    with pytest.raises(ValueError, match="--save-best picks epochs .* --inner-val-fraction > 0"):
        check_train_flags(["--save-best"], 0.0)
    check_train_flags(["--save-best", "--patience", "3"], 0.2)
    with pytest.raises(ValueError, match="unrecognized arguments: --epoch 2"):
        parse_train_flags(["--epoch", "2"])  # no abbreviations: what is checked is what trains
    for name, flags in PRESETS.items():  # every preset is valid train_landmarks input
        assert parse_train_flags(list(flags)).signer_loss_weight == (0.0 if "0" in flags else 0.5), name


# ---------------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("argv,message", [
    (["--folds", "1"], "--folds must be at least 2"),
    (["--folds", "5"], "--folds 5 needs at least 5 signers (one per fold), found 4"),
    (["--configs", "nope"], "Invalid --configs 'nope'"),
    (["--inner-val-fraction", "1"], "--inner-val-fraction must be in [0, 1)"),
    (["--", "--epochs", "1", "--out", "elsewhere"], "train flag --out after '--' is set by cross-validate"),
    (["--", "--val-fraction", "0.2"], "train flag --val-fraction after '--'"),
    (["--", "--bogus"], "train flags after '--': unrecognized arguments: --bogus"),
    (["--resume", "--overwrite"], "pass only one"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--repeats", "2", "--", "--seed", "3"], "--repeats trains with seeds SEED .. SEED+R-1"),
])
def test_cli_errors_are_one_line(argv, message, rec_data, tmp_path, capsys):
    rc = main(["--data", str(rec_data), "--out", str(tmp_path / "cv"), *argv])
    assert rc == 2 and message in one_error_line(capsys)
    assert not (tmp_path / "cv").exists()


def test_cli_missing_signer_ids_suggests_group_by_video(tiny_folder, tmp_path, capsys):
    (tiny_folder / "signers.txt").write_text("v0 alice\nv1 bob\n")
    rc = main(["--data", str(tiny_folder), "--folds", "2", "--out", str(tmp_path / "cv")])
    assert rc == 2 and "1 of 3 videos have no signer id" in one_error_line(capsys)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_cross_validate_end_to_end_and_resume(rec_data, tmp_path, capsys):
    out = tmp_path / "cv"
    base = ["--data", str(rec_data), "--folds", "2", "--configs", "default", "stgcn-pool", "--out", str(out), "--quiet"]
    argv = [*base, "--", *TRAIN]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| config | top-1 | macro-F1 | worst-signer acc | signer gap | signer probe |" in printed
    for name in ("folds.json", "results.csv", "summary.json", "summary.md"):
        assert (out / name).is_file(), name
    folds = json.loads((out / "folds.json").read_text())
    assert folds["settings"]["group_by"] == "signer" and folds["settings"]["train_flags"] == TRAIN
    assert sorted(g for f in folds["folds"] for g in f["test_groups"]) == ["sig00", "sig01", "sig02", "sig03"]
    signer_of = folds["group_of"]
    for config in ("default", "stgcn-pool"):
        for k, fold in enumerate(folds["folds"]):
            run = out / config / f"fold{k}"
            ckpt = read_checkpoint(run / "last.pt")
            trained = set(ckpt["data"]["splits"]["train"])
            assert ckpt["data"]["splits"]["val"] == [] and not (run / "best.pt").exists()
            assert trained.isdisjoint(fold["test_videos"])
            assert {signer_of[v] for v in trained}.isdisjoint(fold["test_groups"])  # never trained on a test signer
            report = json.loads((run / "eval" / "report.json").read_text())
            assert report["counts"]["videos"] == len(fold["test_videos"]) and report["data"]["split"] == "test"
            assert report["counts"]["videos_seen_in_training"] == 0 and (run / "eval" / "confusion.png").is_file()
        assert read_checkpoint(out / config / "fold0" / "last.pt")["config"]["attention"] == \
            ("none" if config == "stgcn-pool" else "signer")
    rows = _rows(out / "results.csv")
    assert [(r["config"], r["fold"]) for r in rows] == [("default", "0"), ("default", "1"), ("stgcn-pool", "0"),
                                                        ("stgcn-pool", "1")]
    assert all(r["test_signers"] == "2" and 0.0 <= float(r["top1"]) <= 1.0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())["configs"]
    assert summary["default"]["folds"] == 2 and summary["default"]["worst_signer"]["name"].startswith("sig")
    assert "stgcn-pool" in (out / "summary.md").read_text()

    assert main(argv) == 2  # a non-empty OUT is never silently replaced
    assert "pass --resume" in one_error_line(capsys)

    done = out / "default" / "fold0" / "last.pt"
    before = done.stat().st_mtime_ns
    (out / "stgcn-pool" / "fold1" / "eval" / "report.json").unlink()
    assert main([*base, "--resume", "--", *TRAIN]) == 0
    assert done.stat().st_mtime_ns == before  # finished folds are not retrained
    assert (out / "stgcn-pool" / "fold1" / "eval" / "report.json").is_file()
    assert len(_rows(out / "results.csv")) == 4
    folds_json = json.loads((out / "folds.json").read_text())
    del folds_json["settings"]["repeats"]  # written before --repeats existed: one repeat
    (out / "folds.json").write_text(json.dumps(folds_json))
    assert main([*base, "--resume", "--", *TRAIN]) == 0
    assert done.stat().st_mtime_ns == before
    assert main([*base, "--resume", "--", *TRAIN, "--lr", "0.1"]) == 2  # other flags: refused
    assert "was made with train_flags" in one_error_line(capsys)


def test_inner_validation_selects_best_on_training_signers(rec_data, tmp_path):
    out = tmp_path / "cv"
    assert main(["--data", str(rec_data), "--folds", "2", "--inner-val-fraction", "0.3", "--out", str(out),
                 "--quiet", "--", *TRAIN]) == 0
    for k in range(2):
        run = out / "default" / f"fold{k}"
        splits = json.loads((run / "splits.json").read_text())
        assert splits["groups"]["val"] and set(splits["groups"]["val"]).isdisjoint(splits["groups"]["test"])
        assert set(splits["groups"]["val"]).isdisjoint(splits["groups"]["train"])
        assert read_checkpoint(run / "best.pt")["data"]["splits"]["val"] == splits["splits"]["val"]
        report = json.loads((run / "eval" / "report.json").read_text())
        assert Path(report["checkpoint"]["path"]).name == "best.pt"
    assert {r["checkpoint"] for r in _rows(out / "results.csv")} == {"best.pt"}


def test_repeats_train_each_fold_with_several_seeds(rec_data, tmp_path, capsys):
    out = tmp_path / "cv"
    argv = ["--data", str(rec_data), "--folds", "2", "--repeats", "2", "--seed", "5", "--out", str(out), "--quiet",
            "--", *TRAIN]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| top-1 per seed |" in printed and "each trained 2 times (seeds 5..6)" in printed
    rows = _rows(out / "results.csv")
    assert [(r["fold"], r["seed"]) for r in rows] == [("0", "5"), ("0", "6"), ("1", "5"), ("1", "6")]
    weights = {}
    for k in range(2):
        for seed in (5, 6):
            run = out / "default" / f"fold{k}-seed{seed}"
            info = json.loads((run / "fold.json").read_text())
            assert info["seed"] == seed and info["train_flags"][:2] == ["--seed", str(seed)]
            ckpt = read_checkpoint(run / "last.pt")
            assert ckpt["args"]["seed"] == seed and (run / "eval" / "report.json").is_file()
            weights[k, seed] = ckpt["model"]
        a, b = weights[k, 5], weights[k, 6]
        assert any(not torch.equal(a[name], b[name]) for name in a)  # the repeats really differ
    summary = json.loads((out / "summary.json").read_text())["configs"]["default"]
    assert summary["folds"] == 2 and summary["repeats"] == 2 and summary["main_metric"] == "top1"
    top1 = {(r["fold"], r["seed"]): float(r["top1"]) for r in rows}
    fold_means = [(top1["0", "5"] + top1["0", "6"]) / 2, (top1["1", "5"] + top1["1", "6"]) / 2]
    assert summary["metrics"]["top1"]["mean"] == pytest.approx(sum(fold_means) / 2, abs=1e-5)
    assert summary["metrics"]["top1"]["folds"] == 2  # std over folds, not over the four runs
    assert summary["per_seed"]["6"]["mean"] == pytest.approx((top1["0", "6"] + top1["1", "6"]) / 2, abs=1e-5)
    assert len(summary["test_videos"]) == 2
    # --resume of the same command retrains nothing; a run from before --repeats resumes as one repeat
    before = (out / "default" / "fold1-seed6" / "last.pt").stat().st_mtime_ns
    assert main([*argv[:-len(TRAIN) - 1], "--resume", "--", *TRAIN]) == 0
    assert (out / "default" / "fold1-seed6" / "last.pt").stat().st_mtime_ns == before
    assert main(["--data", str(rec_data), "--folds", "2", "--seed", "5", "--out", str(out), "--quiet", "--resume",
                 "--", *TRAIN]) == 2
    assert "was made with repeats = 2, this command has 1" in one_error_line(capsys)
