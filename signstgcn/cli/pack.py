"""``signstgcn pack DIR``: pack a landmark folder into one memory-mapped array for fast, low-memory loading.

Writes ``DIR/.signstgcn-pack`` (or ``--out PACK``): ``frames.npy`` (total_frames, V, C), ``offsets.npy``,
``pack.json`` and copies of ``groundtruth.txt``/``signers.txt``. Afterwards ``--data DIR`` uses the pack
while it is fresh and of the same parts, and ``--data PACK`` reads the pack alone. The part flags are
the ones ``train_landmarks`` takes, with the same defaults (pose + hands, 2 coordinates).
"""

from __future__ import annotations

import argparse
import time

from signstgcn.cli.common import HelpFormatter, run_cli, selection_from_args
from signstgcn.data.pack import PACK_DIRNAME, PackInfo, describe_parts, pack_folder
from signstgcn.errors import SignSTGCNError

PROG = "signstgcn pack"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line flags of pack."""
    p = argparse.ArgumentParser(prog=prog, description="Pack a folder of landmark files into one memory-mapped "
                                "frames.npy (+ offsets.npy, pack.json) that --data DIR or --data PACK then reads.",
                                formatter_class=HelpFormatter)
    p.add_argument("data", metavar="DIR", help="folder of landmark files (searched recursively)")
    p.add_argument("--out", default=None, help=f"pack folder (default: DIR/{PACK_DIRNAME}, found by --data DIR)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous pack in --out")
    p.add_argument("--coords", type=int, default=2, help="coordinate channels to keep (2 = x,y; 3 adds z)")
    p.add_argument("--include-pose", action="store_true", help="pack the pose (none of --include-* = pose+hands)")
    p.add_argument("--include-hands", action="store_true", help="pack both hands")
    p.add_argument("--include-face", action="store_true", help="pack the face (see --face-subset)")
    p.add_argument("--pose-subset", choices=("upper", "full"), default="upper",
                   help="pose joints: upper body (no legs) or the full pose")
    p.add_argument("--face-subset", choices=("compact", "full"), default="compact",
                   help="face points with --include-face: the contour subset or the full mesh")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> PackInfo:
    """Pack the folder and print one summary line."""
    tic = time.perf_counter()
    selection = selection_from_args(args)
    info = pack_folder(args.data, args.out, selection, overwrite=args.overwrite, progress=not args.quiet)
    print(f"{PROG}: {len(info.video_ids)} videos, {info.num_frames} frames of "
          f"{describe_parts(info.layout_spec, info.coords)} (V={info.num_joints}, C={info.coords}), "
          f"{info.nbytes / 1e6:.1f} MB -> {info.path} ({time.perf_counter() - tic:.1f}s)", flush=True)
    return info


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Entry point; returns 0 on success and 2 (one line on stderr) on bad arguments or data errors."""
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
