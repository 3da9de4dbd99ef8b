"""The suite-wide secret scan in conftest.py really fails a test that leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
HELPERS = (Path(__file__).parent / "helpers.py").read_text()


@pytest.mark.parametrize(
    "leak",
    [
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
    ],
)
def test_a_leak_fails_the_test_that_leaked(pytester: pytest.Pytester, leak: str) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(
        f"""
        import logging
        import cancelkit
        from helpers import PM_KEY_ID, PM_SECRET_32, LM_SECRET, KALSHI_PEM

        def raise_and_swallow(error):
            try:
                raise error
            except cancelkit.CancelKitError:
                pass

        def test_leaky():
            {leak}

        def test_clean():
            print("nothing to see")
        """
    )
    # A subprocess, and --tb=no: the inner leak must not reach this (scanned) test.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "log_level=DEBUG", "--tb=no", "-rf"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED *::test_leaky - 1 secret(s) or*"])
