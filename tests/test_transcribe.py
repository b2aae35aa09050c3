"""``signstgcn transcribe``: detect, then name each sign; JSON, CSV, ELAN with two tiers, subtitles, scoring."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from signstgcn import transcribe
from signstgcn.cli.transcribe import main as transcribe_main
from signstgcn.data.landmarks import Landmarks
from signstgcn.errors import DataError
from signstgcn.evaluation.transcription import TranscriptScore, edit_distance, score_signs
from signstgcn.inference.elan import read_eaf_tier
from signstgcn.inference.predictor import Detection, Predictor, Segment
from signstgcn.inference.subtitles import Cue, srt_text, vtt_text
from signstgcn.inference.transcribe import split_segment, transcribe_landmarks
from tests.conftest import shared_data
from tests.test_inference import make_checkpoint
from tests.test_pretrained import _recording

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("transcribe_models")
    return {
        "detector": make_checkpoint(root / "det.pt", window=16),
        "clip": make_checkpoint(root / "clip.pt", classes=("coffee", "tea", "water"), window=16,
                                sample_mode="video"),
        "window": make_checkpoint(root / "win.pt", classes=("hello", "thanks", "yes", "no"), window=12, seed=1),
        "face": make_checkpoint(root / "face.pt", classes=("a", "b"), window=16, face=True, sample_mode="video"),
    }


def _detection(T: int, segments: list[tuple[int, int]], fps: float = 30.0) -> Detection:
    prob = np.zeros(T, dtype=np.float32)
    for s, e in segments:
        prob[s:e] = 1.0
    return Detection(T, fps, np.arange(1), np.ones(1), prob, prob, 0.5, [Segment(s, e) for s, e in segments])


def test_subtitles_parse_with_the_reference_parsers_and_keep_the_times():
    srt = pytest.importorskip("srt", reason="the srt parser is a test dependency (requirements-dev.txt)")
    webvtt = pytest.importorskip("webvtt", reason="the webvtt-py parser is a test dependency")
    cues = [Cue(62.5, 63.25, "coffee (87%)"), Cue(0.04, 0.7, "a <b> & c"), Cue(3601.001, 3602.0, "two\nlines")]
    parsed = list(srt.parse(srt_text(cues)))
    assert [(p.start.total_seconds(), p.end.total_seconds(), p.content) for p in parsed] == [
        (0.04, 0.7, "a <b> & c"), (62.5, 63.25, "coffee (87%)"), (3601.001, 3602.0, "two lines")]
    captions = webvtt.from_string(vtt_text(cues))
    assert [(c.start, c.end) for c in captions] == [("00:00:00.040", "00:00:00.700"), ("00:01:02.500", "00:01:03.250"),
                                                     ("01:00:01.001", "01:00:02.000")]
    assert "a &lt;b&gt; &amp; c" in vtt_text(cues)
    assert srt_text([]) == "" and vtt_text([]) == "WEBVTT\n\n"
    with pytest.raises(ValueError, match="start < end"):
        srt_text([Cue(1.0, 1.0, "x")])


def test_a_long_segment_is_cut_into_signs_of_about_the_sign_length():
    assert split_segment(10, 30, 20.0) == [(10, 30)]
    assert split_segment(10, 39, 20.0) == [(10, 39)]  # up to 1.5 sign lengths: one sign
    pieces = split_segment(0, 100, 20.0)
    assert len(pieces) == 5 and pieces[0][0] == 0 and pieces[-1][1] == 100
    assert all(b == c for (_, b), (c, _) in zip(pieces, pieces[1:]))  # contiguous, no gap, no overlap
    assert split_segment(5, 5, 20.0) == [] and len(split_segment(0, 3, 0.5)) == 3  # never an empty piece


def test_scoring_counts_matches_glosses_and_the_edit_distance():
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1 and edit_distance([], ["x", "y"]) == 2
    assert edit_distance(["kitten"], ["sitting"]) == 1
    true = [(0, 20, "coffee"), (20, 40, "tea"), (60, 80, "water")]
    pred = [(1, 19, "coffee"), (22, 41, "water"), (90, 99, "tea")]  # match, wrong gloss, false alarm
    score = score_signs(pred, true)
    assert (score.true, score.predicted, score.matched, score.correct) == (3, 3, 2, 1)
    assert score.edits == 2 and score.gloss_error_rate == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 / 3) and score.gloss_accuracy == 0.5
    total = score + TranscriptScore(true=1, predicted=0)
    assert total.recall == pytest.approx(2 / 4) and total.precision == pytest.approx(2 / 3)
    assert TranscriptScore().f1 is None and TranscriptScore().gloss_error_rate is None


def test_each_sign_gets_the_classifier_top_k_and_unknown_below_the_floor(models, tmp_path):
    det, clip = Predictor.from_checkpoint(models["detector"]), Predictor.from_checkpoint(models["clip"])
    lm = Landmarks(tmp_path / "r.npz", {k: v for k, v in np.load(_recording(tmp_path / "r.npz", T=90)).items()
                                        if k != "fps"}, fps=30.0)
    detection = _detection(90, [(5, 25), (40, 90)])
    tr = transcribe_landmarks(det, clip, lm, detection, top_k=2, sign_seconds=0.5)  # 15 frames a sign
    assert [(s.start, s.end, s.segment) for s in tr.signs] == [(5, 25, 0), (40, 57, 1), (57, 73, 1), (73, 90, 1)]
    for sign in tr.signs:
        assert len(sign.top_k) == 2 and sign.top_k[0][1] >= sign.top_k[1][1]
        assert sign.gloss == sign.top_k[0][0] and sign.confidence == sign.top_k[0][1]
    strict = transcribe_landmarks(det, clip, lm, detection, min_confidence=0.99, sign_seconds=0.5)
    assert strict.glosses == ["unknown"] * 4 and strict.signs[0].top_k[0][0] in clip.classes
    window = Predictor.from_checkpoint(models["window"])  # sliding windows averaged over each piece
    assert all(g in window.classes for g in transcribe_landmarks(det, window, lm, detection).glosses)
    assert transcribe_landmarks(det, clip, lm, _detection(90, [])).signs == []
    named = {s.gloss for s in tr.signs}  # a piece the classifier names as not signing (its idle class) is no sign
    kept = transcribe_landmarks(det, clip, lm, detection, top_k=2, sign_seconds=0.5, not_signing=named)
    assert kept.signs == [] and len(transcribe_landmarks(det, clip, lm, detection, sign_seconds=0.5,
                                                         not_signing=()).signs) == 4


def test_the_models_read_their_own_inputs_and_an_impossible_pair_is_one_line(models, tmp_path):
    det = Predictor.from_checkpoint(models["detector"])
    face = Predictor.from_checkpoint(models["face"])  # needs the face the detector does not read
    T = 60
    rng = np.random.default_rng(0)
    arrays = {"pose": rng.uniform(0.3, 0.7, (T, 33, 4)), "left_hand": rng.uniform(0.4, 0.6, (T, 21, 3)),
              "right_hand": rng.uniform(0.4, 0.6, (T, 21, 3)), "face": rng.uniform(0.4, 0.6, (T, 478, 3))}
    lm = Landmarks(tmp_path / "f.npz", {k: v.astype(np.float32) for k, v in arrays.items()}, fps=30.0)
    tr = transcribe_landmarks(det, face, lm, _detection(T, [(10, 30)]))
    assert len(tr.signs) == 1 and tr.glosses[0] in face.classes
    no_face = Landmarks(tmp_path / "g.npz", {k: v for k, v in lm.arrays.items() if k != "face"}, fps=30.0)
    with pytest.raises(DataError, match=r"g\.npz: has no face landmarks") as err:
        transcribe_landmarks(det, face, no_face, _detection(T, [(10, 30)]))
    assert "\n" not in str(err.value)
    with pytest.raises(Exception, match="must be multi-class"):
        transcribe_landmarks(det, det, lm, _detection(T, [(10, 30)]))


def test_cli_writes_every_format_and_scores_against_gloss_labels(models, tmp_path):
    (tmp_path / "in").mkdir()
    rec = _recording(tmp_path / "in" / "rec1.npz", T=120, seed=3)
    (tmp_path / "in" / "groundtruth.txt").write_text("rec1 0 idle\nrec1 60 coffee\nrec1 90 tea\n")
    (tmp_path / "in" / "sessions.txt").write_text("rec1 session07\n")
    out = tmp_path / "out"
    args = [str(rec), "--detector", str(models["detector"]), "--classifier", str(models["clip"]), "--out", str(out),
            "--threshold", "0", "--gt", str(tmp_path / "in" / "groundtruth.txt"), "--quiet", "--top-k", "2"]
    assert transcribe_main(args) == 0
    info = json.loads((out / "rec1.signs.json").read_text())
    assert info["detector_checkpoint"] == str(models["detector"]) and info["num_segments"] == 1
    rows = list(csv.DictReader((out / "rec1.signs.csv").open()))
    assert list(rows[0])[:8] == ["start_frame", "end_frame", "start_time", "end_time", "gloss", "confidence",
                                 "label_1", "probability_1"]
    assert len(rows) == info["num_signs"] == len(info["signs"]) > 1
    for row, sign in zip(rows, info["signs"]):
        assert float(row["start_time"]) == pytest.approx(int(row["start_frame"]) / 30.0, abs=1e-4)
        assert row["gloss"] == sign["gloss"] in ("coffee", "tea", "water")
    glosses = read_eaf_tier(out / "rec1.eaf", "GLOSS")
    assert [g for _, _, g in glosses] == [r["gloss"] for r in rows]
    assert read_eaf_tier(out / "rec1.eaf", "SIGNING") == [(0.0, 4.0, "signing")]
    assert (out / "rec1.srt").read_text().startswith("1\n00:00:00,000 --> ")
    assert (out / "rec1.vtt").read_text().startswith("WEBVTT\n\n00:00:00.000 --> ")
    report = json.loads((out / "report.json").read_text())
    assert report["group_by"] == "session" and list(report["per_group"]) == ["session07"]
    m = report["metrics"]
    assert m["true"] == 2 and m["predicted"] == len(rows) and m["gloss_error_rate"] >= 0
    assert "<table>" in (out / "report.html").read_text()
    assert transcribe_main(args) == 2  # outputs exist: refused without --overwrite


def test_nobody_in_view_and_no_signing_give_valid_empty_outputs(models, tmp_path):
    T = 50
    empty = tmp_path / "empty.npz"
    np.savez(empty, pose=np.full((T, 33, 4), np.nan, np.float32), left_hand=np.full((T, 21, 3), np.nan, np.float32),
             fps=np.float32(25.0))
    still = _recording(tmp_path / "still.npz", T=T)
    out = tmp_path / "out"
    assert transcribe_main([str(empty), str(still), "--detector", str(models["detector"]), "--classifier",
                            str(models["clip"]), "--out", str(out), "--threshold", "1", "--quiet"]) == 0
    for stem in ("empty", "still"):  # nobody in view is never signing; threshold 1: nothing is
        info = json.loads((out / f"{stem}.signs.json").read_text())
        assert info["signs"] == [] and info["segments"] == []
        assert (out / f"{stem}.srt").read_text() == ""
        assert (out / f"{stem}.vtt").read_text() == "WEBVTT\n\n"
        assert read_eaf_tier(out / f"{stem}.eaf", "GLOSS") == []
        assert list(csv.reader((out / f"{stem}.signs.csv").open()))[1:] == []
    assert transcribe(models["clip"], empty, detector=models["detector"]).signs == []  # Python API alike


def test_wrong_models_and_flags_are_one_line(models, tmp_path, capsys):
    rec = str(_recording(tmp_path / "r.npz"))
    base = [rec, "--out", str(tmp_path / "o"), "--quiet"]
    assert transcribe_main([*base, "--classifier", str(models["detector"])]) == 2
    assert "multi-class checkpoint" in capsys.readouterr().err
    assert transcribe_main([*base, "--classifier", str(models["clip"]), "--detector", str(models["clip"])]) == 2
    assert "binary (signing vs not) checkpoint" in capsys.readouterr().err
    assert transcribe_main([*base, "--classifier", str(models["clip"]), "--sign-seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert "--sign-seconds must be positive" in err and len(err.strip().splitlines()) == 1


def test_transcribe_runs_from_real_videos(models, tmp_path):
    pytest.importorskip("cv2", reason="video decoding needs the .[mediapipe] extra (opencv)")
    pytest.importorskip("mediapipe", reason="landmark extraction needs the .[mediapipe] extra")
    video = shared_data("videos") / "msl_yo.mp4"
    out = tmp_path / "out"
    assert transcribe_main([str(video), "--classifier", str(models["clip"]), "--out", str(out), "--quiet"]) == 0
    info = json.loads((out / "msl_yo.signs.json").read_text())
    assert info["detector_name"] == "signstgcn-signing-detector" and info["landmarks_from"] == "extracted"
    assert info["num_signs"] >= 1 and info["segments"][0]["start_frame"] < 10  # every frame of it is signing
    assert (out / "msl_yo.npz").is_file() and (out / "msl_yo.srt").read_text().startswith("1\n")


def test_the_server_names_the_signs_of_a_segment_with_a_classifier(models, tmp_path):
    pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
    import asyncio

    from websockets.asyncio.client import connect

    from signstgcn.inference.multistream import MultiStreamDetector
    from signstgcn.inference.serve import run_server
    from tests.test_serve import _detected, _frames_to_end
    from tests.test_streaming import predictor, random_model

    frames = _detected(90, seed=7)  # every frame signing (threshold 0): one segment, open at the 'end'

    async def scenario():
        stop, port = asyncio.Event(), asyncio.get_running_loop().create_future()
        det = MultiStreamDetector(predictor(random_model(8)), stride=8, max_streams=2, threshold=0.0)
        task = asyncio.create_task(run_server(det, port=0, stop=stop, ready=port.set_result, log=lambda _: None,
                                              handle_signals=False, fps=30.0, queue_frames=256,
                                              classifier={"path": str(models["clip"]), "sign_seconds": 1.0}))
        try:
            async with connect(f"ws://127.0.0.1:{await port}") as ws:
                hello = json.loads(await ws.recv())
                got = await _frames_to_end(ws, frames, binary=True)
                got += await _frames_to_end(ws, frames[:40], binary=True)  # a second stream on the connection
        finally:
            stop.set()
        await task
        return hello, got

    hello, got = asyncio.run(scenario())
    assert hello["classifier"] == str(models["clip"])
    signs = [m for m in got if m["type"] == "sign"]
    assert [(s["start_frame"], s["end_frame"]) for s in signs] == [(0, 30), (30, 60), (60, 90), (0, 40)]
    for s in signs:
        assert s["gloss"] in ("coffee", "tea", "water") and s["gloss"] == s["top_k"][0][0]
        assert s["end_time"] == pytest.approx(s["end_frame"] / 30.0, abs=1e-3)
    ends = [i for i, m in enumerate(got) if m["type"] == "ended"]
    assert all(got.index(s) < ends[0] for s in signs[:3])  # named before the stream's 'ended'


def test_a_classifier_the_stream_frames_cannot_feed_is_one_line(models, capsys):
    from signstgcn.cli.serve import main as serve_main

    code = serve_main(["--ckpt", str(models["detector"]), "--classifier", str(models["face"]), "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "reads face, which the detector's stream frames" in err and len(err.strip().splitlines()) == 1


def test_render_draws_the_signs_of_each_segment(models, tmp_path, capsys):
    from signstgcn.cli.render import main as render_main

    rec = _recording(tmp_path / "r.npz", T=40)
    out = tmp_path / "r.gif"
    assert render_main([str(rec), "--out", str(out), "--ckpt", str(models["detector"]), "--classifier",
                        str(models["clip"]), "--dpi", "30", "--width", "3"]) == 0
    assert out.stat().st_size > 0 and " sign" in capsys.readouterr().out
    assert render_main([str(rec), "--out", str(tmp_path / "x.gif"), "--no-model", "--classifier",
                        str(models["clip"])]) == 2
    assert "--classifier names the signs of a detector's segments" in capsys.readouterr().err


def test_hysteresis_keeps_a_dip_inside_a_segment_and_a_low_bump_out():
    from signstgcn.inference.predictor import segments_from_probabilities

    prob = np.array([0.1, 0.3, 0.7, 0.4, 0.8, 0.3, 0.1, 0.35, 0.35, 0.1])
    assert segments_from_probabilities(prob, 0.6) == [(2, 3), (4, 5)]
    assert segments_from_probabilities(prob, 0.6, low_threshold=0.3) == [(1, 6)]  # the bump 7-9 never reaches 0.6
    assert segments_from_probabilities(prob, 0.6, low_threshold=0.9) == [(2, 3), (4, 5)]  # above: plain threshold


def test_signs_of_glosses_the_classifier_does_not_know_are_counted_apart():
    true = [(0, 20, "coffee"), (20, 40, "large"), (40, 60, "tea")]
    pred = [(0, 20, "coffee"), (20, 40, "small"), (40, 60, "tea")]
    score = score_signs(pred, true, vocabulary={"coffee", "tea", "small"})
    assert score.gloss_error_rate == pytest.approx(1 / 3) and score.out_of_vocabulary == 1
    assert score.gloss_error_rate_in_vocabulary == 0.0
    assert score_signs(pred, true).out_of_vocabulary == 0  # no vocabulary given: every gloss counts as known
