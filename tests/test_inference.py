"""Inference: windows → frame probabilities → segments, ``signstgcn detect``, ELAN output, streaming.

A binary detector is trained once (module fixture) on the synthetic detection data (generator defaults)
and checked on held-out videos; plumbing and error tests use untrained checkpoints built directly.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli import detect as detect_cli
from signstgcn.cli.train import main as train_main
from signstgcn.data.groundtruth import LabelVocab, parse_groundtruth
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.readers import load_landmarks
from signstgcn.data.synthetic import generate_dataset
from signstgcn.data.windows import WindowConfig, window_starts
from signstgcn.errors import CheckpointError, DataError
from signstgcn.inference.elan import read_eaf_tier, write_eaf
from signstgcn.inference.predictor import (
    Predictor,
    Segment,
    covering_starts,
    detect,
    frame_probabilities,
    has_tail_window,
    segments_from_probabilities,
    sliding_window_scores,
    smooth_probabilities,
    window_weights,
)
from signstgcn.inference.streaming import IncrementalDetector, StreamingDetector
from signstgcn.model.config import ModelConfig
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.checkpoint import save_checkpoint
from tests.conftest import TINY_MODEL, write_video

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(stgcn_channels=(8, 16), stgcn_dilations=(1, 2), temporal_hidden=8, signer_emb_dim=8, attn_heads=2,
            supcon_dim=0)
TINY_ARGS = [*TINY_MODEL, "--quiet"]


def make_checkpoint(path: Path, *, classes: tuple[str, ...] | None = None, window: int = 25, face: bool = False,
                    sample_mode: str = "window", seed: int = 0, threshold: float | None = 0.4,
                    input_streams: tuple[str, ...] = ("joint",), joint_pool: str = "mean",
                    fps: float | None = None) -> Path:
    """An untrained checkpoint (binary unless ``classes``) with randomized BatchNorm statistics."""
    torch.manual_seed(seed)
    selection = PartSelection(include_face=face)
    spec = selection.layout_spec()
    binary = classes is None
    vocab = LabelVocab(binary=True, classes=("n", "s"), signing_labels=("s",)) if binary else \
        LabelVocab(binary=False, classes=tuple(classes))
    data = DataConfig(selection, spec, WindowConfig(window, 1, "majority", sample_mode), vocab, fps=fps)
    model = SignSTGCNModel(ModelConfig(layout=spec, num_classes=vocab.num_classes, input_streams=input_streams,
                                       joint_pool=joint_pool, **TINY)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    metrics = {"best_threshold": threshold} if (binary and threshold is not None) else {}
    record = {**data.to_dict(), "splits": {"train": [], "val": []}, "data_dir": "none"}
    return save_checkpoint(path, model, data=record, epoch=0, metrics=metrics)


@pytest.fixture(scope="module")
def random_ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    return {
        "binary": make_checkpoint(root / "binary.pt"),
        "multi": make_checkpoint(root / "multi.pt", classes=("hello", "thanks", "yes", "no", "please", "sorry")),
        "clip": make_checkpoint(root / "clip.pt", classes=("a", "b", "c"), window=16, sample_mode="video"),
        "face": make_checkpoint(root / "face.pt", face=True),
    }


# ------------------------------------------------------------------------------------------ unit: frames


def test_covering_starts_cover_every_frame():
    np.testing.assert_array_equal(covering_starts(40, 25, 5), [0, 5, 10, 15])  # regular grid reaches the end
    np.testing.assert_array_equal(covering_starts(43, 25, 5), [0, 5, 10, 15, 18])  # + a tail window
    np.testing.assert_array_equal(covering_starts(10, 25, 5), [0])  # short video: one padded window
    for T in (1, 24, 25, 26, 61, 100):
        for stride in (1, 4, 25):
            starts = covering_starts(T, 25, stride)
            covered = np.zeros(T, bool)
            for s in starts:
                covered[s:s + 25] = True
            assert covered.all()
            assert has_tail_window(starts, T, 25, stride) == (len(starts) > len(window_starts(T, 25, stride)))
    with pytest.raises(ValueError, match="stride 30 > window 25"):
        covering_starts(100, 25, 30)


def test_frame_probabilities_average_covering_windows():
    uniform = dict(weighting="uniform")
    probs = frame_probabilities(np.array([0.2, 0.6]), np.array([0, 2]), window=4, num_frames=6, **uniform)
    np.testing.assert_allclose(probs, [0.2, 0.2, 0.4, 0.4, 0.6, 0.6], rtol=1e-6)
    # the tail window only fills what the regular windows leave uncovered
    probs = frame_probabilities(np.array([0.2, 0.6, 1.0]), np.array([0, 2, 3]), 4, 7, tail=True, **uniform)
    np.testing.assert_allclose(probs, [0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 1.0], rtol=1e-6)
    assert np.isnan(frame_probabilities(np.array([0.5]), np.array([0]), 2, 4)[2:]).all()
    # centre weighting: frame 2 sits at the edge of window 0 and near the centre of window 1
    w = window_weights(4)
    assert w[1] == w[2] > w[0] == w[3] > 0
    probs = frame_probabilities(np.array([0.2, 0.6]), np.array([0, 2]), window=4, num_frames=6)
    np.testing.assert_allclose(probs[2], (0.2 * w[2] + 0.6 * w[0]) / (w[2] + w[0]), rtol=1e-6)
    np.testing.assert_allclose(probs[[0, 1, 4, 5]], [0.2, 0.2, 0.6, 0.6], rtol=1e-6)
    short = frame_probabilities(np.array([0.7]), np.array([0]), 25, 10)  # a padded short video
    np.testing.assert_allclose(short, 0.7, rtol=1e-6)


def test_smoothing():
    p = np.array([0, 0, 1, 0, 0, 1, 1, 1, 0, 1], dtype=np.float32)
    np.testing.assert_array_equal(smooth_probabilities(p, 1), p)
    med = smooth_probabilities(p, 3, "median")
    np.testing.assert_array_equal(med, [0, 0, 0, 0, 0, 1, 1, 1, 1, 0.5])  # the spike goes, edges shrink
    mean = smooth_probabilities(p, 3, "mean")
    np.testing.assert_allclose(mean[:3], [0, 1 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(mean[-1], 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="odd number of frames"):
        smooth_probabilities(p, 4)
    with pytest.raises(ValueError, match="Invalid smoothing method 'max'"):
        smooth_probabilities(p, 3, "max")


def test_segments_threshold_gap_and_duration():
    p = np.array([0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.9, np.nan, 0.8], dtype=np.float32)
    assert segments_from_probabilities(p, 0.5) == [Segment(0, 2), Segment(3, 6), Segment(9, 10), Segment(11, 12)]
    assert segments_from_probabilities(p, 0.5, min_gap=2) == [Segment(0, 6), Segment(9, 12)]
    assert segments_from_probabilities(p, 0.5, min_duration=3) == [Segment(3, 6)]
    assert segments_from_probabilities(p, 0.5, min_duration=3, min_gap=2) == [Segment(0, 6), Segment(9, 12)]
    assert segments_from_probabilities(np.zeros(5), 0.5) == []
    assert segments_from_probabilities(np.ones(5), 0.5) == [Segment(0, 5)]


def test_elan_file_is_valid_and_round_trips(tmp_path):
    segs = [(1.0, 2.5, "signing"), (0.2, 0.6, "signing")]
    path = write_eaf(tmp_path / "a.eaf", segs, media=tmp_path / "clip.mp4")
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0" and root.get("VERSION") == "3.0"
    assert [child.tag for child in root][:3] == ["HEADER", "TIME_ORDER", "TIER"]
    assert root.find("HEADER").get("TIME_UNITS") == "milliseconds"
    assert root.find("HEADER/MEDIA_DESCRIPTOR").get("RELATIVE_MEDIA_URL") == "./clip.mp4"
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    assert sorted(slots.values()) == [200, 600, 1000, 2500]
    tier = root.find("TIER")
    assert tier.get("TIER_ID") == "SIGNING" and tier.get("LINGUISTIC_TYPE_REF") == "default-lt"
    assert root.find("LINGUISTIC_TYPE").get("TIME_ALIGNABLE") == "true"
    assert read_eaf_tier(path) == sorted(segs)
    with pytest.raises(DataError, match="no tier 'GLOSS'"):
        read_eaf_tier(path, "GLOSS")
    with pytest.raises(ValueError, match="start < end"):
        write_eaf(tmp_path / "b.eaf", [(2.0, 1.0, "x")])


# ------------------------------------------------------------------------------------------ trained detector


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Tiny binary detector on synthetic detection data; videos ``vid003`` of every signer held out."""
    root = tmp_path_factory.mktemp("detector")
    info = generate_dataset(root / "data", task="detection", seed=0, videos_per_signer=4)
    ids = info.video_ids
    splits = {"train": [v for v in ids if v.endswith(("vid000", "vid001"))],
              "val": [v for v in ids if v.endswith("vid002")],
              "test": [v for v in ids if v.endswith("vid003")]}
    (root / "splits.json").write_text(json.dumps(splits))
    rc = train_main(["--data", str(root / "data"), "--binary", "--window", "25", "--stride", "4", "--epochs",
                         "4", "--lr", "3e-3", "--batch", "32", "--signer-loss-weight", "0",
                         "--splits-json", str(root / "splits.json"),
                         "--save-best", "--best-metric", "f1", "--out", str(root / "run"), *TINY_ARGS])
    assert rc == 0
    return {"root": root, "data": root / "data", "ckpt": root / "run" / "best.pt", "test": splits["test"],
            "gt": parse_groundtruth(root / "data" / "groundtruth.txt")}


