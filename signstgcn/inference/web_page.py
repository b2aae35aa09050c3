"""The HTTP side of ``signstgcn serve``: the browser page (``signstgcn/web``: ``index.html``, ``app.js``,
``style.css``, read with :mod:`importlib.resources`) and MediaPipe's files from the assets folder
(:mod:`signstgcn.inference.web_assets`) under ``/holistic/``. Only those names are served: no directory listing,
no path outside the two folders."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PAGE_FILES", "page_response", "text_response"]

PAGE_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css",
          ".wasm": "application/wasm", ".data": "application/octet-stream", ".binarypb": "application/octet-stream",
          ".tflite": "application/octet-stream"}


def _response(status: int, reason: str, body: bytes, content_type: str) -> Any:
    from websockets.datastructures import Headers  # the serve extra; imported by the server only
    from websockets.http11 import Response

    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")])
    return Response(status, reason, headers, body)


def text_response(status: int, reason: str, body: str | bytes, content_type: str = "text/plain; charset=utf-8") -> Any:
    """An HTTP response of ``body`` (text)."""
    return _response(status, reason, body.encode() if isinstance(body, str) else body, content_type)


def _not_found(path: str) -> Any:
    return text_response(404, "Not Found", f"404: {path} is not served here\n")


def page_response(path: str, assets: Path | None) -> Any:
    """The response to ``GET path``: a page file, a MediaPipe file of ``assets/holistic``, or 404."""
    path = path.split("?", 1)[0]
    if path in PAGE_FILES:
        name = PAGE_FILES[path]
        body = resources.files("signstgcn.web").joinpath(name).read_bytes()
        return _response(200, "OK", body, _TYPES[Path(name).suffix])
    prefix = "/holistic/"
    if path.startswith(prefix) and assets is not None:
        name = path[len(prefix):]
        folder = Path(assets) / "holistic"
        if name and "/" not in name and not name.startswith(".") and (folder / name).is_file():
            return _response(200, "OK", (folder / name).read_bytes(),
                             _TYPES.get(Path(name).suffix, "application/octet-stream"))
    return _not_found(path)
