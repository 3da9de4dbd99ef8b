"""Settings that would send a cancel elsewhere are refused; cancelkit runs where users run."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import cancelkit
import pytest
from cancelkit import InvalidRequest
from cancelkit.sandbox import Sandbox
from click.testing import CliRunner
from helpers import LM_SECRET, LM_TOKEN_ID, PM_KEY_ID, PM_SECRET_32, Script

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = [
    (cancelkit.PolymarketUSClient, PM_KEY_ID, PM_SECRET_32),
    (cancelkit.AsyncPolymarketUSClient, PM_KEY_ID, PM_SECRET_32),
    (cancelkit.LimitlessClient, LM_TOKEN_ID, LM_SECRET),
    (cancelkit.AsyncLimitlessClient, LM_TOKEN_ID, LM_SECRET),
]


@pytest.mark.parametrize(("cls", "key", "secret"), CLIENTS)
@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("http://pm.test/?x=1", "has a query"),
        ("http://pm.test?", "has a query"),
        ("http://pm.test/api#frag", "has a fragment"),
        ("http://", "has no host"),
        ("http:///v1", "has no host"),
        ("ftp://pm.test", "http(s) URL"),
        ("pm.test", "http(s) URL"),
        ("", "http(s) URL"),
    ],
)
def test_base_urls_that_would_send_elsewhere_are_refused_at_construction(
    cls: Any, key: str, secret: str, base_url: str, problem: str
) -> None:
    script = Script()
    with pytest.raises(InvalidRequest, match=problem.replace("(", r"\(").replace(")", r"\)")):
        cls(key, secret, base_url=base_url, transport=script.transport)
    assert script.requests == []


@pytest.mark.parametrize(("cls", "key", "secret"), CLIENTS)
def test_schemes_are_case_insensitive_and_userinfo_never_shows(
    cls: Any, key: str, secret: str
) -> None:
    client = cls(key, secret, base_url="HTTPS://user:s3cr3t-pw@api.example/api")
    assert "s3cr3t-pw" not in repr(client)
    assert "api.example/api" in repr(client)
    with pytest.raises(InvalidRequest) as caught:
        cls(key, secret, base_url="http://user:s3cr3t-pw@api.example/?x=1")
    assert "s3cr3t-pw" not in f"{caught.value} {caught.value!r}"


def test_a_path_prefix_is_part_of_the_signed_wire_path() -> None:
    script = Script()
    with cancelkit.PolymarketUSClient(
        PM_KEY_ID, PM_SECRET_32, base_url="https://proxy.example/api", transport=script.transport
    ) as pm:
        pm.cancel_order("ord-1")
    (request,) = script.requests
    assert request.url.raw_path == b"/api/v1/order/ord-1/cancel"
    from helpers import verify_polymarket

    verify_polymarket(request)  # signed over exactly that path


def test_sync_bulk_cancel_works_inside_a_running_event_loop(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"nb-{i}").id for i in range(5)]

    async def notebook_cell() -> list[Any]:
        # A Jupyter cell runs inside the kernel's loop; the sync API must still work.
        with box.polymarket_client() as pm:
            return pm.cancel_orders(ids)  # type: ignore[no-any-return]

    results = asyncio.run(notebook_cell())
    assert [r.status for r in results] == ["cancelled"] * 5
    assert box.open_orders() == []


BLOCK_SANDBOX = "import sys; sys.modules['starlette'] = None\n"


@pytest.mark.parametrize("command", [["demo"], ["sandbox"]])
def test_without_the_sandbox_extra_the_commands_say_so_and_exit_2(command: list[str]) -> None:
    code = BLOCK_SANDBOX + f"from cancelkit._cli import main; main({command!r})"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "cancelkit: the cancelkit sandbox needs the 'sandbox' extra:"
        " pip install 'cancelkit[sandbox]' (starlette is missing)"
    ]
    assert "Traceback" not in run.stderr


def test_without_the_sandbox_extra_the_fixture_errors_instead_of_skipping(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(BLOCK_SANDBOX)
    pytester.makepyfile("def test_kill(cancelkit_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(errors=1)
    assert "needs the 'sandbox' extra: pip install 'cancelkit[sandbox]'" in result.stdout.str()


def test_a_kill_list_that_is_not_utf8_exits_2_naming_file_and_line(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    from cancelkit._cli import main

    kill = tmp_path / "kill.txt"
    kill.write_bytes(b"ord-1\nord-2\n\xe9t\xe9\n")
    result = CliRunner().invoke(
        main, ["cancel", "polymarket", "--from-file", str(kill)], env=cancelkit_sandbox.env()
    )
    assert result.exit_code == 2
    assert f"{kill} line 3: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.output
    assert cancelkit_sandbox.polymarket.stats.requests == 0


def test_the_wheel_ships_the_license(tmp_path: Path) -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cancelkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names


class _CountingRelay:
    """A TCP relay on loopback to ``target`` that counts the connections it accepts."""

    def __init__(self, target: str) -> None:
        import socket
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            self.connections += 1
            upstream = socket.create_connection(self._target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(2)

    def close(self) -> None:
        self._server.close()


def test_the_sync_kill_switch_keeps_one_pool_warmed_for_the_client_life(
    cancelkit_sandbox: Sandbox,
) -> None:
    box = cancelkit_sandbox
    relay = _CountingRelay(box.polymarket_url)
    before = {t for t in threading.enumerate() if t.name == "cancelkit-bulk"}
    try:
        with box.polymarket_client(base_url=relay.url) as pm:
            pm.warm()  # one connection for single cancels, one for bulk cancels
            warmed = relay.connections
            for n in range(3):
                ids = [box.seed_polymarket(f"pool-{n}-{i}").id for i in range(3)]
                results = pm.cancel_orders(ids, concurrency=1)
                assert [r.status for r in results] == ["cancelled"] * 3
            # Keep-alive: the three kill switches (each several requests) opened none.
            assert relay.connections == warmed == 2
        # close() ended the client's loop thread.
        assert {t for t in threading.enumerate() if t.name == "cancelkit-bulk"} <= before
    finally:
        relay.close()
