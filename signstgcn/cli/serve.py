"""``signstgcn serve``: a WebSocket server around one batched multi-stream signing detector.

    signstgcn serve --ckpt runs/detect/best.pt --host 127.0.0.1 --port 8765

One connection is one stream (the protocol is in :mod:`signstgcn.inference.serve` and the README). Logs one line
per stream joined / left; SIGINT or SIGTERM stop it cleanly. ``--workers N`` runs N server processes on the port
(:mod:`signstgcn.inference.serve_workers`). Needs the optional extra: ``pip install
'signstgcn[serve]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from signstgcn.cli.common import CLI_ERRORS, HelpFormatter, add_threads_arg, run_cli
from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import DEFAULT_FPS
from signstgcn.inference.pretrained import checkpoint_file
from signstgcn.inference.serve import live_signs, run_server
from signstgcn.inference.serve_workers import run_workers
from signstgcn.inference.web_assets import assets_dir, missing_assets
from signstgcn.runtime import configure_threads, resolve_device, usable_cpus

PROG = "signstgcn serve"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].split(": ", 1)[1],
                                formatter_class=HelpFormatter)
    p.add_argument("--ckpt", default=None, help="binary (signing vs not) sliding-window checkpoint (default: the "
                   "signing detector shipped with signstgcn)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0: a free one)")
    p.add_argument("--stride", type=int, default=8, help="frames between the windows scored per stream")
    p.add_argument("--threshold", type=float, default=None,
                   help="signing threshold of the segment events (default: the checkpoint's best-F1 one)")
    p.add_argument("--fps", type=float, default=None,
                   help=f"frame rate of the streams, for event times and replayed files (default: the checkpoint's "
                        f"training rate, {DEFAULT_FPS:g} where it records none)")
    p.add_argument("--max-streams", type=int, default=256, help="streams open at once")
    p.add_argument("--queue-frames", type=int, default=64,
                   help="frames a stream may have waiting; older ones are dropped (and reported) beyond")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 backbone: about twice the frames/s on CPUs with AVX-512 BF16 (probabilities move "
                        "by about 1e-2)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes sharing the port (Linux): one process uses about one core whatever "
                        "--threads says (Python's interpreter lock), so set it to the cores the server may use")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--assets", default=None,
                   help="folder of 'signstgcn web-assets' for the browser page at / (default: the user's cache "
                        "folder signstgcn/web)")
    c = p.add_argument_group("signs (a 'sign' event when a signing segment ends)")
    c.add_argument("--classifier", default=None,
                   help="a multi-class checkpoint reading the detector's parts (or fewer): names the signs of each "
                        "segment as 'signstgcn transcribe' does")
    c.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="a sign below calibrated top-1 probability P is 'unknown' (default: the classifier's)")
    c.add_argument("--sign-seconds", type=float, default=None,
                   help="longer segments are cut into signs of about this length (default: the classifier's window)")
    add_threads_arg(p)
    return p


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    if args.fps is not None and not args.fps > 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    configure_threads(args.threads)
    with checkpoint_file(args.ckpt) as ckpt:
        return _serve(args, ckpt)


def _serve(args: argparse.Namespace, ckpt: Path) -> int:
    options = {"path": str(ckpt), "stride": args.stride, "threshold": args.threshold,
               "device": str(resolve_device(args.device)), "max_streams": args.max_streams, "bf16": args.bf16}
    detector = MultiStreamDetector.from_checkpoint(**options)  # checks the checkpoint and options here, once
    if args.fps is None:  # the rate the detector learned from: the rate its streams arrive at
        args.fps = detector.predictor.fps or DEFAULT_FPS
    assets = Path(args.assets) if args.assets else assets_dir()  # without them the page says what to run
    lacking = missing_assets(assets)
    if args.assets and lacking:
        raise ValueError(f"--assets {assets}: lacks holistic/{lacking[0]}; fill it with: signstgcn web-assets --out "
                         f"{assets}")
    classifier = None
    if args.classifier is not None:
        classifier = {"path": args.classifier, "min_confidence": args.min_confidence,
                      "sign_seconds": args.sign_seconds, "device": options["device"]}
        live_signs(detector, fps=args.fps, **classifier)  # a mismatch is one line here, before any worker starts
    elif args.min_confidence is not None or args.sign_seconds is not None:
        raise ValueError("--min-confidence and --sign-seconds name signs: they need --classifier")
    if args.workers == 1:
        asyncio.run(run_server(detector, host=args.host, port=args.port, fps=args.fps,
                               queue_frames=args.queue_frames, classifier=classifier, assets=assets))
        return 0
    model = detector.predictor.name
    del detector
    run_workers(options, model=model, workers=args.workers, host=args.host, port=args.port, fps=args.fps,
                queue_frames=args.queue_frames, threads=args.threads or max(1, usable_cpus() // args.workers),
                classifier=classifier, assets=assets)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(*CLI_ERRORS, ImportError, OSError, RuntimeError))


if __name__ == "__main__":
    raise SystemExit(main())
