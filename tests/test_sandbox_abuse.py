"""Issue 21, parts 2 and 3: the sandbox under abuse, and what its operator reads.

Each test here failed on the code before the change it covers.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import uuid
from typing import Any

import attrs
import httpx
import pytest
from cancelkit._cli import main
from cancelkit._cli._sandbox import banner, host_warning
from cancelkit.sandbox import DEFAULT_MARKET, Knobs, Sandbox
from cancelkit.sandbox._state import Book, Order
from click.testing import CliRunner
from helpers import ks_headers, lm_headers, pm_headers

DEEP = b'{"orders": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
JSON = {"content-type": "application/json"}


def _signed_posts(box: Sandbox, body: bytes) -> list[tuple[str, dict[str, str]]]:
    """Every signed POST route of both venues, with headers signing ``body``."""
    pm, lm = box.polymarket_url, box.limitless_url
    pm_paths = ["/v1/order/o1/cancel", "/v1/orders/batched/cancel", "/v1/orders/open/cancel"]
    routes = [(pm + p, {**JSON, **pm_headers(box, p)}) for p in pm_paths]
    routes.append((lm + "/orders/cancel", {**JSON, **lm_headers(box, "/orders/cancel", body)}))
    return routes


@pytest.mark.parametrize("validate", [True, False])
def test_deeply_nested_bodies_are_4xx_everywhere(
    cancelkit_sandbox: Sandbox, validate: bool
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(validate=validate)
    box.seed_polymarket("o1")
    kalshi_root = box.kalshi_url.removesuffix("/trade-api/v2")
    admin = [
        (url + route, JSON)
        for url in (box.polymarket_url, box.limitless_url, kalshi_root)
        for route in ("/_sandbox/orders", "/_sandbox/knobs")
    ]
    for url, headers in admin + _signed_posts(box, DEEP):
        answer = httpx.post(url, content=DEEP, headers=headers)
        assert 400 <= answer.status_code < 500, (url, answer.status_code)
        assert "message" in answer.json()
    # Kalshi's batch cancel is a DELETE with a body.
    batch = "/portfolio/events/orders/batched"
    headers = {**JSON, **ks_headers(box, "DELETE", batch)}
    answer = httpx.request("DELETE", box.kalshi_url + batch, content=DEEP, headers=headers)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert "message" in answer.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/orders/batched/cancel", b'{"orders": 5}'),
        ("/v1/orders/batched/cancel", b'{"orders": [1]}'),
        ("/v1/orders/batched/cancel", b"{}"),
        ("/v1/orders/open/cancel", b'{"slugs": [[1]]}'),
        ("/v1/orders/open/cancel", b'{"slugs": 7}'),
    ],
)
def test_shape_errors_without_validation_are_400_in_the_gateways_shape(
    cancelkit_sandbox: Sandbox, path: str, body: bytes
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(validate=False)
    answer = httpx.post(
        box.polymarket_url + path, content=body, headers={**JSON, **pm_headers(box, path)}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == 400


def test_limitless_shape_errors_without_validation_are_400(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    box.set_knobs(validate=False)
    for body in (b'{"orderId": [[1]]}', b'{"clientOrderId": {"a": 1}}'):
        headers = {**JSON, **lm_headers(box, "/orders/cancel", body)}
        answer = httpx.post(box.limitless_url + "/orders/cancel", content=body, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["statusCode"] == 400


def test_unsigned_requests_spend_no_rate_budget_and_leave_no_state(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    box.set_knobs(rate_limit=2)
    order = box.seed_limitless()
    key = box.credentials.limitless_token_id
    with httpx.Client(base_url=box.limitless_url) as http:
        for _ in range(10):  # naming the demo token, unsigned
            answer = http.post(
                "/orders/cancel", json={"orderId": order.id}, headers={"lmts-api-key": key}
            )
            assert answer.status_code == 401
        for n in range(300):  # naming made-up tokens
            http.post("/orders/cancel", json={}, headers={"lmts-api-key": f"made-up-{n}"})
    assert box.limitless.stats.rate_limited == 0
    assert box.limitless._windows == {}
    with box.limitless_client() as lm:  # the demo token's budget is whole
        lm.cancel_order(order_id=order.id)
    assert order.status == "cancelled"


def test_seeding_with_client_ids_does_not_scan_the_book() -> None:
    # A scan of every order per seed made 20,000 seeds quadratic (39 s, loop blocked).
    class Watched(dict[str, Order]):
        scans = 0

        def values(self) -> Any:
            Watched.scans += 1
            return super().values()

    book = Book()
    book.orders = Watched()
    book.seed_many([Order(f"o{i}", "a", client_order_id=f"c{i}") for i in range(20_000)])
    book.seed(Order("again", "a", client_order_id="c5"))  # replaces o5: ids unique per owner
    assert Watched.scans == 0
    assert "o5" not in book.orders
    assert len(book.orders) == 20_000
    assert book.by_client_id("a", "c5") is book.orders["again"]
    assert Watched.scans == 0


def test_seeding_20000_orders_with_client_ids_over_http(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    orders = [{"id": str(uuid.uuid4()), "client_order_id": f"c-{i}"} for i in range(20_000)]
    answer = httpx.post(box.limitless_url + "/_sandbox/orders", json=orders, timeout=60)
    assert answer.status_code == 201
    assert len(box.limitless.orders) == 20_000
    with box.limitless_client() as lm:
        lm.cancel_order(client_order_id="c-19999")


@pytest.mark.parametrize("status", ["open", "cancelled", "filled"])
def test_admin_route_seeds_an_order_in_any_state_for_the_demo_key(
    cancelkit_sandbox: Sandbox, status: str
) -> None:
    box = cancelkit_sandbox
    answer = httpx.post(
        box.polymarket_url + "/_sandbox/orders",
        json={"id": "o1", "market_slug": "m", "status": status},
    )
    assert answer.status_code == 201
    with box.polymarket_client() as pm:
        assert pm.get_order("o1").state is not None  # the demo key sees it
        assert [o.id for o in pm.open_orders()] == (["o1"] if status == "open" else [])
    assert box.seed_limitless(status=status).status == status
    bad = httpx.post(box.polymarket_url + "/_sandbox/orders", json={"id": "o2", "status": "x"})
    assert bad.status_code == 400


def test_reset_resets_the_knobs_too(cancelkit_sandbox: Sandbox) -> None:
    url = cancelkit_sandbox.polymarket_url
    httpx.post(url + "/_sandbox/knobs", json={"latency": 0.5})
    httpx.post(url + "/_sandbox/reset")
    assert httpx.get(url + "/_sandbox/knobs").json() == attrs.asdict(Knobs())


def test_every_knob_is_a_sandbox_flag() -> None:
    help_text = " ".join(CliRunner().invoke(main, ["sandbox", "--help"]).output.split())
    for field in attrs.fields(Knobs):
        assert f"--{field.name.replace('_', '-')}" in help_text, field.name
    assert "NO authentication" in help_text


def test_a_host_other_than_loopback_is_warned_about() -> None:
    assert host_warning("127.0.0.1") is None
    assert host_warning("::1") is None
    assert host_warning("localhost") is None
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        warning = host_warning(host)
        assert warning is not None
        assert "NO authentication" in warning


@pytest.mark.skipif(shutil.which("curl") is None, reason="the banner's commands use curl")
def test_the_banners_commands_work_as_printed(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    text = banner(box, DEFAULT_MARKET)
    assert "{url}" not in text
    c = box.credentials
    # The other account: its token with its secret (or neither).
    assert c.limitless_other_token_id in text
    assert c.limitless_other_secret in text
    env = {**os.environ, **box.env()}
    commands = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    assert len(commands) == 3  # one seed per venue
    for command in commands:
        subprocess.run(shlex.split(command), check=True, capture_output=True, env=env)
    assert len(box.open_orders()) == 3
    cancels = [line.strip() for line in text.splitlines() if line.strip().startswith("cancelkit ")]
    for command in cancels:
        result = CliRunner().invoke(main, shlex.split(command)[1:], env=box.env())
        assert result.exit_code == 0, result.output
    # Kalshi's cancel line is printed once its command exists (the venue registered).
    left = [] if any(" kalshi " in c for c in cancels) else list(box.kalshi.orders.values())
    assert box.open_orders() == left
