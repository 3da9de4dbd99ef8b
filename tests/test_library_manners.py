"""What a library owes the program it runs in: lazy exports, quiet logging, order ids
in its debug lines (#24)."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import cancelkit
import httpx
import pytest
from helpers import LM_SECRET, LM_TOKEN_ID, Script


def test_every_public_name_resolves_and_imports_stay_lazy() -> None:
    for name in cancelkit.__all__:
        assert getattr(cancelkit, name) is not None, name
    code = "import sys, cancelkit; print('httpx' in sys.modules, 'cryptography' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    with pytest.raises(AttributeError, match="PolymarketUSClinet"):
        _ = cancelkit.PolymarketUSClinet  # type: ignore[attr-defined]


def test_the_cancelkit_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger("cancelkit").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_a_warning_is_silent_where_logging_was_never_configured() -> None:
    code = (
        "import logging, cancelkit\n"
        "assert not logging.getLogger().handlers\n"
        "logging.getLogger('cancelkit').warning('stopping: test')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == ""


def test_debug_lines_name_the_limitless_order(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cancelkit")
    script = Script([httpx.Response(200, json={"message": "ok"})])
    with cancelkit.LimitlessClient(LM_TOKEN_ID, LM_SECRET, transport=script.transport) as lm:
        lm.cancel_order(client_order_id="bot-7")
    lines = [r.getMessage() for r in caplog.records if r.name == "cancelkit"]
    assert any("POST /orders/cancel [order client_order_id=bot-7] -> 200" in m for m in lines)


def test_a_misspelt_from_env_keyword_fails_before_the_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POLYMARKET_KEY_ID", raising=False)  # would be the error otherwise
    for cls in (cancelkit.PolymarketUSClient, cancelkit.AsyncLimitlessClient):
        with pytest.raises(TypeError, match="timout"):
            cls.from_env(timout=5)  # type: ignore[call-arg]


_UNCLOSED = """
import gc, os, sys
from uuid import UUID
from cancelkit import LimitlessClient, PolymarketUSClient

pm = PolymarketUSClient.from_env()  # never closed: still open at exit
pm.warm()
results = pm.cancel_orders(sys.argv[1:])
lm = LimitlessClient.from_env()  # never closed; its single cancels run on the bulk loop
print(lm.cancel_order(order_id=UUID(int=7), missing_ok=True))
dropped = PolymarketUSClient.from_env()  # dropped unclosed mid-program
dropped.cancel_orders(sys.argv[1:], missing_ok=True)
del dropped
gc.collect()
if os.fork() == 0:  # a forked child exits with the parent's clients still open
    sys.exit(0)
os.wait()
print(*(r.status for r in results))
"""


def test_an_unclosed_sync_client_exits_quietly(cancelkit_sandbox: Any) -> None:
    """Clients left open at exit, or dropped unclosed, print nothing (aiohttp's
    "Unclosed client session" and "Unclosed connector" before issue 31)."""
    import os

    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"exit-{i}").id for i in range(3)]
    env = {**os.environ, **box.env()}
    out = subprocess.run(
        [sys.executable, "-c", _UNCLOSED, *ids],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["cancelled"] * 3
    assert "Unclosed" not in out.stderr
    assert out.stderr == ""
