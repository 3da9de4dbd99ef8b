"""Fixtures and hooks for the whole suite (helpers live in helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import cancelkit
import pytest
from helpers import (
    LM_SECRET,
    LM_TOKEN_ID,
    PEM_SECRETS,
    PM_KEY_ID,
    PM_SECRET_32,
    PM_SECRET_64,
    Script,
    fast_retry,
    pem_secrets,
)
from hypothesis import settings

if TYPE_CHECKING:
    from cancelkit.sandbox import Sandbox

# ---------------------------------------------------------------------------
# Secret scan over the whole suite: every secret the tests use or the sandbox
# makes, and every signature cancelkit computes, must stay out of captured
# output, log records, and the text and repr of every CancelKitError raised.
# ---------------------------------------------------------------------------
SECRETS: set[str] = {PM_SECRET_32, PM_SECRET_64, LM_SECRET}
SIGNATURES: set[str] = set()
ERRORS: list[BaseException] = []


# Property and contract tests explore a fixed sequence of examples: a test that
# can fail must fail on every run, not one run in N.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")


def pytest_configure(config: pytest.Config) -> None:
    # The library's seams for this scan (no library class is patched): every
    # signature computed, every error built, every sandbox's credentials.
    import cancelkit.sandbox as sandbox_module
    from cancelkit import _exceptions, _signing

    _signing.on_signature.append(SIGNATURES.add)
    _exceptions.on_error.append(ERRORS.append)
    sandbox_module.on_credentials.append(
        lambda made: SECRETS.update(
            {made.polymarket_secret_key, made.limitless_secret, made.limitless_other_secret},
            # A Kalshi PEM whole, and each line of its body (a leak of one is a leak).
            *(
                [pem, *(line for line in pem.splitlines() if "-----" not in line)]
                for pem in (made.kalshi_rsa_private_key, made.kalshi_ed25519_private_key)
            ),
        )
    )
    sandbox_module.on_desk_key.append(lambda key: SECRETS.add(key.secret))
    # A desk key's PEM (Kalshi's): each line of its body too, as the credentials' are.
    sandbox_module.on_desk_key.append(
        lambda key: PEM_SECRETS.update(
            pem_secrets(key.secret) if _is_private_pem(key.secret) else ()
        )
    )
    # Every private key PEM a sandbox's credentials hold (Kalshi's), whatever its name.
    sandbox_module.on_credentials.append(
        lambda made: PEM_SECRETS.update(
            *(pem_secrets(v) for v in attrs.asdict(made).values() if _is_private_pem(v))
        )
    )


def _is_private_pem(value: object) -> bool:
    return isinstance(value, str | bytes) and (
        b"PRIVATE KEY-----" in value if isinstance(value, bytes) else "PRIVATE KEY-----" in value
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    texts = [content for _, content in report.sections]
    texts += [f"{error}\n{error!r}" for error in ERRORS]
    ERRORS.clear()
    if not report.passed:
        return
    haystack = "\n".join(texts)
    leaked = [s for s in (*SECRETS, *PEM_SECRETS, *SIGNATURES) if len(s) >= 16 and s in haystack]
    if leaked:
        report.outcome = "failed"
        report.longrepr = (
            f"{len(leaked)} secret(s) or signature(s) appeared in captured output, log records"
            " or error text"
        )


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test's runs keep their records (the run registry, default journals) in a
    directory of its own, never in the real home: set here once, inherited by the
    CLI subprocesses the tests start (they pass os.environ on)."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("CANCELKIT_STATE_DIR", str(path))
    return path


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_pm(flavour: str) -> Callable[..., Any]:
    """Build a Polymarket client of the current flavour around a Script."""

    def build(script: Script, **kwargs: Any) -> Any:
        cls = (
            cancelkit.PolymarketUSClient if flavour == "sync" else cancelkit.AsyncPolymarketUSClient
        )
        kwargs.setdefault("base_url", "https://pm.test")
        kwargs.setdefault("retry", fast_retry(kwargs.pop("max_retries", 3)))
        return cls(PM_KEY_ID, PM_SECRET_32, transport=script.transport, **kwargs)

    return build


@pytest.fixture
def make_lm(flavour: str) -> Callable[..., Any]:
    """Build a Limitless client of the current flavour around a Script."""

    def build(script: Script, **kwargs: Any) -> Any:
        cls = cancelkit.LimitlessClient if flavour == "sync" else cancelkit.AsyncLimitlessClient
        kwargs.setdefault("base_url", "https://lm.test")
        kwargs.setdefault("retry", fast_retry(kwargs.pop("max_retries", 3)))
        return cls(LM_TOKEN_ID, LM_SECRET, transport=script.transport, **kwargs)

    return build


@pytest.fixture
def cancelkit_sandbox(cancelkit_sandbox: Sandbox, request: pytest.FixtureRequest) -> Sandbox:
    """The plugin's sandbox, without Limitless's published pace (2 in flight, 300 ms
    apart) unless a test asks for it with ``cancelkit_sandbox(published_limits=True)``:
    tests that send raw requests back to back are about something else."""
    marker = request.node.get_closest_marker("cancelkit_sandbox")
    if marker is None or "published_limits" not in marker.kwargs:
        cancelkit_sandbox.limitless.set_knobs(published_limits=False)
    return cancelkit_sandbox
