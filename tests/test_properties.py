"""Property tests: whatever string or number a caller passes, the request is either
refused before any I/O, or reaches exactly the documented endpoint with the value
intact and a signature the exchange accepts. Never another endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cancelkit import AuthenticationError, InvalidRequest
from cancelkit._limiter import GLOBAL, Budget
from cancelkit.limitless._rates import LIMITLESS
from cancelkit.sandbox import Sandbox
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RESERVED = [
    *":/?#[]@!$&'()*+,;=% \t\r\n\x00\x7f.\\",
    "%2F",
    "%2f",
    "%2E",
    "%00",
    "%25",
    "..",
    "\u2215",
]
TEXT = st.one_of(
    # the whole of Unicode, lone surrogates included
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(RESERVED), max_size=12).map("".join),
    st.text(st.characters(exclude_categories=()), min_size=1000, max_size=1100),
    st.sampled_from(["", ".", "..", "../../v1/orders/open", "ord#1", " ", "\u00a0", "%"]),
)
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def quick_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limitless's client pace (2 in flight, 300 ms apart) kept, 1 ms apart: what is
    tested is where each value goes, and 150 examples at 300 ms each are 45 s of
    waiting. The paced route (the sync client's async twin) is still the one taken."""
    monkeypatch.setitem(LIMITLESS, GLOBAL, Budget.paced(in_flight=2, spacing=0.001))


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        sandbox.limitless.set_knobs(published_limits=False)  # single cancels, back to back
        yield sandbox


def _signature_failures(box: Sandbox) -> int:
    return box.polymarket.stats.auth_failures + box.limitless.stats.auth_failures


def _requests(box: Sandbox) -> int:
    return box.polymarket.stats.requests + box.limitless.stats.requests


def test_polymarket_order_ids(box: Sandbox) -> None:
    decoy = box.seed_polymarket("open", market_slug="decoy")  # target of ../../v1/orders/open
    with box.polymarket_client(max_retries=0) as pm:

        @SETTINGS
        @given(order_id=TEXT)
        def check(order_id: str) -> None:
            before, failures = _requests(box), _signature_failures(box)
            order = box.seed_polymarket(order_id) if order_id != "open" else decoy
            try:
                pm.cancel_order(order_id)
            except InvalidRequest:
                assert _requests(box) == before, "refused, yet something was sent"
                return
            assert _requests(box) == before + 1
            assert _signature_failures(box) == failures
            assert order.status == "cancelled", "the request reached another order or path"

        check()
    assert box.polymarket.stats.schema_failures == 0


def test_polymarket_market_slugs(box: Sandbox) -> None:
    counter = iter(range(10**9))
    with box.polymarket_client(max_retries=0) as pm:

        @SETTINGS
        @given(slug=TEXT)
        def check(slug: str) -> None:
            before = _requests(box)
            # The sandbox refuses a slug other than the order's: a cancel proves it arrived intact.
            order = box.seed_polymarket(f"slug-{next(counter)}", market_slug=slug or None)
            try:
                pm.cancel_order(order.id, market_slug=slug)
            except InvalidRequest:
                assert _requests(box) == before
                return
            assert order.status == "cancelled"

        check()


@pytest.mark.usefixtures("quick_pace")
def test_limitless_client_order_ids(box: Sandbox) -> None:
    with box.limitless_client(max_retries=0) as lm:

        @SETTINGS
        @given(client_id=TEXT)
        def check(client_id: str) -> None:
            before, failures = _requests(box), _signature_failures(box)
            order = box.seed_limitless(client_order_id=client_id)
            try:
                lm.cancel_order(client_order_id=client_id)
            except InvalidRequest:
                assert _requests(box) == before
                return
            assert _signature_failures(box) == failures
            assert order.status == "cancelled"

        check()
    assert box.limitless.stats.schema_failures == 0


@pytest.mark.usefixtures("quick_pace")
def test_limitless_order_ids(box: Sandbox) -> None:
    with box.limitless_client(max_retries=0) as lm:

        @SETTINGS
        @given(
            order_id=st.one_of(TEXT, st.uuids().map(str), st.uuids().map(lambda u: u.hex.upper()))
        )
        def check(order_id: str) -> None:
            before = _requests(box)
            try:
                from uuid import UUID

                canonical = str(UUID(order_id))
            except (ValueError, TypeError):
                canonical = None
            order = box.seed_limitless(canonical) if canonical else None
            try:
                lm.cancel_order(order_id=order_id)
            except InvalidRequest:
                assert canonical is None
                assert _requests(box) == before
                return
            assert order is not None
            assert order.status == "cancelled"

        check()


@pytest.mark.usefixtures("quick_pace")
def test_limitless_sub_account_ids(box: Sandbox) -> None:
    sub = box.credentials.limitless_sub_account
    numbers = st.one_of(st.integers(), st.integers(min_value=-5, max_value=5), st.just(sub))
    with box.limitless_client(max_retries=0) as lm:

        @SETTINGS
        @given(profile=numbers)
        def check(profile: int) -> None:
            before, failures = _requests(box), _signature_failures(box)
            order = box.seed_limitless(owner=sub)
            try:
                lm.cancel_order(order_id=order.id, on_behalf_of=profile)
            except InvalidRequest:
                assert profile <= 0 or profile >= 2**63
                assert _requests(box) == before
                return
            except AuthenticationError as exc:
                refusal = exc.message
            else:
                refusal = None
            if refusal is not None:
                # Signed correctly (no signature failure), refused for the right reason,
                # naming the very profile that was sent.
                assert _signature_failures(box) == failures
                assert f"profile {profile} is not a sub-account" in refusal
                return
            assert profile == sub
            assert order.status == "cancelled"

        check()
