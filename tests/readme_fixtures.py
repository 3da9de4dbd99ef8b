"""Fixtures for README.md's python blocks, which pytest-markdown-docs runs as tests
(loaded as a plugin, `-p readme_fixtures`, because README.md sits outside tests/)."""

from __future__ import annotations

import pytest
from cancelkit.sandbox import Sandbox


@pytest.fixture
def readme_sandbox(cancelkit_env: Sandbox) -> Sandbox:
    """The sandbox (with the environment pointing at it) holding the orders the
    README's examples cancel: a cancel of an order it does not hold would raise."""
    box = cancelkit_env
    box.seed_polymarket("ord-123", market_slug="nba-lal-bos-2026-11-22")
    for i in range(1, 4):
        box.seed_polymarket(f"ord-{i}")
    box.seed_limitless(client_order_id="partner-order-001")
    box.seed_limitless("6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203", market_slug="btc-100k")
    box.seed_limitless(market_slug="btc-100k")
    box.seed_kalshi("3b23c1c7-f4ef-4f0d-8b9a-9e53c61f1a0d")
    for _ in range(3):
        box.seed_kalshi(ticker="KXBTC-26DEC31-T100000")
    box.seed_kalshi(subaccount=0)  # left for cancel_all
    return box
