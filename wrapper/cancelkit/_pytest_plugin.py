"""pytest plugin: the ``cancelkit_sandbox`` fixture (the exchanges on loopback).

Knobs can be set per test with a marker::

    @pytest.mark.cancelkit_sandbox(rate_limit=20, failure_rate=0.2, seed=1)
    def test_kill_switch(cancelkit_sandbox): ...

Imports nothing heavy until a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from cancelkit.sandbox import Sandbox


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker that carries knobs."""
    config.addinivalue_line(
        "markers", "cancelkit_sandbox(**knobs): knobs for the cancelkit_sandbox fixture"
    )


@pytest.fixture
def cancelkit_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The sandboxes (Polymarket US, Limitless, Kalshi) running on 127.0.0.1
    (ephemeral ports), stopped after the test.

    The object gives base URLs, demo credentials (``.credentials``, ``.env()``),
    ``seed_polymarket`` / ``seed_limitless`` / ``seed_kalshi``, ``set_knobs``,
    ``open_orders``, ``requests`` and ready-made clients (``polymarket_client()``,
    ``async_limitless_client()``, ``kalshi_client(key="rsa")``...).
    """
    from cancelkit._extras import MissingExtra

    try:
        import cancelkit.sandbox as module
    except MissingExtra as exc:  # the sandbox's own check, before starlette is imported
        missing = str(exc)
    else:
        missing = ""
    if missing:
        # An error, not a skip: a CI that forgot the extra must not go green
        # without running the kill-switch tests that ask for this fixture.
        pytest.fail(missing, pytrace=False)
    sandbox: Sandbox = module.Sandbox()
    marker = request.node.get_closest_marker("cancelkit_sandbox")
    if marker is not None:
        sandbox.set_knobs(**marker.kwargs)
    with sandbox:
        yield sandbox


@pytest.fixture
def cancelkit_env(cancelkit_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The ``cancelkit_sandbox``, with the environment pointing ``from_env()`` and the
    ``cancelkit`` command at it (demo credentials, sandbox URLs)."""
    for name, value in cancelkit_sandbox.env().items():
        monkeypatch.setenv(name, value)
    return cancelkit_sandbox
