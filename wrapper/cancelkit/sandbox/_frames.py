"""WebSocket control frames for a sandbox stream: what ASGI cannot say.

ASGI lets an app send text and bytes, never a Ping, and its server answers every
Ping itself. Kalshi's keep-alive page (``websockets/connection-keep-alive``,
``ws-keep-alive.md``) says the server sends a Ping (``0x9``) with body
``heartbeat`` every 10 seconds and answers the client's Pings with Pongs; the
Kalshi sandbox does the same, and can play a hung server (nothing sent, no Ping
answered) for a client's own timeout to catch. So its server runs on
:class:`FramesProtocol`, uvicorn's websockets sans-I/O protocol with a
:class:`ControlFrames` lent to the app in the connection's ASGI scope (extension
:data:`EXTENSION`): :meth:`ControlFrames.ping`, each Pong received, and a switch
that leaves the client's Pings unanswered. uvicorn's own keep-alive Pings (random
bodies, a timeout the page does not state) are turned off on that server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "cancelkit.control_frames"


def _never() -> bool:
    return False


class ControlFrames:
    """One connection's control frames, as its app sees them (on the server's loop)."""

    def __init__(self, protocol: FramesProtocol) -> None:
        self._protocol = protocol
        # Whether the server is hung now: the client's Pings go unanswered (the app
        # sets it, reading its knob each time).
        self.silent: Callable[[], bool] = _never
        # Told of each Pong received, with its body (the app sets it).
        self.on_pong: Callable[[bytes], None] | None = None

    def ping(self, body: bytes) -> bool:
        """Send one Ping with ``body``; False if the connection is closing."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or transport.is_closing() or protocol.close_sent:
            return False
        protocol.conn.send_ping(body)
        transport.write(b"".join(protocol.conn.data_to_send()))
        return True


class FramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, lending each upgraded connection's app
    its :class:`ControlFrames` (see the module docstring)."""

    control_frames: ControlFrames | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is None:  # refused before the upgrade: no app runs
            return
        self.control_frames = ControlFrames(self)
        extensions = dict(scope.get("extensions") or {})
        extensions[EXTENSION] = self.control_frames
        scope["extensions"] = extensions  # read by the app's task, which starts later

    def handle_ping(self, *args: Any) -> None:
        frames = self.control_frames
        if frames is not None and frames.silent():
            self.conn.data_to_send()  # the Pong websockets queued is never sent
            return
        super().handle_ping(*args)

    def handle_pong(self, event: Any) -> None:
        frames = self.control_frames
        if frames is not None and frames.on_pong is not None:
            frames.on_pong(bytes(event.data))
        super().handle_pong(event)


def control_frames(scope: Any) -> ControlFrames | None:
    """The connection's :class:`ControlFrames`, where its server lends them."""
    extensions = scope.get("extensions") if isinstance(scope, dict) else None
    found = extensions.get(EXTENSION) if isinstance(extensions, dict) else None
    return found if isinstance(found, ControlFrames) else None
