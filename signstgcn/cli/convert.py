"""``signstgcn convert SRC --to npz|pose OUT``: any readable landmark data → our npz folder or pose-format files.

SRC is a folder of landmark files (npz, .pose, OpenPose JSON folders, GISLR parquet clips with ``train.csv``,
OpenHands pkl clips; labels from ``groundtruth.txt`` or ``train.csv``, signers from ``signers.txt``, the npz
``signer`` scalars or ``train.csv``), a pyskl pickle, or one landmark file. OUT gets one file per video plus
``groundtruth.txt`` and ``signers.txt`` (:mod:`signstgcn.data.convert`).
"""

from __future__ import annotations

import argparse
import time

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.data.convert import FORMATS, ConvertReport, convert
from signstgcn.errors import SignSTGCNError

PROG = "signstgcn convert"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line flags of convert."""
    p = argparse.ArgumentParser(prog=prog, description="Convert landmark data (any format SignSTGCN reads) to a "
                                "folder of .npz files or of pose-format .pose files, with groundtruth.txt and "
                                "signers.txt.", formatter_class=HelpFormatter)
    p.add_argument("source", metavar="SRC", help="landmark folder, pyskl pickle or one landmark file")
    p.add_argument("out", metavar="OUT", help="output folder (must be empty unless --overwrite)")
    p.add_argument("--to", choices=tuple(FORMATS), required=True, help="output format")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty OUT (same names are replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Convert and print one summary line; 1 when some videos could not be read (each was reported)."""
    tic = time.perf_counter()
    report: ConvertReport = convert(args.source, args.out, args.to, overwrite=args.overwrite,
                                    progress=not args.quiet)
    failed = f"; {len(report.failed)} could not be read (listed above)" if report.failed else ""
    print(f"{PROG}: wrote {len(report.written)} .{args.to} files to {report.out}{failed} "
          f"({time.perf_counter() - tic:.1f}s)", flush=True)
    return 1 if report.failed else 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Entry point; 0 on success, 1 when some videos were unreadable, 2 (one line on stderr) on bad input."""
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
