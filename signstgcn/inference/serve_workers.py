"""``signstgcn serve --workers N``: N server processes on one port, so the server uses more than one core.

One server process is bound by Python's global interpreter lock: its network loop and its detector share one
core however many the machine has. Here each of ``N`` worker processes runs the whole server
(:func:`~signstgcn.inference.serve.run_server`: its own :class:`~signstgcn.inference.multistream.MultiStreamDetector`,
its own connections) on the same port with ``SO_REUSEPORT``, and the kernel spreads new connections over them.
A stream lives in one worker from connect to disconnect. The workers share only their metrics: each writes them
to a folder the parent creates (``prometheus_client``'s multiprocess mode, :mod:`signstgcn.inference.serve_metrics`),
so ``/metrics`` and ``/health`` count every worker's streams and frames whichever worker answers; the ``stats``
message describes the worker that answers it (its latency percentiles).

The parent binds the port first (so ``--port 0`` picks one port for all workers and a port in use fails at once),
starts the workers, logs one ``listening`` line when all are ready, forwards SIGHUP (each worker reloads the
checkpoint) and on SIGINT / SIGTERM lets every worker drain (as a single server does) and waits for them. Linux only
(``SO_REUSEPORT`` balancing).
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

from signstgcn.inference.serve_metrics import MULTIPROC_ENV

__all__ = ["run_workers"]

_START_TIMEOUT = 120.0  # seconds a worker may take to load the checkpoint and listen


def _worker(index: int, detector_options: Mapping[str, Any], server_options: Mapping[str, Any],
            threads: int, ready: Any, log_format: str) -> None:
    """One worker process: load the detector, serve until SIGINT / SIGTERM (then drain); SIGHUP reloads."""
    import asyncio

    from signstgcn.inference.multistream import MultiStreamDetector
    from signstgcn.inference.serve import run_server
    from signstgcn.inference.serve_log import ServeLog
    from signstgcn.runtime import configure_threads

    configure_threads(threads)
    try:
        detector = MultiStreamDetector.from_checkpoint(**detector_options)
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        ready.put((index, f"{type(err).__name__}: {err}"))
        return

    log = ServeLog(log_format, worker=index, skip=("listening",))  # the parent says it once for all workers
    asyncio.run(run_server(detector, **server_options, reuse_port=True, log=log,
                           reload=lambda: MultiStreamDetector.from_checkpoint(**detector_options),
                           ready=lambda _port: ready.put((index, None))))


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT: it fixes the port for the workers."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("--workers needs SO_REUSEPORT (Linux); run one server process (--workers 1) here")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    return sock


def run_workers(detector_options: Mapping[str, Any], *, workers: int, host: str = "127.0.0.1", port: int = 8765,
                threads: int = 1, log: Callable[..., None] = print, log_format: str = "text",
                ready: Callable[[int], None] | None = None, model: str | None = None, **server_options: Any) -> int:
    """Serve with ``workers`` processes until SIGINT / SIGTERM; returns the port served.

    ``detector_options``: keyword arguments of :meth:`MultiStreamDetector.from_checkpoint` (each worker loads its
    own); ``server_options``: those of :func:`run_server` (``fps``, ``limits``, ``access``, ``tls``, ...);
    ``threads``: torch threads per worker. ``ready(port)`` is called once every worker listens."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="signstgcn-metrics-")
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited torch threads or event loop
    started = ctx.Queue()
    options = {**server_options, "host": host, "port": port}
    procs = [ctx.Process(target=_worker, args=(k, dict(detector_options), options, threads, started, log_format),
                         name=f"signstgcn-serve-{k}") for k in range(workers)]
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                proc.terminate()  # SIGTERM: the worker's server stops cleanly

    def reload(signum: int, _frame: Any) -> None:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGHUP)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    had_dir = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = metrics_dir  # the spawned workers share their metrics there
    try:
        for proc in procs:
            proc.start()
        _restore_env(had_dir)
        try:
            _wait_ready(procs, started, workers)
        except RuntimeError:
            if not stopping:
                raise
            log("signstgcn serve: stopped during start-up")  # SIGINT / SIGTERM while the workers loaded
            return port
        web = ("wss", "https") if (server_options.get("tls") or (None,))[0] else ("ws", "http")
        log(f"signstgcn serve: listening on {web[0]}://{host}:{port} with {workers} worker processes "
            f"(page: {web[1]}://{host}:{port}/; health: {web[1]}://{host}:{port}/health"
            f"{f'; model {model}' if model else ''})")
        if ready is not None:
            ready(port)
        for proc in procs:
            proc.join()
        failed = [p.name for p in procs if p.exitcode not in (0, -signal.SIGTERM)]
        if failed and not stopping:
            raise RuntimeError(f"worker processes {', '.join(failed)} stopped unexpectedly")
        log("signstgcn serve: stopped")
        return port
    finally:
        _restore_env(had_dir)
        drain = getattr(server_options.get("limits"), "drain_seconds", 10.0)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=drain + 20)
            if proc.is_alive():
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _restore_env(value: str | None) -> None:
    """The parent's own PROMETHEUS_MULTIPROC_DIR back (only the workers use the shared folder)."""
    if value is None:
        os.environ.pop(MULTIPROC_ENV, None)
    else:
        os.environ[MULTIPROC_ENV] = value


def _wait_ready(procs: list, started: Any, workers: int) -> None:
    """Until every worker listens; a worker that fails to start stops them all with its reason."""
    waiting, deadline = set(range(workers)), time.monotonic() + _START_TIMEOUT
    while waiting:
        try:
            index, error = started.get(timeout=0.2)
        except queue_module.Empty:
            dead = [p.name for p in procs if p.exitcode is not None]
            if dead:
                raise RuntimeError(f"worker processes {', '.join(dead)} exited during start-up") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker processes {sorted(waiting)} did not start within "
                                   f"{_START_TIMEOUT:.0f} s") from None
            continue
        if error is not None:
            raise RuntimeError(f"worker {index} could not start: {error}")
        waiting.discard(index)
