"""``signstgcn make-stream`` / :mod:`signstgcn.data.streams`: isolated clips joined into continuous recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from signstgcn.cli.make_stream import main as make_stream_main
from signstgcn.data.groundtruth import parse_groundtruth
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import load_landmarks
from signstgcn.data.signers import read_video_table
from signstgcn.data.streams import Clip, join_clips, plan_streams
from signstgcn.data.writers import write_npz


def _clip(video: str, label: str, group: str = "g") -> Clip:
    return Clip(video, Path(f"{video}.npz"), group, ((0, 2**31 - 1, label),))


def test_idle_clips_are_spread_between_the_signs_and_streams_are_cut():
    clips = [_clip(f"w{k}", "word") for k in range(6)] + [_clip(f"i{k}", "idle") for k in range(3)]
    clips += [_clip(f"x{k}", "word", group="h") for k in range(2)]
    plans = plan_streams(clips, idle_label="idle", clips_per_stream=4, seed=0)
    assert [p.id for p in plans] == ["g_0", "g_1", "g_2", "h_0"]
    order = [c.label for p in plans if p.group == "g" for c in p.clips]
    assert order == ["idle", "word", "word", "idle", "word", "word", "idle", "word", "word"]  # evenly spread
    assert sorted(c.video for p in plans for c in p.clips) == sorted(c.video for c in clips)  # each clip once
    again = plan_streams(clips, idle_label="idle", clips_per_stream=4, seed=0)
    assert [[c.video for c in p.clips] for p in again] == [[c.video for c in p.clips] for p in plans]
    other = plan_streams(clips, idle_label="idle", clips_per_stream=4, seed=1)
    assert [[c.video for c in p.clips] for p in other] != [[c.video for c in p.clips] for p in plans]
    with pytest.raises(ValueError, match="--clips-per-stream must be at least 1"):
        plan_streams(clips, clips_per_stream=0)


def test_joined_clips_keep_every_frame_and_fill_a_missing_part_with_nan(tmp_path):
    a = Landmarks(tmp_path / "a.npz", {"pose": np.ones((3, 33, 4), np.float32),
                                       "left_hand": np.full((3, 21, 3), 2, np.float32)}, fps=30.0)
    b = Landmarks(tmp_path / "b.npz", {"pose": np.full((2, 33, 4), 5, np.float32)}, fps=30.0)
    joined = join_clips([a, b], tmp_path / "s.npz")
    assert joined.num_frames == 5 and joined.fps == 30.0
    np.testing.assert_array_equal(joined.arrays["pose"][:, 0, 0], [1, 1, 1, 5, 5])
    assert np.isnan(joined.arrays["left_hand"][3:]).all() and (joined.arrays["left_hand"][:3] == 2).all()
    c = Landmarks(tmp_path / "c.npz", {"pose": np.ones((2, 25, 3), np.float32)})
    with pytest.raises(ValueError, match="c.npz: pose has shape"):
        join_clips([a, c], tmp_path / "s.npz")
    d = Landmarks(tmp_path / "d.npz", {"pose": np.ones((2, 33, 4), np.float32)}, fps=25.0)
    with pytest.raises(ValueError, match="different frame rates"):
        join_clips([a, d], tmp_path / "s.npz")


def _isolated(root: Path) -> Path:
    """Six clips of two sessions: words of 4 frames, idle clips of 3 frames; frame values name the clip."""
    root.mkdir()
    lines, sessions = [], []
    for k, (label, session) in enumerate([("hello", "s1"), ("tea", "s1"), ("idle", "s1"), ("hello", "s2"),
                                         ("idle", "s2"), ("tea", "s2")]):
        T = 3 if label == "idle" else 4
        pose = np.full((T, 33, 4), float(k + 1), np.float32)
        hands = np.full((T, 21, 3), float(k + 1), np.float32)
        write_npz(root / f"c{k}.npz", Landmarks(root / f"c{k}.npz", {"pose": pose, "left_hand": hands,
                                                                       "right_hand": hands}))
        lines.append(f"c{k} 0 {label}")
        sessions.append(f"c{k} {session}")
    (root / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (root / "sessions.txt").write_text("\n".join(sessions) + "\n")
    return root


def test_make_stream_writes_recordings_whose_ground_truth_names_each_clip(tmp_path, capsys):
    data = _isolated(tmp_path / "clips")
    out = tmp_path / "streams"
    assert make_stream_main(["--data", str(data), "--out", str(out)]) == 0
    assert "6 clips (2 idle) of 2 groups -> 2 streams, 22 frames" in capsys.readouterr().out
    gt = parse_groundtruth(out / "groundtruth.txt")
    assert sorted(gt.annotations) == ["s1_0", "s2_0"]
    assert read_video_table(out / "sessions.txt") == {"s1_0": "s1", "s2_0": "s2"}
    for line in (out / "segments.txt").read_text().splitlines():
        stream, start, end, label, source = line.split()
        frames = load_landmarks(out / f"{stream}.npz").arrays["pose"]
        k = int(source[1:]) + 1
        assert (frames[int(start):int(end)] == k).all()  # the segment is exactly the source clip's frames
        assert gt.segments(stream, len(frames))  # and labelled with its label
        assert (stream, int(start)) in {(v, f) for v, ann in gt.annotations.items() for f, _ in ann}
    first = gt.annotations["s1_0"]
    assert first[0][1] == "idle"  # the session's idle clip comes first, then its words
    assert make_stream_main(["--data", str(data), "--out", str(out)]) == 2  # never over earlier streams
    assert "already holds files; pass --overwrite" in capsys.readouterr().err


def test_make_stream_bad_input_is_one_line(tmp_path, capsys):
    assert make_stream_main(["--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    data = _isolated(tmp_path / "clips")
    (data / "sessions.txt").write_text("c0 s1\n")
    assert make_stream_main(["--data", str(data), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sessions.txt: 5 of 6 videos have no session" in err
