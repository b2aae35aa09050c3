"""``signstgcn detect [--ckpt best.pt] INPUT... --out DIR``: run a checkpoint on recordings.

Without ``--ckpt`` the signing detector shipped inside the package runs (no training needed; its name and
version are printed and recorded in every output).

INPUT: landmark files (``.npz``, ``.pose``), OpenPose JSON folders, video files (landmarks extracted with
MediaPipe, the ``mediapipe`` extra, and cached as ``OUT/ID.npz``: a later run on the same unchanged video reads
the cache instead of extracting again), or folders holding any of these (searched recursively).

Binary checkpoint (signing detection), per input ``ID`` (file stem / folder name):

- ``OUT/ID.frames.csv``: ``frame, time, probability`` (smoothed, thresholded), ``raw_probability`` (mean of
  the covering windows), ``signing`` (0/1 after the duration rules);
- ``OUT/ID.segments.json``: the signing segments (frames end-exclusive, seconds) and every setting used;
- ``OUT/ID.eaf``: an ELAN file with one tier ``SIGNING``.

Multi-class checkpoint (sign recognition): ``OUT/ID.topk.json`` (the prediction and the top-k labels with
probabilities for the whole video and, for sliding-window checkpoints, per window) and ``OUT/ID.topk.csv`` (one
row per window, or one row for the video). Probabilities are calibrated (the checkpoint's temperature); with
``--min-confidence P`` a prediction whose top-1 probability is below ``P`` is ``unknown`` (the top-k list stays).

Outputs that already exist are refused before any work unless ``--overwrite``. An input that cannot be
processed is reported on stderr and skipped; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from signstgcn.atomic import write_text_atomic
from signstgcn.cli.common import HelpFormatter, add_threads_arg, plural, run_cli
from signstgcn.data.landmarks import Landmarks
from signstgcn.data.readers import LANDMARK_SUFFIXES, find_landmark_files, load_landmarks
from signstgcn.data.readers.openpose import is_openpose_folder
from signstgcn.errors import CheckpointError, DataError, SignSTGCNError
from signstgcn.inference.elan import DEFAULT_TIER, write_eaf
from signstgcn.inference.extraction import VIDEO_SUFFIXES, extract_video, require_mediapipe, save_npz
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    DEFAULT_MIN_SECONDS,
    DEFAULT_SMOOTH,
    DEFAULT_SMOOTH_METHOD,
    SMOOTHING_METHODS,
    WEIGHTINGS,
    Detection,
    Predictor,
    Recognition,
    check_min_confidence,
    checkpoint_threshold,
    default_stride,
    detect,
    recognize,
    segment_mask,
)
from signstgcn.progress import wants_progress
from signstgcn.runtime import configure_threads, resolve_device

PROG = "signstgcn detect"
MODES = ("auto", "segments", "topk")
SEGMENT_FILES = (".frames.csv", ".segments.json", ".eaf")
TOPK_FILES = (".topk.json", ".topk.csv")
log = logging.getLogger("signstgcn.detect")


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run a trained checkpoint on recordings: signing "
                                "segments (binary checkpoints) or top-k signs (multi-class).",
                                formatter_class=HelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="landmark files (.npz, .pose), OpenPose JSON folders, videos, or folders of them")
    p.add_argument("--ckpt", default=None, help="trained checkpoint (best.pt / last.pt) (default: the signing "
                   "detector shipped with signstgcn)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="segments (binary checkpoints), topk (multi-class) or auto: by the checkpoint")
    w = p.add_argument_group("windows")
    w.add_argument("--stride", type=int, default=None,
                   help="frames between window starts (default: window // 5, at least 1)")
    w.add_argument("--batch", type=int, default=256, help="windows per model call")
    w.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    s = p.add_argument_group("segments (binary checkpoints)")
    s.add_argument("--threshold", type=float, default=None,
                   help="signing probability threshold (default: the checkpoint's best-F1 threshold)")
    s.add_argument("--frame-weighting", choices=WEIGHTINGS, default=None,
                   help="how covering windows are averaged per frame: center (Gaussian around each window's "
                   "centre) or uniform (plain mean) (default: center)")
    s.add_argument("--smooth", type=int, default=None,
                   help=f"smoothing width in frames, odd; 1 = off (default: {DEFAULT_SMOOTH})")
    s.add_argument("--smooth-method", choices=SMOOTHING_METHODS, default=None,
                   help=f"moving median or mean (default: {DEFAULT_SMOOTH_METHOD})")
    s.add_argument("--min-duration", type=float, default=None,
                   help=f"drop segments shorter than this, in seconds (default: {DEFAULT_MIN_SECONDS:g})")
    s.add_argument("--min-gap", type=float, default=None,
                   help=f"merge segments closer than this, in seconds (default: {DEFAULT_MIN_SECONDS:g})")
    s.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of inputs that store none; also for times in topk (default: {DEFAULT_FPS:g})")
    s.add_argument("--tier", default=DEFAULT_TIER, help="ELAN tier id")
    k = p.add_argument_group("top-k (multi-class checkpoints)")
    k.add_argument("--top-k", type=int, default=None, help="labels per window / video (default: 5)")
    k.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="report the prediction as 'unknown' when its calibrated top-1 probability is below P "
                        "(the top-k list is kept) (default: 0, never unknown)")
    v = p.add_argument_group("videos")
    v.add_argument("--face", choices=("auto", "refine", "none"), default="auto",
                   help="face mesh for on-the-fly extraction: refine, none, or auto (refine only when the "
                   "checkpoint uses the face)")
    v.add_argument("--save-landmarks", action="store_true",
                   help="kept for compatibility: the landmarks of video inputs are always written to OUT/ID.npz")
    v.add_argument("--no-cache", action="store_true",
                   help="extract videos again even when OUT/ID.npz holds their landmarks from an earlier run")
    r = p.add_argument_group("run")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_threads_arg(r)
    r.add_argument("--quiet", action="store_true", help="no progress bar, no per-input summary")
    return p


# ----------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Source:
    """One recording to process: ``kind`` is ``landmarks`` or ``video``."""

    id: str
    path: Path
    kind: str


def collect_inputs(items: list[str]) -> list[Source]:
    """Expand INPUT arguments into recordings; unknown suffixes, missing paths and id clashes are errors."""
    sources: list[Source] = []
    for item in items:
        path = Path(item)
        if path.is_file():
            suffix = path.suffix.lower()
            if suffix in LANDMARK_SUFFIXES:
                sources.append(Source(path.stem, path, "landmarks"))
            elif suffix in VIDEO_SUFFIXES:
                sources.append(Source(path.stem, path, "video"))
            else:
                raise DataError(f"{path}: unsupported input; expected {', '.join(LANDMARK_SUFFIXES)}, a video "
                                f"({', '.join(VIDEO_SUFFIXES)}) or a folder")
        elif path.is_dir():
            if is_openpose_folder(path):
                sources.append(Source(path.name, path, "landmarks"))
                continue
            try:
                found = find_landmark_files(path)
            except DataError:
                found = {}
            videos = sorted(q for q in path.rglob("*") if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES)
            if not found and not videos:
                raise DataError(f"{path}: no landmark files, OpenPose folders or videos found (searched recursively)")
            sources += [Source(vid, q, "landmarks") for vid, q in found.items()]
            sources += [Source(q.stem, q, "video") for q in videos]
        else:
            raise DataError(f"{path}: no such file or folder")
    seen: dict[str, Path] = {}
    unique = []
    for src in sources:
        if src.id in seen:
            if seen[src.id] == src.path:
                continue
            raise DataError(f"two inputs share the id {src.id!r} ({seen[src.id]} and {src.path}); "
                            "their outputs would collide")
        seen[src.id] = src.path
        unique.append(src)
    return unique


# ----------------------------------------------------------------------------------------------- settings


def _settings(args: argparse.Namespace, predictor: Predictor) -> dict[str, Any]:
    """Resolve ``--mode`` and the defaults; refuse flags that do not fit the checkpoint's kind."""
    mode = args.mode
    if mode == "auto":
        mode = "segments" if predictor.binary else "topk"
    ckpt = f"checkpoint {predictor.name}"
    if mode == "segments":
        if not predictor.binary:
            raise CheckpointError(f"--mode segments needs a binary (signing vs not) checkpoint, but {ckpt} is a "
                                  f"{predictor.kind}; use --mode topk")
        if predictor.video_mode:
            raise CheckpointError(f"{ckpt} was trained on whole clips (--sample-mode video); per-frame "
                                  "segments need a sliding-window checkpoint")
        for flag, value in (("--top-k", args.top_k), ("--min-confidence", args.min_confidence)):
            if value is not None:
                raise ValueError(f"{flag} is for multi-class checkpoints (--mode topk)")
    else:
        if predictor.binary:
            raise CheckpointError(f"--mode topk needs a multi-class checkpoint, but {ckpt} is a binary signing "
                                  "detector; use --mode segments")
        given = [f for f, v in (("--threshold", args.threshold), ("--frame-weighting", args.frame_weighting),
                                ("--smooth", args.smooth),
                                ("--smooth-method", args.smooth_method), ("--min-duration", args.min_duration),
                                ("--min-gap", args.min_gap)) if v is not None]
        if given:
            raise CheckpointError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to signing segments, "
                                  f"but {ckpt} is a {predictor.kind} (top-k recognition)")
    window = predictor.window
    stride = args.stride if args.stride is not None else default_stride(window)
    if not 1 <= stride <= window:
        raise ValueError(f"--stride must be in 1..{window} (the checkpoint's window), got {stride}")
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    threshold = args.threshold
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"--threshold must be a probability in [0, 1], got {threshold}")
    smooth = DEFAULT_SMOOTH if args.smooth is None else args.smooth
    if smooth < 1 or smooth % 2 == 0:
        raise ValueError(f"--smooth must be an odd number of frames >= 1, got {smooth}")
    for name in ("min_duration", "min_gap"):
        value = getattr(args, name)
        if value is not None and (value < 0 or not math.isfinite(value)):
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0 seconds, got {value}")
    if args.fps is not None and not (args.fps > 0 and math.isfinite(args.fps)):
        raise ValueError(f"--fps must be positive, got {args.fps}")
    top_k = 5 if args.top_k is None else args.top_k
    if top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {top_k}")
    min_confidence = 0.0 if args.min_confidence is None else check_min_confidence(args.min_confidence)
    face = args.face if args.face != "auto" else ("refine" if predictor.data.layout.include_face else "none")
    return {
        "mode": mode, "stride": stride, "threshold": threshold, "smooth": smooth,
        "smooth_method": args.smooth_method or DEFAULT_SMOOTH_METHOD, "weighting": args.frame_weighting or "center",
        "min_duration": DEFAULT_MIN_SECONDS if args.min_duration is None else args.min_duration,
        "min_gap": DEFAULT_MIN_SECONDS if args.min_gap is None else args.min_gap,
        "top_k": min(top_k, len(predictor.classes)) if mode == "topk" else top_k, "face": face,
        "min_confidence": min_confidence,
    }