def test_detect_recovers_true_segments(trained, tmp_path, capsys):
    inputs = [str(trained["data"] / f"{v}.npz") for v in trained["test"]]
    rc = detect_cli.main(["--ckpt", str(trained["ckpt"]), *inputs, "--out", str(tmp_path), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    pred, true = [], []
    for vid in trained["test"]:
        with open(tmp_path / f"{vid}.frames.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        T = len(rows)
        assert list(rows[0]) == ["frame", "time", "probability", "raw_probability", "signing"]
        assert [int(r["frame"]) for r in rows] == list(range(T))
        assert float(rows[1]["time"]) == pytest.approx(1 / 25)
        assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
        payload = json.loads((tmp_path / f"{vid}.segments.json").read_text())
        assert payload["threshold_source"] == "checkpoint best-F1 (validation)" and payload["num_frames"] == T
        mask = np.zeros(T, bool)
        for seg in payload["segments"]:
            mask[seg["start_frame"]:seg["end_frame"]] = True
            assert seg["start_time"] == pytest.approx(seg["start_frame"] / 25)
        np.testing.assert_array_equal(mask, [int(r["signing"]) for r in rows])
        eaf = read_eaf_tier(tmp_path / f"{vid}.eaf", "SIGNING")  # parses as XML with the expected tier
        assert [(round(a * 25), round(b * 25)) for a, b, _ in eaf] == \
            [(s["start_frame"], s["end_frame"]) for s in payload["segments"]]
        labels = trained["gt"].frame_labels(vid, T, LabelVocab(True, ("n", "s"), ("s",)))
        pred.append(mask)
        true.append(labels == 1)
    p, t = np.concatenate(pred), np.concatenate(true)
    f1 = 2 * (p & t).sum() / (p.sum() + t.sum())
    print(f"frame-level F1 {f1:.4f} on {len(trained['test'])} held-out videos ({len(t)} frames)")
    assert f1 >= 0.9, f"frame-level F1 {f1:.3f} on held-out videos"


def _stream(detector: StreamingDetector | IncrementalDetector, frames: np.ndarray) -> tuple[list, np.ndarray, list]:
    windows, steps = [], []
    final = np.full(len(frames), np.nan, dtype=np.float32)
    for t in range(len(frames)):
        step = detector.push(frames[t])
        assert step.frame == t
        steps.append(step)
        windows += step.windows
        final[step.final_start:step.final_start + len(step.final)] = step.final
    step = detector.flush()
    windows += step.windows
    final[step.final_start:step.final_start + len(step.final)] = step.final
    return windows, final, steps


@pytest.mark.parametrize("stride,length,weighting", [(1, 90, "center"), (4, 131, "center"), (25, 60, "uniform"),
                                                     (3, 17, "center"), (5, 52, "uniform")])
def test_streaming_matches_offline(trained, stride, length, weighting):
    """Window probabilities and finalized frame probabilities equal offline detect's to 1e-5."""
    pred = Predictor.from_checkpoint(trained["ckpt"])
    frames = pred.frames(load_landmarks(trained["data"] / f"{trained['test'][0]}.npz"))[40:40 + length]
    scores = sliding_window_scores(pred, frames, stride=stride)
    offline = pred.probabilities(scores.logits[:, 0])  # calibrated, as every consumer
    tail = has_tail_window(scores.starts, len(frames), pred.window, stride)
    offline_frames = frame_probabilities(offline, scores.starts, pred.window, len(frames), tail=tail,
                                         weighting=weighting)
    det = detect(pred, frames, fps=25.0, stride=stride, weighting=weighting)
    np.testing.assert_allclose(det.raw, offline_frames, atol=1e-6)

    stream = StreamingDetector(pred, stride=stride, weighting=weighting)
    windows, final, steps = _stream(stream, frames)
    assert [s for s, _ in windows] == scores.starts.tolist()
    np.testing.assert_allclose([p for _, p in windows], offline, atol=1e-5)
    np.testing.assert_allclose(final, offline_frames, atol=1e-5)
    # latency: once the first window has run, the current value is the latest window's, <= stride - 1 frames old
    assert stream.latency_frames == stride - 1
    ends = {step.window[0] + pred.window - 1: step.window[1] for step in steps if step.window is not None}
    for step in steps:
        if step.frame >= pred.window - 1:
            last_end = max(e for e in ends if e <= step.frame)
            assert step.frame - last_end <= stride - 1
            assert step.probability == pytest.approx(ends[last_end], abs=1e-6)


def test_incremental_streaming_on_trained_detector(trained):
    """The fast detector's trade-offs on a trained detector and held-out videos, against the exact detector
    at stride 1: the same windows as the exact detector at its stride, close probabilities, and frame
    decisions that agree almost everywhere (stride 8 is the bench's setting)."""
    pred = Predictor.from_checkpoint(trained["ckpt"])
    threshold = pred.best_threshold
    diffs, agree, agree_exact8, total = [], 0, 0, 0
    for vid in trained["test"]:
        frames = pred.frames(load_landmarks(trained["data"] / f"{vid}.npz"))
        _, reference, _ = _stream(StreamingDetector(pred, stride=1), frames)
        exact_windows, exact_final, _ = _stream(StreamingDetector(pred, stride=8), frames)
        with IncrementalDetector(pred, stride=8) as fast:
            fast_windows, fast_final, _ = _stream(fast, frames)
        assert [s for s, _ in fast_windows] == [s for s, _ in exact_windows]
        diffs.append(np.abs(np.array([p for _, p in fast_windows]) - [p for _, p in exact_windows]))
        agree += int(((fast_final >= threshold) == (reference >= threshold)).sum())
        agree_exact8 += int(((exact_final >= threshold) == (reference >= threshold)).sum())
        total += len(frames)
    diff = np.concatenate(diffs)
    print(f"incremental vs exact (stride 8): window |dp| mean {diff.mean():.4f} max {diff.max():.4f}; frame "
          f"decisions agreeing with exact stride 1: incremental {agree / total:.4f}, exact stride 8 "
          f"{agree_exact8 / total:.4f}")
    assert diff.mean() < 0.02 and agree / total > 0.97


def test_streaming_accepts_part_dicts_and_resets(trained):
    pred = Predictor.from_checkpoint(trained["ckpt"])
    lm = load_landmarks(trained["data"] / f"{trained['test'][1]}.npz")
    frames = pred.frames(lm)[:40]
    a = StreamingDetector(pred, stride=5)
    ref, _, _ = _stream(a, frames)
    a.reset()
    dict_windows = []
    for t in range(40):
        step = a.push({part: arr[t] for part, arr in lm.arrays.items()})
        if step.window:
            dict_windows.append(step.window)
    assert [s for s, _ in dict_windows] == [s for s, _ in ref[:len(dict_windows)]]
    np.testing.assert_allclose([p for _, p in dict_windows], [p for _, p in ref[:len(dict_windows)]], atol=1e-6)
    with pytest.raises(ValueError, match="expected \\(V, C\\) with V=67"):
        a.push(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="stride must be in 1..window=25"):
        StreamingDetector(pred, stride=26)


# ------------------------------------------------------------------------------------------ CLI and bad input


def _detect(*argv: str) -> int:
    return detect_cli.main([*argv, "--device", "cpu", "--quiet"])


def test_detect_refuses_to_overwrite_and_keeps_outputs(random_ckpts, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "v1.npz", 40)
    out = tmp_path / "out"
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "in"), "--out", str(out)) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["v1.eaf", "v1.frames.csv", "v1.segments.json"]
    before = {name: (out / name).read_bytes() for name in files}
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "in" / "v1.npz"), "--out", str(out),
                   "--threshold", "0.1") == 2
    err = capsys.readouterr().err
    assert "3 output files already exist" in err and "--overwrite" in err and err.count("\n") == 1
    assert {name: (out / name).read_bytes() for name in files} == before
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "in" / "v1.npz"), "--out", str(out),
                   "--threshold", "0.1", "--overwrite") == 0
    payload = json.loads((out / "v1.segments.json").read_text())
    assert payload["threshold"] == 0.1 and payload["threshold_source"] == "--threshold"


