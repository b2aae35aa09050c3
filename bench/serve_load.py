"""Load test of ``signstgcn serve``: N simulated clients, each sending a real stream at 30 frames/s over loopback.

    python bench/serve_load.py --streams 100 --seconds 20                     # the shipped detector, no flags
    python bench/serve_load.py --ckpt runs/detect/best.pt --streams 32 --seconds 30
    python bench/serve_load.py --ckpt runs/detect/best.pt --find-max          # largest N with p99 <= 100 ms
    python bench/serve_load.py --ckpt best.pt --url ws://10.0.0.5:8765 --streams 50   # a server already running

Unless ``--url`` is given it starts ``signstgcn serve --port 0`` itself (its own process). Every client replays
a real ``mp_detect`` recording (``--data``; client k starts at a different file and frame) as binary frames at
``--fps``, paced by the clock, and measures each frame's latency from its send to the server's ``result`` for
it. Frames without any detected joint are skipped, as a live client would. The clients share this process, so
on one machine they take CPU from the server too (the figures are for everything on one machine).

Output: one line per run, and a last line with one JSON object: ``streams``, ``frames_sent``,
``frames_answered``, ``dropped``, ``p50_ms``, ``p99_ms`` (with ``--find-max``: the largest passing run's, plus
``max_streams`` and every run tried).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signstgcn.data.readers import find_landmark_files, load_landmarks  # noqa: E402
from signstgcn.inference.predictor import Predictor  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=None, help="binary sliding-window checkpoint (default: the shipped detector)")
    p.add_argument("--streams", type=int, default=8, help="concurrent clients")
    p.add_argument("--seconds", type=float, default=30.0, help="how long every client sends")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second per client")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mp_detect"),
                   help="landmark folder the clients replay")
    p.add_argument("--url", default=None, help="a running server (default: start one)")
    p.add_argument("--find-max", action="store_true",
                   help="double --streams until a run fails (p99 > --max-p99-ms or a frame dropped), then bisect")
    p.add_argument("--max-p99-ms", type=float, default=100.0, help="latency budget of --find-max")
    p.add_argument("--server-args", default="", help="flags of the started server (default: none, its defaults)")
    return p


def _recordings(ckpt: str | None, data: str) -> list[np.ndarray]:
    """Every recording of ``data`` as (T, V, C) frames in the checkpoint's joint order, detected frames only."""
    predictor = Predictor.from_pretrained() if ckpt is None else Predictor.from_checkpoint(ckpt)
    out = []
    for path in find_landmark_files(data).values():
        frames = predictor.frames(load_landmarks(path)).astype("<f4")
        out.append(frames[np.isfinite(frames).any(axis=(1, 2))])
    if not out:
        raise SystemExit(f"{data}: no recordings")
    return out


class Server(NamedTuple):
    url: str  # ws://host:port
    pid: int  # the server's (parent) process


