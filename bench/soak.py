"""Soak and fault test of ``signstgcn serve`` (loopback only, bounded in time).

    python bench/soak.py --minutes 30 --out runs/soak            # docs/detection.md's run: shipped detector, no flags
    python bench/soak.py --minutes 2 --streams 20 --out /tmp/soak  # a quick look

It starts ``signstgcn serve --port 0`` (its defaults unless ``--server-args``) and, for ``--minutes``:

- ``--streams`` well-behaved clients replay real ``mp_detect`` recordings (``--data``) as binary frames at 30 frames/s
  in sessions of 30-120 s, each closed with ``end`` and checked when its ``ended`` comes: every frame sent is
  answered by a ``result`` or counted in a ``dropped`` report, else it is *unaccounted*. Every ``--burst-every``
  seconds half of them end their sessions and reconnect at the same moment (a reconnect burst);
- fault clients beside them: ``--disconnecters`` that vanish mid-frame (half a WebSocket frame written, then the
  socket aborted), ``--garbage`` clients sending malformed JSON, wrong-size and oversized binary frames and unknown
  types, ``--stallers`` that send frames but never read (the server must cut them off, and they reconnect), and
  ``--flooders`` that send 10x the frame rate in accountable sessions.

Every 10 s it records the server's resident memory (all its processes together and each: the parent first) and open
file descriptors (``psutil``), the CPU the server and this client used, the server's own latency (its ``/metrics``
histogram: every frame accepted, the flooders' queued ones included, as bucket bounds), the connections it counts
(``/health``), and the well-behaved clients' latency percentiles (frame sent -> its result). The clients share the
machine with the server: on 2 cores they take about a quarter of one core, and anything else run meanwhile shows up
in the latency.
Writes ``timeline.csv`` and ``summary.json`` to ``--out`` and prints the summary: RSS growth (first to last
sample after a warm-up minute), descriptors, p50/p99 overall and outside the reconnect bursts (a burst counts until
its clients' results are back under 100 ms p99, and how long that took is reported), frames sent / answered /
dropped-and-reported / unaccounted.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import csv
import json
import os
import random
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from serve_load import _recordings, _server  # noqa: E402

SAMPLE_SECONDS = 10.0
WARMUP_SECONDS = 60.0
RSS_MEAN_SECONDS = 300.0  # the growth compares the mean RSS of the first and of the last 5 minutes under load


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="how long the clients run")
    p.add_argument("--streams", type=int, default=100, help="well-behaved clients")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of a well-behaved client")
    p.add_argument("--burst-every", type=float, default=300.0, help="seconds between reconnect bursts")
    p.add_argument("--disconnecters", type=int, default=4, help="clients that vanish mid-frame, again and again")
    p.add_argument("--garbage", type=int, default=2, help="clients that send bad messages")
    p.add_argument("--stallers", type=int, default=2, help="clients that never read")
    p.add_argument("--flooders", type=int, default=2, help="clients that send 10x the frame rate")
    p.add_argument("--ckpt", default=None, help="the server's checkpoint (default: the shipped detector)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mp_detect"), help="recordings to replay")
    p.add_argument("--server-args", default="", help="flags of the server (default: none)")
    p.add_argument("--out", required=True, help="folder for timeline.csv and summary.json")
    p.add_argument("--seed", type=int, default=0)
    return p


@dataclass
class Tally:
    """What the clients saw."""

    sent: int = 0  # frames in sessions that ended with 'ended' (accountable)
    answered: int = 0
    dropped: int = 0
    unaccounted: int = 0
    sessions: int = 0
    broken_sessions: int = 0  # a well-behaved session the server closed before its 'ended'
    errors_received: int = 0  # 'error' replies to the garbage clients
    stallers_cut: int = 0
    disconnects: int = 0
    sent_times: array.array = field(default_factory=lambda: array.array("d"))  # well-behaved frames: when sent,
    latencies: array.array = field(default_factory=lambda: array.array("d"))  # and seconds to their result
    sampled: int = 0  # latencies already in a timeline row
    burst_times: list = field(default_factory=list)


def _connect(url: str, **options: Any):
    from websockets.asyncio.client import connect

    return connect(url, max_size=None, compression=None, open_timeout=60, **options)


async def _session(url: str, frames: np.ndarray, fps: float, seconds: float, tally: Tally, *,
                   timed: bool, stop_at: float, cut: Any = lambda: False) -> None:
    """One accountable session: frames at ``fps`` for ``seconds`` (or until ``stop_at`` or ``cut()``), ``end``,
    ``ended``."""
    from websockets.exceptions import ConnectionClosed

    sent_at: list[float] = []
    results: set[int] = set()
    dropped = 0
    ended = asyncio.get_running_loop().create_future()
    try:
        async with _connect(url) as ws:
            await ws.recv()  # hello

            async def receive() -> None:
                nonlocal dropped
                async for message in ws:
                    event = json.loads(message)
                    kind = event["type"]
                    if kind == "result" and event["frame"] not in results:
                        results.add(event["frame"])
                        if timed and dropped == 0 and event["frame"] < len(sent_at):  # numbering exact without drops
                            t0 = sent_at[event["frame"]]
                            tally.sent_times.append(t0)
                            tally.latencies.append(time.perf_counter() - t0)
                    elif kind == "dropped":
                        dropped = event["total"]
                    elif kind == "ended":
                        ended.set_result(event["frames"])
                        return

            reader = asyncio.create_task(receive())
            start = time.perf_counter()
            k = 0
            while time.perf_counter() - start < seconds and time.monotonic() < stop_at and not cut():
                await asyncio.sleep(max(0.0, start + k / fps - time.perf_counter()))
                sent_at.append(time.perf_counter())
                await ws.send(frames[k % len(frames)].tobytes())
                k += 1
            await ws.send(json.dumps({"type": "end"}))
            await asyncio.wait_for(reader, timeout=60)
    except (ConnectionClosed, OSError, TimeoutError, asyncio.TimeoutError):
        tally.broken_sessions += 1
        return
    tally.sessions += 1
    tally.sent += len(sent_at)
    tally.answered += len(results)
    tally.dropped += dropped
    tally.unaccounted += len(sent_at) - len(results) - dropped


async def _behaved(url: str, frames: np.ndarray, fps: float, tally: Tally, stop_at: float, bursts: list[int],
                   rng: random.Random, in_burst: bool) -> None:
    """A well-behaved client: session after session; in the burst half, a burst (``bursts[0]`` counts them) ends
    the session at once (``end``, its ``ended`` checked) and the client reconnects, with all the others."""
    while time.monotonic() < stop_at:
        generation = bursts[0]
        await _session(url, np.roll(frames, -rng.randrange(len(frames)), axis=0), fps, rng.uniform(30.0, 120.0),
                       tally, timed=True, stop_at=stop_at,
                       cut=(lambda g=generation: bursts[0] != g) if in_burst else (lambda: False))


async def _disconnecter(url: str, frame: np.ndarray, tally: Tally, stop_at: float, rng: random.Random) -> None:
    """Connects, sends a few seconds of frames, writes half a frame and aborts the socket; again."""
    while time.monotonic() < stop_at:
        try:
            async with _connect(url) as ws:
                await ws.recv()
                for _ in range(rng.randrange(30, 150)):
                    await ws.send(frame.tobytes())
                    await asyncio.sleep(1 / 30)
                header = bytes([0x82, 0xFE]) + len(frame.tobytes()).to_bytes(2, "big") + os.urandom(4)
                ws.transport.write(header + frame.tobytes()[:100])  # half a masked binary frame...
                ws.transport.abort()  # ...and gone
                tally.disconnects += 1
        except Exception:  # noqa: BLE001 - the connection is meant to break
            pass
        await asyncio.sleep(rng.uniform(0.5, 3.0))


async def _garbage(url: str, frame: np.ndarray, tally: Tally, stop_at: float) -> None:
    """Bad messages at 5 per second: malformed JSON, wrong sizes, unknown types, oversized, frames without data."""
    bad = ['{"type": "frame", "pose": [[1, 2], [3', b"\x00" * 17, '{"type": "teleport"}', "[1, 2, 3]",
           b"\x00" * (300 * 1024), json.dumps({"type": "frame", "pose": [[float("nan")] * 4] * 33}),
           frame.tobytes()[:-4], '{"type": "image_size", "width": -1, "height": 0}']
    from websockets.exceptions import ConnectionClosed

    while time.monotonic() < stop_at:
        try:
            async with _connect(url) as ws:
                await ws.recv()
                k = 0
                while time.monotonic() < stop_at:
                    await ws.send(bad[k % len(bad)])
                    k += 1
                    with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                        reply = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                        tally.errors_received += reply.get("type") == "error"
                    await asyncio.sleep(0.2)
        except (ConnectionClosed, OSError):
            await asyncio.sleep(1.0)


async def _staller(url: str, frame: np.ndarray, tally: Tally, stop_at: float) -> None:
    """Sends frames at 30/s and never reads; when the server cuts it off, it comes back."""
    while time.monotonic() < stop_at:
        try:
            async with _connect(url, max_queue=1) as ws:
                ws.transport.pause_reading()  # reads nothing from now on
                while time.monotonic() < stop_at:
                    await ws.send(frame.tobytes())
                    await asyncio.sleep(1 / 30)
        except Exception:  # noqa: BLE001 - cut off, as it should be
            tally.stallers_cut += 1
            await asyncio.sleep(1.0)


def _server_processes(pid: int) -> list:
    import psutil

    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _server_latency(metrics_url: str) -> dict[float, float]:
    """The server's own latency histogram (frame arrival -> result, all workers): {bucket upper bound: count}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "signstgcn_frame_latency_seconds_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets


def _bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The ``q`` quantile (ms, the upper bound of its bucket) of the observations between two histogram reads."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]  # cumulative
    if not counts or counts[-1] <= 0:
        return None
    for bound, count in zip(bounds, counts):
        if count >= q * counts[-1]:
            return round(1000 * bound, 1) if bound != float("inf") else float("inf")
    return None


class _Sampler:
    """Every row of the timeline: the server's memory, descriptors and CPU (all its processes), its own latency
    (from ``/metrics``), the connections it counts (``/health``), and this client's CPU."""

    def __init__(self, pid: int, url: str) -> None:
        import psutil

        self.pid = pid
        self.health_url = url.replace("ws://", "http://", 1) + "/health"
        self.metrics_url = url.replace("ws://", "http://", 1) + "/metrics"
        self.me = psutil.Process()
        self.last = (time.monotonic(), self._server()[2], self.me.cpu_times())
        self.buckets: dict[float, float] = {}

    def _server(self) -> tuple[list[int], int, float]:
        """Resident bytes of each server process (the parent first), their open descriptors and CPU seconds."""
        each, fds, cpu = [], 0, 0.0
        for proc in _server_processes(self.pid):
            with contextlib.suppress(Exception):
                each.append(proc.memory_info().rss)
                fds += proc.num_fds()
                t = proc.cpu_times()
                cpu += t.user + t.system
        return each, fds, cpu

    def __call__(self) -> dict[str, Any]:
        now, (each, fds, server_cpu), mine = time.monotonic(), self._server(), self.me.cpu_times()
        rss = sum(each)
        try:
            with urllib.request.urlopen(self.health_url, timeout=10) as reply:
                health = json.loads(reply.read())
        except OSError:
            health = {}
        try:
            buckets = _server_latency(self.metrics_url)
        except OSError:
            buckets = self.buckets
        span = max(now - self.last[0], 1e-9)
        row = {"rss_mb": round(rss / 2**20, 1), "rss_each_mb": " ".join(str(round(r / 2**20)) for r in each),
               "fds": fds, "streams": health.get("streams"),
               "frames_answered": health.get("frames_answered"), "dropped": health.get("dropped"),
               "server_p50_ms": _bucket_quantile(self.buckets, buckets, 0.5),
               "server_p99_ms": _bucket_quantile(self.buckets, buckets, 0.99),
               "server_cpu_percent": round(100 * (server_cpu - self.last[1]) / span, 1),
               "client_cpu_percent": round(100 * (mine.user + mine.system - self.last[2].user - self.last[2].system)
                                           / span, 1)}
        self.last, self.buckets = (now, server_cpu, mine), buckets
        return row