def test_detect_bad_inputs_are_reported_and_skipped(random_ckpts, tmp_path, capsys):
    write_video(tmp_path / "good.npz", 30)
    write_video(tmp_path / "posonly.npz", 30, parts=("pose",))  # the checkpoint needs hands too
    (tmp_path / "broken.npz").write_bytes(b"not an npz")
    out = tmp_path / "out"
    rc = _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "good.npz"), str(tmp_path / "posonly.npz"),
                 str(tmp_path / "broken.npz"), "--out", str(out))
    err = capsys.readouterr().err
    assert rc == 2
    assert "posonly.npz: has no hands landmarks (parts present: pose)" in err
    assert "broken.npz: not a readable .npz file" in err
    assert "2 of 3 inputs failed" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good.eaf", "good.frames.csv", "good.segments.json"]


def test_detect_face_checkpoint_needs_a_face(random_ckpts, tmp_path, capsys):
    write_video(tmp_path / "noface.npz", 30)
    assert _detect("--ckpt", str(random_ckpts["face"]), str(tmp_path / "noface.npz"), "--out", str(tmp_path)) == 2
    assert "has no face landmarks" in capsys.readouterr().err


def test_detect_unreadable_video(random_ckpts, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "clip.mp4"), "--out",
                   str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") <= 1 and "Traceback" not in err
    assert "clip.mp4: cannot open the video" in err or "pip install 'signstgcn[mediapipe]'" in err


