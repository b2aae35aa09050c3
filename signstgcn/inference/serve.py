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
    - ``{"type": "dropped", "frames": n, "total": m}``: the stream's queue was full and its ``n`` oldest frames
      were dropped (a client sending faster than the server computes: never an unbounded buffer);
    - ``{"type": "ended", "frames": n}`` after the flush of an ``end``: the stream's ``n`` frames are all final and
      the next frame starts a new stream (frame 0); a segment still open before it gets its ``end`` event at frame
      ``n`` first;
    - ``{"type": "stats", "streams": n, "frames_received": r, "frames_answered": a, "frames_per_second": f,
      "latency_ms": {"p50": .., "p99": ..}, "dropped": m}`` (counts since the server started).

A connection on ``/landmarks`` opens no stream: it reads one landmark file for the page's replay
(:mod:`signstgcn.inference.replay`). ``hello`` also says ``upload_limit``, the largest such file in bytes, and
``mediapipe``, whether the server has MediaPipe's files for the page (``signstgcn web-assets``).

``GET /health`` answers ``200`` with a JSON status (streams, model, frames received / answered / dropped since the
start); ``GET /`` is the browser page (:mod:`signstgcn.inference.web_page`). SIGINT / SIGTERM stop the server
cleanly.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import json
import math
import signal
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.data.landmarks import isotropic
from signstgcn.errors import SignSTGCNError
from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import DEFAULT_FPS, Predictor
from signstgcn.inference.replay import landmark_document
from signstgcn.inference.streaming import StreamStep, frame_array, image_aspect
from signstgcn.inference.transcribe import LiveSigns
from signstgcn.inference.web_assets import missing_assets
from signstgcn.inference.web_page import page_response

__all__ = ["DetectionServer", "live_signs", "run_server"]


def live_signs(detector: MultiStreamDetector, *, path: str, fps: float, min_confidence: float | None = None,
               sign_seconds: float | None = None, device: str = "cpu") -> LiveSigns:
    """The sign namer of ``serve --classifier PATH`` for ``detector``'s streams (one-line errors for a mismatch)."""
    return LiveSigns(Predictor.from_checkpoint(path, device=device), detector.predictor, fps=fps,
                     min_confidence=min_confidence, sign_seconds=sign_seconds)


SIGN_HISTORY_SECONDS = 30.0  # raw frames kept per stream for naming signs (with a classifier)
MAX_MESSAGE = 16 << 20  # bytes the WebSocket layer accepts (a replayed file); frames over max_message get an error
REPLAY_PATH = "/landmarks"  # the page's replay: one landmark file in, one document out
REPLAY_TIMEOUT = 60.0  # seconds the replay endpoint waits for each of its two messages


def _import_websockets():
    try:
        from websockets.asyncio.server import serve
    except ImportError:
        raise ImportError("signstgcn serve needs the websockets package: pip install 'signstgcn[serve]'") from None
    return serve


@dataclass
class _Session:
    """One connection's stream: its frame queue (bounded) and segment state."""

    ws: Any
    stream: Hashable
    queue: collections.deque = field(default_factory=collections.deque)  # (arrival time, (V, C) frame)
    dropped: int = 0
    dropped_unreported: int = 0
    signing: bool = False
    ended: bool = False  # "end" received: flush before the next frame
    aspect: float | None = None  # the camera's width / height ("image_size" message); None = unknown
    history: collections.deque | None = None  # raw (V, C) frames of the recent past, for naming signs
    frames_seen: int = 0  # frames pushed in the current stream (the next frame's number)
    segment_start: int | None = None  # first frame of the open signing segment


