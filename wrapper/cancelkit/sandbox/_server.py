"""Serve an ASGI app with uvicorn on a background thread, on an ephemeral port."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from ._stamps import listener


class BackgroundServer:
    """uvicorn on its own thread and event loop; ``start()`` returns once it listens."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        ws: type[asyncio.Protocol] | None = None,
    ) -> None:
        # ``ws``: a WebSocket protocol of the sandbox's own (``_frames``), whose app
        # sends the venue's keep-alive Pings itself: uvicorn's own are turned off.
        pings: dict[str, Any] = {} if ws is None else {"ws": ws, "ws_ping_interval": None}
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="critical",
            access_log=False,
            date_header=False,  # the sandbox stamps Date from its own (offsettable) clock
            lifespan="off",
            loop="asyncio",
            # What a client may send on a WebSocket (subscriptions: small); uvicorn's
            # default is 16 MiB.
            ws_max_size=64 * 1024,
            **pings,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="cancelkit-sandbox", daemon=True)
        self.host = host
        self.port = port

    def _run(self) -> None:
        # Our own listening socket: its connections note when each read's bytes
        # reached it (``_stamps``), for the request log's ``wire`` instant.
        asyncio.run(self._server.serve(sockets=[listener(self.host, self.port)]))

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; raise RuntimeError if the server does not come up."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        sockets = self._server.servers[0].sockets
        self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The base URL clients should use."""
        return f"http://{self.host}:{self.port}"

    def ask_to_stop(self) -> None:
        """Tell the server to stop, without waiting for it (see ``stop``)."""
        self._server.should_exit = True

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.ask_to_stop()
        self._thread.join(timeout=10)
