"""Issue 21, part 1: bad local input and hostile servers and terminals.

Each test here failed on the code before the change it covers.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cancelkit import (
    AsyncPolymarketUSClient,
    CancelKitError,
    PolymarketUSClient,
    ResponseTooLarge,
    _bounded,
)
from cancelkit._cli import main
from cancelkit._cli._terminal import json_safe, printable
from cancelkit.sandbox import Sandbox
from cancelkit.sandbox._server import BackgroundServer
from click.testing import CliRunner

# What a hostile server's message drew over the status line: CR, erase line, an
# OSC 8 hyperlink, a C1 CSI, a bidi override.
HOSTILE = "no\r\x1b[2Kall clear \x1b]8;;https://evil.example/\x07link\x1b]8;;\x07 \x9b31m \u202e"


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


class Canned:
    """A loopback server answering every request with one canned answer."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.body, self.headers = status, body, headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def start(status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> str:
        server = BackgroundServer(Canned(status, body, headers))  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def _env(box: Sandbox, **urls: str) -> dict[str, str]:
    env = box.env()
    env.update(urls)
    return env


# --- local input ---------------------------------------------------------------------


@pytest.mark.parametrize("skip", [[], ["--skip-invalid"]])
def test_a_deeply_nested_json_line_is_exit_2_naming_the_line(
    cancelkit_sandbox: Sandbox, tmp_path: Path, skip: list[str]
) -> None:
    kill = tmp_path / "kill.txt"
    kill.write_text('o1\n{"order": ' + "[" * 100_000 + "\n")
    code, _, err = invoke(
        cancelkit_sandbox.env(), "cancel", "polymarket", "--from-file", str(kill), *skip
    )
    assert code == 2
    assert f"{kill} line 2: a JSON line nested too deeply" in err
    assert cancelkit_sandbox.polymarket.stats.requests == 0


