"""``signstgcn transcribe RECORDING... --classifier CLS.pt [--detector DET.pt] --out DIR``: the signs of recordings.

The detector (default: the signing detector shipped with the package) finds the signing segments; each sign in them
is named by the multi-class classifier (:mod:`signstgcn.inference.transcribe`). Per recording ``ID``:
``OUT/ID.signs.json``, ``OUT/ID.signs.csv`` (one row per sign: frames, times, gloss, confidence, the top-k),
``OUT/ID.eaf`` (ELAN: a signing tier and a ``GLOSS`` tier) and subtitles ``OUT/ID.srt`` / ``OUT/ID.vtt``. Inputs are
those of ``signstgcn detect`` (landmark files, OpenPose folders, videos through MediaPipe, folders of them).

``--gt FILE`` scores the transcripts against gloss labels of continuous recordings (``make-stream`` writes them):
segment F1 at IoU >= 0.5, gloss accuracy of the matched signs and the gloss error rate, per recording, per person or
session (``sessions.txt`` beside the labels, else ``signers.txt``) and overall, in ``OUT/report.json`` and
``OUT/report.html``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

from signstgcn.atomic import write_text_atomic
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
from signstgcn.data.groundtruth import GroundTruth, parse_groundtruth
from signstgcn.data.signers import read_video_table
from signstgcn.errors import SignSTGCNError
from signstgcn.evaluation.html import _page, _section, _table
from signstgcn.evaluation.transcription import TranscriptScore, score_signs, totals, true_signs
from signstgcn.inference.api import detect
from signstgcn.inference.elan import DEFAULT_TIER
from signstgcn.inference.outputs import SIGNS_FILES, write_transcript
from signstgcn.inference.predictor import (
    DEFAULT_FPS,
    DEFAULT_MIN_SECONDS,
    Predictor,
    check_min_confidence,
    require_binary,
)
from signstgcn.inference.transcribe import (
    DEFAULT_NOT_SIGNING,
    DEFAULT_TOP_K,
    Transcript,
    low_threshold,
    transcribe_landmarks,
)
from signstgcn.progress import wants_progress
from signstgcn.runtime import configure_threads, resolve_device

PROG = "signstgcn transcribe"
REPORT_JSON, REPORT_HTML = "report.json", "report.html"
GROUP_FILES = (("sessions.txt", "session"), ("signers.txt", "signer"))
log = logging.getLogger("signstgcn.transcribe")


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="RECORDING",
                   help="landmark files (.npz, .pose), OpenPose JSON folders, videos, or folders of them")
    p.add_argument("--classifier", required=True, help="a multi-class checkpoint (train without --binary)")
    p.add_argument("--detector", default=None,
                   help="a binary signing-detection checkpoint (default: the detector shipped with signstgcn)")
    p.add_argument("--out", required=True, help="output folder")
    s = p.add_argument_group("signs")
    s.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="glosses listed per sign")
    s.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="a sign whose calibrated top-1 probability is below P is 'unknown' (its top-k is kept) "
                        "(default: the classifier's own, 0 unless it was trained with one)")
    s.add_argument("--sign-seconds", type=float, default=None,
                   help="the length of one sign: longer segments are cut into signs of about this length "
                        "(default: the classifier's window)")
    d = p.add_argument_group("detection (signstgcn detect's defaults)")
    d.add_argument("--threshold", type=float, default=None,
                   help="signing probability threshold (default: the detector's best-F1 threshold)")
    d.add_argument("--low-threshold", type=float, default=None,
                   help="hysteresis: a segment extends while the probability stays at or above this (default: half "
                        "the threshold)")
    d.add_argument("--min-duration", type=float, default=DEFAULT_MIN_SECONDS,
                   help="drop segments shorter than this, in seconds")
    d.add_argument("--min-gap", type=float, default=DEFAULT_MIN_SECONDS,
                   help="merge segments closer than this, in seconds")
    d.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of inputs that store none (default: {DEFAULT_FPS:g})")
    d.add_argument("--tier", default=DEFAULT_TIER, help="ELAN tier id of the signing segments")
    g = p.add_argument_group("scoring")
    g.add_argument("--gt", default=None,
                   help="gloss labels of the recordings, lines of <video> <frame> <label> (make-stream writes them): "
                        "writes OUT/report.json and OUT/report.html")
    g.add_argument("--not-signing", default=",".join(DEFAULT_NOT_SIGNING),
                   help="comma-separated labels that are no sign: in --gt, and a piece the classifier names so is "
                        "left out (its idle class)")
    v = p.add_argument_group("videos")
    v.add_argument("--face", choices=("auto", "refine", "none"), default="auto",
                   help="face mesh for extraction: auto = only when a checkpoint uses the face")
    v.add_argument("--no-cache", action="store_true",
                   help="extract videos again even when OUT/ID.npz holds their landmarks from an earlier run")
    r = p.add_argument_group("run")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_threads_arg(r)
    r.add_argument("--quiet", action="store_true", help="no progress bar, no per-input summary")
    return p


def _labels(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _check(args: argparse.Namespace) -> None:
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.min_confidence is not None:
        check_min_confidence(args.min_confidence)
    if args.sign_seconds is not None and not (math.isfinite(args.sign_seconds) and args.sign_seconds > 0):
        raise ValueError(f"--sign-seconds must be positive, got {args.sign_seconds}")
    for flag, value in (("--threshold", args.threshold), ("--low-threshold", args.low_threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{flag} must be a probability in [0, 1], got {value}")
    for name in ("min_duration", "min_gap"):
        value = getattr(args, name)
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0 seconds, got {value}")
    if args.fps is not None and not (args.fps > 0 and math.isfinite(args.fps)):
        raise ValueError(f"--fps must be positive, got {args.fps}")


def _models(args: argparse.Namespace) -> tuple[Predictor, Predictor]:
    device = str(resolve_device(args.device))
    detector = (Predictor.from_pretrained(device=device) if args.detector is None
                else Predictor.from_checkpoint(args.detector, device=device))
    require_binary(detector, "--detector")
    classifier = Predictor.from_checkpoint(args.classifier, device=device)
    if classifier.binary:
        raise SignSTGCNError(f"--classifier {args.classifier}: a binary signing detector; transcribe needs a "
                             "multi-class checkpoint (train without --binary)")
    return detector, classifier


def _groups(gt_path: Path) -> tuple[str | None, dict[str, str]]:
    """(what the groups are, recording -> group) from the file beside the labels, if any."""
    for name, what in GROUP_FILES:
        if (gt_path.parent / name).is_file():
            return what, read_video_table(gt_path.parent / name, what)
    return None, {}


def _prefixed(role: str, predictor: Predictor) -> dict[str, Any]:
    """``detector_checkpoint``, ``detector_name``, ``detector_version`` (the last two for a shipped model)."""
    return {f"{role}_{key.removeprefix('model_')}": value for key, value in predictor.provenance().items()}


def process(src: Source, detector: Predictor, classifier: Predictor, args: argparse.Namespace, out: Path,
            progress: bool) -> tuple[Transcript, str]:
    face = args.face if args.face != "auto" else (
        "refine" if detector.data.layout.include_face or classifier.data.layout.include_face else "none")
    lm, from_cache = load_input(src, face, progress, out, not args.no_cache)
    fps = lm.fps or args.fps or DEFAULT_FPS
    low = low_threshold(detector, args.threshold, args.low_threshold)
    detection = detect(detector, lm, fps=fps, threshold=args.threshold, min_duration=args.min_duration,
                       min_gap=args.min_gap, low_threshold=low)
    tr = transcribe_landmarks(detector, classifier, lm, detection, min_confidence=args.min_confidence,
                              top_k=args.top_k, sign_seconds=args.sign_seconds, not_signing=_labels(args.not_signing))
    info: dict[str, Any] = {
        "video": src.id, "input": str(src.path), "num_frames": tr.num_frames, "fps": fps,
        "fps_source": "file" if lm.fps else ("--fps" if args.fps else "default"),
        **_prefixed("detector", detector), **_prefixed("classifier", classifier),
        "min_confidence": classifier.min_confidence if args.min_confidence is None else args.min_confidence,
        "low_threshold": round(low, 6), "sign_frames": round(tr.sign_frames, 3),
        "top_k": min(args.top_k, len(classifier.classes)),
    }
    if src.kind == "video":
        info.update(landmarks=str(cache_file(out, src)), landmarks_from="cache" if from_cache else "extracted")
    write_transcript(out, src.id, tr, info, k=info["top_k"], signing_tier=args.tier,
                     media=src.path if src.kind == "video" else None)
    glosses = " ".join(tr.glosses[:12]) + (" ..." if len(tr.signs) > 12 else "")
    summary = (f"{src.id}: {tr.num_frames} frames, {plural(len(detection.segments), 'signing segment')}, "
               f"{plural(len(tr.signs), 'sign')}{': ' + glosses if tr.signs else ''}")
    return tr, summary


def _report(out: Path, gt: GroundTruth, gt_path: Path, transcripts: dict[str, Transcript],
            not_signing: list[str], detector: Predictor, classifier: Predictor) -> TranscriptScore:
    scored = {vid: tr for vid, tr in transcripts.items() if vid in gt.annotations}
    if not scored:
        raise SignSTGCNError(f"--gt {gt_path}: none of the {len(transcripts)} recordings has labels there "
                             f"(e.g. {next(iter(transcripts), '-')})")
    unlabeled = sorted(set(transcripts) - set(scored))
    if unlabeled:
        log.warning("%d recordings have no labels in %s and are not scored (e.g. %s)", len(unlabeled), gt_path,
                    unlabeled[0])
    vocabulary = set(classifier.classes)
    scores = {vid: score_signs([(s.start, s.end, s.gloss) for s in tr.signs],
                               true_signs(gt, vid, tr.num_frames, not_signing), vocabulary=vocabulary)
              for vid, tr in scored.items()}
    what, groups = _groups(gt_path)
    overall, per_group = totals(scores, groups)
    report = {"groundtruth": str(gt_path), "not_signing": not_signing, "min_iou": 0.5,
              "detector": detector.provenance(), "classifier": classifier.provenance(), "group_by": what,
              "metrics": overall.metrics(), "per_group": {k: v.metrics() for k, v in per_group.items()},
              "per_recording": {k: v.metrics() for k, v in sorted(scores.items())}}
    write_text_atomic(out / REPORT_JSON, json.dumps(report, indent=2) + "\n")
    head = ["", "true signs", "predicted", "segment P", "segment R", "segment F1", "gloss accuracy", "GER",
            "out of vocabulary", "GER in vocabulary"]

    def row(name: str, s: TranscriptScore) -> list[Any]:
        return [name, s.true, s.predicted, s.precision, s.recall, s.f1, s.gloss_accuracy, s.gloss_error_rate,
                s.out_of_vocabulary, s.gloss_error_rate_in_vocabulary]

    sections = [_section("overall", "Overall", _table(head, [row("all", overall)]))]
    if what is not None:
        sections.append(_section("groups", f"Per {what}", _table(head, [row(k, v) for k, v in per_group.items()])))
    sections.append(_section("recordings", "Per recording", _table(head, [row(k, v) for k, v in
                                                                          sorted(scores.items())])))
    meta = (f"detector {detector.name} · classifier {classifier.name} · labels {gt_path} · a sign matches at IoU "
            f"≥ 0.5 · GER = gloss edit distance / true signs")
    write_text_atomic(out / REPORT_HTML, _page("Transcription report", meta, sections))
    return overall


def run(args: argparse.Namespace) -> int:
    _check(args)
    configure_threads(args.threads)
    detector, classifier = _models(args)
    not_signing = _labels(args.not_signing)
    gt_path = Path(args.gt) if args.gt else None
    gt = parse_groundtruth(gt_path) if gt_path is not None else None
    sources = collect_inputs(args.inputs)
    out = Path(args.out)
    planned = [out / f"{src.id}{suffix}" for src in sources for suffix in SIGNS_FILES]
    prepare_out(out, sources, planned + ([out / REPORT_JSON, out / REPORT_HTML] if gt is not None else []),
                args.overwrite)
    progress = wants_progress(args.quiet)
    if not args.quiet:
        print(f"{PROG}: detector {detector.name}, classifier {classifier.name} ({len(classifier.classes)} signs)",
              flush=True)
    transcripts, failed = process_each(sources, lambda src: process(src, detector, classifier, args, out, progress),
                                       prog=PROG, desc="transcribe", quiet=args.quiet, progress=progress)
    if gt is not None and gt_path is not None and transcripts:
        overall = _report(out, gt, gt_path, transcripts, not_signing, detector, classifier)
        if not args.quiet:
            f1, ger = overall.f1, overall.gloss_error_rate
            oov = (f", {overall.out_of_vocabulary} of glosses the classifier does not know"
                   if overall.out_of_vocabulary else "")
            print(f"{PROG}: {overall.true} true signs{oov}, segment F1 {f1 if f1 is None else round(f1, 3)}, gloss "
                  f"error rate {ger if ger is None else round(ger, 3)} (report: {out / REPORT_HTML})", flush=True)
    return finish(PROG, failed, len(sources), out)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, FileNotFoundError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
