"""``signstgcn serve``: a WebSocket server around one batched multi-stream signing detector.

    signstgcn serve                                   # the shipped detector on 127.0.0.1:8765, page at /
    signstgcn serve --ckpt runs/detect/best.pt --host 0.0.0.0 --token "$TOKEN" --certfile cert.pem --keyfile key.pem

One connection is one stream (the protocol is in :mod:`signstgcn.inference.serve` and docs/detection.md). By default it
runs one worker process per usable core (:mod:`signstgcn.inference.serve_workers`) and bfloat16 where the CPU has
it and the checkpoint's answers stay within tolerance (:mod:`signstgcn.inference.serve_runtime`); its first line
says what it chose. SIGTERM / SIGINT drain and stop it; SIGHUP reloads ``--ckpt``. Needs the optional extra:
``pip install 'signstgcn[serve]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from signstgcn.cli.common import CLI_ERRORS, HelpFormatter, add_threads_arg, run_cli
from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import DEFAULT_FPS
from signstgcn.inference.pretrained import checkpoint_file
from signstgcn.inference.serve import Limits, live_signs, run_server, server_ssl
from signstgcn.inference.serve_access import TOKEN_ENV, AccessPolicy
from signstgcn.inference.serve_log import LOG_FORMATS, ServeLog
from signstgcn.inference.serve_memory import limit_arenas
from signstgcn.inference.serve_runtime import choose_bf16, choose_workers
from signstgcn.inference.serve_workers import run_workers
from signstgcn.inference.web_assets import assets_dir, missing_assets
from signstgcn.runtime import configure_threads, resolve_device, usable_cpus

PROG = "signstgcn serve"


def _workers(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number of processes, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    p.add_argument("--max-streams", type=int, default=256, help="streams open at once per worker")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--assets", default=None,
                   help="folder of 'signstgcn web-assets' for the browser page at / (default: the user's cache "
                        "folder signstgcn/web)")
    r = p.add_argument_group("speed")
    r.add_argument("--workers", type=_workers, default=None, metavar="auto|N",
                   help="server processes sharing the port (Linux; one process uses about one core whatever "
                        "--threads says). auto: one per usable core on the CPU, one on a GPU (default: auto)")
    r.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 backbone, about twice the frames/s on CPUs with native bfloat16 (default: on where "
                        "the CPU has it and a check on synthetic streams keeps every probability within 0.05 of "
                        "float32's)")
    add_threads_arg(r)
    a = p.add_argument_group("access (checked in the handshake, before a stream exists)")
    a.add_argument("--token", default=None,
                   help=f"clients must present it: 'Authorization: Bearer TOKEN' or ?token=TOKEN (browsers); /health "
                        f"stays open (default: ${TOKEN_ENV}, else none)")
    a.add_argument("--allow-origin", action="append", default=None, metavar="ORIGIN",
                   help="a browser origin allowed besides the server's own page (repeat it; '*': any)")
    a.add_argument("--certfile", default=None, help="TLS certificate (PEM) for wss:// and https://")
    a.add_argument("--keyfile", default=None, help="its private key (PEM; default: in --certfile)")
    a.add_argument("--trust-proxy", action="store_true",
                   help="a reverse proxy in front sets X-Forwarded-For: use it as the client's address (logs, "
                        "--max-streams-per-client)")
    a.add_argument("--max-streams-per-client", type=int, default=None, metavar="N",
                   help="connections one client address may hold at once (default: no cap)")
    lim = p.add_argument_group("limits per connection")
    lim.add_argument("--queue-frames", type=int, default=Limits.queue_frames,
                     help="frames a stream may have waiting; older ones are dropped (and reported) beyond")
    lim.add_argument("--message-rate", type=float, default=Limits.message_rate,
                     help="messages per second per connection; frames beyond are dropped (and reported)")
    lim.add_argument("--max-message-kb", type=float, default=Limits.max_message / 1024,
                     help="largest message on a stream, in KiB")
    lim.add_argument("--idle-timeout", type=float, default=Limits.idle_timeout,
                     help="seconds without a message before a connection is closed")
    lim.add_argument("--drain-seconds", type=float, default=Limits.drain_seconds,
                     help="on SIGTERM, the time to answer what is queued and end every stream before stopping")
    p.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                   help="text lines, or one JSON object per line (time, level, message, event fields)")
    c = p.add_argument_group("signs (a 'sign' event when a signing segment ends)")
    c.add_argument("--classifier", default=None,
                   help="a multi-class checkpoint reading the detector's parts (or fewer): names the signs of each "
                        "segment as 'signstgcn transcribe' does")
    c.add_argument("--min-confidence", type=float, default=None, metavar="P",
                   help="a sign below calibrated top-1 probability P is 'unknown' (default: the classifier's)")
    c.add_argument("--sign-seconds", type=float, default=None,
                   help="longer segments are cut into signs of about this length (default: the classifier's window)")
    return p


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    if args.fps is not None and not args.fps > 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    limits = Limits(queue_frames=args.queue_frames, max_message=round(args.max_message_kb * 1024),
                    message_rate=args.message_rate, idle_timeout=args.idle_timeout, drain_seconds=args.drain_seconds)
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    access = AccessPolicy(token=token, origins=tuple(args.allow_origin or ()), trust_proxy=args.trust_proxy,
                          max_per_client=args.max_streams_per_client)
    server_ssl(args.certfile, args.keyfile)  # a bad certificate is one line now, before any worker starts
    limit_arenas()  # before any thread: fewer malloc arenas, less creep over hours (serve_memory); workers inherit it
    with checkpoint_file(args.ckpt) as ckpt:
        return _serve(args, ckpt, limits, access)


def _serve(args: argparse.Namespace, ckpt: Path, limits: Limits, access: AccessPolicy) -> int:
    log = ServeLog(args.log_format)
    device = str(resolve_device(args.device))
    workers, why_workers = choose_workers(args.workers, device)
    configure_threads(args.threads or (max(1, usable_cpus() // workers) if workers > 1 else None))
    options: dict[str, Any] = {"path": str(ckpt), "stride": args.stride, "threshold": args.threshold,
                               "device": device, "max_streams": args.max_streams, "bf16": False}
    detector = MultiStreamDetector.from_checkpoint(**options)  # checks the checkpoint and options here, once
    bf16, why_bf16 = choose_bf16(args.bf16, detector.predictor, device, stride=args.stride, threshold=args.threshold)
    options["bf16"] = bf16
    if args.fps is None:  # the rate the detector learned from: the rate its streams arrive at
        args.fps = detector.predictor.fps or DEFAULT_FPS
    log(f"signstgcn serve: model {detector.predictor.name}; {workers} worker process{'es' if workers > 1 else ''} "
        f"({why_workers}); {'bfloat16' if bf16 else 'float32'} ({why_bf16}); "
        f"{'token required' if access.token else 'no token'}; {'TLS' if args.certfile else 'no TLS'}",
        event="start", model=detector.predictor.name, workers=workers, bf16=bf16)
    assets = Path(args.assets) if args.assets else assets_dir()  # without them the page says what to run
    lacking = missing_assets(assets)
    if args.assets and lacking:
        raise ValueError(f"--assets {assets}: lacks holistic/{lacking[0]}; fill it with: signstgcn web-assets --out "
                         f"{assets}")
    classifier = None
    if args.classifier is not None:
        classifier = {"path": args.classifier, "min_confidence": args.min_confidence,
                      "sign_seconds": args.sign_seconds, "device": device}
        live_signs(detector, fps=args.fps, **classifier)  # a mismatch is one line here, before any worker starts
    elif args.min_confidence is not None or args.sign_seconds is not None:
        raise ValueError("--min-confidence and --sign-seconds name signs: they need --classifier")
    server_options = {"fps": args.fps, "limits": limits, "classifier": classifier, "assets": assets,
                      "access": access, "tls": (args.certfile, args.keyfile) if args.certfile else None}
    if workers == 1:
        if bf16:  # the loaded checkpoint again, with a bfloat16 backbone (not read from disk twice)
            detector = MultiStreamDetector(detector.predictor, stride=args.stride, threshold=args.threshold,
                                           max_streams=args.max_streams, bf16=True)
        asyncio.run(run_server(detector, host=args.host, port=args.port, log=log,
                               reload=lambda: MultiStreamDetector.from_checkpoint(**options), **server_options))
        return 0
    model = detector.predictor.name
    del detector
    run_workers(options, model=model, workers=workers, host=args.host, port=args.port, log_format=args.log_format,
                threads=args.threads or max(1, usable_cpus() // workers), log=log, **server_options)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(*CLI_ERRORS, ImportError, OSError, RuntimeError))


if __name__ == "__main__":
    raise SystemExit(main())
