"""``signstgcn serve`` on a network: tokens, origins, TLS, limits per connection, /metrics across workers, structured
logs, SIGTERM drain and SIGHUP reload."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from signstgcn.inference.serve import Limits
from signstgcn.inference.serve_access import AccessPolicy
from tests.test_serve import _detected, _frames_to_end, _serving
from tests.test_streaming import predictor, random_model

websockets = pytest.importorskip("websockets", reason="signstgcn serve needs the [serve] extra (websockets)")
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def _status(url: str, **options) -> int:
    """The HTTP status of a WebSocket handshake (101 when it opens)."""
    try:
        async with connect(url, **options) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            return 101
    except InvalidStatus as err:
        return err.response.status_code


def test_a_token_is_checked_in_the_handshake_before_any_stream_exists():
    pred = predictor(random_model(1))

    async def scenario(url):
        http_url = url.replace("ws://", "http://")
        loop = asyncio.get_running_loop()
        statuses = {
            "none": await _status(url),
            "wrong header": await _status(url, additional_headers={"Authorization": "Bearer nope"}),
            "wrong query": await _status(url + "/?token=nope"),
            "right header": await _status(url, additional_headers={"Authorization": "Bearer s3cret"}),
            "right query": await _status(url + "/?token=s3cret"),
            "replay without": await _status(url + "/landmarks"),
        }
        health = await loop.run_in_executor(None, _get, http_url + "/health")
        metrics = await loop.run_in_executor(None, _get, http_url + "/metrics")
        authorized = await loop.run_in_executor(None, _get, http_url + "/metrics", {"Authorization": "Bearer s3cret"})
        return statuses, health, metrics, authorized

    (statuses, health, metrics, authorized), server, det = asyncio.run(
        _serving(pred, scenario, access=AccessPolicy(token="s3cret")))
    assert statuses == {"none": 401, "wrong header": 401, "wrong query": 401, "right header": 101,
                        "right query": 101, "replay without": 401}
    assert health[0] == 200 and json.loads(health[1])["status"] == "ok"  # /health stays open
    assert metrics[0] == 401 and authorized[0] == 200
    assert 'signstgcn_connections_total{outcome="unauthorized"} 4.0' in authorized[1]
    assert 'signstgcn_connections_total{outcome="accepted"} 2.0' in authorized[1]
    assert det.streams == [] and server.frames_received == 0


def test_browser_origins_are_same_origin_unless_allowed():
    pred = predictor(random_model(1))

    async def scenario(url):
        own = url.replace("ws://", "http://")
        return {"no origin": await _status(url), "own page": await _status(url, origin=own),
                "listed": await _status(url, origin="https://call.example.org"),
                "other": await _status(url, origin="https://evil.example.com")}

    statuses, _, _ = asyncio.run(_serving(pred, scenario, access=AccessPolicy(origins=("https://call.example.org",))))
    assert statuses == {"no origin": 101, "own page": 101, "listed": 101, "other": 403}


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (cryptography)."""
    crypto = pytest.importorskip("cryptography", reason="the TLS test makes its certificate with cryptography")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    del crypto
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate(tmp_path):
    pred = predictor(random_model(1))
    cert, key = _self_signed(tmp_path)
    frames = _detected(20, seed=1)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def scenario(url):
        secure = url.replace("ws://", "wss://")
        async with connect(secure, ssl=trusting) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            got = await _frames_to_end(ws, frames, binary=True)
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust it
            async with connect(secure, ssl=ssl.create_default_context()):
                pass
        with pytest.raises(Exception):  # noqa: B017, PT011 - plain ws:// to a TLS port fails in the handshake
            async with connect(url, open_timeout=5):
                pass
        return got

    got, server, _ = asyncio.run(_serving(pred, scenario, tls=(str(cert), str(key))))
    assert got[-1] == {"type": "ended", "frames": 20} and server.frames_answered == 20


