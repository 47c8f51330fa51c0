"""The web viewer answers its own page only: same-origin requests to a loopback host name.

A websocket is not bound by the browser's same-origin policy, so without a check any web page
open in the user's browser could connect to ``ws://127.0.0.1:8080``, read the scene and pause
or command the run (cross-site WebSocket hijacking); and a page whose own host name resolves
to 127.0.0.1 could fetch it under its own name (DNS rebinding). The viser server that Newton's
``ViewerViser`` starts has no hook for either, so ``loopback_only()`` wraps the
``process_request`` of the websockets server it starts (only while the viewer is being
opened, since viser starts its server before its constructor returns) with ``refusal``:

- the ``Host`` header must name a loopback host (``127.0.0.1``, ``localhost``, ``[::1]``) on
  any port, so ``ssh -L <port>:127.0.0.1:<viewer port>`` keeps working;
- a request that carries an ``Origin`` (every browser's websocket does) must come from that
  same host and port: the viewer's own page.
"""

from __future__ import annotations

import contextlib
import http
import socket
import threading
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_LOCK = threading.Lock()


def _host_name(host: str) -> str:
    return (urlsplit(f"//{host}").hostname or "").lower()


def refusal(headers) -> str | None:
    """Why a request with these headers is refused, or None when it is the viewer's own."""
    host = headers.get("Host", "")
    if _host_name(host) not in LOOPBACK:
        return f"Host {host!r} is not a loopback address"
    origin = headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
        return f"Origin {origin!r} is not the viewer's own page (http://{host})"
    return None


@contextlib.contextmanager
def loopback_only():
    """Within the block, websockets servers refuse requests that ``refusal`` refuses (HTTP 403)."""
    import websockets.asyncio.server as ws_server
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    serve = ws_server.serve

    def guarded_serve(*args, process_request=None, **kwargs):
        def check(connection, request):
            why = refusal(request.headers)
            if why is not None:
                return Response(http.HTTPStatus.FORBIDDEN, "Forbidden", Headers(), f"refused: {why}\n".encode())
            return process_request(connection, request) if process_request is not None else None

        return serve(*args, process_request=check, **kwargs)

    with _LOCK:
        ws_server.serve = guarded_serve
        try:
            yield
        finally:
            ws_server.serve = serve


def free_port(first: int, tries: int = 100) -> int | None:
    """The first port from ``first`` (at most ``tries`` of them, none past 65535) that binds on
    127.0.0.1, or None."""
    for port in range(first, min(first + tries, 65536)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None
