"""Video-level splits: disjointness, balance, reproducibility, clear errors, the JSON file and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from signstgcn.cli.build_video_splits import main
from signstgcn.data.splits import (
    SPLITS,
    check_fractions,
    check_split_videos,
    count_windows,
    load_splits,
    split_counts,
    split_videos,
    validation_split,
    write_splits,
)
from signstgcn.data.windows import WindowConfig, build_window_index
from signstgcn.errors import DataError
from tests.conftest import REPO, shared_data, write_video


def random_counts(n: int, seed: int = 0) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """``n`` videos of 20..400 windows with positive ratios spread over [0.05, 0.95]."""
    rng = np.random.default_rng(seed)
    ids = [f"vid{i:04d}" for i in range(n)]
    windows = {v: int(rng.integers(20, 400)) for v in ids}
    positives = {v: int(windows[v] * rng.uniform(0.05, 0.95)) for v in ids}
    return ids, windows, positives


def assert_partition(splits: dict[str, list[str]], ids: list[str]) -> None:
    assert set(splits) == set(SPLITS)
    listed = [v for name in SPLITS for v in splits[name]]
    assert sorted(listed) == sorted(ids), "every video exactly once"


def shares(splits, windows, positives):
    total_w, total_p = sum(windows.values()), sum(positives.values())
    out = {}
    for name, vids in splits.items():
        w, p = sum(windows[v] for v in vids), sum(positives[v] for v in vids)
        out[name] = (w / total_w, p / w if w else float("nan"), total_p / total_w)
    return out


# --------------------------------------------------------------------------------------------------
# split_videos
# --------------------------------------------------------------------------------------------------


def test_videos_disjoint_and_balanced():
    ids, windows, positives = random_counts(300)
    splits = split_videos(ids, window_counts=windows, positive_counts=positives, fractions=(0.8, 0.1, 0.1))
    assert_partition(splits, ids)
    for name, target in zip(SPLITS, (0.8, 0.1, 0.1)):
        share, ratio, global_ratio = shares(splits, windows, positives)[name]
        assert share == pytest.approx(target, abs=0.01), name
        assert ratio == pytest.approx(global_ratio, abs=0.01), name


def test_balance_beats_a_random_split():
    """Every split's positive ratio is close to the global one, far closer than a shuffled split gets."""
    ids, windows, positives = random_counts(60, seed=3)
    splits = split_videos(ids, window_counts=windows, positive_counts=positives, fractions=(0.6, 0.2, 0.2))
    worst = max(abs(r - g) for _, r, g in shares(splits, windows, positives).values())
    rng = np.random.default_rng(0)
    shuffled = list(rng.permutation(ids))
    naive = {"train": shuffled[:36], "val": shuffled[36:48], "test": shuffled[48:]}
    naive_worst = max(abs(r - g) for _, r, g in shares(naive, windows, positives).values())
    assert worst < 0.01 and worst < naive_worst


def test_signer_groups_never_straddle_splits():
    ids, windows, positives = random_counts(200, seed=1)
    groups = {v: f"signer{i % 23}" for i, v in enumerate(ids) if i % 50}  # 4 videos without a signer
    splits = split_videos(ids, groups=groups, window_counts=windows, positive_counts=positives, seed=2)
    assert_partition(splits, ids)
    where = {}
    for name, vids in splits.items():
        for v in vids:
            if v in groups:
                assert where.setdefault(groups[v], name) == name, f"{groups[v]} in two splits"
    assert all(splits[name] for name in SPLITS)
    for name, target in zip(SPLITS, (0.8, 0.1, 0.1)):
        share, ratio, global_ratio = shares(splits, windows, positives)[name]
        assert share == pytest.approx(target, abs=0.03)
        assert ratio == pytest.approx(global_ratio, abs=0.03)