def test_a_bad_certificate_is_one_line(tmp_path, capsys):
    from signstgcn.cli.serve import main as serve_main

    (tmp_path / "cert.pem").write_text("not a certificate")
    assert serve_main(["--certfile", str(tmp_path / "cert.pem"), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot load the certificate and key" in err, err


def test_the_message_rate_drops_and_reports_and_every_frame_is_accounted_for():
    pred = predictor(random_model(2))
    frames = _detected(60, seed=3)

    async def scenario(url):
        async with connect(url) as ws:
            await ws.recv()
            for frame in frames:  # 60 frames at once against 20 per second
                await ws.send(frame.astype("<f4").tobytes())
            await ws.send(json.dumps({"type": "end"}))  # over the rate too, but an 'end' is never ignored
            got = []
            while not got or got[-1]["type"] != "ended":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return got

    got, server, _ = asyncio.run(_serving(pred, scenario, limits=Limits(message_rate=20.0)))
    answered = len({m["frame"] for m in got if m["type"] == "result"})
    dropped = [m for m in got if m["type"] == "dropped"]
    assert dropped and all(m["reason"] == "rate" for m in dropped)
    assert answered + sum(m["frames"] for m in dropped) == len(frames)  # answered or reported, nothing lost
    assert dropped[-1]["total"] == len(frames) - answered == server.dropped
    assert got[-1] == {"type": "ended", "frames": answered} and 20 <= answered < 30  # a second's burst, about


def test_idle_connections_are_closed_and_the_cap_per_client_holds():
    pred = predictor(random_model(2))

    async def scenario(url):
        async with connect(url) as first, connect(url) as second:
            await first.recv()
            await second.recv()
            try:
                async with connect(url) as third:  # over the cap of 2 for 127.0.0.1
                    await asyncio.wait_for(third.recv(), 5)
                over = None
            except ConnectionClosed as err:
                over = (err.rcvd.code, err.rcvd.reason)
            try:
                await asyncio.wait_for(first.recv(), 10)  # says nothing: closed when idle
                idle = None
            except ConnectionClosed as err:
                idle = (err.rcvd.code, err.rcvd.reason)
        return over, idle

    (over, idle), server, det = asyncio.run(_serving(
        pred, scenario, limits=Limits(idle_timeout=1.0), access=AccessPolicy(max_per_client=2)))
    assert over == (1008, "too many connections from 127.0.0.1")
    assert idle == (1000, "idle")
    assert det.streams == [] and not server.sessions


class _NeverReads:
    """A connection whose client reads nothing: every send waits forever (a full socket)."""

    def __init__(self) -> None:
        self.sent, self.aborted, self.closed = 0, False, None
        self.transport = self

    async def send(self, message: str) -> None:
        self.sent += 1
        await asyncio.Event().wait()

    def abort(self) -> None:
        self.aborted = True

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def test_a_slow_reader_is_cut_off_at_its_outbox_bound_and_the_others_go_on():
    """A client that never reads: its results wait in a bounded outbox; when it is full the connection is cut
    (memory never grows with what the client does not read), and a normal client beside it gets every result."""
    from signstgcn.inference.multistream import MultiStreamDetector
    from signstgcn.inference.serve import DetectionServer, _Session

    pred = predictor(random_model(3))
    frames = _detected(30, seed=4)

    async def scenario():
        det = MultiStreamDetector(pred, stride=8, max_streams=4)
        server = DetectionServer(det, limits=Limits(outbox=16), log=lambda *a, **k: None)
        stuck = _NeverReads()
        session = _Session(stuck, det, det.open(), "10.0.0.9", asyncio.Queue(maxsize=16))
        session.writer = asyncio.ensure_future(server._write(session))
        server.sessions.add(session)
        sizes = []
        for frame in frames:  # 30 results for a client that reads none
            session.queue.append((time.perf_counter(), frame))
            await server._tick()
            sizes.append(session.outbox.qsize())
        for _ in range(50):
            if stuck.aborted:
                break
            await asyncio.sleep(0.1)
        return server, stuck, session, sizes

    server, stuck, session, sizes = asyncio.run(scenario())
    assert max(sizes) <= 16 and stuck.sent == 1  # never more than the outbox: one message stuck in the socket
    assert session.closing and stuck.aborted  # it could not even take a close frame: the socket was cut

    async def beside(url):  # the same bound on a real server: a normal client is not held up by it
        async with connect(url) as ws:
            await ws.recv()
            return await _frames_to_end(ws, frames, binary=True)

    got, _, _ = asyncio.run(_serving(pred, beside, limits=Limits(outbox=16)))
    assert got[-1] == {"type": "ended", "frames": len(frames)}  # 16 is enough for a client that reads


# ------------------------------------------------------------------------------------------ processes


def _start(args: list[str], env: dict | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """``signstgcn serve ARGS --port 0``; returns the process, its ws:// URL and the lines before it listened."""
    proc = subprocess.Popen([sys.executable, "-m", "signstgcn", "serve", "--port", "0", "--threads", "1", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "listening on" in line:
            try:
                return proc, line.split("listening on ", 1)[1].split()[0], lines
            except IndexError:  # a JSON log line
                url = json.loads(line)["message"].split("listening on ", 1)[1].split()[0]
                return proc, url, lines
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"signstgcn serve did not start: {''.join(lines)}")


def test_metrics_add_up_across_two_workers_and_parse(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from tests.test_inference import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "det.pt", seed=4)
    frames = _detected(30, seed=2)
    proc, url, _ = _start(["--ckpt", str(ckpt), "--workers", "2", "--no-bf16", "--log-format", "json"])
    clients = 16  # spread over both workers by the kernel (all on one: 2 ** -15)

    async def one():
        async with connect(url) as ws:
            await ws.recv()
            await _frames_to_end(ws, frames, binary=True)

    async def run():
        await asyncio.gather(*(one() for _ in range(clients)))

    try:
        asyncio.run(run())
        http_url = url.replace("ws://", "http://")
        for _ in range(50):  # the workers see the last disconnects within a tick or two
            status, text = _get(http_url + "/metrics")
            if "\nsignstgcn_streams_open 0.0" in text:
                break
            time.sleep(0.1)
        health = json.loads(_get(http_url + "/health")[1])
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == 200
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for family in text_string_to_metric_families(text) for s in family.samples}
    assert values[("signstgcn_frames_received_total", ())] == clients * len(frames)
    assert values[("signstgcn_frames_answered_total", ())] == clients * len(frames)
    assert values[("signstgcn_frame_latency_seconds_count", ())] == clients * len(frames)
    assert values[("signstgcn_connections_total", (("outcome", "accepted"),))] == clients
    assert values[("signstgcn_streams_open", ())] == 0
    assert health["frames_answered"] == clients * len(frames)  # /health is the whole server's too
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    joined = [r for r in records if r.get("event") == "joined"]
    assert len(joined) == clients and {r["worker"] for r in joined} == {0, 1}  # both workers served some
    assert all({"time", "level", "message"} <= set(r) for r in records)


def test_sigterm_drains_every_stream_with_its_final_results(tmp_path):
    """Frames still queued when SIGTERM comes are answered, each stream gets its ``ended``, then 1001."""
    from tests.test_inference import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "det.pt", seed=5)
    frames = _detected(200, seed=6)
    proc, url, _ = _start(["--ckpt", str(ckpt), "--workers", "1", "--no-bf16", "--queue-frames", "1000",
                           "--message-rate", "10000"])

    async def client():
        async with connect(url) as ws:
            await ws.recv()
            for frame in frames:  # all at once: most are still queued when the signal comes
                await ws.send(frame.astype("<f4").tobytes())
            proc.send_signal(signal.SIGTERM)
            got = []
            try:
                while True:
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            except ConnectionClosed as err:
                return got, err.rcvd

    try:
        got, rcvd = asyncio.run(client())
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    answered = {m["frame"] for m in got if m["type"] == "result"}
    dropped = sum(m["frames"] for m in got if m["type"] == "dropped")
    assert got[-1] == {"type": "ended", "frames": len(answered)}
    assert len(answered) + dropped == len(frames) and len(answered) == len(frames)  # none lost within the bound
    assert rcvd.code == 1001 and proc.returncode == 0
    assert "stopped (1 streams drained" in out


def test_sighup_reloads_the_checkpoint_for_new_streams(tmp_path):
    from signstgcn.inference.predictor import Predictor
    from signstgcn.inference.streaming import IncrementalDetector
    from tests.test_inference import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "det.pt", seed=7)
    replacement = make_checkpoint(tmp_path / "new.pt", seed=8)
    frames = _detected(40, seed=2)

    def expected(path: Path) -> np.ndarray:
        single = IncrementalDetector(Predictor.from_checkpoint(path), stride=8, threaded=False)
        return np.concatenate([s.final for s in [*(single.push(f) for f in frames), single.flush()]])

    proc, url, _ = _start(["--ckpt", str(ckpt), "--workers", "1", "--no-bf16"])

    def finals(msgs: list[dict]) -> np.ndarray:
        return np.concatenate([m["final"] for m in msgs if m["type"] == "result"]).astype(np.float64)

    async def client():
        async with connect(url) as ws:
            await ws.recv()
            before = await _frames_to_end(ws, frames[:20], binary=True)  # a stream under way...
            os.replace(replacement, ckpt)
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(3.0)
            async with connect(url) as fresh:  # ...and a new connection after the reload
                await fresh.recv()
                after = await _frames_to_end(fresh, frames, binary=True)
            return before, after

    try:
        before, after = asyncio.run(client())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "reloaded: new streams use" in out, out
    np.testing.assert_allclose(finals(after), expected(ckpt), atol=1e-4)  # the new model (now at ckpt's path)
    assert before[-1] == {"type": "ended", "frames": 20}


def test_x_forwarded_for_is_the_client_only_behind_a_trusted_proxy():
    from types import SimpleNamespace

    from websockets.datastructures import Headers

    connection = SimpleNamespace(remote_address=("127.0.0.1", 50000))  # the proxy's address
    request = SimpleNamespace(headers=Headers([("X-Forwarded-For", "203.0.113.7, 10.0.0.2")]), path="/")
    assert AccessPolicy().client(connection, request) == "127.0.0.1"  # anybody can write the header
    assert AccessPolicy(trust_proxy=True).client(connection, request) == "203.0.113.7"
    capped = AccessPolicy(max_per_client=1)
    assert capped.admit("203.0.113.7") and not capped.admit("203.0.113.7") and capped.admit("198.51.100.1")
    capped.release("203.0.113.7")
    assert capped.admit("203.0.113.7")
    with pytest.raises(ValueError, match="--token must not be empty"):
        AccessPolicy(token="  ")
