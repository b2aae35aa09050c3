"""``signstgcn make-stream --data DIR --out DIR``: continuous recordings with gloss segments from isolated clips.

Each group's clips (a session of ``DATA/sessions.txt``, else a person of ``DATA/signers.txt``, else all clips) are
shuffled with ``--seed``, the group's ``--idle-label`` clips are spread evenly between its signs, and every
``--clips-per-stream`` clips are joined end to end into ``OUT/<group>_<k>.npz`` (see
:mod:`signstgcn.data.streams` for the cut between clips). ``OUT/groundtruth.txt`` has a line at each clip's first
frame, ``OUT/segments.txt`` names each segment's source clip, and ``OUT/sessions.txt`` / ``OUT/signers.txt`` the
stream's group, so the streams train, cross-validate and score like any recorded data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, plural, run_cli
from signstgcn.data.corpus import GROUNDTRUTH_NAME
from signstgcn.data.groundtruth import parse_groundtruth
from signstgcn.data.readers import find_landmark_files
from signstgcn.data.signers import read_video_groups
from signstgcn.data.streams import (
    DEFAULT_CLIPS_PER_STREAM,
    clips_from_groundtruth,
    plan_streams,
    write_stream_tables,
    write_streams,
)
from signstgcn.errors import DataError, SignSTGCNError

PROG = "signstgcn make-stream"
GROUP_FILES = {"sessions": "sessions.txt", "signers": "signers.txt"}


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line flags of make-stream."""
    p = argparse.ArgumentParser(prog=prog, description="Join each session's (or person's) labelled clips, with "
                                "their idle clips between the signs, into long recordings with a ground truth of "
                                "gloss segments.", formatter_class=HelpFormatter)
    p.add_argument("--data", required=True, help="folder of isolated clips with a groundtruth.txt")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--out", required=True, help="output folder for the streams")
    p.add_argument("--group-by", choices=("auto", "sessions", "signers", "none"), default="auto",
                   help="which clips make one stream: auto = DATA/sessions.txt if present, else DATA/signers.txt, "
                   "else all clips together")
    p.add_argument("--idle-label", default="idle",
                   help="the label of not-signing clips, spread between the signs (an empty value: none)")
    p.add_argument("--clips-per-stream", type=int, default=DEFAULT_CLIPS_PER_STREAM, help="clips per stream")
    p.add_argument("--seed", type=int, default=0, help="seed of the clip order")
    p.add_argument("--overwrite", action="store_true", help="write into an --out that already holds files")
    return p


def _groups(data: Path, group_by: str, videos: list[str]) -> tuple[dict[str, str] | None, str | None]:
    """(video → group, the group file to write) for ``--group-by``."""
    if group_by == "auto":
        group_by = next((g for g, name in GROUP_FILES.items() if (data / name).is_file()), "none")
    if group_by == "none":
        return None, None
    name = GROUP_FILES[group_by]
    return read_video_groups(data / name, videos, group_by[:-1]), name


def run(args: argparse.Namespace) -> int:
    data, out = Path(args.data), Path(args.out)
    if not data.is_dir():
        raise DataError(f"--data {data}: no such folder")
    if out.resolve() == data.resolve():
        raise ValueError(f"--out {out} is the --data folder; write the streams to another folder")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ValueError(f"--out {out} already holds files; pass --overwrite to write into it")
    files = find_landmark_files(data)
    gt = parse_groundtruth(args.gt or data / GROUNDTRUTH_NAME)
    labelled = sorted(v for v in files if v in gt.annotations)
    groups, group_file = _groups(data, args.group_by, labelled)
    clips, unlabeled = clips_from_groundtruth(files, gt, groups)
    if not clips:
        raise DataError(f"{data}: none of its {plural(len(files), 'landmark file')} has a line in {gt.path}")
    idle = args.idle_label or None
    plans = plan_streams(clips, idle_label=idle, clips_per_stream=args.clips_per_stream, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    results = write_streams(plans, out)
    write_stream_tables(results, out, group_file=group_file)
    idles = sum(c.label == idle for c in clips) if idle else 0
    note = f"; {plural(len(unlabeled), 'file')} without labels left out" if unlabeled else ""
    print(f"{PROG}: {plural(len(clips), 'clip')} ({idles} {idle or 'idle'}) of "
          f"{plural(len({c.group for c in clips}), 'group')} -> {plural(len(results), 'stream')}, "
          f"{sum(r.num_frames for r in results)} frames in {out}{note}", flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Entry point; returns 0 on success and 2 (one line on stderr) on bad arguments or data errors."""
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
