"""Property: whatever bytes arrive, every sandbox app answers a complete 4xx or 2xx.

Requests go straight into the ASGI apps with raw bytes (method, path, query,
header values, body), as uvicorn would hand them over. Under uvicorn an
exception escaping the app is a dropped connection, so "no exception and a
complete response" is "no dropped connection". With every fault knob off: no
5xx, and the books do not change: random bytes are never a correctly signed
cancel (real key ids and fresh timestamps are mixed in, so requests get as far
as signature checks and body validation).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import unquote

from cancelkit.sandbox import Sandbox
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

METHODS = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"]) | (
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
)
PATHS = st.sampled_from(
    [
        b"/v1/order/victim/cancel",
        b"/v1/order/victim/cancel/",
        b"/orders/cancel",
        b"/orders/cancel/",
        b"/orders/00000000-0000-4000-8000-000000000001",
        b"/trade-api/v2/portfolio/events/orders/victim",
        b"/trade-api/v2/portfolio/events/orders/batched",
        b"/trade-api/v2/portfolio/events/orders",
        b"/trade-api/v2/portfolio/orders",
        b"/trade-api/v2/portfolio/orders/victim",
        b"/_sandbox/knobs",
        b"/_sandbox/orders",
        b"/",
        b"//",
    ]
) | st.binary(max_size=80).map(lambda raw: b"/" + raw.replace(b"?", b"%3F").replace(b"#", b""))
QUERIES = st.sampled_from(
    [b"", b"onBehalfOf=2001", b"onBehalfOf=%D9%A1", b"onBehalfOf", b"subaccount=%D9%A1"]
) | (st.binary(max_size=60).map(lambda raw: raw.replace(b"#", b"")))
# What an HTTP/1.1 parser lets through as a header value: no CR, LF or NUL.
VALUES = st.binary(max_size=60).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"").strip()
)
HEADER_NAMES = st.sampled_from(
    [
        b"x-pm-access-key",
        b"x-pm-timestamp",
        b"x-pm-signature",
        b"lmts-api-key",
        b"lmts-timestamp",
        b"lmts-signature",
        b"kalshi-access-key",
        b"kalshi-access-timestamp",
        b"kalshi-access-signature",
        b"content-type",
        b"host",
        b"content-length",
        b"x-other",
    ]
)
BODIES = st.sampled_from(
    [
        b"",
        b"{}",
        b'{"orderId": "00000000-0000-4000-8000-000000000001"}',
        b'{"marketSlug": 5}',
        b'{"orders": [{"order_id": "victim", "subaccount": 99}]}',
    ]
) | st.binary(max_size=120)


def _real_headers(box: Sandbox) -> list[tuple[bytes, bytes]]:
    """Real key ids and a current timestamp, so requests get past the first checks."""
    c = box.credentials
    now = time.time()
    return [
        (b"x-pm-access-key", c.polymarket_key_id.encode()),
        (b"x-pm-timestamp", str(int(now * 1000)).encode()),
        (b"lmts-api-key", c.limitless_token_id.encode()),
        (
            b"lmts-timestamp",
            time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)).encode(),
        ),
        (b"kalshi-access-key", c.kalshi_key("rsa")[0].encode()),
        (b"kalshi-access-timestamp", str(int(now * 1000)).encode()),
    ]


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.sleep(3600)  # the client is still there, saying nothing more
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _state(box: Sandbox) -> list[Any]:
    return [
        (book.knobs, sorted((o.id, o.status, o.cancel_count) for o in book.orders.values()))
        for book in (box.polymarket, box.limitless, box.kalshi)
    ]


_BOX = Sandbox()  # apps only: no server is started, nothing listens


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    venue=st.sampled_from(["polymarket", "limitless", "kalshi"]),
    method=METHODS,
    path=PATHS,
    query=QUERIES,
    headers=st.lists(st.tuples(HEADER_NAMES, VALUES), max_size=6),
    real=st.booleans(),
    body=BODIES,
)
def test_any_request_gets_a_complete_non_5xx_answer_and_changes_nothing(
    venue: str,
    method: str,
    path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    real: bool,
    body: bytes,
) -> None:
    box = _BOX
    box.polymarket.reset()
    box.limitless.reset()
    box.kalshi.reset()
    box.seed_polymarket("victim")
    box.seed_kalshi("victim")
    box.seed_limitless("00000000-0000-4000-8000-000000000001")
    app = box._servers[["polymarket", "limitless", "kalshi"].index(venue)]._server.config.app
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        # As uvicorn does: the decoded path beside the raw one.
        "path": unquote(path.decode("latin-1")),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": (_real_headers(box) if real else []) + headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    before = _state(box)
    sent = asyncio.run(asyncio.wait_for(_call(app, scope, body), timeout=10))

    assert sent[0]["type"] == "http.response.start"
    assert sent[-1]["type"] == "http.response.body"
    assert not sent[-1].get("more_body", False)
    status = sent[0]["status"]
    assert status < 500, (status, sent)
    admin = path.startswith(b"/_sandbox/") and method == "POST"
    if not admin:  # the sandbox's own admin routes exist to change state
        assert _state(box) == before, (status, sent)
