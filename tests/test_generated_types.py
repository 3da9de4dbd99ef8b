"""Generated response types survive what the exchange may add, and refuse wrong shapes."""

from __future__ import annotations

from typing import Any

import pytest
from cancelkit._generated.polymarket_us_api.models import GetOpenOrdersResponse, Order, OrderState

ORDER: dict[str, Any] = {
    "id": "ord-1",
    "marketSlug": "nba-lal-bos",
    "side": "ORDER_SIDE_BUY",
    "type": "ORDER_TYPE_LIMIT",
    "price": {"value": "0.55", "currency": "USD"},
    "quantity": 10,
    "leavesQuantity": 10,
    "state": "ORDER_STATE_NEW",
    "createTime": "2026-11-22T12:00:00Z",
    "marketMetadata": {"slug": "nba-lal-bos", "team": None, "teamId": None},
}


def test_a_new_state_and_a_new_field_parse_and_round_trip() -> None:
    raw = {**ORDER, "state": "ORDER_STATE_SUSPENDED", "queuePosition": 3}
    listing = GetOpenOrdersResponse.from_dict({"orders": [raw], "nextCursor": "x"})
    assert isinstance(listing.orders, list)
    (order,) = listing.orders
    assert isinstance(order.state, OrderState)
    assert order.state == "ORDER_STATE_SUSPENDED"
    assert not order.state.is_known
    assert OrderState.ORDER_STATE_NEW.is_known
    assert order.additional_properties == {"queuePosition": 3}
    assert order.to_dict()["state"] == "ORDER_STATE_SUSPENDED"
    assert listing.additional_properties == {"nextCursor": "x"}


def test_documented_nulls_parse() -> None:
    # marketMetadata.team is `$ref: Team, nullable: true`: the normalizer keeps the null.
    order = Order.from_dict(ORDER)
    assert order.market_metadata.team is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        {"orders": "nope"},
        {"orders": [{**ORDER, "state": 5}]},
        {"orders": [{**ORDER, "createTime": "yesterday"}]},
        {"orders": [{**ORDER, "price": "0.55"}]},
    ],
)
def test_a_response_of_the_wrong_shape_still_fails(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError, KeyError, AttributeError)):
        GetOpenOrdersResponse.from_dict(bad)
