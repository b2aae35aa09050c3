"""The folder → corpus → window dataset path, including stride-1 laziness and memory."""

from __future__ import annotations

import gc
import logging

import numpy as np
import pytest
import torch

from signstgcn.data.corpus import load_corpus
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig, fit_signers, make_dataset
from signstgcn.data.windows import WindowConfig
from signstgcn.errors import DataError
from tests.conftest import shared_data, write_video


def _config(corpus, ids, binary=True, **window):
    vocab = build_vocab(corpus.gt, ids, binary=binary, signing_labels=("s",))
    source, names, pseudo = fit_signers(corpus, ids, use_pseudo=False)
    if "window" in window:
        window["length"] = window.pop("window")
    return DataConfig(PartSelection(), corpus.layout_spec, WindowConfig(**window), vocab,
                      signer_source=source, signers=names, pseudo_signers=pseudo)


def test_items_have_the_documented_shapes(tiny_folder):
    corpus = load_corpus(tiny_folder)
    assert corpus.video_ids == ["v0", "v1", "v2"] and corpus.signers == {"v0": "alice", "v1": "bob", "v2": "alice"}
    cfg = _config(corpus, corpus.video_ids, window=25, stride=5)
    ds = make_dataset(corpus, corpus.video_ids, cfg, train=False)
    # v0: 40 frames -> starts 0,5,10,15; v1: 30 -> 0,5; v2: 10 -> one padded window
    assert len(ds) == 7
    item = ds[0]
    assert item["x"].shape == (2, 25, 67) and item["x"].dtype == torch.float32
    assert item["mask"].shape == (25, 67) and item["mask"].dtype == torch.bool
    assert item["stats"].dtype == torch.float32 and torch.isfinite(item["stats"]).all()
    assert item["signer"].item() == 0 and item["video"].item() == 0 and item["start"].item() == 0
    short = ds[6]
    assert short["video"].item() == 2 and not short["mask"][10:].any() and short["mask"][:10].all()
    assert (short["x"][:, 10:] == 0).all()
    for i in range(len(ds)):
        assert torch.isfinite(ds[i]["x"]).all()


def test_labels_follow_the_ground_truth(tiny_folder):
    corpus = load_corpus(tiny_folder)
    cfg = _config(corpus, corpus.video_ids, window=10, stride=10, rule="majority")
    ds = make_dataset(corpus, corpus.video_ids, cfg, train=False)
    # v0: n for 0-9, s for 10-29, n for 30-39; v1: s 0-19, n 20-29; v2: s
    got = [(ds.video_ids[int(ds[i]["video"])], int(ds[i]["start"]), int(ds[i]["label"])) for i in range(len(ds))]
    assert got == [("v0", 0, 0), ("v0", 10, 1), ("v0", 20, 1), ("v0", 30, 0), ("v1", 0, 1), ("v1", 10, 1),
                   ("v1", 20, 0), ("v2", 0, 1)]


def test_windows_are_normalized_to_the_shoulders(tiny_folder):
    corpus = load_corpus(tiny_folder)
    ds = make_dataset(corpus, ["v0"], _config(corpus, ["v0"], window=25), train=False)
    x = ds[0]["x"].numpy()  # (C, T, V)
    mid = (x[:, :, 11] + x[:, :, 12]) / 2  # shoulder midpoint per frame
    assert abs(mid.mean()) < 0.2  # centred on the shoulders
    width = np.linalg.norm(x[:, :, 11] - x[:, :, 12], axis=0)
    assert 0.3 < np.median(width) < 3  # scaled by shoulder width


def test_training_augmentation_is_reproducible_per_epoch(tiny_folder):
    corpus = load_corpus(tiny_folder)
    cfg = _config(corpus, corpus.video_ids, window=25)
    ds = make_dataset(corpus, corpus.video_ids, cfg, train=True, seed=3)
    a, b = ds[4]["x"], ds[4]["x"]
    assert torch.equal(a, b)
    ds.set_epoch(1)
    assert not torch.equal(a, ds[4]["x"])


def test_frames_are_stored_once(tiny_folder):
    corpus = load_corpus(tiny_folder)
    ds = make_dataset(corpus, corpus.video_ids, _config(corpus, corpus.video_ids, window=5, stride=1), train=False)
    assert all(ds.videos[k] is corpus.frames[v] for k, v in enumerate(corpus.video_ids))
    assert np.shares_memory(ds.raw_window(3), corpus.frames["v0"])  # a window is a view, not a copy


