"""``signstgcn make-demo-data OUT``: write a synthetic MediaPipe-like dataset in the user format.

``--task both`` (default) writes ``OUT/detection`` (long videos, labels n/s) and ``OUT/recognition``
(short clips, one sign each). Each folder holds ``<video_id>.npz``, ``groundtruth.txt``,
``signers.txt`` and ``synthetic.json`` and can be passed to ``--data`` as it is.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.data.synthetic import TASKS, SyntheticInfo, check_out_dir, generate_dataset
from signstgcn.errors import SignSTGCNError

PROG = "signstgcn make-demo-data"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Command-line flags of make-demo-data."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Write a synthetic MediaPipe-Holistic-like landmark dataset (npz + "
                               "groundtruth.txt + signers.txt) for demos and tests.", formatter_class=HelpFormatter)
    parser.add_argument("out", metavar="OUT", help="output folder (must be empty or absent unless --overwrite)")
    parser.add_argument("--task", choices=(*TASKS, "both"), default="both",
                        help="detection (long videos, n/s segments), recognition (one sign per clip) or both "
                             "(OUT/detection and OUT/recognition)")
    parser.add_argument("--signers", type=int, default=6, help="number of signers")
    parser.add_argument("--videos-per-signer", type=int, default=None,
                        help="videos per signer (default: 3 for detection, 6 per class for recognition)")
    parser.add_argument("--classes", type=int, default=5, help="number of sign classes for recognition")
    parser.add_argument("--signer-class-bias", type=float, default=0.0,
                        help="0..1: how strongly each signer's style and class mix go together")
    parser.add_argument("--face", action="store_true", help="also write the 478-point face mesh")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed -> identical files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a previous synthetic dataset in OUT (other files are never removed)")
    return parser


def _folder_mb(info: SyntheticInfo) -> float:
    return sum(p.stat().st_size for p in Path(info.out_dir).iterdir() if p.is_file()) / 1e6


def _summary(info: SyntheticInfo, seconds: float) -> str:
    labels = ",".join(info.classes)
    return (f"{PROG}: {info.task}: {len(info.video_ids)} videos, {len(info.signers)} signers, "
            f"{info.total_frames} frames, labels {labels} -> {info.out_dir} "
            f"({_folder_mb(info):.1f} MB, {seconds:.1f}s)")


def run(args: argparse.Namespace) -> list[SyntheticInfo]:
    """Generate the requested dataset(s) and print one summary line each."""
    out = Path(args.out)
    tasks = TASKS if args.task == "both" else (args.task,)
    folders = {task: out / task if args.task == "both" else out for task in tasks}
    for folder in folders.values():  # refuse before writing anything
        check_out_dir(folder, args.overwrite)
    infos = []
    for task in tasks:
        tic = time.perf_counter()
        info = generate_dataset(
            folders[task], task=task, num_signers=args.signers,
            videos_per_signer=args.videos_per_signer, num_classes=args.classes,
            signer_class_bias=args.signer_class_bias, include_face=args.face, seed=args.seed,
            overwrite=args.overwrite)
        print(_summary(info, time.perf_counter() - tic), flush=True)
        infos.append(info)
    return infos


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Entry point; returns 0 on success and 2 (one line on stderr) on bad arguments or data errors."""
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
