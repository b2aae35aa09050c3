"""``signstgcn cross-validate``: signer-disjoint folds, clear errors, and an end-to-end run on tiny synthetic data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli.cross_validate import PRESET_FLAGS as PRESETS
from signstgcn.cli.cross_validate import check_train_flags, main, parse_train_flags
from signstgcn.cli.train import config_from_args
from signstgcn.data.corpus import load_corpus
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.synthetic import generate_dataset
from signstgcn.errors import DataError
from signstgcn.evaluation.folds import assign_folds, fold_splits, stratified_folds, video_groups
from signstgcn.training.checkpoint import load_checkpoint, read_checkpoint
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


def test_sessions_and_groups_files_keep_groups_disjoint(tmp_path):
    ids = [f"v{i:02d}" for i in range(14)]
    sessions = tmp_path / "sessions.txt"
    sessions.write_text("# video session\n\n" + "".join(f"{v} s{i % 5}  # take {i}\n" for i, v in enumerate(ids)))
    groups = video_groups(ids, {}, "sessions", groups_file=sessions)
    assert groups == {v: f"s{i % 5}" for i, v in enumerate(ids)}
    folds = assign_folds(groups, 3, seed=2, unit="session")
    _check_partition(folds, groups)
    assert video_groups(ids, {}, "file", groups_file=sessions) == groups  # --groups FILE reads any such file
    with pytest.raises(ValueError, match="--folds 6 needs at least 6 sessions .* found 5: s0, s1, s2, s3, s4"):
        assign_folds(groups, 6, unit="session")


def test_missing_video_in_groups_file_is_a_clear_error(tmp_path):
    path = tmp_path / "groups.txt"
    path.write_text("a g1\nb g2\n")
    with pytest.raises(DataError) as info:
        video_groups(["a", "b", "c", "d"], {}, "file", groups_file=path)
    assert str(info.value) == (f"{path}: 2 of 4 videos have no group (e.g. c, d); add a '<video> <group>' line "
                               f"for each")
    with pytest.raises(DataError, match=r"sessions\.txt: session file not found"):
        video_groups(["a"], {}, "sessions", groups_file=tmp_path / "sessions.txt")
    path.write_text("a g1 extra\n")
    with pytest.raises(DataError, match=r"groups\.txt:1: expected '<video_id> <group_id>'"):
        video_groups(["a"], {}, "file", groups_file=path)


def test_stratified_folds_spread_every_label_over_the_folds():
    sizes = {"many": 11, "five": 5, "four": 4, "three": 3, "one": 1}
    labels = {f"{name}{i:02d}": name for name, n in sizes.items() for i in range(n)}
    folds = stratified_folds(labels, 4, seed=0)
    assert sorted(v for f in folds for v in f) == sorted(labels)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for name, n in sizes.items():
        per_fold = [sum(labels[v] == name for v in f) for f in folds]
        assert sorted(per_fold) == sorted([n // 4 + (k < n % 4) for k in range(4)]), (name, per_fold)
        if n >= 4:
            assert min(per_fold) >= 1  # a label with at least as many clips as folds is in every fold
    assert stratified_folds(dict(reversed(labels.items())), 4, seed=0) == folds  # deterministic, order-free
    assert any(stratified_folds(labels, 4, seed=s) != folds for s in range(1, 4))
    with pytest.raises(ValueError, match="--folds 30 needs at least 30 videos"):
        stratified_folds(labels, 30)


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
    assert "| config | top-1 | top-5 | macro-F1 | worst-signer acc | signer gap | signer probe |" in printed
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


# ------------------------------------------------------------------------------------ groups and floors


def _labels(data: Path) -> dict[str, str]:
    return {p[0]: p[2] for line in (data / "groundtruth.txt").read_text().splitlines()
            if len(p := line.split()) == 3 and not line.startswith("#")}


def test_all_means_the_ablation_presets_and_floors_are_named():
    from signstgcn.evaluation.crossval import ABLATIONS, presets_of

    assert presets_of(["all"]) == list(ABLATIONS) and "gru" not in ABLATIONS and "logreg" not in ABLATIONS
    assert presets_of(["logreg", "all", "gru", "default"]) == ["logreg", *ABLATIONS, "gru"]
    assert "gru" in PRESETS and "--backbone" in PRESETS["gru"]


def test_floors_gru_and_logreg_with_repeats_and_resume(rec_data, tmp_path, capsys):
    out = tmp_path / "cv"
    base = ["--data", str(rec_data), "--folds", "2", "--group-by", "video", "--configs", "gru", "logreg",
            "--repeats", "2", "--out", str(out), "--quiet"]
    assert main([*base, "--", *TRAIN]) == 0
    printed = capsys.readouterr().out
    assert "| gru |" in printed and "| logreg |" in printed and "stratified by label" in printed
    folds = json.loads((out / "folds.json").read_text())
    assert folds["settings"]["stratify"] == "label"
    labels = _labels(rec_data)
    for fold in folds["folds"]:  # multi-class folds of videos: every label in every fold
        assert {labels[v] for v in fold["test_videos"]} == set(labels.values())
    rows = _rows(out / "results.csv")
    assert [(r["config"], r["fold"], r["seed"]) for r in rows] == [
        (c, k, s) for c in ("gru", "logreg") for k in "01" for s in "01"]
    for r in rows:
        assert r["checkpoint"] == ("logreg.npz" if r["config"] == "logreg" else "last.pt")
        assert 0.0 <= float(r["top1"]) <= 1.0
    assert all(r["signer_probe"] == "" for r in rows if r["config"] == "logreg")  # no embedding to probe
    report = json.loads((out / "logreg" / "fold1-seed0" / "eval" / "report.json").read_text())
    assert report["checkpoint"]["model"] == "logreg" and report["checkpoint"]["task"] == "multiclass"
    assert set(report["metrics"]) >= {"top1", "top5", "macro_f1", "worst_signer_acc"}
    assert report["counts"]["videos"] == len(folds["folds"][1]["test_videos"])
    assert report["counts"]["videos_seen_in_training"] == 0 and report["signer_probe"]["accuracy"] is None
    assert report["per_signer_acc"] and report["plots"] == ["confusion.png", "per_signer.png"]
    assert report["model"]["converged"] and report["model"]["features"] > 0
    ckpt = read_checkpoint(out / "gru" / "fold0-seed1" / "last.pt")
    assert ckpt["config"]["backbone"] == "linear" and ckpt["config"]["attention"] == "none"
    assert load_checkpoint(out / "gru" / "fold0-seed1" / "last.pt").model.config.backbone == "linear"
    summary = json.loads((out / "summary.json").read_text())["configs"]
    assert summary["logreg"]["metrics"]["signer_probe"]["mean"] is None
    assert np.isfinite(summary["logreg"]["metrics"]["top1"]["mean"]) and summary["gru"]["repeats"] == 2
    assert "logreg" in (out / "report.html").read_text()

    done = [out / "gru" / "fold1-seed1" / "last.pt", out / "logreg" / "fold0-seed0" / "logreg.npz"]
    before = [p.stat().st_mtime_ns for p in done]
    assert main([*base, "--resume", "--", *TRAIN]) == 0
    assert [p.stat().st_mtime_ns for p in done] == before  # nothing refitted
    assert len(_rows(out / "results.csv")) == 8


def test_logreg_floor_on_binary_detection_windows(tmp_path):
    data = tmp_path / "det"
    generate_dataset(data, task="detection", num_signers=4, videos_per_signer=1, seed=2)
    out = tmp_path / "cv"
    assert main(["--data", str(data), "--folds", "2", "--configs", "logreg", "--out", str(out), "--quiet", "--",
                 "--binary", "--signing-labels", "s", "--window", "16", "--stride", "8", "--device", "cpu"]) == 0
    assert json.loads((out / "folds.json").read_text())["settings"]["stratify"] == "none"
    report = json.loads((out / "logreg" / "fold0" / "eval" / "report.json").read_text())
    assert report["checkpoint"]["task"] == "binary" and report["threshold"]["used"] == 0.5
    assert set(report["metrics"]) >= {"accuracy", "f1", "pr_auc", "roc_auc"}
    assert {"pr_curve.png", "roc_curve.png"} <= set(report["plots"])


def test_cli_group_by_sessions_and_groups_file(rec_data, tmp_path, capsys):
    ids = sorted(p.stem for p in rec_data.glob("*.npz"))
    data = tmp_path / "data"
    data.mkdir()
    for p in rec_data.iterdir():
        (data / p.name).symlink_to(p)
    (data / "signers.txt").unlink()  # sessions do not need signer ids
    (data / "sessions.txt").write_text("# video session\n" + "".join(f"{v} s{i % 3}\n" for i, v in enumerate(ids)))
    out = tmp_path / "cv"
    assert main(["--data", str(data), "--folds", "3", "--group-by", "sessions", "--configs", "logreg", "--out",
                 str(out), "--quiet"]) == 0
    assert "grouped by session of sessions.txt (3 sessions; 1, 1, 1 per test fold)" in capsys.readouterr().out
    folds = json.loads((out / "folds.json").read_text())
    assert folds["settings"]["group_by"] == "sessions" and folds["settings"]["stratify"] == "none"
    assert folds["settings"]["groups_file"] == str((data / "sessions.txt").resolve())
    for k, fold in enumerate(folds["folds"]):
        splits = json.loads((out / "logreg" / f"fold{k}" / "splits.json").read_text())
        assert set(splits["groups"]["train"]).isdisjoint(splits["groups"]["test"]) and splits["groups"]["test"] == \
            fold["test_groups"]
        assert {folds["group_of"][v] for v in fold["test_videos"]} == set(fold["test_groups"])

    groups = tmp_path / "groups.txt"
    groups.write_text("".join(f"{v} g{i % 2}\n" for i, v in enumerate(ids[:-2])))
    rc = main(["--data", str(data), "--folds", "2", "--groups", str(groups), "--configs", "logreg", "--out",
               str(tmp_path / "cv2")])
    assert rc == 2 and f"{groups}: 2 of {len(ids)} videos have no group (e.g. {ids[-2]}, {ids[-1]})" in \
        one_error_line(capsys)
    rc = main(["--data", str(data), "--groups", str(groups), "--group-by", "video", "--out", str(tmp_path / "cv3")])
    assert rc == 2 and "pass only one" in one_error_line(capsys)