def test_video_sample_mode_resamples_each_video(tiny_folder):
    corpus = load_corpus(tiny_folder)
    cfg = _config(corpus, corpus.video_ids, binary=False, window=16, sample_mode="video")
    ds = make_dataset(corpus, corpus.video_ids, cfg, train=False)
    assert len(ds) == 3 and ds[0]["x"].shape == (2, 16, 67) and ds[2]["mask"].all()


def test_unlabeled_and_orphan_videos_are_reported(tmp_path, caplog):
    for k in range(3):
        write_video(tmp_path / f"v{k}.npz", 12, seed=k)
    (tmp_path / "groundtruth.txt").write_text("v0 0 s\nv1 0 n\nghost 0 s\nv0 50 n\n")
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(tmp_path)
    assert corpus.video_ids == ["v0", "v1"]
    assert corpus.report == {"videos_without_labels": 1, "labels_without_video": 1, "annotations_beyond_video": 1}
    assert "v2" in caplog.text and "ghost" in caplog.text and "after their video's last frame" in caplog.text
    assert "line 4: v0 frame 50 (the video has 12 frames)" in caplog.text  # names the video and the line


def test_annotations_past_the_end_name_the_first_lines_then_a_count(tmp_path, caplog):
    write_video(tmp_path / "v0.npz", 12, seed=0)
    (tmp_path / "groundtruth.txt").write_text("v0 0 s\n" + "".join(f"v0 {20 + k} n\n" for k in range(8)))
    with caplog.at_level(logging.WARNING):
        load_corpus(tmp_path)
    assert "8 annotations start after" in caplog.text and "line 2: v0 frame 20" in caplog.text
    assert "line 6: v0 frame 24" in caplog.text and "line 7:" not in caplog.text and "and 3 more" in caplog.text


def test_folder_errors(tmp_path):
    write_video(tmp_path / "v0.npz", 5)
    with pytest.raises(DataError, match="groundtruth.txt: ground-truth file not found"):
        load_corpus(tmp_path)
    (tmp_path / "groundtruth.txt").write_text("other 0 s\n")
    with pytest.raises(DataError, match="none of the 1 landmark files has a line in"):
        load_corpus(tmp_path)
    (tmp_path / "groundtruth.txt").write_text("v0 0 s\n")
    np.savez(tmp_path / "v1.npz", pose=np.full((3, 25, 3), 0.5, np.float32))
    (tmp_path / "groundtruth.txt").write_text("v0 0 s\nv1 0 s\n")
    with pytest.raises(DataError, match=r"v1\.npz: pose has 25 joints \(body25\)"):
        load_corpus(tmp_path)


def test_stride_one_dataset_memory_stays_near_the_raw_bytes(tmp_path):
    """>= 200k frames at stride 1: resident memory must stay within 2x the raw landmark bytes."""
    psutil = pytest.importorskip("psutil", reason="psutil (the [dev] extra) measures resident memory")
    videos, frames_per_video = 40, 5000
    raw_bytes = 0
    lines = []
    for k in range(videos):
        arrays = write_video(tmp_path / f"v{k:02d}.npz", frames_per_video, channels=2, seed=k)
        raw_bytes += sum(a.nbytes for a in arrays.values())
        lines += [f"v{k:02d} 0 n", f"v{k:02d} {frames_per_video // 2} s"]
    (tmp_path / "groundtruth.txt").write_text("\n".join(lines))
    del arrays
    gc.collect()
    process = psutil.Process()
    before = process.memory_info().rss
    corpus = load_corpus(tmp_path)
    ds = make_dataset(corpus, corpus.video_ids, _config(corpus, corpus.video_ids, window=25, stride=1), train=False)
    for i in range(0, len(ds), len(ds) // 50):
        ds[i]
    gc.collect()
    grown = process.memory_info().rss - before
    assert corpus.total_frames == videos * frames_per_video >= 200_000
    assert len(ds) == videos * (frames_per_video - 24)
    assert grown < 2 * raw_bytes, f"dataset grew RSS by {grown / 1e6:.0f} MB for {raw_bytes / 1e6:.0f} MB of landmarks"


def test_real_isolated_sign_data_loads_with_real_signers():
    folder = shared_data("mp_signers")
    corpus = load_corpus(folder)
    assert len(corpus.video_ids) == 855 and len(set(corpus.signers.values())) == 19
    cfg = _config(corpus, corpus.video_ids, binary=False, window=30, sample_mode="video")
    assert cfg.vocab.classes == ("hello", "iloveyou", "thanks") and cfg.signer_source == "real"
    ds = make_dataset(corpus, corpus.video_ids, cfg, train=False)
    assert len(ds) == 855 and set(ds.labels.tolist()) == {0, 1, 2}
    assert (ds.sample_signers >= 0).all()
