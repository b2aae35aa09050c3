"""``signstgcn serve``: a real WebSocket client on localhost, bad messages, disconnects, /health, clean stop."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.serve import run_server
from signstgcn.inference.streaming import IncrementalDetector
from tests.test_streaming import predictor, random_model, stream_frames

websockets = pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
from websockets.asyncio.client import connect  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _detected(T: int, seed: int) -> np.ndarray:
    """Stream frames with at least one detected joint each (a frame without any is a bad message here)."""
    frames = stream_frames(T, seed=seed)
    empty = ~np.isfinite(frames).any(axis=(1, 2))
    frames[empty] = frames[np.flatnonzero(empty) - 1]
    return frames


async def _serving(pred, scenario, threshold=None, **options):
    """Run ``scenario(url, server_holder)`` against a server on a free port; stop it; return (result, server)."""
    stop, port = asyncio.Event(), asyncio.get_running_loop().create_future()
    det = MultiStreamDetector(pred, stride=8, max_streams=4, threshold=threshold)
    task = asyncio.create_task(run_server(det, port=0, stop=stop, ready=port.set_result, log=lambda _: None,
                                          handle_signals=False, **options))
    url = f"ws://127.0.0.1:{await port}"
    try:
        result = await scenario(url)
    finally:
        stop.set()
    server = await task
    return result, server, det


async def _frames_to_end(ws, frames: np.ndarray, binary: bool) -> list[dict]:
    """Send every frame, then 'end'; collect messages until the flush result (its final reaches the last frame)."""
    for f in frames:
        await ws.send(f.astype("<f4").tobytes() if binary else json.dumps({"type": "frame", "nodes": f.tolist()}))
    await ws.send(json.dumps({"type": "end"}))
    got = []
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        got.append(msg)
        if msg["type"] == "ended":
            assert msg["frames"] == len(frames)
            return got




def test_a_client_gets_the_single_stream_results_and_segments():
    pred = predictor(random_model(4))
    frames = _detected(60, seed=2)
    single = IncrementalDetector(pred, stride=8, threaded=False)
    steps = [single.push(f) for f in frames] + [single.flush()]
    expected = np.concatenate([s.final for s in steps])

    async def scenario(url):
        async with connect(url) as ws:
            hello = json.loads(await ws.recv())
            return hello, await _frames_to_end(ws, frames, binary=True)

    (hello, got), server, det = asyncio.run(_serving(pred, scenario))
    assert hello["type"] == "hello" and hello["joints"] == frames.shape[1] and hello["channels"] == 2
    results = [m for m in got if m["type"] == "result"]
    final = np.array([np.nan if v is None else v for m in results for v in m["final"]], dtype=np.float64)
    np.testing.assert_allclose(final, expected, atol=1e-4)  # rounded to 5 decimals on the wire
    signing = final >= det.threshold
    starts = [m["frame"] for m in got if m["type"] == "segment" and m["event"] == "start"]
    assert starts == [k for k in range(len(signing)) if signing[k] and (k == 0 or not signing[k - 1])]
    assert server.frames_answered == len(frames) and det.streams == []  # the disconnect freed the stream


def test_bad_messages_get_an_error_and_the_other_streams_go_on():
    pred = predictor(random_model(5))
    frames = _detected(30, seed=3)

    async def scenario(url):
        async with connect(url) as bad, connect(url) as good:
            await bad.recv(), await good.recv()  # hello
            V = frames.shape[1]
            errors = []
            for message in ("{not json", b"\x00" * 12, np.full((V, 2), np.nan, "<f4").tobytes(),
                            json.dumps({"type": "dance"}), "x" * (300 * 1024)):
                await bad.send(message)
                errors.append(json.loads(await asyncio.wait_for(bad.recv(), 10)))
            good_msgs = await _frames_to_end(good, frames, binary=True)
            stats_reply = None
            await bad.send(json.dumps({"type": "stats"}))
            stats_reply = json.loads(await asyncio.wait_for(bad.recv(), 10))
            bad_still = await _frames_to_end(bad, frames[:10], binary=True)  # the bad client's stream still works
            return errors, good_msgs, stats_reply, bad_still

    (errors, good_msgs, stats_reply, bad_still), server, _ = asyncio.run(_serving(pred, scenario))
    assert [e["type"] for e in errors] == ["error"] * 5
    assert "malformed JSON" in errors[0]["error"] and "expected" in errors[1]["error"]
    assert "no finite coordinate" in errors[2]["error"] and "unknown message type" in errors[3]["error"]
    assert "over the limit" in errors[4]["error"]
    assert sum(len(m["final"]) for m in good_msgs if m["type"] == "result") == len(frames)
    assert stats_reply["type"] == "stats" and stats_reply["streams"] == 2 and stats_reply["latency_ms"]["p50"] >= 0
    assert sum(len(m["final"]) for m in bad_still if m["type"] == "result") == 10


def test_a_full_queue_drops_oldest_frames_and_says_so():
    pred = predictor(random_model(6))
    frames = _detected(200, seed=4)

    async def scenario(url):
        async with connect(url) as ws:
            await ws.recv()
            for f in frames:  # far faster than one tick per frame
                await ws.send(f.astype("<f4").tobytes())
            msgs = []
            while not any(m["type"] == "dropped" for m in msgs):
                msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            return msgs

    msgs, server, _ = asyncio.run(_serving(pred, scenario, queue_frames=4))
    dropped = [m for m in msgs if m["type"] == "dropped"]
    assert dropped and dropped[0]["frames"] >= 1 and server.dropped >= dropped[0]["total"]


def test_health_answers_and_the_server_stops_without_leftover_threads():
    pred = predictor(random_model(7))
    before = {t.ident for t in threading.enumerate()}

    async def scenario(url):
        host, port = url.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), 10)
        writer.close()
        return head.decode()

    head, _, det = asyncio.run(_serving(pred, scenario))
    assert head.startswith("HTTP/1.1 200") and '"status": "ok"' in head
    assert det.streams == []
    assert {t.ident for t in threading.enumerate()} <= before  # asyncio.run shut its worker threads down


def test_worker_processes_share_the_port_answer_every_client_and_stop_cleanly(tmp_path):
    """``signstgcn serve --workers 2``: two processes on one port; every client gets the single-stream results;
    SIGTERM to the parent stops both workers cleanly."""
    import signal
    import subprocess
    import sys

    from signstgcn.inference.predictor import Predictor
    from tests.test_inference import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "det.pt", seed=4)
    frames = _detected(40, seed=2)
    single = IncrementalDetector(Predictor.from_checkpoint(ckpt), stride=8, threaded=False)
    expected = np.concatenate([s.final for s in [*(single.push(f) for f in frames), single.flush()]])
    proc = subprocess.Popen([sys.executable, "-m", "signstgcn", "serve", "--ckpt", str(ckpt), "--port", "0",
                             "--workers", "2", "--threads", "1", "--no-bf16"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        first, line = proc.stdout.readline(), proc.stdout.readline()
        assert "2 worker processes (--workers); float32 (--no-bf16)" in first, first  # what it chose, first
        assert "listening on ws://" in line and "2 worker processes" in line, line
        url = line.split("listening on ", 1)[1].split()[0]

        async def client():
            async with connect(url) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                msgs = await _frames_to_end(ws, frames, binary=True)
            return np.concatenate([m["final"] for m in msgs if m["type"] == "result"]).astype(np.float64)

        async def clients():
            return await asyncio.gather(*(client() for _ in range(6)))

        for got in asyncio.run(clients()):
            np.testing.assert_allclose(got, expected, atol=1e-4)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert out.count(" joined") == 6 and out.count(" left") == 6
    assert "[worker 0] signstgcn serve: stopped" in out and "[worker 1] signstgcn serve: stopped" in out
    assert out.rstrip().endswith("signstgcn serve: stopped")


def test_worker_processes_refuse_a_port_in_use_in_one_line(tmp_path, capsys):
    import socket

    from signstgcn.cli.serve import main as serve_main
    from tests.test_inference import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "det.pt", seed=4)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_main(["--ckpt", str(ckpt), "--port", str(port), "--workers", "2", "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in err, err
