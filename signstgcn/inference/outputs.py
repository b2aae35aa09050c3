"""Result files of a recording, shared by ``detect``, ``transcribe`` and the Python API.

Per recording ``ID`` in a folder ``OUT``:

- signing detection (:func:`write_segments`): ``ID.frames.csv`` (``frame, time, probability, raw_probability,
  signing``), ``ID.segments.json`` (the segments in frames, end-exclusive, and seconds, with ``info``: every
  setting and the model's name and version), ``ID.eaf`` (ELAN, one tier);
- recognition (:func:`write_topk`): ``ID.topk.json`` and ``ID.topk.csv`` (the prediction and the top-k labels for
  the recording and per window);
- transcription (:func:`write_transcript`): ``ID.signs.json`` and ``ID.signs.csv`` (one row per sign:
  ``start_frame, end_frame, start_time, end_time, gloss, confidence``, then the top-k), ``ID.eaf`` with two
  tiers (signing, gloss), and subtitles ``ID.srt`` / ``ID.vtt``.

Every file is written atomically; times are seconds at the recording's frame rate; ``unknown`` is a sign whose
top-1 probability is below the minimum confidence (its top-k stays listed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signstgcn.atomic import write_text_atomic
from signstgcn.inference.elan import write_eaf
from signstgcn.inference.predictor import Detection, Recognition, segment_mask
from signstgcn.inference.subtitles import Cue, write_srt, write_vtt

if TYPE_CHECKING:
    from signstgcn.inference.transcribe import Transcript

__all__ = ["GLOSS_TIER", "SEGMENT_FILES", "SIGNS_FILES", "TOPK_FILES", "write_segments", "write_topk",
           "write_transcript"]

SEGMENT_FILES = (".frames.csv", ".segments.json", ".eaf")
TOPK_FILES = (".topk.json", ".topk.csv")
SIGNS_FILES = (".signs.json", ".signs.csv", ".eaf", ".srt", ".vtt")
GLOSS_TIER = "GLOSS"


def csv_text(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def rounded(value: float | None, digits: int = 6) -> float | None:
    """``value`` rounded for JSON; None for None / NaN / infinity."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _eaf_properties(info: Mapping[str, Any], keys: Sequence[str]) -> dict[str, str]:
    return {f"signstgcn:{k}": str(info[k]) for k in keys if info.get(k)}


def write_segments(out: Path, stem: str, det: Detection, info: Mapping[str, Any], *, tier: str,
                   media: Path | None = None) -> list[Path]:
    """``stem.frames.csv``, ``stem.segments.json`` and ``stem.eaf`` of one detection (see the module docstring)."""
    fps = det.fps
    signing = segment_mask(det.segments, det.num_frames)
    rows = [[t, f"{t / fps:.4f}", f"{det.probability[t]:.6f}", f"{det.raw[t]:.6f}", int(signing[t])]
            for t in range(det.num_frames)]
    frames_csv = out / f"{stem}.frames.csv"
    write_text_atomic(frames_csv, csv_text(rows, ["frame", "time", "probability", "raw_probability", "signing"]))
    segments = []
    for s, e in det.segments:
        part = det.probability[s:e]
        segments.append({"start_frame": int(s), "end_frame": int(e), "start_time": rounded(s / fps, 4),
                         "end_time": rounded(e / fps, 4), "duration": rounded((e - s) / fps, 4),
                         "mean_probability": rounded(float(part.mean())),
                         "max_probability": rounded(float(part.max()))})
    payload = {**info, "threshold": det.threshold, "num_segments": len(segments),
               "signing_fraction": rounded(float(signing.mean()) if det.num_frames else 0.0), "segments": segments}
    seg_json = out / f"{stem}.segments.json"
    write_text_atomic(seg_json, json.dumps(payload, indent=2) + "\n")
    eaf = write_eaf(out / f"{stem}.eaf", [(s / fps, e / fps, "signing") for s, e in det.segments], tier=tier,
                    media=media, properties=_eaf_properties(info, ("checkpoint", "model_name", "model_version")))
    return [frames_csv, seg_json, eaf]


def _top(pairs: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"label": c, "probability": rounded(p)} for c, p in pairs]