def test_few_groups_are_searched_exhaustively():
    """4 signers, 0.5/0.25/0.25: the big signer (s34, like mp_detect) must be in train with one other."""
    sizes = {"s20": (864, 768), "s31": (864, 768), "s32": (864, 768), "s34": (1504, 1088)}
    ids = [f"{s}_{k}" for s in sizes for k in range(4)]
    windows = {v: sizes[v[:3]][0] // 4 for v in ids}
    positives = {v: sizes[v[:3]][1] // 4 for v in ids}
    groups = {v: v[:3] for v in ids}
    seen = set()
    for seed in range(6):
        splits = split_videos(ids, groups=groups, window_counts=windows, positive_counts=positives,
                              fractions=(0.5, 0.25, 0.25), seed=seed)
        signers = {name: sorted({groups[v] for v in vids}) for name, vids in splits.items()}
        assert "s34" in signers["train"] and len(signers["train"]) == 2
        assert len(signers["val"]) == len(signers["test"]) == 1
        seen.add(tuple(signers["val"] + signers["test"]))
    assert len(seen) > 1, "equally good splits are chosen by the seed"


def test_reproducible_for_a_seed_and_independent_of_input_order():
    ids, windows, positives = random_counts(120, seed=5)
    kw = dict(window_counts=windows, positive_counts=positives)
    a = split_videos(ids, seed=7, **kw)
    b = split_videos(list(reversed(ids)), seed=7, **kw)
    c = split_videos(ids, seed=8, **kw)
    assert a == b
    assert a != c


def test_zero_fraction_split_is_empty_and_single_split_takes_all():
    ids, windows, positives = random_counts(10)
    splits = split_videos(ids, window_counts=windows, positive_counts=positives, fractions=(0.7, 0.3, 0.0))
    assert splits["test"] == [] and splits["train"] and splits["val"]
    assert split_videos(ids, window_counts=windows, fractions=(1, 0, 0))["train"] == sorted(ids)


def test_multiclass_balances_the_class_distribution():
    rng = np.random.default_rng(0)
    ids = [f"clip{i:03d}" for i in range(150)]
    label = {v: f"sign{i % 3}" for i, v in enumerate(ids)}
    windows = {v: int(rng.integers(4, 8)) for v in ids}
    classes = {v: {label[v]: windows[v]} for v in ids}
    splits = split_videos(ids, window_counts=windows, class_counts=classes, fractions=(0.6, 0.2, 0.2))
    assert_partition(splits, ids)
    counts = split_counts(splits, window_counts=windows, class_counts=classes)
    for name in SPLITS:
        dist = np.array([counts[name]["class_windows"][f"sign{k}"] for k in range(3)], dtype=float)
        np.testing.assert_allclose(dist / dist.sum(), 1 / 3, atol=0.03)


def test_ten_thousand_videos_is_fast():
    import time

    ids, windows, positives = random_counts(10_000, seed=2)
    start = time.perf_counter()
    splits = split_videos(ids, window_counts=windows, positive_counts=positives)
    assert time.perf_counter() - start < 20
    assert_partition(splits, ids)
    assert shares(splits, windows, positives)["val"][0] == pytest.approx(0.1, abs=0.002)


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match=r"--train 0.8 --val 0.1 --test 0.2 sum to 1.1, expected 1"):
        check_fractions((0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match=r"--val must be a fraction in \[0, 1\], got -0.1"):
        check_fractions((1.0, -0.1, 0.1))
    assert check_fractions((0.7, 0.2, 0.1)) == (0.7, 0.2, 0.1)
    ids, windows, _ = random_counts(10)
    with pytest.raises(ValueError, match="sum to 0.9"):
        split_videos(ids, window_counts=windows, fractions=(0.7, 0.1, 0.1))


def test_too_few_videos_or_groups():
    ids, windows, positives = random_counts(2)
    with pytest.raises(DataError, match=r"need at least 3 videos .*found 2"):
        split_videos(ids, window_counts=windows, positive_counts=positives)
    ids, windows, positives = random_counts(12)
    groups = {v: f"p{i % 2}" for i, v in enumerate(ids)}
    with pytest.raises(DataError, match=r"need at least 3 signers .*found 2 \(p0, p1\)"):
        split_videos(ids, groups=groups, window_counts=windows, group_name="signer")
    with pytest.raises(DataError, match="found 0"):
        split_videos([], window_counts={})


def test_bad_counts():
    with pytest.raises(ValueError, match="window_counts lacks 1 of 2"):
        split_videos(["a", "b"], window_counts={"a": 3}, fractions=(0.5, 0.5, 0))
    with pytest.raises(ValueError, match="expected 0 <= positive <= windows"):
        split_videos(["a", "b"], window_counts={"a": 3, "b": 1}, positive_counts={"a": 4, "b": 0})


# --------------------------------------------------------------------------------------------------
# Counting windows, validation split
# --------------------------------------------------------------------------------------------------


def test_count_windows_from_the_window_index():
    labels = [np.array([0] * 10 + [1] * 10), np.array([1] * 5)]  # 20 frames; 5 frames (one short window)
    index = build_window_index(labels, WindowConfig(length=10, stride=5, rule="any"), binary=True)
    counts = count_windows(["a", "b"], index, binary=True)
    assert counts.windows == {"a": 3, "b": 1} and counts.positives == {"a": 2, "b": 1}
    multi = [np.array([0, 0, 1, 1, 1, 2])]
    index = build_window_index(multi, WindowConfig(length=2, stride=2, rule="majority"), binary=False)
    counts = count_windows(["a"], index, binary=False, class_names=("x", "y", "z"))
    assert counts.classes == {"a": {"x": 1, "y": 2}}


def test_validation_split_signer_disjoint_when_sensible():
    ids, windows, positives = random_counts(200, seed=4)
    signers = {v: f"s{i % 20}" for i, v in enumerate(ids)}
    split = validation_split(ids, val_fraction=0.1, window_counts=windows, positive_counts=positives,
                             signers=signers)
    assert split.grouped_by == "signer"
    assert not {signers[v] for v in split.train} & {signers[v] for v in split.val}
    assert sorted(split.train + split.val) == sorted(ids)
    # 3 signers: one signer is ~33% of the data for a 10% validation set -> plain videos instead.
    few = {v: f"s{i % 3}" for i, v in enumerate(ids)}
    split = validation_split(ids, val_fraction=0.1, window_counts=windows, signers=few)
    assert split.grouped_by == "video" and not set(split.train) & set(split.val)
    forced = validation_split(ids, val_fraction=0.1, window_counts=windows, signers=few, signer_disjoint=True)
    assert forced.grouped_by == "signer" and not {few[v] for v in forced.train} & {few[v] for v in forced.val}
    assert validation_split(ids, val_fraction=0, window_counts=windows) == (sorted(ids), [], "video")
    with pytest.raises(ValueError, match="--val-fraction"):
        validation_split(ids, val_fraction=1.0, window_counts=windows)


# --------------------------------------------------------------------------------------------------
# JSON file
# --------------------------------------------------------------------------------------------------


def test_write_and_load_round_trip(tmp_path: Path):
    splits = {"train": ["a", "b"], "val": ["c"], "test": []}
    path = write_splits(tmp_path / "sub" / "splits.json", {"version": 1, "splits": splits})
    assert load_splits(path) == splits
    with pytest.raises(ValueError, match="already exists; pass --overwrite"):
        write_splits(path, {"splits": {}})
    write_splits(path, {"splits": {"train": ["z"]}}, overwrite=True)
    assert load_splits(path) == {"train": ["z"], "val": [], "test": []}
    assert [p.name for p in path.parent.iterdir()] == ["splits.json"], "no temp file left behind"
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"train": ["a"], "val": ["b"]}))
    assert load_splits(bare) == {"train": ["a"], "val": ["b"], "test": []}


