"""``signstgcn serve``: live signing detection for every participant of a call, over WebSocket.

One :class:`~signstgcn.inference.multistream.MultiStreamDetector` serves every connection; one connection is
one stream (it opens on connect and closes, flushed, on disconnect). The protocol (JSON text messages unless
said otherwise):

client → server
    - a landmark frame: ``{"type": "frame", "pose": [[x, y, z, v], ...], "left_hand": [...], ...}`` (the npz
      part names; absent parts are missing), or a *binary* message of ``V * C`` little-endian float32 in the
      checkpoint's joint order (``hello`` says ``V``, ``C``); NaN = not detected;
    - ``{"type": "image_size", "width": W, "height": H}``: the camera's frame size in pixels; the stream's later
      frames are made isotropic (x times W / H, as for a landmark file that records its frame size), for checkpoints
      trained that way. No answer; an ``error`` for anything but two positive numbers;
    - ``{"type": "stats"}``: the server answers with a stats message;
    - ``{"type": "end"}``: flush the stream (final probabilities of its last frames) and start a new one.

server → client
    - ``{"type": "hello", "stream": id, "joints": V, "channels": C, "window": W, "stride": S, "fps": F,
      "threshold": t}`` on connect;
    - ``{"type": "result", "frame": t, "probability": p, "final_start": k, "final": [...]}`` per frame
      processed: ``p`` the current (latest window's) probability, ``final`` the final probabilities of frames
      ``k, k+1, ...`` that became final. Frames are numbered in the order the server processed them (a dropped
      frame gets no number);
    - ``{"type": "segment", "event": "start" | "end", "frame": k, "time": k / fps}``: the final probability
      crossed the threshold at frame ``k``;
    - with ``--classifier``: ``{"type": "sign", "gloss": g, "confidence": p, "top_k": [[label, p], ...],
      "start_frame": a, "end_frame": b, "start_time": .., "end_time": ..}`` for each sign of a signing segment that
      ended (or was open at an ``end``): the segment cut into signs and each named as ``signstgcn transcribe`` does
      (``unknown`` below the minimum confidence; a piece named ``idle`` is no sign). The classifier reads its own
      joints from the detector's frames; the last ``SIGN_HISTORY_SECONDS`` of a longer segment are named;
    - ``{"type": "error", "error": "..."}``: a bad message (malformed JSON, wrong joint count, a frame without
      any finite value, an oversized message); the stream goes on;
    - ``{"type": "dropped", "frames": n, "total": m, "reason": r}``: ``n`` frames of the stream got no result (``m``
      so far): ``queue``, its queue was full and its oldest frames went (a client sending faster than the server
      computes: never an unbounded buffer); ``rate``, over the connection's message rate; ``flush``, sent after an
      ``end`` before its ``ended``; ``drain``, still queued when a stopping server ran out of time. So every frame
      sent is answered by a ``result`` or counted in a ``dropped``;
    - ``{"type": "ended", "frames": n}`` after the flush of an ``end``: the stream's ``n`` frames are all final and
      the next frame starts a new stream (frame 0); a segment still open before it gets its ``end`` event at frame
      ``n`` first;
    - ``{"type": "stats", "streams": n, "frames_received": r, "frames_answered": a, "frames_per_second": f,
      "latency_ms": {"p50": .., "p99": ..}, "dropped": m}`` (counts since the server started).

A connection on ``/landmarks`` opens no stream: it reads one landmark file for the page's replay
(:mod:`signstgcn.inference.replay`). ``hello`` also says ``upload_limit``, the largest such file in bytes, and
``mediapipe``, whether the server has MediaPipe's files for the page (``signstgcn web-assets``).

``GET /health`` answers ``200`` with a JSON status (streams, model, frames received / answered / dropped since the
start, over every worker where ``prometheus_client`` is installed); ``GET /metrics`` the Prometheus metrics
(:mod:`signstgcn.inference.serve_metrics`); ``GET /`` is the browser page (:mod:`signstgcn.inference.web_page`).
Access (token, origins, per-address cap) is checked in the handshake (:mod:`signstgcn.inference.serve_access`).

Limits per connection (:class:`Limits`): frames queued, message size, messages per second, seconds without a
message (then closed, code 1000 "idle"), and results waiting for a client that does not read them (then closed,
code 1008: a slow reader never grows the server's memory without bound).

SIGTERM / SIGINT drain: the server stops accepting connections, computes what every stream has queued, sends
each its final results and ``ended``, closes the connections (1001) and returns, within ``Limits.drain_seconds``
(frames still queued then are reported ``dropped``, reason ``drain``). SIGHUP reloads the checkpoint
(``reload``): streams open keep the model they started with until their ``end`` or disconnect (then a new
``hello`` names the new one), new connections get the new model; a checkpoint with other inputs is refused.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import json
import math
import signal
import ssl
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.data.landmarks import isotropic
from signstgcn.errors import SignSTGCNError
from signstgcn.inference import serve_memory
from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import DEFAULT_FPS, Predictor
from signstgcn.inference.replay import landmark_document
from signstgcn.inference.serve_access import AccessPolicy
from signstgcn.inference.serve_log import ServeLog
from signstgcn.inference.serve_metrics import CONTENT_TYPE, ServerMetrics
from signstgcn.inference.streaming import StreamStep, frame_array, image_aspect
from signstgcn.inference.transcribe import LiveSigns
from signstgcn.inference.web_assets import missing_assets
from signstgcn.inference.web_page import page_response, text_response

__all__ = ["DetectionServer", "Limits", "live_signs", "run_server"]


def live_signs(detector: MultiStreamDetector, *, path: str, fps: float, min_confidence: float | None = None,
               sign_seconds: float | None = None, device: str = "cpu") -> LiveSigns:
    """The sign namer of ``serve --classifier PATH`` for ``detector``'s streams (one-line errors for a mismatch)."""
    return LiveSigns(Predictor.from_checkpoint(path, device=device), detector.predictor, fps=fps,
                     min_confidence=min_confidence, sign_seconds=sign_seconds)


