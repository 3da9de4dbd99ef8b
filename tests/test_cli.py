"""The operator's command line: inputs, exit codes, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cancelkit._cli import main
from cancelkit.sandbox import Sandbox
from click.testing import CliRunner


def invoke(box: Sandbox, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env=box.env(), input=stdin, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_polymarket_json_output_parses_and_exit_0(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    for i in range(3):
        box.seed_polymarket(f"o{i}", market_slug="m")
    code, out, _ = invoke(
        box, "cancel", "polymarket", "o0", "o1", "o2", "--market-slug", "m", "--json"
    )
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    # With the market given, no listing saw them open before the cancel: not_open. Each
    # line is written as its outcome is decided (lookups run side by side): any order.
    assert sorted((r["order"], r["status"]) for r in lines) == [
        (f"o{i}", "not_open") for i in range(3)
    ]
    assert box.open_orders() == []


def test_a_file_with_bad_lines_exits_2_naming_them_and_sends_nothing(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    kill = tmp_path / "kill.txt"
    kill.write_text(f"# kill list\norder:{order.id}\n\nclient:\norder:nope\nclient:ok-1\nfoo\n")
    code, _, err = invoke(box, "cancel", "limitless", "--from-file", str(kill))
    assert code == 2
    assert f"{kill} line 4: client_order_id is empty" in err
    assert f"{kill} line 5: Limitless order_id 'nope' is not a UUID" in err
    assert f"{kill} line 7:" in err
    assert "nothing was sent" in err
    assert box.limitless.stats.requests == 0
    assert order.status == "open"


def test_skip_invalid_sends_the_valid_ones_and_exits_1(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    code, out, err = invoke(
        box,
        "cancel",
        "limitless",
        "--from-file",
        "-",
        "--skip-invalid",
        stdin=f"order:{order.id}\nbad\n",
    )
    assert code == 1
    assert order.status == "cancelled"
    assert f"cancelled  order:{order.id}" in out
    assert "stdin line 2" in err


@pytest.mark.parametrize(("missing_ok", "code"), [("--missing-ok", 0), ("--no-missing-ok", 1)])
def test_missing_orders_and_exit_codes(
    cancelkit_sandbox: Sandbox, missing_ok: str, code: int
) -> None:
    assert invoke(cancelkit_sandbox, "cancel", "polymarket", "ghost", missing_ok)[0] == code


def test_on_behalf_of_and_client_ids(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    sub = box.credentials.limitless_sub_account
    order = box.seed_limitless(client_order_id="p-1", owner=sub)
    code, out, _ = invoke(
        box, "cancel", "limitless", "--client-order-id", "p-1", "--on-behalf-of", str(sub)
    )
    assert code == 0, out
    assert order.status == "cancelled"


def test_missing_credentials_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POLYMARKET_KEY_ID", "POLYMARKET_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["cancel", "polymarket", "o1"])
    assert result.exit_code == 2
    # Every missing variable at once, not one per run.
    assert "POLYMARKET_KEY_ID, POLYMARKET_SECRET_KEY are not set" in result.stderr


def test_no_orders_is_a_usage_error(cancelkit_sandbox: Sandbox) -> None:
    assert invoke(cancelkit_sandbox, "cancel", "polymarket")[0] == 2


def test_help_does_not_import_the_heavy_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cancelkit._cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'cryptography', 'cancelkit.sandbox', 'starlette', 'uvicorn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_every_public_name_resolves_and_is_listed() -> None:
    import cancelkit

    for name in cancelkit.__all__:
        assert getattr(cancelkit, name) is not None
    assert set(cancelkit._EXPORTS) | {"__version__"} == set(cancelkit.__all__)


@pytest.mark.cancelkit_sandbox(latency=0.3)
def test_status_lines_on_stderr_when_it_is_not_a_terminal(
    cancelkit_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cancelkit._cli._cancel as cli

    monkeypatch.setattr(cli, "STATUS_EVERY", 0.2)
    box = cancelkit_sandbox
    args = [a for _ in range(60) for a in ("--order-id", box.seed_limitless().id)]
    code, out, err = invoke(box, "cancel", "limitless", "--concurrency", "1", "--json", *args)
    assert code == 0
    status = [line for line in err.splitlines() if "orders done" in line]
    assert status, err  # two batches, 0.3 s each and 0.3 s apart: lines every 0.2 s
    assert "cancelled" in status[-1]
    assert len(out.splitlines()) == 60  # stdout carries only the records


def test_help_shows_every_flag_with_its_default() -> None:
    result = CliRunner().invoke(main, ["cancel", "polymarket", "--help"])
    for flag in ("--deadline", "--rate", "--concurrency", "--journal", "--dry-run", "--all"):
        assert flag in result.output
    assert "default: 60.0" in result.output


def test_verbose_shows_each_attempt_and_no_secret(cancelkit_sandbox: Sandbox) -> None:
    box = cancelkit_sandbox
    order = box.seed_limitless()
    code, _, err = invoke(box, "cancel", "limitless", "--order-id", order.id, "--verbose")
    assert code == 0
    assert "POST /orders/batch-cancel -> 200 (attempt 1" in err
    assert box.credentials.limitless_secret not in err


@pytest.mark.parametrize(
    ("venue", "order", "variables"),
    [
        ("polymarket", "ord-1", ("POLYMARKET_KEY_ID", "POLYMARKET_SECRET_KEY")),
        (
            "limitless",
            "--order-id=0f8fad5b-d9cb-469f-a165-70867728950e",
            ("LIMITLESS_TOKEN_ID", "LIMITLESS_TOKEN_SECRET"),
        ),
        (
            "kalshi",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY"),
        ),
    ],
)
def test_a_dry_run_needs_no_credentials(
    cancelkit_sandbox: Sandbox, venue: str, order: str, variables: tuple[str, ...]
) -> None:
    """Nothing is sent, so no key is needed to show what would be (issue 31); a real
    run without them is still refused before anything is sent."""
    box = cancelkit_sandbox
    box.clear_requests()
    unset: dict[str, str | None] = {name: None for name in variables}
    env = {**box.env(), **unset}
    dry = CliRunner().invoke(main, ["cancel", venue, "--dry-run", order], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would cancel" in dry.stdout
    assert "dry run, nothing sent" in dry.stderr
    real = CliRunner().invoke(main, ["cancel", venue, order], env=env)
    assert real.exit_code == 2
    assert all(name in real.stderr for name in variables)
    assert box.requests == []
