"""Each venue's part of the desk (``cancelkit.<venue>._desk``), where the sandbox does
not reach it: Kalshi's hook, written before Kalshi is registered (``_VENUES``)."""

from __future__ import annotations

from typing import Any

import pytest
from cancelkit import Account, InvalidRequest, SecretRef
from cancelkit.kalshi import _desk as kalshi
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat


def test_kalshi_environment_account_takes_the_pem_by_variable_or_by_file() -> None:
    by_var = kalshi.from_environ({"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": "pem"})
    assert by_var is not None
    assert (by_var.name, by_var.key_id, by_var.secret.env) == ("kalshi", "k", "KALSHI_PRIVATE_KEY")
    by_file = kalshi.from_environ(
        {"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY_PATH": "/keys/k.pem", "KALSHI_API_URL": "u"}
    )
    assert by_file is not None
    assert (by_file.secret, by_file.base_url) == (SecretRef(file="/keys/k.pem"), "u")
    assert kalshi.from_environ({}) is None
    with pytest.raises(InvalidRequest, match="set one"):
        kalshi.from_environ(
            {"KALSHI_API_KEY_ID": "k", "KALSHI_PRIVATE_KEY": "p", "KALSHI_PRIVATE_KEY_PATH": "f"}
        )
    with pytest.raises(InvalidRequest, match="KALSHI_API_KEY_ID is not set"):
        kalshi.from_environ({"KALSHI_PRIVATE_KEY_PATH": "f"})


def test_kalshi_settings_are_checked_and_reach_the_client() -> None:
    account = Account("k1", "kalshi", "key-1", SecretRef(env="X"), tier="advanced", subaccount=3)
    kalshi.check(account)
    with pytest.raises(InvalidRequest, match="unknown tier 'gold'"):
        kalshi.check(Account("k1", "kalshi", "key-1", SecretRef(env="X"), tier="gold"))
    with pytest.raises(InvalidRequest):
        kalshi.check(Account("k1", "kalshi", "key-1", SecretRef(env="X"), subaccount=64))
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    client = kalshi.client(account, pem, {"base_url": "http://127.0.0.1:1"})
    assert (client.key_id, client._tier, client.base_url) == (
        "key-1",
        "advanced",
        "http://127.0.0.1:1",
    )
    assert {"tier", "subaccount"} == kalshi.SETTINGS


@pytest.mark.parametrize("venue", ["polymarket", "limitless", "kalshi"])
def test_each_hook_names_its_clients_default_api_root_without_building_one(venue: str) -> None:
    """A run names where an account sends before its client is built (a desk for one
    run builds it in the account's task): for an account naming no ``base_url``, the
    hook's ``DEFAULT_BASE_URL``, which must be the client's own default."""
    import importlib

    from cancelkit import AsyncDesk

    hook = importlib.import_module(f"cancelkit.{venue}._desk")
    client = importlib.import_module(f"cancelkit.{venue}._client")
    assert hook.DEFAULT_BASE_URL == client.DEFAULT_BASE_URL
    account = Account("a", venue, "key-1", SecretRef(env="CANCELKIT_TEST_UNSET"))
    named = Account("b", venue, "key-2", SecretRef(env="X"), base_url="http://u:p@127.0.0.1:9/v")
    desk = AsyncDesk([account, named])
    assert desk.base_url("a") == client.DEFAULT_BASE_URL
    assert desk.base_url("b") == "http://127.0.0.1:9/v"  # as the client keeps it: no user info
    with pytest.raises(KeyError):
        desk.base_url("c")


def test_a_one_run_desk_opening_cancelled_leaves_nothing_open_and_a_waiter_opens_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client whose opening awaits (none of today's do, a proxy's or a future
    client's may): the task opening it cancelled, its half-open client is closed,
    and a second task of the same account that was waiting opens it itself (once),
    not a KeyError; after the desk is closed, no client opens again."""
    import anyio
    from cancelkit import _desk

    release = anyio.Event()
    built: list[Any] = []

    class Client:
        def __init__(self) -> None:
            self.entered = self.closed = False
            self.base_url = "http://127.0.0.1:9"
            built.append(self)

        async def __aenter__(self) -> Any:
            if len(built) == 1:
                await release.wait()  # the first opening waits (to be cancelled)
            self.entered = True
            return self

        async def __aexit__(self, *_: object) -> None:
            self.closed = True

    class Hook:
        @staticmethod
        def client(*_: object) -> Client:
            return Client()

    monkeypatch.setattr(_desk, "desk_hook", lambda venue: Hook)
    account = Account(
        name="a", venue="polymarket", key_id="k", secret=SecretRef(env="S", environ={"S": "x"})
    )

    async def main() -> None:
        desk = _desk.AsyncDesk._for_one_run([account], False)
        await desk.__aenter__()
        async with anyio.create_task_group() as group:
            first = anyio.CancelScope()

            async def opening() -> None:
                with first:
                    await desk._open(account)

            group.start_soon(opening)
            await anyio.sleep(0.01)  # the first opening waits in __aenter__
            waiter: list[BaseException | None] = []

            async def second() -> None:
                waiter.append(await desk._open(account))

            group.start_soon(second)
            await anyio.sleep(0.01)
            first.cancel()
        assert waiter == [None]
        assert [c.closed for c in built] == [True, False]  # the half-open one closed
        assert desk.client("a") is built[1]
        assert built[1].entered
        await desk.aclose()
        assert built[1].closed
        with pytest.raises(RuntimeError, match="closed"):
            await desk._open(account)
        assert len(built) == 2

    anyio.run(main)
