"""``signstgcn render INPUT [--ckpt best.pt] --out clip.gif|clip.mp4``: look at a recording and the model's view of it.

Draws the skeleton (pose, hands, face contours) frame by frame; with a binary checkpoint (by default the signing
detector shipped with signstgcn), the per-frame signing probability under it with the signing segments shaded; with
a multi-class checkpoint, the top-k signs (:mod:`signstgcn.evaluation.render`); with ``--no-model``, the skeleton
alone.
"""

from __future__ import annotations

import argparse

from signstgcn.cli.common import CLI_ERRORS, HelpFormatter, plural, run_cli
from signstgcn.data.readers import load_landmarks
from signstgcn.evaluation.render import RenderResult, render
from signstgcn.inference.predictor import Predictor, check_min_confidence

PROG = "signstgcn render"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line flags of render."""
    p = argparse.ArgumentParser(prog=prog, description="Draw a recording's landmarks frame by frame (GIF or MP4), "
                                "with a checkpoint's signing probability or top-k signs under them.",
                                formatter_class=HelpFormatter)
    p.add_argument("input", metavar="INPUT", help="a landmark file (.npz, .pose, .parquet, .pkl) or OpenPose folder")
    p.add_argument("--out", required=True, help="clip.gif (Pillow) or clip.mp4 (needs ffmpeg)")
    p.add_argument("--ckpt", default=None, help="binary detector or sign classifier to show under the skeleton "
                   "(default: the signing detector shipped with signstgcn)")
    p.add_argument("--no-model", action="store_true", help="draw the landmarks only, with no model")
    p.add_argument("--classifier", default=None,
                   help="a multi-class checkpoint: the signs of each detected segment named (as 'signstgcn "
                        "transcribe' does) and drawn with the signing probability")
    p.add_argument("--fps", type=float, default=None,
                   help="frames per second of the clip (default: the file's own, else 25)")
    p.add_argument("--top-k", type=int, default=5, help="signs shown for a multi-class checkpoint")
    p.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="multi-class: show the prediction as 'unknown' when its calibrated top-1 probability is "
                        "below P (default: 0, never unknown)")
    p.add_argument("--width", type=float, default=6.4, help="figure width in inches (at --dpi)")
    p.add_argument("--dpi", type=int, default=80, help="pixels per inch")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def run(args: argparse.Namespace) -> RenderResult:
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.fps is not None and not args.fps > 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    floor = check_min_confidence(0.0 if args.min_confidence is None else args.min_confidence)
    if args.no_model and args.ckpt:
        raise ValueError("--no-model draws no model's output; drop --ckpt or --no-model")
    if args.no_model:
        predictor = None
    elif args.ckpt:
        predictor = Predictor.from_checkpoint(args.ckpt, min_confidence=floor)
    else:
        predictor = Predictor.from_pretrained(min_confidence=floor)
    classifier = None
    if args.classifier is not None:
        if predictor is None or not predictor.binary:
            raise ValueError("--classifier names the signs of a detector's segments: use it with a binary --ckpt "
                             "or the shipped detector, without --no-model")
        classifier = Predictor.from_checkpoint(args.classifier, min_confidence=floor)
    elif args.min_confidence is not None and (predictor is None or predictor.binary):
        raise ValueError("--min-confidence is for a multi-class checkpoint (--ckpt or --classifier) that shows signs")
    result = render(load_landmarks(args.input), args.out, predictor=predictor, fps=args.fps, top_k=args.top_k,
                    width=args.width, dpi=args.dpi, overwrite=args.overwrite, classifier=classifier)
    shown = ""
    if result.detection is not None:
        shown = f", {plural(len(result.detection.segments), 'signing segment')}"
        if result.transcript is not None:
            shown += f", {plural(len(result.transcript.signs), 'sign')}"
    elif result.recognition is not None:
        name, p = result.recognition.top_k(result.recognition.video_probs, 1)[0]
        shown = f", top sign {name} ({p:.2f})"
        if result.recognition.prediction != name:
            shown += f": {result.recognition.prediction} (below --min-confidence {floor:g})"
    model = f"; model {predictor.name}" if predictor is not None and predictor.release else ""
    print(f"{PROG}: wrote {result.path} ({result.frames} frames at {result.fps:g} fps{shown}{model})", flush=True)
    return result


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=CLI_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