async def _soak(args: argparse.Namespace, url: str, pid: int,
                recordings: list[np.ndarray]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = random.Random(args.seed)
    tally = Tally()
    begin = time.monotonic()
    stop_at = begin + args.minutes * 60.0
    sample = _Sampler(pid, url)
    bursts = [0]
    jobs = [asyncio.create_task(_behaved(url, recordings[k % len(recordings)], args.fps, tally, stop_at, bursts,
                                         random.Random(rng.random()), in_burst=k % 2 == 0))
            for k in range(args.streams)]
    frame = recordings[0][len(recordings[0]) // 2]
    jobs += [asyncio.create_task(_disconnecter(url, frame, tally, stop_at, random.Random(rng.random())))
             for _ in range(args.disconnecters)]
    jobs += [asyncio.create_task(_garbage(url, frame, tally, stop_at)) for _ in range(args.garbage)]
    jobs += [asyncio.create_task(_staller(url, frame, tally, stop_at)) for _ in range(args.stallers)]

    async def flooder(k: int) -> None:
        while time.monotonic() < stop_at:
            await _session(url, recordings[k % len(recordings)], args.fps * 10, 20.0, tally, timed=False,
                           stop_at=stop_at)

    jobs += [asyncio.create_task(flooder(k)) for k in range(args.flooders)]
    timeline = []
    next_burst = begin + args.burst_every
    while time.monotonic() < stop_at:
        await asyncio.sleep(SAMPLE_SECONDS)
        now = time.monotonic()
        if now >= next_burst and now < stop_at - 30:
            tally.burst_times.append(time.perf_counter())
            bursts[0] += 1
            next_burst += args.burst_every
        window = tally.latencies[tally.sampled:]  # the results since the last row (O(new), not O(all))
        tally.sampled = len(tally.latencies)
        row = {"seconds": round(now - begin, 1), **await asyncio.to_thread(sample),
               "p50_ms": round(1000 * float(np.percentile(window, 50)), 1) if window else None,
               "p99_ms": round(1000 * float(np.percentile(window, 99)), 1) if window else None}
        timeline.append(row)
        print(json.dumps(row), flush=True)
    await asyncio.gather(*jobs, return_exceptions=True)
    await asyncio.sleep(5.0)
    timeline.append({"seconds": round(time.monotonic() - begin, 1), **sample(),
                     "p50_ms": None, "p99_ms": None, "after": True})
    return _summary(args, tally, timeline), timeline


def _burst_recovery(tally: Tally) -> tuple[float, np.ndarray]:
    """Seconds until the 1-s p99 is back under 100 ms after each burst (the longest), and a mask of the frames sent
    outside those recovery windows."""
    t0 = np.frombuffer(tally.sent_times, dtype=np.float64)
    lat = np.frombuffer(tally.latencies, dtype=np.float64)
    outside = np.ones(len(t0), dtype=bool)
    longest = 0.0
    for b in tally.burst_times:
        end = b
        for step in range(1, 121):  # one-second windows after the burst
            inside = (t0 >= b + step - 1) & (t0 < b + step)
            if inside.any() and np.percentile(lat[inside], 99) <= 0.1:
                end = b + step - 1
                break
        else:
            end = b + 120
        longest = max(longest, end - b)
        outside &= ~((t0 >= b) & (t0 < end))
    return longest, outside


def _summary(args: argparse.Namespace, tally: Tally, timeline: list[dict[str, Any]]) -> dict[str, Any]:
    lat = np.frombuffer(tally.latencies, dtype=np.float64) * 1000.0
    longest, outside = _burst_recovery(tally)
    # under full load after the warm-up minute (the last rows, while the clients wind down, are not)
    settled = [r for r in timeline if r["seconds"] >= WARMUP_SECONDS and not r.get("after")
               and (r["streams"] or 0) >= 0.9 * args.streams] or timeline
    first, last = settled[0], settled[-1]
    rss = np.array([r["rss_mb"] for r in settled], dtype=np.float64)
    seconds = np.array([r["seconds"] for r in settled], dtype=np.float64)
    span = max(1, int(RSS_MEAN_SECONDS / SAMPLE_SECONDS))  # rows averaged at each end (RSS wanders with trims)
    head, tail = float(rss[:span].mean()), float(rss[-span:].mean())
    slope = float(np.polyfit(seconds, rss, 1)[0]) * 60.0 if len(rss) > 2 else 0.0
    windows = [r["p99_ms"] for r in timeline if r.get("p99_ms") is not None]
    pct = (lambda a, q: round(float(np.percentile(a, q)), 1) if len(a) else None)  # noqa: E731
    return {
        "minutes": args.minutes, "streams": args.streams, "server_args": args.server_args,
        "rss_mb_first": first["rss_mb"], "rss_mb_last": last["rss_mb"],
        "rss_mb_first_mean": round(head, 1), "rss_mb_last_mean": round(tail, 1),
        "rss_growth_percent": round(100 * (tail - head) / head, 2),  # mean of the last vs the first minutes
        "rss_trend_mb_per_minute": round(slope, 2),
        "rss_mb_max": max(r["rss_mb"] for r in timeline), "fds_first": first["fds"], "fds_last": last["fds"],
        "fds_after": timeline[-1]["fds"], "streams_after": timeline[-1]["streams"],
        "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "p99_ms_outside_bursts": pct(lat[outside], 99),
        "windows_p99_over_100ms": f"{sum(w > 100 for w in windows)} of {len(windows)}",  # 10-s rows
        "bursts": len(tally.burst_times), "longest_burst_recovery_s": longest,
        "frames_sent": tally.sent, "frames_answered": tally.answered, "frames_dropped_reported": tally.dropped,
        "frames_unaccounted": tally.unaccounted, "sessions": tally.sessions,
        "broken_sessions": tally.broken_sessions, "disconnects_mid_frame": tally.disconnects,
        "stallers_cut_off": tally.stallers_cut, "errors_to_garbage": tally.errors_received,
    }


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recordings = [r.astype("<f4") for r in _recordings(args.ckpt, args.data)]
    with open(out / "server.log", "w") as log, _server(args.ckpt, args.server_args, log=log) as server:
        summary, timeline = asyncio.run(_soak(args, server.url, server.pid, recordings))
    with open(out / "timeline.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(timeline[0]) + ["after"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(timeline)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
