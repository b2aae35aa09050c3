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
import logging
import math
from pathlib import Path
from typing import Any

from signstgcn.cli.common import HelpFormatter, add_threads_arg, plural, run_cli
from signstgcn.cli.inputs import (
    Source,
    cache_file,
    collect_inputs,
    finish,
    load_input,
    prepare_out,
    process_each,
)
from signstgcn.errors import CheckpointError, SignSTGCNError
from signstgcn.inference.elan import DEFAULT_TIER
from signstgcn.inference.outputs import SEGMENT_FILES, TOPK_FILES, write_segments, write_topk
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    DEFAULT_MIN_SECONDS,
    DEFAULT_SMOOTH,
    DEFAULT_SMOOTH_METHOD,
    SMOOTHING_METHODS,
    WEIGHTINGS,
    Predictor,
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


def process(src: Source, predictor: Predictor, settings: dict[str, Any], args: argparse.Namespace,
            out: Path, progress: bool) -> tuple[list[Path], str]:
    """Run one recording and write its outputs; returns (files, one-line summary)."""
    lm, from_cache = load_input(src, settings["face"], progress, out, not args.no_cache)
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
        written += write_segments(out, src.id, det, info, tier=args.tier,
                                  media=src.path if src.kind == "video" else None)
        share = segment_mask(det.segments, det.num_frames).mean() if det.num_frames else 0.0
        summary = (f"{src.id}: {det.num_frames} frames, {plural(len(det.segments), 'signing segment')} "
                   f"({100 * share:.1f}% of frames), threshold {det.threshold:.3f}")
    else:
        rec = recognize(predictor, frames, stride=settings["stride"], batch_size=args.batch,
                        min_confidence=settings["min_confidence"])
        written += write_topk(out, src.id, rec, info, k=settings["top_k"], window=predictor.window, fps=fps)
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
    prepare_out(out, sources, [f for src in sources for f in output_files(out, src, settings["mode"])], args.overwrite)
    progress = wants_progress(args.quiet)
    _, failed = process_each(sources, lambda src: process(src, predictor, settings, args, out, progress), prog=PROG,
                             desc="detect", quiet=args.quiet, progress=progress)
    return finish(PROG, failed, len(sources), out)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, FileNotFoundError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
