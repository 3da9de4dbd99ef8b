"""The bulk engine's control: a typed stop reason, seconds versus the instant."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import httpx
from cancelkit import AuthenticationError, CancelByOrderId, Control, LimitlessClient, StopReason
from helpers import LM_SECRET, LM_TOKEN_ID


def test_deadline_is_seconds_and_ends_at_the_instant() -> None:
    before = time.monotonic()
    control = Control(5)
    assert control.seconds == 5.0
    assert before + 5 <= control.ends_at <= time.monotonic() + 5
    assert control.stop_reason is None
    assert control.reason is None


def test_the_first_stop_is_the_one_reported_with_its_kind() -> None:
    control = Control(5)
    control.stop("interrupted (SIGINT)", StopReason.INTERRUPTED)
    control.abort()  # a second stop changes neither the reason nor its kind
    assert control.stop_reason is StopReason.INTERRUPTED
    assert control.reason == "interrupted (SIGINT)"
    aborted = Control(5)
    aborted.abort()
    assert (aborted.stop_reason, aborted.reason) == (StopReason.ABORTED, "aborted")
    stopped = Control(5)
    stopped.stop("enough")
    assert stopped.stop_reason is StopReason.STOPPED


def test_a_failure_every_order_would_meet_stops_the_run_as_failed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "invalid token"})

    control = Control(5)
    targets: list[Any] = [CancelByOrderId(order_id=UUID(int=i + 1)) for i in range(3)]
    with LimitlessClient(
        LM_TOKEN_ID, LM_SECRET, transport=httpx.MockTransport(refuse), base_url="https://lm.test"
    ) as lm:
        results = lm.cancel_orders(targets, control=control)
    assert control.stop_reason is StopReason.FAILED
    assert "AuthenticationError" in (control.reason or "")
    assert {r.status for r in results} == {"failed"}


def test_a_failure_about_one_order_is_the_venues_to_name() -> None:
    from cancelkit._bulk import stops_the_run
    from cancelkit.limitless._kill import not_the_owner

    error = AuthenticationError("Not the order owner", status=401)
    plain = Control(5)
    plain.key_accepted = True
    assert stops_the_run(error, plain)  # the core knows no venue's wording
    venue = Control(5)
    venue.about_one_order = not_the_owner
    assert stops_the_run(error, venue)  # not before the key was accepted once
    venue.key_accepted = True
    assert not stops_the_run(error, venue)
    assert stops_the_run(AuthenticationError("invalid token", status=401), venue)


def test_a_limitless_bulk_call_tells_its_control_which_failures_are_about_one_order() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "invalid token"})

    control = Control(5)
    with LimitlessClient(
        LM_TOKEN_ID, LM_SECRET, transport=httpx.MockTransport(refuse), base_url="https://lm.test"
    ) as lm:
        lm.cancel_orders([CancelByOrderId(order_id=UUID(int=1))], control=control)
    assert control.about_one_order(AuthenticationError("Not the order owner", status=401))