@pytest.mark.parametrize("extra,match", [
    (["--mode", "segments"], "--mode segments needs a binary .* is a 6-class sign classifier; use --mode topk"),
    (["--threshold", "0.3"], "--threshold applies to signing segments, but checkpoint .* is a 6-class"),
    (["--min-gap", "1", "--smooth", "3"], "--smooth, --min-gap apply to signing segments"),
])
def test_detect_multiclass_checkpoint_for_segments_is_refused(random_ckpts, tmp_path, capsys, extra, match):
    write_video(tmp_path / "a.npz", 30)
    assert _detect("--ckpt", str(random_ckpts["multi"]), str(tmp_path / "a.npz"), "--out", str(tmp_path / "o"),
                   *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("signstgcn detect: error: ") and err.count("\n") == 1
    assert re.search(match, err), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("extra,match", [
    (["--mode", "topk"], "--mode topk needs a multi-class checkpoint"),
    (["--stride", "26"], "--stride must be in 1..25"),
    (["--smooth", "4"], "--smooth must be an odd number"),
    (["--threshold", "1.5"], "--threshold must be a probability"),
])
def test_detect_bad_flags(random_ckpts, tmp_path, capsys, extra, match):
    write_video(tmp_path / "a.npz", 30)
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "a.npz"), "--out", str(tmp_path / "o"),
                   *extra) == 2
    assert match in capsys.readouterr().err


