"""Kalshi inputs refused before any I/O, each error naming the problem."""

from __future__ import annotations

import pytest
from cancelkit import InvalidRequest
from cancelkit.kalshi import _validation as check

UUID = "3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("a/b", "contains '/'"),
        ("../../portfolio/events/orders", "contains '/'"),  # would reach cancel-all
        ("ord?subaccount=1", "contains '?'"),
        ("ord#1", "contains '#'"),
        ("100%", "contains '%'"),
        ("%2E%2E", "contains '%'"),
        (".", "dot-segment"),
        ("..", "dot-segment"),
        (" padded", "whitespace"),
        ("a b", "whitespace"),
        ("tab\tx", "whitespace"),
        ("new\nline", "whitespace"),
        ("nul\x00", "control character"),
        ("esc\x1b[2J", "control character"),
        ("bidi\u202e", "control character"),
        ("x" * 129, "129 characters long; the limit is 128"),
        ("\ud800", "lone surrogate"),
        (42, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_hostile_order_ids_are_refused_naming_the_problem(value: object, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        check.kalshi_order_id(value)


@pytest.mark.parametrize("value", [UUID, UUID.upper(), "ord-1", "x" * 128, "a.b", "..."])
def test_ids_as_kalshi_issues_them_pass_unchanged(value: str) -> None:
    assert check.kalshi_order_id(value) == value


def test_tickers_and_event_ticker_lists() -> None:
    assert check.ticker("KXBTC-26DEC31-T100000") == "KXBTC-26DEC31-T100000"
    assert check.event_tickers("KXBTC-26DEC31") == "KXBTC-26DEC31"
    assert check.event_tickers(["A", "B"]) == "A,B"
    for bad, problem in [
        ("A,B", "contains ','"),
        ("A&status=canceled", "contains '&'"),
        ("A B", "whitespace"),
        ("", "is empty"),
    ]:
        with pytest.raises(InvalidRequest, match=problem):
            check.ticker(bad)
    with pytest.raises(InvalidRequest, match="lists 11 tickers; the most is 10"):
        check.event_tickers([f"E{i}" for i in range(11)])
    with pytest.raises(InvalidRequest, match="non-empty list"):
        check.event_tickers([])


@pytest.mark.parametrize(
    ("value", "problem"),
    [(-1, "out of range"), (64, "out of range"), (True, "integer"), ("1", "integer")],
)
def test_subaccounts_are_0_to_63(value: object, problem: str) -> None:
    with pytest.raises(InvalidRequest, match=problem):
        check.subaccount(value)
    assert [check.subaccount(n) for n in (0, 1, 63)] == [0, 1, 63]
