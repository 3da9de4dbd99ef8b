"""The suite-wide secret scan in conftest.py really fails a test that leaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
HELPERS = (Path(__file__).parent / "helpers.py").read_text()
LEAKS = [
    "print(PM_SECRET_32)",
    "logging.getLogger('x').debug('key %s', LM_SECRET)",
    "raise_and_swallow(cancelkit.BadRequest(f'got {LM_SECRET}'))",
    "print(cancelkit.PolymarketAuth(PM_KEY_ID, PM_SECRET_32).sign('1', 'POST', '/p'))",
    "print(cancelkit.LimitlessAuth('tok', LM_SECRET).sign('1', 'POST', '/p', b''))",
    "import cancelkit.sandbox as s; print(s.Sandbox().credentials.limitless_other_secret)",
    # A Kalshi private key: whole, in a repr, one line of it in an error, its signature.
    "print(KALSHI_PEM)",
    "logging.getLogger('x').debug('key %r', KALSHI_PEM)",
    "raise_and_swallow(cancelkit.BadRequest(KALSHI_PEM.splitlines()[1]))",
    "print(cancelkit.KalshiAuth('key-1', KALSHI_PEM).sign('1', 'GET', '/trade-api/v2'))",
    # A desk's Kalshi key (Sandbox.add_account), of either kind: one line of its PEM.
    "import cancelkit.sandbox as s; print(s.Sandbox().add_account('kalshi').secret.split()[3])",
    "from cancelkit.sandbox import Sandbox; print(Sandbox().add_account('kalshi', key='rsa')"
    ".secret.splitlines()[3])",
]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One inner pytest run (a subprocess) of a leaky test per leak, between two clean
    ones: its summary of outcomes. One interpreter for them all (each start-up costs seconds)."""
    folder = tmp_path_factory.mktemp("leaks")
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "helpers.py").write_text(HELPERS)
    leaky = "".join(f"\ndef test_leaky_{n:02d}():\n    {leak}\n" for n, leak in enumerate(LEAKS))
    (folder / "test_leaks.py").write_text(
        textwrap.dedent(
            """\
            import logging
            import cancelkit
            from helpers import PM_KEY_ID, PM_SECRET_32, LM_SECRET, KALSHI_PEM

            def raise_and_swallow(error):
                try:
                    raise error
                except cancelkit.CancelKitError:
                    pass

            def test_clean_first():
                print("nothing to see")
            """
        )
        + leaky
        + '\ndef test_clean_last():\n    print("nothing to see")\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # A subprocess, and --tb=no: the inner leaks must not reach this (scanned) test.
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", f"--basetemp={folder / 'tmp'}"),
            *("-p", "no:cacheprovider", "-o", "log_level=DEBUG", "--tb=no", "-rfEp"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout


@pytest.mark.parametrize("leak", LEAKS)
def test_a_leak_fails_the_test_that_leaked(scanned: str, leak: str) -> None:
    failed = f"FAILED test_leaks.py::test_leaky_{LEAKS.index(leak):02d} - 1 secret(s) or"
    assert any(line.startswith(failed) for line in scanned.splitlines()), scanned[-3000:]
    for clean in ("test_clean_first", "test_clean_last"):
        assert f"PASSED test_leaks.py::{clean}" in scanned, scanned[-3000:]
