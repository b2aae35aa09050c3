"""The signing detector shipped inside the package: found offline (also from an installed wheel), named in every
output, used by detect / evaluate / serve / render and ``detect(landmarks)`` without a checkpoint; and a checkpoint
that records its training frame rate resamples recordings of other rates without moving segment times."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from signstgcn import detect
from signstgcn.cli.detect import main as detect_main
from signstgcn.cli.evaluate import main as evaluate_main
from signstgcn.cli.render import main as render_main
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.errors import CheckpointError
from signstgcn.inference import pretrained
from signstgcn.inference.predictor import Predictor
from signstgcn.inference.predictor import detect as detect_frames
from tests.conftest import shared_data
from tests.test_inference import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
NAME = "signstgcn-signing-detector"


def _recording(path: Path, T: int = 60, seed: int = 0) -> Path:
    """A MediaPipe-like recording: the body still, the hands moving in its second half."""
    rng = np.random.default_rng(seed)
    pose = np.tile(rng.uniform(0.3, 0.7, size=(1, 33, 4)), (T, 1, 1)).astype(np.float32)
    hands = {side: np.tile(rng.uniform(0.45, 0.55, size=(1, 21, 3)), (T, 1, 1)).astype(np.float32)
             for side in ("left_hand", "right_hand")}
    for hand in hands.values():
        hand[T // 2:, :, :2] += 0.1 * np.sin(np.arange(T - T // 2) / 2.0)[:, None, None]
    np.savez(path, pose=pose, fps=np.float32(30.0), **hands)
    return path


def test_the_shipped_detector_loads_offline_and_says_what_it_is():
    predictor = Predictor.from_pretrained()
    assert predictor.binary and not predictor.video_mode
    assert predictor.name.startswith(NAME + " ") and predictor.release["version"]
    assert predictor.release["recipe"].startswith("python recipes/signing_detector.py")
    assert predictor.fps == 30.0  # recordings of other rates are resampled to it
    assert not predictor.data.layout.include_face  # works with or without the face
    with pretrained.pretrained_file() as path:
        assert path.stat().st_size < 5e6  # a few MB at most


def test_a_missing_or_corrupt_shipped_file_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(pretrained.PRETRAINED, "signing-detector", "gone.pt")
    with pytest.raises(CheckpointError, match="missing from this installation; reinstall signstgcn"):
        Predictor.from_pretrained()
    monkeypatch.undo()
    (tmp_path / "signing_detector.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(pretrained.resources, "files", lambda package: tmp_path)
    with pytest.raises(CheckpointError, match="the shipped model 'signing-detector' cannot be loaded; reinstall"):
        Predictor.from_pretrained()
    assert detect_main([str(_recording(tmp_path / "a.npz")), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot be loaded" in err
    with pytest.raises(CheckpointError, match="no shipped model 'other'"):
        Predictor.from_pretrained("other")


def test_detect_without_a_checkpoint_records_the_model_in_every_output(tmp_path, capsys):
    npz = _recording(tmp_path / "rec.npz")
    out = tmp_path / "out"
    assert detect_main([str(npz), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"the shipped signing detector {NAME}" in printed
    info = json.loads((out / "rec.segments.json").read_text())
    assert info["model_name"] == NAME and info["model_version"] and info["checkpoint"].startswith(NAME)
    eaf = (out / "rec.eaf").read_text()
    assert f'<PROPERTY NAME="signstgcn:model_name">{NAME}</PROPERTY>' in eaf
    # the Python API: detect(landmarks) runs the same model with the same defaults
    result = detect(npz)
    frames = np.loadtxt(out / "rec.frames.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(result.probability, frames[:, 2], atol=1e-5)
    same = detect(Predictor.from_pretrained(), load_landmarks(npz))
    np.testing.assert_allclose(same.probability, result.probability)


def test_evaluate_render_and_serve_use_the_shipped_detector(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _recording(data / "rec.npz")
    (data / "groundtruth.txt").write_text("rec 0 n\nrec 30 s\n")
    assert evaluate_main(["--data", str(data), "--quiet", "--no-plots", "--no-probe"]) == 2
    assert "--out is required without --ckpt" in capsys.readouterr().err
    assert evaluate_main(["--data", str(data), "--out", str(tmp_path / "eval"), "--quiet", "--no-plots",
                          "--no-probe"]) == 0
    assert f"the shipped model {NAME}" in capsys.readouterr().out
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["checkpoint"]["model_name"] == NAME and "segment_f1" in report["metrics"]
    assert render_main([str(data / "rec.npz"), "--out", str(tmp_path / "a.gif"), "--dpi", "20"]) == 0
    assert f"model {NAME}" in capsys.readouterr().out
    assert render_main([str(data / "rec.npz"), "--out", str(tmp_path / "b.gif"), "--dpi", "20", "--no-model"]) == 0
    assert "model" not in capsys.readouterr().out
    pytest.importorskip("websockets")
    proc = subprocess.Popen([sys.executable, "-m", "signstgcn", "serve", "--port", "0", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first, line = proc.stdout.readline(), proc.stdout.readline()
        assert f"model {NAME}" in first and "worker process" in first, first  # what it chose by itself
        assert "listening on ws://" in line and f"model {NAME}" in line, line
        health = line.split("health: ", 1)[1].split(";")[0]
        with urllib.request.urlopen(health, timeout=10) as reply:
            assert json.loads(reply.read())["model"].startswith(NAME)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_frame_rate_resampling_keeps_segment_times(tmp_path):
    """A 10 fps checkpoint on a 20 fps recording (every frame twice) sees the 10 fps recording: the same
    probabilities at the same times, so segments start and end at the same seconds."""
    predictor = Predictor.from_checkpoint(make_checkpoint(tmp_path / "det.pt", window=8, fps=10.0, seed=3))
    rng = np.random.default_rng(0)
    slow = rng.uniform(0.3, 0.7, size=(50, predictor.layout.num_nodes, 2)).astype(np.float32)
    slow += np.linspace(0, 0.2, 50, dtype=np.float32)[:, None, None]  # a slow drift: windows differ
    fast = np.repeat(slow, 2, axis=0)  # (100, V, 2): the same motion at 20 fps
    at10 = detect_frames(predictor, slow, fps=10.0, stride=2)
    at20 = detect_frames(predictor, fast, fps=20.0, stride=2)
    assert at10.model_fps is None and at20.model_fps == 10.0
    assert at20.num_frames == 100 and at20.probability.shape == (100,)
    times10 = np.arange(50) / 10.0
    times20 = np.arange(100) / 20.0
    np.testing.assert_allclose(np.interp(times10, times20, at20.raw), at10.raw, atol=0.05)
    threshold = float(np.median(at10.raw))
    seg10 = detect_frames(predictor, slow, fps=10.0, stride=2, threshold=threshold).segments
    seg20 = detect_frames(predictor, fast, fps=20.0, stride=2, threshold=threshold).segments
    assert seg10
    edges10 = sorted({s / 10.0 for s, _ in seg10} | {e / 10.0 for _, e in seg10})
    edges20 = sorted({s / 20.0 for s, _ in seg20} | {e / 20.0 for _, e in seg20})
    assert all(min(abs(a - b) for b in edges20) <= 0.2 for a in edges10)  # within two frames at 10 fps
    near = detect_frames(predictor, slow, fps=10.1, stride=2)  # within 2 %: not resampled
    assert near.model_fps is None
    unknown = Predictor.from_checkpoint(make_checkpoint(tmp_path / "plain.pt", window=8))
    assert detect_frames(unknown, fast, fps=20.0, stride=2).model_fps is None  # no rate recorded: as before


def test_detect_runs_straight_from_a_video_and_caches_its_landmarks(tmp_path, capfd):
    pytest.importorskip("cv2", reason="video decoding needs the .[mediapipe] extra (opencv)")
    pytest.importorskip("mediapipe", reason="landmark extraction needs the .[mediapipe] extra")
    video = shared_data("videos") / "msl_yo.mp4"
    out = tmp_path / "out"
    assert detect_main([str(video), "--out", str(out), "--threads", "1"]) == 0
    captured = capfd.readouterr()
    assert "W0000" not in captured.err and "inference_feedback_manager" not in captured.err  # no native log lines
    info = json.loads((out / "msl_yo.segments.json").read_text())
    assert info["landmarks_from"] == "extracted" and info["fps"] == pytest.approx(29.97, abs=0.01)
    assert info["signing_fraction"] >= 0.8  # every frame of the clip is signing
    lm = load_landmarks(out / "msl_yo.npz")
    assert isinstance(lm, Landmarks) and lm.num_frames == info["num_frames"] == 55
    assert lm.image_size == (1280.0, 720.0)  # the frame x and y are fractions of (the clip is 1280x720)
    assert detect_main([str(video), "--out", str(out), "--overwrite", "--quiet"]) == 0
    assert json.loads((out / "msl_yo.segments.json").read_text())["landmarks_from"] == "cache"