@pytest.mark.parametrize("content,message", [
    (None, "splits file not found"),
    ("{not json", "not a JSON splits file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"version": 1}', "missing key 'splits'"),
    ('{"splits": {"val": ["a"]}}', "missing split 'train'"),
    ('{"splits": {"train": ["a"], "dev": []}}', r"unknown split names \['dev'\]"),
    ('{"splits": {"train": ["a", 3]}}', "must be a list of video id strings"),
    ('{"splits": {"train": ["a", "b"], "test": ["b"]}}', "video 'b' is in both 'train' and 'test'"),
    ('{"splits": {"train": ["a", "a"]}}', "video 'a' is twice in 'train'"),
    ('{"version": 7, "splits": {"train": []}}', "version 7 is not supported"),
])
def test_load_splits_errors(tmp_path: Path, content: str | None, message: str):
    path = tmp_path / "splits.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_splits(path)
    assert str(path) in str(info.value)


def test_check_split_videos():
    splits = {"train": ["a"], "val": ["b"], "test": []}
    assert check_split_videos(splits, ["a", "b", "c"]) == ["c"]
    with pytest.raises(DataError, match="1 videos in the splits have no labeled landmark file"):
        check_split_videos(splits, ["a"], "s.json")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def signer_folder(tmp_path: Path) -> Path:
    """12 videos of 4 signers (3 each), 40 frames, signing share growing with the video number."""
    data = tmp_path / "data"
    data.mkdir()
    gt, signers = [], []
    for k in range(12):
        vid = f"p{k % 4}_v{k}"
        write_video(data / f"{vid}.npz", 40, seed=k)
        start = 4 + 2 * k
        gt += [f"{vid} 0 n", f"{vid} {start} s", f"{vid} {start + 6 + k} n"]
        signers.append(f"{vid} p{k % 4}")
    (data / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    (data / "signers.txt").write_text("\n".join(signers) + "\n")
    return data


ARGS = ["--window", "8", "--stride", "2", "--s-label", "s,sign", "--rule", "any"]


def test_cli_group_by_signer(signer_folder: Path, tmp_path: Path, capsys):
    out = tmp_path / "splits.json"
    argv = ["--data", str(signer_folder), *ARGS, "--train", "0.5", "--val", "0.25", "--test", "0.25",
            "--group-by", "signer", "--seed", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "grouping by 4 real signers" in printed and "train" in printed and f"wrote {out}" in printed
    payload = json.loads(out.read_text())
    splits = load_splits(out)
    assert payload["splits"] == splits
    assert_partition(splits, [f"p{k % 4}_v{k}" for k in range(12)])
    groups = payload["groups"]
    assert sum(len(g) for g in groups.values()) == 4 and set().union(*map(set, groups.values())) == {
        "p0", "p1", "p2", "p3"}
    for name in SPLITS:
        assert {v.split("_")[0] for v in splits[name]} == set(groups[name])
        row = payload["counts"][name]
        assert row["videos"] == len(splits[name]) and row["signers"] == len(groups[name])
        assert row["positive_ratio"] == pytest.approx(row["positive_windows"] / row["windows"], abs=1e-6)
    assert sum(payload["counts"][n]["windows"] for n in SPLITS) == payload["total"]["windows"]
    settings = payload["settings"]
    assert settings["group_by"] == "signer" and settings["signer_source"] == "real"
    assert settings["s_labels"] == ["s", "sign"] and settings["window"] == 8 and settings["seed"] == 1
    assert payload["version"] == 1

    assert main(argv) == 2, "refuses to overwrite"
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*argv[:-2], "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert load_splits(out) == splits, "same seed, same splits"


def test_cli_pseudo_signers_when_no_ids(signer_folder: Path, tmp_path: Path, capsys):
    (signer_folder / "signers.txt").unlink()
    out = tmp_path / "pseudo.json"
    argv = ["--data", str(signer_folder), *ARGS, "--group-by", "signer", "--num-pseudo-signers", "4",
            "--out", str(out)]
    assert main(argv) == 0
    assert "pseudo-signers (no signer ids" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["settings"]["signer_source"] == "pseudo" and payload["settings"]["num_pseudo_signers"] == 4
    where = {}
    for name, vids in payload["splits"].items():
        for v in vids:
            assert where.setdefault(payload["signer_of"][v], name) == name


def test_cli_errors_are_one_line(signer_folder: Path, tmp_path: Path, capsys):
    base = ["--data", str(signer_folder), *ARGS, "--out", str(tmp_path / "x.json")]
    assert main([*base, "--train", "0.8", "--val", "0.1", "--test", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err == "build_video_splits: error: --train 0.8 --val 0.1 --test 0.2 sum to 1.1, expected 1\n"
    (signer_folder / "signers.txt").write_text("p0_v0 p0\np1_v1 p1\n")
    assert main([*base, "--group-by", "signer"]) == 2
    assert "10 of 12 videos have no signer id" in capsys.readouterr().err
    (signer_folder / "signers.txt").write_text("".join(f"p{k % 4}_v{k} p{k % 2}\n" for k in range(12)))
    assert main([*base, "--group-by", "signer"]) == 2
    err = capsys.readouterr().err
    assert "need at least 3 signers" in err and "found 2 (p0, p1)" in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_python_m_build_video_splits(tiny_folder: Path, tmp_path: Path):
    out = tmp_path / "s.json"
    cmd = [sys.executable, "-m", "build_video_splits", "--data", str(tiny_folder), "--window", "5", "--stride", "1",
           "--s-label", "s", "--rule", "any", "--train", "0.34", "--val", "0.33", "--test", "0.33", "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "positive" in done.stdout
    assert_partition(load_splits(out), ["v0", "v1", "v2"])
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and again.stderr.startswith("build_video_splits: error:")
    assert "Traceback" not in again.stderr


def test_real_detection_data_signer_disjoint(tmp_path: Path):
    data = shared_data("mp_detect")
    out = tmp_path / "detect.json"
    argv = ["--data", str(data), "--window", "25", "--stride", "1", "--s-label", "s", "--rule", "any",
            "--train", "0.5", "--val", "0.25", "--test", "0.25", "--group-by", "signer", "--out", str(out)]
    assert main(argv) == 0
    payload = json.loads(out.read_text())
    groups = payload["groups"]
    assert len(groups["train"]) == 2 and len(groups["val"]) == 1 and len(groups["test"]) == 1
    assert not set(groups["train"]) & set(groups["val"] + groups["test"])
    assert payload["total"]["videos"] == 16 and payload["counts"]["val"]["videos"] == 4


@pytest.fixture
def clip_folder(tmp_path: Path) -> Path:
    """Multi-class clips (one sign per clip, like WLASL): 12 videos of 3 glosses, 4 recording sessions."""
    data = tmp_path / "clips"
    data.mkdir()
    gt, sessions = [], ["# video session"]
    for k in range(12):
        vid = f"c{k:02d}"
        write_video(data / f"{vid}.npz", 20, seed=k)
        gt.append(f"{vid} 0 {('hello', 'thanks', 'water')[k % 3]}")
        sessions.append(f"{vid} s{k // 3}")
    (data / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    (data / "sessions.txt").write_text("\n".join(sessions) + "\n\n")
    return data


def test_cli_multiclass_data_without_multiclass_says_add_multiclass(clip_folder: Path, tmp_path: Path, capsys):
    out = tmp_path / "x.json"
    base = ["--data", str(clip_folder), "--sample-mode", "video", "--window", "10", "--out", str(out)]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(clip_folder / "groundtruth.txt") in err
    assert "add --multiclass" in err and "set --signing-labels" not in err
    assert not out.exists()
    assert main([*base, "--multiclass"]) == 0
    assert json.loads(out.read_text())["settings"]["multiclass"] is True


def test_cli_group_by_sessions_and_groups_file(clip_folder: Path, tmp_path: Path, capsys):
    out = tmp_path / "s.json"
    argv = ["--data", str(clip_folder), "--sample-mode", "video", "--window", "10", "--multiclass", "--train", "0.5",
            "--val", "0.25", "--test", "0.25", "--out", str(out)]
    assert main([*argv, "--group-by", "sessions"]) == 0
    assert "grouping by 4 sessions of" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    session_of = payload["group_of"]
    assert payload["settings"]["group_by"] == "sessions" and "signer_of" not in payload
    assert payload["settings"]["groups_file"] == str(clip_folder / "sessions.txt")
    where: dict[str, str] = {}
    for name, vids in payload["splits"].items():
        for v in vids:
            assert where.setdefault(session_of[v], name) == name  # a session never straddles splits
        assert payload["counts"][name]["groups"] == len(payload["groups"][name]) == len({session_of[v] for v in vids})

    groups = tmp_path / "groups.txt"
    groups.write_text("".join(f"c{k:02d} g{k % 3}\n" for k in range(12)))
    assert main([*argv, "--groups", str(groups), "--overwrite"]) == 0
    payload = json.loads(out.read_text())
    assert payload["settings"]["group_by"] == "file" and sorted(sum(payload["groups"].values(), [])) == ["g0", "g1",
                                                                                                          "g2"]
    capsys.readouterr()
    groups.write_text("".join(f"c{k:02d} g{k % 3}\n" for k in range(10)))  # c10 and c11 missing
    assert main([*argv, "--groups", str(groups), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{groups}: 2 of 12 videos have no group (e.g. c10, c11)" in err
    assert main([*argv, "--groups", str(groups), "--group-by", "signer", "--overwrite"]) == 2
    assert "pass only one" in capsys.readouterr().err
    (clip_folder / "sessions.txt").unlink()
    assert main([*argv, "--group-by", "sessions", "--overwrite"]) == 2
    assert f"{clip_folder / 'sessions.txt'}: session file not found" in capsys.readouterr().err
