"""`cancelkit orders polymarket` reads its listing one order at a time (_listing) and
writes in chunks: the same orders, the same output, the same errors as the
whole-answer parse, and every server string still made printable."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cancelkit import PolymarketUSClient, UnexpectedResponse
from cancelkit._cli import _orders as view
from cancelkit._cli import main
from cancelkit._cli._terminal import printable, printable_cells
from cancelkit.polymarket import _cli as pm_cli
from cancelkit.polymarket import _listing
from cancelkit.sandbox import Sandbox
from click.testing import CliRunner

HOSTILE = "x\r\x1b[2Kall clear \x1b]8;;https://evil.example/\x07l\x1b]8;;\x07\x9b31m\u202e"


def _order(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"o{i}",
        "marketSlug": f"m-{i % 2}",
        "side": "ORDER_SIDE_BUY",
        "price": {"value": "0.5", "currency": "USD"},
        "quantity": 10.0,
        "leavesQuantity": 4,
        "state": "ORDER_STATE_NEW",
        "insertTime": "2026-01-02T03:04:05Z",
        "marketMetadata": {"slug": f"m-{i % 2}", "team": None},
        "somethingNew": [1, {"a": "b"}],
        **extra,
    }


def _answer(body: bytes) -> httpx.Response:
    return httpx.Response(
        200, content=body, request=httpx.Request("GET", "http://x/v1/orders/open")
    )


def _whole(response: httpx.Response, each: Any) -> list[Any]:
    return [each(o) for o in PolymarketUSClient._parse_orders(response)]


ORDERS = [_order(i) for i in range(3)] + [_order(3, id=HOSTILE, marketSlug="[/bold]" + HOSTILE)]
PLAIN = [
    json.dumps({"orders": ORDERS}).encode(),
    json.dumps({"orders": ORDERS}, indent=2, ensure_ascii=False).encode(),
    json.dumps({"before": {"orders": []}, "orders": ORDERS, "after": [None, 1.5]}).encode(),
    b' \r\n\t{ "orders" : [ ] } \n',
    json.dumps({"orders": ORDERS}).encode("utf-16"),
]


@pytest.mark.parametrize("body", PLAIN)
@pytest.mark.parametrize("each", [view.json_line, pm_cli.row, view.market_of])
def test_the_plain_shape_is_read_one_order_at_a_time_to_the_same_result(
    body: bytes, each: Any
) -> None:
    expected = _whole(_answer(body), each)
    # Read by the streamed path itself, not by the fallback.
    content = _answer(body).content
    assert _listing._streamed(content, each) == expected
    assert _listing.parse(_answer(body), each) == expected


IRREGULAR = [
    b"{}",
    b'{"other": 1}',
    json.dumps({"orders": [_order(9)], "x": 1, "orders ": 2}).encode(),
    # A key twice: json.loads keeps the last, so the listing does too.
    json.dumps({"orders": [_order(1)]})[:-1].encode() + b', "orders": [' + b"]}",
    b'{"orders": null}',
    b'{"orders": "ab"}',
    b'{"orders": [5]}',
    json.dumps({"orders": [_order(1), _order(2, insertTime="yesterday")]}).encode(),
    json.dumps({"orders": [_order(1)]}).encode() + b" trailing",
    b'\xef\xbb\xbf{"orders": []}',
    b'{"orders": [{"id": "o1"}',
    b"[]",
    b"not json",
    b"",
]


def _outcome(read: Any, body: bytes) -> Any:
    try:
        return read(_answer(body), view.json_line)
    except UnexpectedResponse as exc:
        return ("UnexpectedResponse", str(exc), exc.status)


@pytest.mark.parametrize("body", IRREGULAR)
def test_anything_else_is_what_the_whole_answer_parse_makes_of_it(body: bytes) -> None:
    assert _outcome(_listing.parse, body) == _outcome(_whole, body)


def test_server_strings_stay_escaped_on_the_streamed_path() -> None:
    body = json.dumps({"orders": ORDERS}).encode()
    lines = _listing.parse(_answer(body), view.json_line)
    # Valid JSON with the server's very id, printable all the same.
    assert json.loads(lines[3])["id"] == HOSTILE
    rows = _listing.parse(_answer(body), pm_cli.row)
    table = "\n".join(view.table_lines(rows, pm_cli.COLUMNS, view.per_market([])))
    for text in ("\n".join(lines), table):
        assert not any(c in text for c in "\r\x1b\x07\x9b\u202e")
    assert "[/bold]x\\x0d\\x1b[2Kall clear" in table  # escaped, never read as markup


def test_write_prints_the_joined_lines_in_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"line {i}" for i in range(7)]
    view.write(iter(lines), chunk=3)
    assert capsys.readouterr().out == "\n".join(lines) + "\n"
    view.write([], chunk=3)
    assert capsys.readouterr().out == ""


def test_the_cli_prints_what_the_model_listing_gives(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    for i in range(25):
        box.seed_polymarket(f"o-{i}", market_slug=f"market-{i % 3}")
    box.seed_polymarket(HOSTILE, market_slug="[/bold]x")
    with box.polymarket_client() as pm:
        listed = pm.open_orders()
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["orders", "polymarket", *args], env=box.env())
        assert result.exit_code == 0, result.output
        return result.stdout

    assert run() == view.table(listed, pm_cli.COLUMNS, pm_cli.row) + "\n"
    assert run("--json") == view.json_lines(listed) + "\n"
    assert [json.loads(line)["id"] for line in run("--json").splitlines()] == [o.id for o in listed]
    assert run("--count") == view.footer(view.per_market(listed)) + "\n"


def test_cells_are_escaped_one_by_one_when_any_needs_it() -> None:
    plain = ("o1", "market", "buy")
    assert printable_cells(plain) == plain
    for cell in ("\x1b", "\r", "\x9b", "\u202e", "\x7f"):
        assert printable_cells(("o1", f"m{cell}", "buy")) == ("o1", printable(f"m{cell}"), "buy")
    assert printable_cells(("a\x1b[2J", "b\x07")) == ("a\\x1b[2J", "b\\x07")
