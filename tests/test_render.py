"""``signstgcn render``: a recording drawn frame by frame, with a detector's probability or a classifier's signs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from signstgcn.cli.render import main as render_main
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.data.writers import write_npz
from signstgcn.evaluation.render import render
from signstgcn.inference.predictor import Predictor
from tests.test_inference import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
T = 18


def _recording(path: Path) -> Path:
    rng = np.random.default_rng(0)
    parts = {"pose": rng.uniform(0.3, 0.7, size=(T, 33, 4)), "left_hand": rng.uniform(0.4, 0.6, size=(T, 21, 3)),
             "right_hand": rng.uniform(0.4, 0.6, size=(T, 21, 3)), "face": rng.uniform(0.4, 0.5, size=(T, 478, 3))}
    parts["right_hand"][5:9] = np.nan  # the hand not found in a few frames
    return write_npz(path, Landmarks(path, {k: v.astype(np.float32) for k, v in parts.items()}, fps=10.0))


def test_a_gif_has_one_frame_per_landmark_frame(tmp_path):
    clip = load_landmarks(_recording(tmp_path / "a.npz"))
    result = render(clip, tmp_path / "a.gif", dpi=30)
    with Image.open(result.path) as gif:
        assert gif.format == "GIF" and gif.n_frames == T
    assert result.fps == 10.0 and result.detection is None and result.recognition is None


def test_a_detector_adds_its_probability_and_segments(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "det.pt", window=8, threshold=1e-6)  # every frame is signing
    npz = _recording(tmp_path / "a.npz")
    assert render_main([str(npz), "--ckpt", str(ckpt), "--out", str(tmp_path / "a.gif"), "--dpi", "30"]) == 0
    assert "(18 frames at 10 fps, 1 signing segment)" in capsys.readouterr().out
    result = render(load_landmarks(npz), tmp_path / "b.gif", predictor=Predictor.from_checkpoint(ckpt), dpi=30)
    assert result.detection.probability.shape == (T,) and len(result.detection.segments) == 1
    with Image.open(tmp_path / "b.gif") as gif:
        assert gif.n_frames == T and gif.size[1] > gif.size[0] * 0.5  # the timeline panel under the skeleton


def test_a_classifier_shows_its_top_signs(tmp_path):
    ckpt = make_checkpoint(tmp_path / "rec.pt", classes=("a", "b", "c"), window=8)
    result = render(load_landmarks(_recording(tmp_path / "a.npz")), tmp_path / "a.gif",
                    predictor=Predictor.from_checkpoint(ckpt), top_k=2, dpi=30)
    assert result.recognition is not None and result.recognition.video_probs.shape == (3,)
    assert abs(float(result.recognition.video_probs.sum()) - 1.0) < 1e-5


def test_min_confidence_shows_unknown_and_is_for_classifiers_only(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path / "rec.pt", classes=("a", "b", "c"), window=8)
    npz = _recording(tmp_path / "a.npz")
    assert render_main([str(npz), "--ckpt", str(ckpt), "--out", str(tmp_path / "a.gif"), "--dpi", "30",
                        "--min-confidence", "1"]) == 0
    assert ": unknown (below --min-confidence 1)" in capsys.readouterr().out
    det = make_checkpoint(tmp_path / "det.pt", window=8)
    for extra in (["--ckpt", str(det)], []):
        assert render_main([str(npz), *extra, "--out", str(tmp_path / "b.gif"), "--min-confidence", "0.5"]) == 2
        assert "--min-confidence is for a multi-class checkpoint" in capsys.readouterr().err


def test_render_refuses_bad_outputs_in_one_line(tmp_path, capsys):
    npz = _recording(tmp_path / "a.npz")
    (tmp_path / "a.gif").write_bytes(b"mine")
    assert render_main([str(npz), "--out", str(tmp_path / "a.gif")]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "a.gif").read_bytes() == b"mine"
    assert render_main([str(npz), "--out", str(tmp_path / "a.avi")]) == 2
    assert "expected a .gif or .mp4 file" in capsys.readouterr().err
    if shutil.which("ffmpeg") is None:
        assert render_main([str(npz), "--out", str(tmp_path / "a.mp4")]) == 2
        assert "MP4 needs ffmpeg" in capsys.readouterr().err
    else:
        assert render_main([str(npz), "--out", str(tmp_path / "a.mp4"), "--dpi", "30"]) == 0
        assert (tmp_path / "a.mp4").stat().st_size > 0
    assert render_main([str(tmp_path / "missing.npz"), "--out", str(tmp_path / "m.gif")]) == 2
    assert "missing.npz" in capsys.readouterr().err