def output_files(out: Path, src: Source, mode: str) -> list[Path]:
    """The result files of one input (refused when they exist, unless ``--overwrite``); the landmark cache of
    a video (``OUT/ID.npz``) is not one of them."""
    names = SEGMENT_FILES if mode == "segments" else TOPK_FILES
    return [out / f"{src.id}{suffix}" for suffix in names]


def cache_file(out: Path, src: Source) -> Path:
    """Where the landmarks of a video input are cached."""
    return out / f"{src.id}.npz"


# ----------------------------------------------------------------------------------------------- writing


def _csv(rows: list[list[Any]], header: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _r(value: float, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def write_segments(out: Path, src: Source, det: Detection, info: dict[str, Any], tier: str) -> list[Path]:
    fps = det.fps
    signing = segment_mask(det.segments, det.num_frames)
    rows = [[t, f"{t / fps:.4f}", f"{det.probability[t]:.6f}", f"{det.raw[t]:.6f}", int(signing[t])]
            for t in range(det.num_frames)]
    frames_csv = out / f"{src.id}.frames.csv"
    write_text_atomic(frames_csv, _csv(rows, ["frame", "time", "probability", "raw_probability", "signing"]))
    segments = []
    for s, e in det.segments:
        part = det.probability[s:e]
        segments.append({"start_frame": int(s), "end_frame": int(e), "start_time": _r(s / fps, 4),
                         "end_time": _r(e / fps, 4), "duration": _r((e - s) / fps, 4),
                         "mean_probability": _r(float(part.mean())), "max_probability": _r(float(part.max()))})
    payload = {**info, "threshold": det.threshold, "num_segments": len(segments),
               "signing_fraction": _r(float(signing.mean()) if det.num_frames else 0.0), "segments": segments}
    seg_json = out / f"{src.id}.segments.json"
    write_text_atomic(seg_json, json.dumps(payload, indent=2) + "\n")
    props = {f"signstgcn:{k}": str(info[k]) for k in ("checkpoint", "model_name", "model_version") if info.get(k)}
    eaf = write_eaf(out / f"{src.id}.eaf", [(s / fps, e / fps, "signing") for s, e in det.segments], tier=tier,
                    media=src.path if src.kind == "video" else None, properties=props)
    return [frames_csv, seg_json, eaf]


def write_topk(out: Path, src: Source, rec: Recognition, info: dict[str, Any], k: int, window: int,
               fps: float) -> list[Path]:
    """``ID.topk.json`` and ``ID.topk.csv``: the prediction (a class or ``unknown`` below ``min_confidence``) and the
    top-k labels, for the video and per window."""
    video_top = [{"label": c, "probability": _r(p)} for c, p in rec.top_k(rec.video_probs, k)]
    windows = []
    header = ["start_frame", "end_frame", "start_time", "end_time", "prediction"]
    header += [f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "probability")]
    rows = []
    if rec.starts is not None and rec.window_probs is not None:
        T = info["num_frames"]
        for start, probs in zip(rec.starts.tolist(), rec.window_probs):
            end = min(start + window, T)
            top = rec.top_k(probs, k)
            label = rec.label(probs)
            windows.append({"start_frame": start, "end_frame": end, "start_time": _r(start / fps, 4),
                            "end_time": _r(end / fps, 4), "prediction": label,
                            "top_k": [{"label": c, "probability": _r(p)} for c, p in top]})
            rows.append([start, end, f"{start / fps:.4f}", f"{end / fps:.4f}", label]
                        + [v for c, p in top for v in (c, f"{p:.6f}")])
    else:
        T = info["num_frames"]
        rows.append([0, T, "0.0000", f"{T / fps:.4f}", rec.prediction]
                    + [v for c, p in rec.top_k(rec.video_probs, k) for v in (c, f"{p:.6f}")])
    payload = {**info, "min_confidence": rec.min_confidence, "prediction": rec.prediction, "top_k": video_top,
               "windows": windows}
    topk_json = out / f"{src.id}.topk.json"
    write_text_atomic(topk_json, json.dumps(payload, indent=2) + "\n")
    topk_csv = out / f"{src.id}.topk.csv"
    write_text_atomic(topk_csv, _csv(rows, header))
    return [topk_json, topk_csv]


# ----------------------------------------------------------------------------------------------- main


def _cached(cache: Path, src: Source, face: str) -> Landmarks | None:
    """The landmarks cached for ``src`` by an earlier run: written after the video last changed, with the frame size
    (caches of older versions lack it) and with the face when it is asked for; else None."""
    if not cache.is_file() or cache.stat().st_mtime < src.path.stat().st_mtime:
        return None
    try:
        lm = load_landmarks(cache)
    except (SignSTGCNError, ValueError, OSError):
        return None
    if lm.image_size is None:
        return None
    return None if face == "refine" and "face" not in lm.arrays else lm


def _load(src: Source, face: str, progress: bool, out: Path, use_cache: bool) -> tuple[Landmarks, bool]:
    """(landmarks, read from the cache); a video's fresh extraction is written to its cache."""
    if src.kind != "video":
        return load_landmarks(src.path), False
    cache = cache_file(out, src)
    lm = _cached(cache, src, face) if use_cache else None
    if lm is not None:
        return lm, True
    lm = extract_video(src.path, face=face, progress=progress)
    save_npz(lm, cache)
    return lm, False


def process(src: Source, predictor: Predictor, settings: dict[str, Any], args: argparse.Namespace,
            out: Path, progress: bool) -> tuple[list[Path], str]:
    """Run one recording and write its outputs; returns (files, one-line summary)."""
    lm, from_cache = _load(src, settings["face"], progress, out, not args.no_cache)
    frames = predictor.frames(lm)  # (T, V, C)
    landmarks_note = {"landmarks": str(cache_file(out, src)), "landmarks_from": "cache" if from_cache else
                      "extracted"} if src.kind == "video" else {}
    if lm.fps is not None:
        fps, fps_source = lm.fps, "file"
    elif args.fps is not None:
        fps, fps_source = float(args.fps), "--fps"
    else:
        fps, fps_source = DEFAULT_FPS, "default"
    info = {"video": src.id, "input": str(src.path), **predictor.provenance(), "task": predictor.kind,
            "num_frames": int(len(frames)), "fps": fps, "fps_source": fps_source, "window": predictor.window,
            "stride": settings["stride"], "layout": predictor.layout.name, "temperature": predictor.temperature,
            **landmarks_note}
    written = []
    if settings["mode"] == "segments":
        min_duration = round(settings["min_duration"] * fps)
        min_gap = round(settings["min_gap"] * fps)
        det = detect(predictor, frames, fps=fps, stride=settings["stride"], batch_size=args.batch,
                     threshold=settings["threshold"], smooth=settings["smooth"],
                     smooth_method=settings["smooth_method"], min_duration=min_duration, min_gap=min_gap,
                     weighting=settings["weighting"])
        if det.model_fps is not None:
            info["resampled_to_fps"] = det.model_fps  # the checkpoint's training rate
        info.update({"threshold_source": "--threshold" if settings["threshold"] is not None
                     else checkpoint_threshold(predictor.metrics)[1],
                     "frame_weighting": settings["weighting"],
                     "smoothing": {"method": settings["smooth_method"], "width_frames": settings["smooth"]},
                     "min_duration_frames": min_duration, "min_gap_frames": min_gap})
        written += write_segments(out, src, det, info, args.tier)
        share = segment_mask(det.segments, det.num_frames).mean() if det.num_frames else 0.0
        summary = (f"{src.id}: {det.num_frames} frames, {plural(len(det.segments), 'signing segment')} "
                   f"({100 * share:.1f}% of frames), threshold {det.threshold:.3f}")
    else:
        rec = recognize(predictor, frames, stride=settings["stride"], batch_size=args.batch,
                        min_confidence=settings["min_confidence"])
        written += write_topk(out, src, rec, info, settings["top_k"], predictor.window, fps)
        label, prob = rec.top_k(rec.video_probs, 1)[0]
        summary = f"{src.id}: {len(frames)} frames, top-1 {label} ({prob:.3f})"
        if rec.prediction != label:
            summary += f": {rec.prediction} (below --min-confidence {rec.min_confidence:g})"
    return written, summary


def run(args: argparse.Namespace) -> int:
    device = str(resolve_device(args.device))
    configure_threads(args.threads)
    if args.ckpt is None:
        predictor = Predictor.from_pretrained(device=device)
        if not args.quiet:
            print(f"{PROG}: the shipped signing detector {predictor.name} (pass --ckpt for your own)", flush=True)
    else:
        predictor = Predictor.from_checkpoint(args.ckpt, device=device)
    settings = _settings(args, predictor)
    sources = collect_inputs(args.inputs)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    planned = [f for src in sources for f in output_files(out, src, settings["mode"])]
    existing = [f for f in planned if f.exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{len(existing)} output files already exist (e.g. {existing[0]}); pass --overwrite to "
                         "replace them")
    if any(src.kind == "video" for src in sources):
        require_mediapipe()  # fail before any work, with the install hint
    out.mkdir(parents=True, exist_ok=True)
    progress = wants_progress(args.quiet)
    failed = 0
    for src in tqdm(sources, desc="detect", unit="input", disable=not progress):
        try:
            _, summary = process(src, predictor, settings, args, out, progress)
        except (SignSTGCNError, ValueError) as err:
            failed += 1
            print(f"{PROG}: error: {err}", file=sys.stderr)
            continue
        if not args.quiet:
            print(summary, flush=True)
    if failed:
        rest = f"the others were written to {out}" if failed < len(sources) else "nothing was written"
        print(f"{PROG}: error: {failed} of {len(sources)} inputs failed (see above); {rest}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, FileNotFoundError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
