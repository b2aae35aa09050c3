"""Who may use ``signstgcn serve``: the token, the browser origins, the client address and its stream cap.

Checked in the WebSocket handshake, before any stream state exists:

- ``token`` (``--token`` or ``SIGNSTGCN_TOKEN``): every WebSocket and ``/metrics`` must present it, as
  ``Authorization: Bearer TOKEN`` or, for browsers (which cannot set WebSocket headers), a ``token`` query parameter
  (the page passes on its own ``?token=``). Compared in constant time (:func:`hmac.compare_digest`); anything else
  is ``401``. ``/health`` and the page's static files stay open (they hold no data).
- ``origins`` (``--allow-origin``): a request that carries an ``Origin`` header (a browser) is accepted from the
  server's own origin (the page it serves), from the listed origins, or from any with ``*``; others get ``403``.
  Clients that are not browsers send no ``Origin`` and are not affected.
- the client address: the socket's peer, or the first address of ``X-Forwarded-For`` when ``trust_proxy`` says a
  reverse proxy in front sets it (never trusted otherwise: any client can write the header).
- ``max_per_client`` (``--max-streams-per-client``): WebSocket connections one address may hold at once (None: no cap;
  a relay that forwards a whole call from one address needs many).
"""

from __future__ import annotations

import hmac
import http
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["AccessPolicy", "Refusal"]

TOKEN_ENV = "SIGNSTGCN_TOKEN"


@dataclass(frozen=True)
class Refusal:
    """An HTTP refusal of the handshake: status and a one-line reason (the response body)."""

    status: http.HTTPStatus
    reason: str


@dataclass
class AccessPolicy:
    """The access rules of one server (see the module docstring)."""

    token: str | None = None
    origins: tuple[str, ...] = ()
    trust_proxy: bool = False
    max_per_client: int | None = None

    def __post_init__(self) -> None:
        if self.token is not None and not self.token.strip():
            raise ValueError("--token must not be empty")
        if self.max_per_client is not None and self.max_per_client < 1:
            raise ValueError(f"--max-streams-per-client must be at least 1, got {self.max_per_client}")
        self.origins = tuple(o.rstrip("/") for o in self.origins)
        self._open: Counter[str] = Counter()  # client address -> WebSocket connections open

    # ------------------------------------------------------------------------------------------ handshake

    def authorized(self, request: Any) -> bool:
        """Whether ``request`` presents the token (True when the server has none)."""
        if self.token is None:
            return True
        expected = self.token.encode()
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[len("Bearer "):].strip().encode(), expected):
            return True
        given = parse_qs(urlsplit(request.path).query).get("token", [])
        return any(hmac.compare_digest(value.encode(), expected) for value in given)

    def origin_allowed(self, request: Any) -> bool:
        """A browser's ``Origin``: the server's own, a listed one, or any with ``*``; no ``Origin``: not a browser."""
        origin = request.headers.get("Origin")
        if origin is None or "*" in self.origins or origin.rstrip("/") in self.origins:
            return True
        host = request.headers.get("Host", "")
        return urlsplit(origin).netloc == host and bool(host)

    def client(self, connection: Any, request: Any) -> str:
        """The client's address (``X-Forwarded-For``'s first entry only with ``trust_proxy``)."""
        if self.trust_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
            if forwarded:
                return forwarded
        peer = getattr(connection, "remote_address", None)
        return str(peer[0]) if peer else "unknown"

    def check(self, request: Any, *, websocket: bool) -> Refusal | None:
        """The refusal of ``request`` (a WebSocket handshake or ``/metrics``), or None to go on."""
        if websocket and not self.origin_allowed(request):
            return Refusal(http.HTTPStatus.FORBIDDEN, f"origin {request.headers.get('Origin')} is not allowed here "
                                                      f"(signstgcn serve --allow-origin)")
        if not self.authorized(request):
            return Refusal(http.HTTPStatus.UNAUTHORIZED, "a valid token is needed: 'Authorization: Bearer TOKEN' or "
                                                         "?token=TOKEN")
        return None

    # ------------------------------------------------------------------------------------------ per address

    def admit(self, address: str) -> bool:
        """Count one more connection of ``address``; False (nothing counted) when it holds the cap already."""
        if self.max_per_client is not None and self._open[address] >= self.max_per_client:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        """One connection of ``address`` closed."""
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]