@contextlib.contextmanager
def _server(ckpt: str | None, extra: str, many: bool = False, log: TextIO | None = None):
    """``signstgcn serve --port 0`` in its own process (``many``: room for 1,024 streams); yields its
    :class:`Server`. Its output goes to ``log`` (else nowhere), read to the end so a chatty server never blocks on a
    full pipe."""
    cmd = [sys.executable, "-m", "signstgcn", "serve", "--port", "0", *(["--ckpt", ckpt] if ckpt else []),
           *(["--max-streams", "1024"] if many else []), *extra.split()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    write = log.write if log is not None else (lambda _line: None)
    drain = threading.Thread(target=lambda: [write(rest) for rest in proc.stdout], daemon=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            write(line)
            if "listening on " in line:
                drain.start()
                yield Server(line.split("listening on ", 1)[1].split()[0], proc.pid)
                break
        else:
            raise SystemExit(f"the server did not start: {' '.join(cmd)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain.is_alive():
            drain.join(timeout=10)  # the server's last lines are in the log before the caller closes it


async def _client(url: str, frames: np.ndarray, fps: float, seconds: float, start: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    count = int(seconds * fps)
    sent_at = np.full(count, np.nan)
    latency = np.full(count, np.nan)
    dropped = 0
    try:
        ws = await connect(url, max_size=None, compression=None, open_timeout=30)
    except (OSError, TimeoutError) as err:  # an overloaded server: this client's frames all count as lost
        print(f"client could not connect: {type(err).__name__}: {err}", file=sys.stderr)
        return {"sent": count, "answered": 0, "dropped": 0, "latency": latency[:0]}
    async with ws:
        await ws.recv()  # hello

        async def receive() -> None:
            nonlocal dropped
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "result" and 0 <= event["frame"] < count:
                    latency[event["frame"]] = time.perf_counter() - sent_at[event["frame"]]
                elif event["type"] == "dropped":
                    dropped = event["total"]
                elif event["type"] == "ended":
                    return

        reader = asyncio.create_task(receive())
        with contextlib.suppress(ConnectionClosed):  # the server closed it: the frames not answered count as lost
            for k in range(count):
                await asyncio.sleep(max(0.0, start + k / fps - time.perf_counter()))
                sent_at[k] = time.perf_counter()
                await ws.send(frames[k % len(frames)].tobytes())
            await ws.send(json.dumps({"type": "end"}))
        with contextlib.suppress(TimeoutError, ConnectionClosed):  # results not back within a minute count as lost
            await asyncio.wait_for(reader, timeout=60)
    return {"sent": count, "answered": int(np.isfinite(latency).sum()), "dropped": dropped,
            "latency": latency[np.isfinite(latency)]}


async def _run(url: str, recordings: list[np.ndarray], streams: int, fps: float, seconds: float) -> dict[str, Any]:
    start = time.perf_counter() + 1.0
    jobs = []
    for k in range(streams):
        rec = recordings[k % len(recordings)]
        offset = (k * 37) % len(rec)  # clients start at different frames
        jobs.append(_client(url, np.roll(rec, -offset, axis=0), fps, seconds, start + k / (fps * streams)))
    results = await asyncio.gather(*jobs)
    lat = np.concatenate([r["latency"] for r in results]) * 1000.0 if results else np.zeros(0)
    return {"streams": streams, "frames_sent": sum(r["sent"] for r in results),
            "frames_answered": sum(r["answered"] for r in results), "dropped": sum(r["dropped"] for r in results),
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else None}


def _wait_idle(url: str, timeout: float = 180.0) -> None:
    """Until the server's ``/health`` says no stream is open (every worker, asked a few times)."""
    import urllib.request

    health = url.replace("ws://", "http://", 1).rstrip("/") + "/health"
    deadline, idle = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and idle < 4:
        try:
            with urllib.request.urlopen(health, timeout=10) as reply:
                idle = idle + 1 if json.loads(reply.read())["streams"] == 0 else 0
        except OSError:
            idle = 0
        time.sleep(0.5)


def _passes(row: dict[str, Any], budget: float) -> bool:
    return row["dropped"] == 0 and row["frames_answered"] == row["frames_sent"] and row["p99_ms"] is not None \
        and row["p99_ms"] <= budget


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    recordings = _recordings(args.ckpt, args.data)

    def run(n: int) -> dict[str, Any]:
        with contextlib.ExitStack() as stack:  # a fresh server per run: an overloaded run leaves a backlog
            url = args.url or stack.enter_context(_server(args.ckpt, args.server_args, many=args.find_max)).url
            _wait_idle(url)
            row = asyncio.run(_run(url, recordings, n, args.fps, args.seconds))
        print(json.dumps(row), flush=True)
        return row

    if not args.find_max:
        print(json.dumps(run(args.streams)))
        return 0
    tried, best, low, high = [], None, 0, None
    n = max(1, args.streams)
    while high is None:  # double until a run fails
        row = run(n)
        tried.append(row)
        if _passes(row, args.max_p99_ms):
            best, low, n = row, n, n * 2
        else:
            high = n
    while high - low > max(1, low // 8):  # bisect to about 12%
        n = (low + high) // 2
        row = run(n)
        tried.append(row)
        if _passes(row, args.max_p99_ms):
            best, low = row, n
        else:
            high = n
    print(json.dumps({**(best or {"streams": 0, "frames_sent": 0, "frames_answered": 0, "dropped": 0,
                                  "p50_ms": None, "p99_ms": None}), "max_streams": low, "tried": tried}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