def write_topk(out: Path, stem: str, rec: Recognition, info: Mapping[str, Any], *, k: int, window: int,
               fps: float) -> list[Path]:
    """``stem.topk.json`` and ``stem.topk.csv``: the prediction (a class or ``unknown`` below ``min_confidence``)
    and the top-k labels, for the recording and per window."""
    windows = []
    header = ["start_frame", "end_frame", "start_time", "end_time", "prediction"]
    header += [f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "probability")]
    rows = []
    T = info["num_frames"]
    if rec.starts is not None and rec.window_probs is not None:
        for start, probs in zip(rec.starts.tolist(), rec.window_probs):
            end = min(start + window, T)
            top = rec.top_k(probs, k)
            label = rec.label(probs)
            windows.append({"start_frame": start, "end_frame": end, "start_time": rounded(start / fps, 4),
                            "end_time": rounded(end / fps, 4), "prediction": label, "top_k": _top(top)})
            rows.append([start, end, f"{start / fps:.4f}", f"{end / fps:.4f}", label]
                        + [v for c, p in top for v in (c, f"{p:.6f}")])
    else:
        rows.append([0, T, "0.0000", f"{T / fps:.4f}", rec.prediction]
                    + [v for c, p in rec.top_k(rec.video_probs, k) for v in (c, f"{p:.6f}")])
    payload = {**info, "min_confidence": rec.min_confidence, "prediction": rec.prediction,
               "top_k": _top(rec.top_k(rec.video_probs, k)), "windows": windows}
    topk_json = out / f"{stem}.topk.json"
    write_text_atomic(topk_json, json.dumps(payload, indent=2) + "\n")
    topk_csv = out / f"{stem}.topk.csv"
    write_text_atomic(topk_csv, csv_text(rows, header))
    return [topk_json, topk_csv]


def sign_caption(gloss: str, confidence: float) -> str:
    """A subtitle's text: ``GLOSS (87%)``."""
    return f"{gloss} ({100 * confidence:.0f}%)"


def write_transcript(out: Path, stem: str, tr: Transcript, info: Mapping[str, Any], *, k: int,
                     signing_tier: str, media: Path | None = None) -> list[Path]:
    """``stem.signs.json``, ``stem.signs.csv``, ``stem.eaf`` (signing and gloss tiers), ``stem.srt`` and
    ``stem.vtt`` of one transcription (see the module docstring)."""
    fps, det = tr.fps, tr.detection
    signs, rows = [], []
    header = ["start_frame", "end_frame", "start_time", "end_time", "gloss", "confidence"]
    header += [f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "probability")]
    for sign in tr.signs:
        top = sign.top_k[:k]
        signs.append({"start_frame": sign.start, "end_frame": sign.end, "start_time": rounded(sign.start / fps, 4),
                      "end_time": rounded(sign.end / fps, 4), "gloss": sign.gloss,
                      "confidence": rounded(sign.confidence), "segment": sign.segment, "top_k": _top(top)})
        rows.append([sign.start, sign.end, f"{sign.start / fps:.4f}", f"{sign.end / fps:.4f}", sign.gloss,
                     f"{sign.confidence:.6f}"] + [v for c, p in top for v in (c, f"{p:.6f}")])
    segments = [{"start_frame": int(s), "end_frame": int(e), "start_time": rounded(s / fps, 4),
                 "end_time": rounded(e / fps, 4)} for s, e in det.segments]
    payload = {**info, "threshold": det.threshold, "num_segments": len(segments), "num_signs": len(signs),
               "segments": segments, "signs": signs}
    paths = [out / f"{stem}{suffix}" for suffix in SIGNS_FILES]
    write_text_atomic(paths[0], json.dumps(payload, indent=2) + "\n")
    write_text_atomic(paths[1], csv_text(rows, header))
    props = _eaf_properties(info, [f"{role}_{key}" for role in ("detector", "classifier")
                                   for key in ("checkpoint", "name", "version")])
    write_eaf(paths[2], tiers={signing_tier: [(s / fps, e / fps, "signing") for s, e in det.segments],
                               GLOSS_TIER: [(s.start / fps, s.end / fps, s.gloss) for s in tr.signs]},
              media=media, properties=props)
    cues = [Cue(s.start / fps, s.end / fps, sign_caption(s.gloss, s.confidence)) for s in tr.signs]
    write_srt(paths[3], cues)
    write_vtt(paths[4], cues)
    return paths
