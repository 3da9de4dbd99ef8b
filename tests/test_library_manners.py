"""What a library owes the program it runs in: lazy exports, quiet logging, order ids
in its debug lines (#24)."""

from __future__ import annotations

import logging
import subprocess
import sys

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