def test_swapped_limitless_variables_are_refused_printing_neither(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    env = box.env()
    secret = env["LIMITLESS_TOKEN_SECRET"]
    for token_id in (secret, base64.b64encode(os.urandom(24)).decode()):
        swapped = {**env, "LIMITLESS_TOKEN_ID": token_id}
        code, out, err = invoke(swapped, "cancel", "limitless", "--order-id", order.id)
        assert code == 2
        assert "swapped" in err
        assert secret not in out + err
        assert token_id not in out + err
    assert box.limitless.stats.requests == 0
    # A hex token id (as ids often are) is not taken for a secret.
    code, _, _ = invoke(env, "cancel", "limitless", "--order-id", order.id)
    assert code == 0


def test_a_bare_dash_argument_is_refused_not_sent(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    for args in (["polymarket", "-"], ["limitless", "--client-order-id", "-"]):
        code, _, err = invoke(box.env(), "cancel", *args)
        assert code == 2
        assert "--from-file -" in err
    assert box.polymarket.stats.requests == box.limitless.stats.requests == 0


def test_the_other_venues_ids_are_refused_with_one_message(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    kill = tmp_path / "limitless.txt"
    kill.write_text("".join(f"order:{box.seed_limitless().id}\n" for _ in range(5)))
    code, _out, err = invoke(
        box.env(), "cancel", "polymarket", "--missing-ok", "--from-file", str(kill)
    )
    assert code == 2
    assert err.count("Limitless form") == 1
    assert f"{kill} line 1 and 4 more" in err
    pm_ids = tmp_path / "polymarket.txt"
    pm_ids.write_text("ord-1\nord-2\n")
    code, _, err = invoke(box.env(), "cancel", "limitless", "--from-file", str(pm_ids))
    assert code == 2
    assert err.count("Polymarket") == 1
    assert box.polymarket.stats.requests == box.limitless.stats.requests == 0


def test_a_bare_uuid_is_a_limitless_order_id(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    orders = [box.seed_limitless() for _ in range(2)]
    kill = tmp_path / "kill.txt"
    kill.write_text(f"{orders[0].id}\norder:{orders[1].id}\n")
    code, out, _ = invoke(box.env(), "cancel", "limitless", "--from-file", str(kill))
    assert code == 0
    assert [o.status for o in orders] == ["cancelled", "cancelled"]
    assert f"cancelled  order:{orders[0].id}" in out


def test_missing_credentials_are_named_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIMITLESS_TOKEN_ID", "LIMITLESS_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = invoke({}, "cancel", "limitless", "--client-order-id", "c1")
    assert code == 2
    assert "LIMITLESS_TOKEN_ID, LIMITLESS_TOKEN_SECRET are not set" in err


# --- hostile servers and terminals ---------------------------------------------------


def test_printable_shows_controls_as_escapes() -> None:
    shown = printable(HOSTILE)
    assert all(c.isprintable() and c not in "\u202e" for c in shown)
    assert "\\x1b]8;;https://evil.example/\\x07" in shown
    assert json.loads(json_safe(json.dumps(HOSTILE, ensure_ascii=False))) == HOSTILE
    assert "\x9b" not in json_safe(json.dumps(HOSTILE, ensure_ascii=False))


def _clean(text: str) -> bool:
    return not any(c in text for c in "\r\x1b\x07\x9b\u202e")


def test_a_servers_control_characters_never_reach_the_terminal(
    cancelkit_sandbox: Sandbox, serve: Any
) -> None:
    body = json.dumps({"code": 401, "message": HOSTILE}).encode()
    url = serve(401, body, [(b"content-type", b"application/json")])
    env = _env(cancelkit_sandbox, POLYMARKET_API_URL=url)
    for json_flag in ([], ["--json"]):
        code, out, err = invoke(env, "cancel", "polymarket", "o1", "o2", *json_flag)
        assert code == 1
        assert "all clear" in out + err  # the message is shown, made harmless
        assert _clean(out)
        assert _clean(err)
    code, out, err = invoke(env, "orders", "polymarket")
    assert code == 1
    assert "all clear" in err
    assert _clean(err)


def _listing(*orders: dict[str, Any]) -> bytes:
    return json.dumps({"orders": list(orders)}).encode()


def test_orders_listing_shows_markup_and_controls_literally(
    cancelkit_sandbox: Sandbox, serve: Any
) -> None:
    hostile = {"id": "[/bold]x", "marketSlug": "[red]m\x1b[2J", "side": "ORDER_SIDE_BUY"}
    url = serve(200, _listing(hostile), [(b"content-type", b"application/json")])
    code, out, _ = invoke(_env(cancelkit_sandbox, POLYMARKET_API_URL=url), "orders", "polymarket")
    assert code == 0
    assert "[/bold]x" in out
    assert "[red]m\\x1b[2J" in out
    assert _clean(out)


def _bomb(size: int) -> bytes:
    # Valid JSON once inflated: an empty listing followed by `size` spaces.
    return gzip.compress(b'{"orders": []}' + b" " * size, compresslevel=9)


def test_a_gzip_bomb_is_not_inflated_past_the_bound(
    cancelkit_sandbox: Sandbox, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bounded, "MAX_ANSWER", 1 << 20)
    url = serve(
        200,
        _bomb(32 << 20),
        [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")],
    )
    c = cancelkit_sandbox.credentials
    pm = PolymarketUSClient(c.polymarket_key_id, c.polymarket_secret_key, base_url=url)
    with pm, pytest.raises(ResponseTooLarge, match="larger than 1048576 bytes once decoded"):
        pm.open_orders()

    async def main() -> None:
        async with AsyncPolymarketUSClient(
            c.polymarket_key_id, c.polymarket_secret_key, base_url=url
        ) as pm:
            with pytest.raises(ResponseTooLarge):
                await pm.open_orders()

    asyncio.run(main())
    code, _, err = invoke(_env(cancelkit_sandbox, POLYMARKET_API_URL=url), "orders", "polymarket")
    assert code == 1
    assert "ResponseTooLarge" in err


def test_a_gzip_answer_within_the_bound_still_reads(cancelkit_sandbox: Sandbox, serve: Any) -> None:
    listing = _listing({"id": "o1", "marketSlug": "m", "state": "ORDER_STATE_NEW"})
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    answers = [
        (b"gzip", gzip.compress(listing)),
        (b"deflate", zlib.compress(listing)),
        (b"deflate", raw_deflate.compress(listing) + raw_deflate.flush()),
        (b"identity", listing),
    ]
    for encoding, body in answers:
        url = serve(200, body, [(b"content-encoding", encoding)])
        c = cancelkit_sandbox.credentials
        with PolymarketUSClient(c.polymarket_key_id, c.polymarket_secret_key, base_url=url) as pm:
            assert [o.id for o in pm.open_orders()] == ["o1"]


def test_an_answer_past_the_bound_is_refused_unencoded_too(
    cancelkit_sandbox: Sandbox, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_bounded, "MAX_ANSWER", 1 << 16)
    url = serve(200, b'{"orders": []}' + b" " * (1 << 17), [])
    c = cancelkit_sandbox.credentials
    pm = PolymarketUSClient(c.polymarket_key_id, c.polymarket_secret_key, base_url=url)
    with pm, pytest.raises(CancelKitError, match="larger than 65536 bytes"):
        pm.open_orders()


def test_the_library_logs_and_only_the_cli_prints() -> None:
    # Without logging configured, a library warning goes nowhere (no last-resort print).
    code = "import cancelkit, logging; logging.getLogger('cancelkit').warning('stopping: x')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""


def test_the_cli_prints_library_warnings_with_its_prefix(
    cancelkit_sandbox: Sandbox, serve: Any
) -> None:
    body = json.dumps({"code": 401, "message": "invalid key"}).encode()
    url = serve(401, body, [(b"content-type", b"application/json")])
    code, _, err = invoke(
        _env(cancelkit_sandbox, POLYMARKET_API_URL=url), "cancel", "polymarket", "o1"
    )
    assert code == 1
    warnings = [line for line in err.splitlines() if "stopping: " in line]
    assert warnings == [
        "cancelkit: stopping: AuthenticationError: invalid key"
        " (GET /v1/orders/open, HTTP 401, 1 attempt)"
    ]


# --- cancelkit orders polymarket -----------------------------------------------------


def test_orders_listing_has_readable_values_and_counts_per_market(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"a{i}", market_slug="market-a")
    box.seed_polymarket("b0", market_slug="market-b")
    code, out, _ = invoke(box.env(), "orders", "polymarket")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "market", "side"]
    assert "ORDER_" not in out
    assert {line.split()[2] for line in lines[2:6]} <= {"buy", "sell"}
    assert all(line.split()[-1] == "new" for line in lines[2:6])
    # The counts come last, where a long listing ends.
    assert lines[6:] == [
        "4 open order(s) in 2 market(s)",
        "         3  market-a",
        "         1  market-b",
    ]
    code, out, _ = invoke(box.env(), "orders", "polymarket", "--count")
    assert out.splitlines() == lines[6:]


def test_orders_json_is_a_file_cancel_reads(cancelkit_sandbox: Sandbox, tmp_path: Path) -> None:
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"o{i}", market_slug="m")
    code, out, _ = invoke(box.env(), "orders", "polymarket", "--json")
    assert code == 0
    listing = tmp_path / "open.jsonl"
    # Reviewed: one order is kept.
    listing.write_text("\n".join(line for line in out.splitlines() if '"o1"' not in line))
    code, out, _ = invoke(
        box.env(), "cancel", "polymarket", "--market", "m", "--from-file", str(listing)
    )
    assert code == 0
    assert sorted(o.id for o in box.open_orders()) == ["o1"]