SIGN_HISTORY_SECONDS = 30.0  # raw frames kept per stream for naming signs (with a classifier)
TRIM_SECONDS = 60.0  # how often a server hands its allocator's free pages back (serve_memory.trim)
MAX_MESSAGE = 16 << 20  # bytes the WebSocket layer accepts (a replayed file); frames over max_message get an error
REPLAY_PATH = "/landmarks"  # the page's replay: one landmark file in, one document out
REPLAY_TIMEOUT = 60.0  # seconds the replay endpoint waits for each of its two messages
CLOSE_WAIT = 2.0  # seconds a closing connection's last messages may take before its socket is cut


@dataclass(frozen=True)
class Limits:
    """What one connection may do (``signstgcn serve`` flags of the same names)."""

    queue_frames: int = 64  # frames waiting per stream; the oldest are dropped (and reported) beyond
    max_message: int = 256 * 1024  # bytes of one message on a stream
    message_rate: float = 120.0  # messages per second per connection (a burst of one second's worth is allowed)
    idle_timeout: float = 120.0  # seconds without a message before the connection is closed
    outbox: int = 2048  # messages waiting for a client that does not read; the connection is closed beyond
    drain_seconds: float = 10.0  # a stopping server's time to answer what is queued and say 'ended'

    def __post_init__(self) -> None:
        for name in ("queue_frames", "max_message", "outbox"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("message_rate", "idle_timeout", "drain_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")


def _import_websockets():
    try:
        from websockets.asyncio.server import serve
    except ImportError:
        raise ImportError("signstgcn serve needs the websockets package: pip install 'signstgcn[serve]'") from None
    return serve


@dataclass(eq=False)
class _Session:
    """One connection's stream: its detector and stream id there, frame queue (bounded), outbox, segment state."""

    ws: Any
    detector: MultiStreamDetector
    stream: Hashable
    client: str
    outbox: asyncio.Queue
    queue: collections.deque = field(default_factory=collections.deque)  # (arrival time, (V, C) frame)
    writer: asyncio.Task | None = None
    dropped: int = 0
    unreported: collections.Counter = field(default_factory=collections.Counter)  # reason -> frames dropped
    signing: bool = False
    ended: bool = False  # "end" received (or the server stops): flush before the next frame
    closing: bool = False  # leaving: no more messages are queued for it
    aspect: float | None = None  # the camera's width / height ("image_size" message); None = unknown
    history: collections.deque | None = None  # raw (V, C) frames of the recent past, for naming signs
    frames_seen: int = 0  # frames pushed in the current stream (the next frame's number)
    segment_start: int | None = None  # first frame of the open signing segment
    last_message: float = 0.0  # time.monotonic() of the last message received
    tokens: float = 0.0  # the message-rate bucket
    refilled: float = 0.0


class DetectionServer:
    """The WebSocket front of one :class:`MultiStreamDetector` (see the module docstring)."""

    def __init__(self, detector: MultiStreamDetector, *, fps: float = DEFAULT_FPS, limits: Limits | None = None,
                 log: ServeLog | None = None, signs: LiveSigns | None = None, assets: Path | None = None,
                 access: AccessPolicy | None = None, metrics: ServerMetrics | None = None,
                 reload: Callable[[], MultiStreamDetector] | None = None) -> None:
        self.detector, self.fps = detector, fps
        self.limits = limits or Limits()
        self.signs = signs
        self.access = access or AccessPolicy()
        self.metrics = metrics or ServerMetrics(detector.predictor.name)
        self.reload_detector = reload
        self.log = log or ServeLog()
        self.sessions: set[_Session] = set()
        self._wake = asyncio.Event()
        self._closing: list[_Session] = []
        self._latencies: collections.deque = collections.deque(maxlen=10_000)  # seconds, frame in -> result out
        self._done_times: collections.deque = collections.deque(maxlen=100_000)  # when each frame was answered
        self.frames_answered = 0
        self.frames_received = 0
        self.dropped = 0
        self.draining = False
        self._tasks: set[asyncio.Task] = set()  # closings and sign namings under way
        self.assets = assets
        self.mediapipe = assets is not None and not missing_assets(Path(assets))  # the page can run MediaPipe

    # ------------------------------------------------------------------------------------------ handshake

    def process_request(self, connection: Any, request: Any) -> Any:
        """The HTTP side: ``/health`` (open), ``/metrics`` (token), a WebSocket upgrade (origin, token; refused here,
        before any stream exists), the page's files, or 404."""
        path = request.path.split("?", 1)[0]
        if path == "/health":
            return connection.respond(http.HTTPStatus.OK, json.dumps(self.health()) + "\n")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if websocket or path == "/metrics":
            refusal = self.access.check(request, websocket=websocket)
            client = self.access.client(connection, request)
            if refusal is not None:
                if websocket:
                    outcome = "unauthorized" if refusal.status == http.HTTPStatus.UNAUTHORIZED else "forbidden"
                    self.metrics.connections.labels(outcome=outcome).inc()
                self.log(f"refused {client} {path}: {refusal.reason}", level="warning", event="refused",
                         status=int(refusal.status), client=client)
                response = connection.respond(refusal.status, refusal.reason + "\n")
                if refusal.status == http.HTTPStatus.UNAUTHORIZED:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="signstgcn"'
                return response
            connection.signstgcn_client = client
            if websocket:
                return None
            if not self.metrics.enabled:
                return text_response(501, "Not Implemented", "/metrics needs prometheus_client: pip install "
                                                             "'signstgcn[serve]'\n")
            return text_response(200, "OK", self.metrics.render(), CONTENT_TYPE)
        return page_response(path, self.assets)

    def health(self) -> dict[str, Any]:
        """``/health``: the model, and the counts since the start (every worker's where metrics are shared)."""
        counts = {"streams": len(self.sessions), "frames_received": self.frames_received,
                  "frames_answered": self.frames_answered, "dropped": self.dropped}
        if self.metrics.enabled and self.metrics.multiprocess:
            counts = {k: int(v) for k, v in self.metrics.totals().items()}
        return {"status": "draining" if self.draining else "ok", **counts, "model": self.detector.predictor.name}

    # ------------------------------------------------------------------------------------------ connections

    async def handler(self, ws: Any) -> None:
        """One connection = one stream; a connection on ``/landmarks`` reads one file for the page's replay."""
        client = getattr(ws, "signstgcn_client", None) or self.access.client(ws, ws.request)
        if not self.access.admit(client):
            self.metrics.connections.labels(outcome="over_cap").inc()
            await ws.close(1008, f"too many connections from {client}")
            return
        try:
            if ws.request is not None and ws.request.path.split("?", 1)[0] == REPLAY_PATH:
                self.metrics.connections.labels(outcome="accepted").inc()
                await self._replay(ws)
                return
            await self._stream(ws, client)
        finally:
            self.access.release(client)

    async def _stream(self, ws: Any, client: str) -> None:
        det = self.detector
        if self.draining:
            await ws.close(1001, "the server is stopping")
            return
        try:
            stream = det.open()
        except ValueError as err:  # max_streams reached
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"type": "error", "error": str(err)}))
            return
        self.metrics.connections.labels(outcome="accepted").inc()
        now = time.monotonic()
        session = _Session(ws, det, stream, client, asyncio.Queue(maxsize=self.limits.outbox), last_message=now,
                           tokens=self.limits.message_rate, refilled=now)
        session.writer = asyncio.ensure_future(self._write(session))
        if self.signs is not None:
            session.history = collections.deque(maxlen=max(1, round(SIGN_HISTORY_SECONDS * self.fps)))
        self.sessions.add(session)
        self.metrics.streams.inc()
        self.log(f"stream {stream} joined ({len(self.sessions)} open)", event="joined", stream=stream, client=client)
        self._send(session, self._hello(session))
        try:
            async for message in ws:
                reply = self._receive(session, message)
                if reply is not None:
                    self._send(session, reply)
        except Exception:  # noqa: BLE001 - a broken connection ends its stream, never the server
            pass
        finally:
            self._closing.append(session)
            self._wake.set()

    def _hello(self, session: _Session) -> dict[str, Any]:
        det = session.detector
        return {"type": "hello", "stream": session.stream, "joints": det.predictor.layout.num_nodes,
                "channels": det.predictor.data.selection.coords, "window": det.window, "stride": det.stride,
                "fps": self.fps, "threshold": det.threshold, "model": det.predictor.name,
                "parts": list(det.predictor.layout.part_names),
                "classifier": None if self.signs is None else self.signs.classifier.name,
                "upload_limit": MAX_MESSAGE, "mediapipe": self.mediapipe}

    async def _replay(self, ws: Any) -> None:
        """``/landmarks``: ``{"type": "file", "name": ...}``, then the file's bytes → one ``landmarks`` document or an
        ``error`` (:mod:`signstgcn.inference.replay`); the connection then closes. No stream is opened."""
        try:
            first = await asyncio.wait_for(ws.recv(), REPLAY_TIMEOUT)
            try:
                header = json.loads(first)
            except ValueError:  # malformed JSON, or bytes that are no text
                header = None
            if not isinstance(header, dict) or header.get("type") != "file" or not isinstance(header.get("name"), str):
                raise ValueError('expected {"type": "file", "name": FILE NAME} as JSON first, then the file as one '
                                 'binary message')
            data = await asyncio.wait_for(ws.recv(), REPLAY_TIMEOUT)
            if not isinstance(data, bytes):
                raise ValueError(f"{header['name']}: expected the file's content as one binary message")
            document = await asyncio.to_thread(landmark_document, data, header["name"], self.detector.predictor,
                                               self.fps)
            reply = json.dumps(document, allow_nan=False)
            self.log(f"replay of {document['name']}: {document['frames']} frames sent to the page", event="replay",
                     file=document["name"], frames=document["frames"])
        except (SignSTGCNError, ValueError) as err:  # a bad file or message: one line, named
            self.metrics.errors.labels(kind="replay").inc()
            reply = json.dumps({"type": "error", "error": str(err)})
        except (TimeoutError, asyncio.TimeoutError):
            reply = json.dumps({"type": "error", "error": f"no file within {REPLAY_TIMEOUT:.0f} s"})
        except Exception:  # noqa: BLE001 - the client left
            return
        with contextlib.suppress(Exception):
            await ws.send(reply)

    # ------------------------------------------------------------------------------------------ messages in

    def _rate_ok(self, session: _Session) -> bool:
        """Take one message from the connection's rate bucket (refilled at ``message_rate`` per second)."""
        now = time.monotonic()
        rate = self.limits.message_rate
        session.tokens = min(rate, session.tokens + (now - session.refilled) * rate)
        session.refilled = session.last_message = now
        if session.tokens < 1.0:
            return False
        session.tokens -= 1.0
        return True

    def _drop(self, session: _Session, reason: str, frames: int = 1) -> None:
        session.dropped += frames
        session.unreported[reason] += frames
        self.dropped += frames
        self.metrics.frames_dropped.labels(reason=reason).inc(frames)

    def _receive(self, session: _Session, message: str | bytes) -> dict[str, Any] | None:
        """Queue a frame, or answer a control message; returns an immediate reply (error, stats) or None."""
        if not self._rate_ok(session):
            if isinstance(message, bytes) or '"frame"' in message[:64]:
                self._drop(session, "rate")  # reported with the next result (or the 'ended')
                self.frames_received += 1
                self.metrics.frames_received.inc()
                return None
            if '"end"' not in message and '"image_size"' not in message:  # stats and the like over the rate
                self.metrics.errors.labels(kind="rate").inc()
                return None
        if len(message) > self.limits.max_message:
            self.metrics.errors.labels(kind="oversized").inc()
            return {"type": "error", "error": f"message of {len(message)} bytes is over the limit of "
                                              f"{self.limits.max_message}"}
        try:
            frame = self._parse(message)
        except ValueError as err:
            self.metrics.errors.labels(kind="bad_message").inc()
            return {"type": "error", "error": str(err)}
        if isinstance(frame, tuple):  # ("image_size", width / height)
            session.aspect = frame[1]
            return None
        if isinstance(frame, str):  # a control message
            if frame == "stats":
                return self.stats()
            session.ended = True
            self._wake.set()
            return None
        self.frames_received += 1
        self.metrics.frames_received.inc()
        if session.ended:  # between 'end' and its 'ended'
            self._drop(session, "drain" if self.draining else "flush")
            return None
        if len(session.queue) >= self.limits.queue_frames:
            session.queue.popleft()
            self._drop(session, "queue")
        session.queue.append((time.perf_counter(), frame))
        self._wake.set()
        return None

    def _parse(self, message: str | bytes) -> np.ndarray | str | tuple[str, float]:
        """A ``(V, C)`` frame, the type of a control message (``stats``, ``end``) or ``("image_size", width /
        height)``; ValueError with a one-line reason otherwise."""
        p = self.detector.predictor
        V, C = p.layout.num_nodes, p.data.selection.coords
        if isinstance(message, bytes):
            if len(message) != V * C * 4:
                raise ValueError(f"binary frame of {len(message)} bytes; expected {V * C * 4} ({V} joints x {C} "
                                 f"float32 channels in the checkpoint's joint order)")
            arr = np.frombuffer(message, dtype="<f4").reshape(V, C)
        else:
            try:
                data = json.loads(message)
            except json.JSONDecodeError as err:
                raise ValueError(f"malformed JSON ({err.msg} at character {err.pos})") from None
            if not isinstance(data, dict) or "type" not in data:
                raise ValueError("expected a JSON object with a 'type' (frame, stats or end)")
            if data["type"] in ("stats", "end"):
                return str(data["type"])
            if data["type"] == "image_size":
                aspect = image_aspect((data.get("width"), data.get("height")))
                assert aspect is not None
                return ("image_size", aspect)
            if data["type"] != "frame":
                raise ValueError(f"unknown message type {data['type']!r}; expected frame, image_size, stats or end")
            parts = {k: v for k, v in data.items() if k != "type"}
            try:
                arr = frame_array({k: np.asarray(v, dtype=np.float32) for k, v in parts.items()}, p)
            except (ValueError, TypeError) as err:
                raise ValueError(f"bad frame: {err}") from None
        if not np.isfinite(arr).any():
            raise ValueError("frame has no finite coordinate (send a frame with at least one detected joint)")
        return arr  # (V, C) float32 in joint order; the detector marks missing joints per tick (prepared=True)

    # ------------------------------------------------------------------------------------------ messages out

    def _send(self, session: _Session, message: dict[str, Any]) -> None:
        """Queue ``message`` for the client; a client whose outbox is full does not read: it is closed."""
        if session.closing or session not in self.sessions:
            return
        try:
            session.outbox.put_nowait(json.dumps(message))
        except asyncio.QueueFull:
            session.closing = True
            self.metrics.errors.labels(kind="slow_reader").inc()
            self.log(f"stream {session.stream} closed: {self.limits.outbox} messages unread", level="warning",
                     event="slow_reader", stream=session.stream, client=session.client)
            self._spawn(self._close(session, 1008, "results not read"))

    def _spawn(self, coroutine: Any) -> None:
        """Run ``coroutine`` beside the ticks (kept referenced until done)."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _write(session: _Session) -> None:
        """The connection's writer: its outbox to the socket, so a slow client slows only itself; ends at None."""
        with contextlib.suppress(Exception):  # the client left: its stream closes on the next tick
            while (message := await session.outbox.get()) is not None:
                await session.ws.send(message)

    @staticmethod
    async def _close(session: _Session, code: int, reason: str, flush: bool = False) -> None:
        """Close the connection with ``code``: after what its outbox holds (``flush``) or at once, the writer ended
        first; a client that reads nothing within ``CLOSE_WAIT`` s cannot take a close frame: its socket is cut."""
        session.closing = True
        if not flush:
            while not session.outbox.empty():
                session.outbox.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            session.outbox.put_nowait(None)
        writer = session.writer
        if writer is not None:
            done, _ = await asyncio.wait({writer}, timeout=CLOSE_WAIT)
            if not done:  # stuck in a send the client does not read
                writer.cancel()
                transport = getattr(session.ws, "transport", None)
                if transport is not None:
                    transport.abort()
                return
        with contextlib.suppress(Exception):
            await session.ws.close(code, reason)

    # ------------------------------------------------------------------------------------------ ticks

    async def run_ticks(self, stop: asyncio.Event) -> None:
        """Until ``stop``: take the oldest queued frame of every stream, push them as one batch per detector (in a
        worker thread, so connections keep being read), send the results; close the streams that left."""
        while not stop.is_set():
            if not await self._tick():
                wake = asyncio.ensure_future(self._wake.wait())
                halt = asyncio.ensure_future(stop.wait())
                await asyncio.wait({wake, halt}, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                halt.cancel()

    async def _tick(self) -> bool:
        """One tick; False when there was nothing to do."""
        self._wake.clear()
        leaving = [s for s in self._closing if self._forget(s)]  # their streams close in this tick's computation
        self._closing = []
        batch = {s: s.queue.popleft() for s in self.sessions if s.queue}
        flush = [s for s in self.sessions if s.ended and not s.queue]
        if not batch and not flush and not leaving:
            return False
        steps, flushed = await asyncio.to_thread(self._compute, batch, flush, leaving)
        for session in leaving:
            self._left(session)
        done = time.perf_counter()
        for session, step in steps.items():
            if session in self.sessions:
                latency = done - batch[session][0]
                self._latencies.append(latency)
                self._done_times.append(done)
                self.metrics.latency.observe(latency)
                self._send_step(session, step)
        self.frames_answered += len(steps)
        self.metrics.frames_answered.inc(len(steps))
        for session, step in flushed:
            await self._finish(session, step)
        return True

    async def _finish(self, session: _Session, step: StreamStep) -> None:
        """A flushed stream: its last results, the open segment's end and signs, ``ended``; then a new stream on
        the current detector (a new ``hello`` where it changed) or, when the server stops, the connection closed."""
        self._send_step(session, step)
        if session.signing:  # the stream ends inside a segment: it ends there (as a recording's last one)
            self._send(session, {"type": "segment", "event": "end", "frame": session.frames_seen,
                                 "time": round(session.frames_seen / self.fps, 3)})
            if session.segment_start is not None:  # name its signs
                await self._send_signs(session, session.segment_start, session.frames_seen)
        self._report_drops(session)
        self._send(session, {"type": "ended", "frames": step.frame + 1})
        session.ended, session.signing, session.segment_start, session.frames_seen = False, False, None, 0
        if session.history is not None:
            session.history.clear()
        if self.draining:
            self._forget(session)
            self._spawn(self._close(session, 1001, "the server is stopping", flush=True))
            return
        moved = session.detector is not self.detector
        session.detector = self.detector
        try:
            session.stream = self.detector.open()
        except ValueError as err:  # max_streams of a reloaded detector reached
            self._send(session, {"type": "error", "error": str(err)})
            self._forget(session)
            self._spawn(self._close(session, 1013, "no stream free", flush=True))
            return
        if moved:
            self._send(session, self._hello(session))

    def _left(self, session: _Session) -> None:
        """The client of ``session`` left (its stream is closed): stop its writer, say so."""
        if session.writer is not None:
            session.writer.cancel()
        self.log(f"stream {session.stream} left ({len(self.sessions)} open, {session.dropped} frames dropped)",
                 event="left", stream=session.stream, client=session.client, dropped=session.dropped)

    def _forget(self, session: _Session) -> bool:
        """Take ``session`` off the open streams (once); False when it was not on."""
        if session not in self.sessions:
            return False
        self.sessions.discard(session)
        self.metrics.streams.dec()
        return True

    def _prepared(self, session: _Session, frame: np.ndarray) -> np.ndarray:
        """The raw frame as the detector reads it (isotropic when the camera size is known), kept for naming signs."""
        session.frames_seen += 1
        if session.history is not None:
            session.history.append(frame)
        selection = session.detector.predictor.data.selection
        if session.aspect is None or not selection.isotropic:
            return frame
        return isotropic(frame, session.aspect, mediapipe=session.detector.predictor.layout.skeleton == "mediapipe")

    def _compute(self, batch: dict, flush: list[_Session], leaving: list[_Session]) -> tuple[dict, list]:
        steps: dict[_Session, StreamStep] = {}
        groups: dict[int, list[_Session]] = collections.defaultdict(list)  # one batch per detector
        for session in batch:
            groups[id(session.detector)].append(session)
        for sessions in groups.values():
            det = sessions[0].detector
            pushed = det.push({s.stream: self._prepared(s, batch[s][1]) for s in sessions}, prepared=True)
            steps.update({s: pushed[s.stream] for s in sessions})
        flushed = [(session, session.detector.close(session.stream)) for session in flush]
        for session in leaving:
            session.detector.close(session.stream)
        return steps, flushed

    def _report_drops(self, session: _Session) -> None:
        for reason, frames in session.unreported.items():
            self._send(session, {"type": "dropped", "frames": frames, "total": session.dropped, "reason": reason})
        session.unreported.clear()

    def _send_step(self, session: _Session, step: StreamStep) -> None:
        ended: list[tuple[int, int]] = []  # signing segments that ended in this step
        self._send(session, {"type": "result", "frame": step.frame, "probability": step.probability,
                             "final_start": step.final_start,
                             "final": [None if math.isnan(v) else round(float(v), 5) for v in step.final]})
        threshold = session.detector.threshold
        for k, value in enumerate(step.final):
            signing = bool(value >= threshold) if math.isfinite(value) else session.signing
            if signing != session.signing:
                frame = step.final_start + k
                self._send(session, {"type": "segment", "event": "start" if signing else "end", "frame": frame,
                                     "time": round(frame / self.fps, 3)})
                session.signing = signing
                if signing:
                    session.segment_start = frame
                elif session.segment_start is not None:
                    ended.append((session.segment_start, frame))
                    session.segment_start = None
        if session.unreported:
            self._report_drops(session)
        for start, end in ended:
            self._spawn(self._send_signs(session, start, end))

    async def _send_signs(self, session: _Session, start: int, end: int) -> None:
        """A ``sign`` message for each sign of frames ``[start, end)`` (with ``--classifier``)."""
        if self.signs is None or session.history is None:
            return
        first = session.frames_seen - len(session.history)  # frame number of history[0]
        begin = max(start, first)
        frames = list(session.history)[begin - first:end - first]
        if not frames:
            return
        try:
            signs = await asyncio.to_thread(self.signs.signs, np.stack(frames), begin, session.aspect)
        except (SignSTGCNError, ValueError) as err:  # e.g. the classifier's parts missing in these frames
            self.metrics.errors.labels(kind="naming").inc()
            self._send(session, {"type": "error", "error": f"naming the signs of frames {begin}-{end}: {err}"})
            return
        for sign in signs:
            self._send(session, {
                "type": "sign", "gloss": sign.gloss, "confidence": round(sign.confidence, 5),
                "top_k": [[label, round(p, 5)] for label, p in sign.top_k], "start_frame": sign.start,
                "end_frame": sign.end, "start_time": round(sign.start / self.fps, 3),
                "end_time": round(sign.end / self.fps, 3)})

    def stats(self) -> dict[str, Any]:
        now = time.perf_counter()
        recent = [t for t in self._done_times if now - t <= 10.0]
        span = (now - recent[0]) if len(recent) > 1 else 0.0
        lat = np.asarray(self._latencies, dtype=np.float64) * 1000.0
        pct = {f"p{q}": (round(float(np.percentile(lat, q)), 3) if lat.size else None) for q in (50, 90, 99)}
        return {"type": "stats", "streams": len(self.sessions), "frames_received": self.frames_received,
                "frames_answered": self.frames_answered,
                "frames_per_second": round(len(recent) / span, 1) if span > 0 else 0.0, "latency_ms": pct,
                "dropped": self.dropped}

    # ------------------------------------------------------------------------------------------ housekeeping

    async def sweep(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Until ``stop``: close the connections idle for longer than ``idle_timeout``; every
        :data:`TRIM_SECONDS`, hand the allocator's free pages back (:func:`serve_memory.trim`, in a thread)."""
        trimmed = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            now = time.monotonic()
            if now - trimmed >= TRIM_SECONDS:
                await asyncio.to_thread(serve_memory.trim)
                trimmed = now
            for session in list(self.sessions):
                if not session.closing and now - session.last_message > self.limits.idle_timeout:
                    session.closing = True
                    self.metrics.errors.labels(kind="idle").inc()
                    self.log(f"stream {session.stream} closed: no message for {self.limits.idle_timeout:g} s",
                             event="idle", stream=session.stream, client=session.client)
                    self._spawn(self._close(session, 1000, "idle"))

    async def reload(self) -> None:
        """SIGHUP: load the checkpoint again (``reload``); new streams use it (see the module docstring)."""
        if self.reload_detector is None:
            self.log("reload: nothing to reload (no checkpoint path)", level="warning", event="reload")
            return
        try:
            new = await asyncio.to_thread(self.reload_detector)
        except Exception as err:  # noqa: BLE001 - a bad file keeps the old model, said in one line
            self.log(f"reload refused: {type(err).__name__}: {err}", level="error", event="reload")
            return
        old, new_p = self.detector.predictor, new.predictor
        same = (old.layout.num_nodes == new_p.layout.num_nodes and old.layout.part_names == new_p.layout.part_names
                and old.data.selection == new_p.data.selection)
        if not same:
            self.log(f"reload refused: {new_p.name} reads other joints than {old.name} (clients would send the wrong "
                     f"frames); restart the server for it", level="error", event="reload")
            return
        self.detector = new
        self.log(f"reloaded: new streams use {new_p.name}; {len(self.sessions)} open streams keep {old.name} until "
                 f"their end", event="reload", model=new_p.name)

    async def drain(self) -> int:
        """Answer every stream's queued frames, flush each (``ended``) and close it, within ``drain_seconds``;
        returns the number of streams drained."""
        self.draining = True
        self._closing, leaving = [], self._closing  # connections already gone are not drained
        for session in leaving:
            if self._forget(session):
                session.detector.close(session.stream)
                self._left(session)
        drained = len(self.sessions)
        deadline = time.monotonic() + self.limits.drain_seconds
        for session in self.sessions:
            session.ended = True
        while self.sessions and time.monotonic() < deadline:
            if not await self._tick():
                await asyncio.sleep(0.01)
        for session in list(self.sessions):  # out of time: what is still queued is dropped, and said so
            self._drop(session, "drain", len(session.queue))
            session.queue.clear()
        while self.sessions and time.monotonic() < deadline + 2.0:
            if not await self._tick():
                await asyncio.sleep(0.01)
        if self._tasks:  # the last results on their way, the connections closing
            await asyncio.wait(set(self._tasks), timeout=10.0)
        return drained


def server_ssl(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The TLS context of ``--certfile`` / ``--keyfile`` (wss://), None without; one-line errors for bad files."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None:
        raise ValueError("--keyfile needs --certfile")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"--certfile {certfile}{f' / --keyfile {keyfile}' if keyfile else ''}: cannot load the "
                         f"certificate and key ({getattr(err, 'strerror', None) or err})") from None
    return context


async def run_server(detector: MultiStreamDetector, *, host: str = "127.0.0.1", port: int = 8765,
                     fps: float = DEFAULT_FPS, queue_frames: int | None = None, limits: Limits | None = None,
                     stop: asyncio.Event | None = None, classifier: Mapping[str, Any] | None = None,
                     assets: Path | None = None, access: AccessPolicy | None = None,
                     tls: tuple[str | None, str | None] | None = None,
                     reload: Callable[[], MultiStreamDetector] | None = None,
                     ready: Callable[[int], None] | None = None, log: Callable[[str], None] | ServeLog = print,
                     handle_signals: bool = True, reuse_port: bool = False) -> DetectionServer:
    """Serve until ``stop`` is set (or SIGINT / SIGTERM with ``handle_signals``: then drain; SIGHUP: ``reload``);
    ``ready(port)`` is called once the socket listens (port 0 picks a free one). ``reuse_port``: share the port with
    other processes (:mod:`signstgcn.inference.serve_workers`). ``tls``: (certfile, keyfile) for wss://. Returns the
    server object (its stats) after a clean stop."""
    serve = _import_websockets()
    log = log if isinstance(log, ServeLog) else ServeLog(write=log)  # a plain callable gets the text lines
    stop = stop or asyncio.Event()
    limits = limits or Limits()
    if queue_frames is not None:
        limits = Limits(**{**limits.__dict__, "queue_frames": queue_frames})
    context = server_ssl(*tls) if tls is not None else None
    signs = None if classifier is None else live_signs(detector, fps=fps, **classifier)
    server = DetectionServer(detector, fps=fps, limits=limits, log=log, signs=signs, assets=assets, access=access,
                             reload=reload)
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task] = set()

    def on_hup() -> None:
        task = asyncio.ensure_future(server.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        # No per-message compression: float32 landmarks do not compress, and deflating every frame and result
        # cost about a fifth of the server's time per frame (bench/serve_load.py).
        async with serve(server.handler, host, port, process_request=server.process_request, ssl=context,
                         max_size=MAX_MESSAGE, compression=None, reuse_port=reuse_port or None) as ws_server:
            bound = ws_server.sockets[0].getsockname()[1]
            scheme = ("wss", "https") if context is not None else ("ws", "http")
            log(f"signstgcn serve: listening on {scheme[0]}://{host}:{bound} (page: {scheme[1]}://{host}:{bound}/; "
                f"health: {scheme[1]}://{host}:{bound}/health; model {detector.predictor.name}"
                f"{'' if signs is None else f'; classifier {signs.classifier.name}'})", event="listening",
                port=bound)
            if ready is not None:
                ready(bound)
            sweeper = asyncio.ensure_future(server.sweep(stop))
            await server.run_ticks(stop)
            ws_server.close(close_connections=False)  # stop accepting; the open streams drain below
            drained = await server.drain()
            await sweeper
            ws_server.close()
            await ws_server.wait_closed()
        for session in list(server.sessions):
            session.detector.close(session.stream)
        log(f"signstgcn serve: stopped ({drained} streams drained; {server.frames_answered} frames answered, "
            f"{server.dropped} dropped since the start)", event="stopped")
    finally:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
    return server