def test_detect_wrong_files(random_ckpts, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hi")
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "notes.txt"), "--out", str(tmp_path)) == 2
    assert "notes.txt: unsupported input" in capsys.readouterr().err
    assert _detect("--ckpt", str(tmp_path / "notes.txt"), str(tmp_path), "--out", str(tmp_path)) == 2
    assert re.search(r"checkpoint .*notes\.txt: (not a SignSTGCN checkpoint|cannot be read)", capsys.readouterr().err)
    assert _detect("--ckpt", str(random_ckpts["binary"]), str(tmp_path / "nope.npz"), "--out", str(tmp_path)) == 2
    assert "nope.npz: no such file or folder" in capsys.readouterr().err


def test_detect_topk_for_multiclass(random_ckpts, tmp_path):
    write_video(tmp_path / "a.npz", 37)
    write_video(tmp_path / "short.npz", 10)
    assert _detect("--ckpt", str(random_ckpts["multi"]), str(tmp_path / "a.npz"), str(tmp_path / "short.npz"),
                   "--out", str(tmp_path / "o"), "--top-k", "3", "--stride", "5") == 0
    payload = json.loads((tmp_path / "o" / "a.topk.json").read_text())
    probs = [e["probability"] for e in payload["top_k"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
    assert [w["start_frame"] for w in payload["windows"]] == [0, 5, 10, 12]  # + the tail window
    assert all(len(w["top_k"]) == 3 for w in payload["windows"])
    with open(tmp_path / "o" / "a.topk.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[0]["label_1"] in {"hello", "thanks", "yes", "no", "please", "sorry"}
    short = json.loads((tmp_path / "o" / "short.topk.json").read_text())
    assert [w["end_frame"] for w in short["windows"]] == [10]
    # clip checkpoints (--sample-mode video): one prediction per video
    assert _detect("--ckpt", str(random_ckpts["clip"]), str(tmp_path / "a.npz"), "--out", str(tmp_path / "c")) == 0
    clip = json.loads((tmp_path / "o" / ".." / "c" / "a.topk.json").read_text())
    assert clip["windows"] == [] and len(clip["top_k"]) == 3  # k capped at the 3 classes


def test_library_refuses_wrong_kind(random_ckpts):
    multi = Predictor.from_checkpoint(random_ckpts["multi"])
    with pytest.raises(CheckpointError, match="needs a binary .* 6-class sign classifier"):
        StreamingDetector(multi)
    with pytest.raises(CheckpointError, match="per-frame signing detection needs a binary"):
        detect(multi, np.zeros((30, 67, 2), np.float32), fps=25.0)
    binary = Predictor.from_checkpoint(random_ckpts["binary"])
    assert binary.best_threshold == pytest.approx(0.4)