class DetectionServer:
    """The WebSocket front of one :class:`MultiStreamDetector` (see the module docstring)."""

    def __init__(self, detector: MultiStreamDetector, *, fps: float = DEFAULT_FPS, queue_frames: int = 64,
                 max_message: int = 256 * 1024, log: Callable[[str], None] = print,
                 signs: LiveSigns | None = None, assets: Path | None = None) -> None:
        if queue_frames < 1:
            raise ValueError(f"queue_frames must be at least 1, got {queue_frames}")
        self.detector, self.fps, self.queue_frames, self.max_message = detector, fps, queue_frames, max_message
        self.signs = signs
        self._isotropic = detector.predictor.data.selection.isotropic
        self._mediapipe = detector.predictor.layout.skeleton == "mediapipe"
        self.log = log
        self.sessions: dict[Hashable, _Session] = {}
        self._wake = asyncio.Event()
        self._closing: list[_Session] = []
        self._latencies: collections.deque = collections.deque(maxlen=10_000)  # seconds, frame in -> result out
        self._done_times: collections.deque = collections.deque(maxlen=100_000)  # when each frame was answered
        self.frames_answered = 0
        self.frames_received = 0
        self.dropped = 0
        self.assets = assets
        self.mediapipe = assets is not None and not missing_assets(Path(assets))  # the page can run MediaPipe

    # ------------------------------------------------------------------------------------- connections

    def health(self, connection: Any, request: Any) -> Any:
        """``process_request`` hook: ``GET /health`` → 200 with a JSON status (frames received and answered since the
        start); a WebSocket upgrade opens a stream; any other ``GET`` is the browser page (:mod:`signstgcn.web`,
        MediaPipe from ``assets``) or 404."""
        if request.path == "/health":
            body = json.dumps({"status": "ok", "streams": len(self.sessions), "model": self.detector.predictor.name,
                               "frames_received": self.frames_received, "frames_answered": self.frames_answered,
                               "dropped": self.dropped}) + "\n"
            return connection.respond(http.HTTPStatus.OK, body)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        return page_response(request.path, self.assets)

    async def handler(self, ws: Any) -> None:
        """One connection = one stream; a connection on ``/landmarks`` reads one file for the page's replay."""
        if ws.request is not None and ws.request.path.split("?", 1)[0] == REPLAY_PATH:
            await self._replay(ws)
            return
        det = self.detector
        try:
            stream = det.open()
        except ValueError as err:  # max_streams reached
            await ws.send(json.dumps({"type": "error", "error": str(err)}))
            return
        session = _Session(ws, stream)
        if self.signs is not None:
            session.history = collections.deque(maxlen=max(1, round(SIGN_HISTORY_SECONDS * self.fps)))
        self.sessions[stream] = session
        self.log(f"stream {stream} joined ({len(self.sessions)} open)")
        await ws.send(json.dumps({"type": "hello", "stream": stream, "joints": det.predictor.layout.num_nodes,
                                  "channels": det.predictor.data.selection.coords, "window": det.window,
                                  "stride": det.stride, "fps": self.fps, "threshold": det.threshold,
                                  "model": det.predictor.name, "parts": list(det.predictor.layout.part_names),
                                  "classifier": None if self.signs is None else self.signs.classifier.name,
                                  "upload_limit": MAX_MESSAGE, "mediapipe": self.mediapipe}))
        try:
            async for message in ws:
                reply = self._receive(session, message)
                if reply is not None:
                    await ws.send(json.dumps(reply))
        except Exception:  # noqa: BLE001 - a broken connection ends its stream, never the server
            pass
        finally:
            self._closing.append(session)
            self._wake.set()

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
            self.log(f"replay of {document['name']}: {document['frames']} frames sent to the page")
        except (SignSTGCNError, ValueError) as err:  # a bad file or message: one line, named
            reply = json.dumps({"type": "error", "error": str(err)})
        except (TimeoutError, asyncio.TimeoutError):
            reply = json.dumps({"type": "error", "error": f"no file within {REPLAY_TIMEOUT:.0f} s"})
        except Exception:  # noqa: BLE001 - the client left
            return
        with contextlib.suppress(Exception):
            await ws.send(reply)

    def _receive(self, session: _Session, message: str | bytes) -> dict[str, Any] | None:
        """Queue a frame, or answer a control message; returns an immediate reply (error, stats) or None."""
        if len(message) > self.max_message:
            return {"type": "error", "error": f"message of {len(message)} bytes is over the limit of "
                                              f"{self.max_message}"}
        try:
            frame = self._parse(message)
        except ValueError as err:
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
        if session.ended:
            return {"type": "error", "error": "the stream is being flushed after 'end'; send frames after its "
                                              "final result"}
        if len(session.queue) >= self.queue_frames:
            session.queue.popleft()
            session.dropped += 1
            session.dropped_unreported += 1
            self.dropped += 1
        self.frames_received += 1
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

    # ------------------------------------------------------------------------------------------ ticks

    async def run_ticks(self, stop: asyncio.Event) -> None:
        """Until ``stop``: take the oldest queued frame of every stream, push them as one batch (in a worker
        thread, so connections keep being read), send the results; close the streams that left."""
        while not stop.is_set():
            self._wake.clear()
            batch = {s.stream: s.queue.popleft() for s in self.sessions.values() if s.queue}
            flush = [s for s in self.sessions.values() if s.ended and not s.queue]
            leaving, self._closing = self._closing, []
            if not batch and not flush and not leaving:
                wake = asyncio.ensure_future(self._wake.wait())
                halt = asyncio.ensure_future(stop.wait())
                await asyncio.wait({wake, halt}, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                halt.cancel()
                continue
            steps, flushed = await asyncio.to_thread(self._compute, batch, flush, leaving)
            done = time.perf_counter()
            for stream, step in steps.items():
                session = self.sessions.get(stream)
                if session is not None:
                    self._latencies.append(done - batch[stream][0])
                    self._done_times.append(done)
                    self.frames_answered += 1
                    await self._send_step(session, step)
            for session, step in flushed:
                await self._send_step(session, step)
                if session.signing:  # the stream ends inside a segment: it ends there (as a recording's last one)
                    await self._send(session, {"type": "segment", "event": "end", "frame": session.frames_seen,
                                               "time": round(session.frames_seen / self.fps, 3)})
                    if session.segment_start is not None:  # name its signs
                        await self._send_signs(session, session.segment_start, session.frames_seen)
                await self._send(session, {"type": "ended", "frames": step.frame + 1})
                session.ended, session.signing, session.segment_start, session.frames_seen = False, False, None, 0
                if session.history is not None:
                    session.history.clear()

    def _prepared(self, stream: Hashable, frame: np.ndarray) -> np.ndarray:
        """The raw frame as the detector reads it (isotropic when the camera size is known), kept for naming signs."""
        session = self.sessions[stream]
        session.frames_seen += 1
        if session.history is not None:
            session.history.append(frame)
        if session.aspect is None or not self._isotropic:
            return frame
        return isotropic(frame, session.aspect, mediapipe=self._mediapipe)

    def _compute(self, batch: dict, flush: list[_Session], leaving: list[_Session]) -> tuple[dict, list]:
        det = self.detector
        frames = {stream: self._prepared(stream, frame) for stream, (_, frame) in batch.items()}
        steps = det.push(frames, prepared=True) if batch else {}
        flushed = []
        for session in flush:
            flushed.append((session, det.close(session.stream)))
            det.open(session.stream)
        for session in leaving:
            if self.sessions.pop(session.stream, None) is not None:
                det.close(session.stream)
                self.log(f"stream {session.stream} left ({len(self.sessions)} open, {session.dropped} frames "
                         f"dropped)")
        return steps, flushed

    async def _send_step(self, session: _Session, step: StreamStep) -> None:
        ended: list[tuple[int, int]] = []  # signing segments that ended in this step
        messages = [{"type": "result", "frame": step.frame, "probability": step.probability,
                     "final_start": step.final_start, "final": [None if math.isnan(v) else round(float(v), 5)
                                                                for v in step.final]}]
        for k, value in enumerate(step.final):
            signing = bool(value >= self.detector.threshold) if math.isfinite(value) else session.signing
            if signing != session.signing:
                frame = step.final_start + k
                messages.append({"type": "segment", "event": "start" if signing else "end", "frame": frame,
                                 "time": round(frame / self.fps, 3)})
                session.signing = signing
                if signing:
                    session.segment_start = frame
                elif session.segment_start is not None:
                    ended.append((session.segment_start, frame))
                    session.segment_start = None
        if session.dropped_unreported:
            messages.append({"type": "dropped", "frames": session.dropped_unreported, "total": session.dropped})
            session.dropped_unreported = 0
        for message in messages:
            await self._send(session, message)
        for start, end in ended:
            await self._send_signs(session, start, end)

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
            await self._send(session, {"type": "error", "error": f"naming the signs of frames {begin}-{end}: {err}"})
            return
        for sign in signs:
            await self._send(session, {
                "type": "sign", "gloss": sign.gloss, "confidence": round(sign.confidence, 5),
                "top_k": [[label, round(p, 5)] for label, p in sign.top_k], "start_frame": sign.start,
                "end_frame": sign.end, "start_time": round(sign.start / self.fps, 3),
                "end_time": round(sign.end / self.fps, 3)})

    @staticmethod
    async def _send(session: _Session, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the client left; its stream closes on the next tick
            await session.ws.send(json.dumps(message))

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


async def run_server(detector: MultiStreamDetector, *, host: str = "127.0.0.1", port: int = 8765,
                     fps: float = DEFAULT_FPS, queue_frames: int = 64, stop: asyncio.Event | None = None,
                     classifier: Mapping[str, Any] | None = None, assets: Path | None = None,
                     ready: Callable[[int], None] | None = None, log: Callable[[str], None] = print,
                     handle_signals: bool = True, reuse_port: bool = False) -> DetectionServer:
    """Serve until ``stop`` is set (or SIGINT / SIGTERM with ``handle_signals``); ``ready(port)`` is called once
    the socket listens (port 0 picks a free one). ``reuse_port``: share the port with other processes
    (:mod:`signstgcn.inference.serve_workers`). Returns the server object (its stats) after a clean stop."""
    serve = _import_websockets()
    stop = stop or asyncio.Event()
    signs = None if classifier is None else live_signs(detector, fps=fps, **classifier)
    server = DetectionServer(detector, fps=fps, queue_frames=queue_frames, log=log, signs=signs, assets=assets)
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        # No per-message compression: float32 landmarks do not compress, and deflating every frame and result
        # cost about a fifth of the server's time per frame (bench/serve_load.py).
        async with serve(server.handler, host, port, process_request=server.health,
                         max_size=MAX_MESSAGE, compression=None, reuse_port=reuse_port or None) as ws_server:
            bound = ws_server.sockets[0].getsockname()[1]
            log(f"signstgcn serve: listening on ws://{host}:{bound} (page: http://{host}:{bound}/; "
                f"health: http://{host}:{bound}/health; "
                f"model {detector.predictor.name}"
                f"{'' if signs is None else f'; classifier {signs.classifier.name}'})")
            if ready is not None:
                ready(bound)
            await server.run_ticks(stop)
            ws_server.close()
            await ws_server.wait_closed()
        for stream, session in list(server.sessions.items()):
            detector.close(stream)
            log(f"stream {stream} left at shutdown ({session.dropped} frames dropped)")
        server.sessions.clear()
        log("signstgcn serve: stopped")
    finally:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return server
