"""A cancel whose command line ``_cli._quick`` knows runs before click is loaded; the
line means the same as it does to click, and a line it refuses or a bad input is
reported as click reports it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cancelkit._cli import _quick, main
from cancelkit._cli._options import DEFAULTS, CancelOptions
from cancelkit.polymarket import _cancel_cmd
from cancelkit.sandbox import Sandbox
from click.testing import CliRunner

RECOGNISED = [
    (["cancel", "polymarket", "A"], (("A",), {})),
    (["cancel", "polymarket", "A", "B", "--market", "m"], (("A", "B"), {"market": "m"})),
    (["cancel", "polymarket", "--market=m", "A"], (("A",), {"market": "m"})),
    (["cancel", "polymarket", "A", "--market-slug", "m", "B"], (("A", "B"), {"market": "m"})),
    (["cancel", "polymarket", "a=b", "--market="], (("a=b",), {"market": ""})),
]
LEFT_TO_CLICK = [
    ["cancel", "polymarket"],
    ["cancel", "polymarket", "--market", "m"],
    ["cancel", "polymarket", "A", "--market", "m", "--market", "n"],
    ["cancel", "polymarket", "A", "--market", "m", "--market-slug", "n"],
    ["cancel", "polymarket", "A", "--market"],
    ["cancel", "polymarket", "A", "--market", "-x"],
    ["cancel", "polymarket", "A", "--json"],
    ["cancel", "polymarket", "A", "--deadline", "5"],
    ["cancel", "polymarket", "--", "A"],
    ["cancel", "polymarket", "-h"],
    ["cancel", "polymarket", "--all"],
    ["cancel", "polymarket", "-5"],
    ["cancel", "limitless", "A"],  # no quick form there
    ["cancel", "--everywhere"],
    ["orders", "polymarket"],
    ["cancel", "Polymarket", "A"],
]


@pytest.mark.parametrize(("argv", "expected"), RECOGNISED)
def test_the_plain_forms_are_recognised(argv: list[str], expected: Any) -> None:
    form = _quick.recognise(argv)
    assert form is not None
    assert (form.ids, form.given) == expected
    assert form.work is _cancel_cmd


@pytest.mark.parametrize("argv", LEFT_TO_CLICK)
def test_every_other_line_is_left_to_click(argv: list[str]) -> None:
    assert _quick.recognise(argv) is None


@pytest.mark.parametrize(("argv", "expected"), RECOGNISED)
def test_a_recognised_line_means_to_click_what_it_means_here(
    argv: list[str], expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's work gets the same arguments either way: click's parse (its
    options' defaults included) and this one's (``_options.DEFAULTS``)."""
    seen: list[tuple[object, ...]] = []

    def cancel(ids: Any, markets: Any, all_orders: bool, opts: CancelOptions) -> None:
        seen.append((tuple(ids), tuple(markets), all_orders, opts))
        raise SystemExit(0)

    monkeypatch.setattr(_cancel_cmd, "cancel", cancel)
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    with pytest.raises(SystemExit):
        _quick.quick(argv)
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert seen[1][3] == DEFAULTS


# Runs the command as its console script does, and says whether click was loaded when
# the first request's first byte left.
REPORT = (
    "import socket, sys\n"
    "_said = []\n"
    "def _wrap(name):\n"
    "    real = getattr(socket.socket, name)\n"
    "    def send(self, data, *args):\n"
    "        if not _said:\n"
    "            _said.append(1)\n"
    "            print('CLICK AT FIRST SEND', 'click' in sys.modules, file=sys.stderr)\n"
    "        return real(self, data, *args)\n"
    "    setattr(socket.socket, name, send)\n"
    "_wrap('sendall')\n"
    "_wrap('send')\n"
    "from cancelkit._cli import run\n"
    "run()\n"
)


def _run(box: Sandbox, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **box.env(), "CANCELKIT_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-c", REPORT, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_first_cancel_leaves_before_click_loads(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    order = box.seed_polymarket("quick-1", market_slug="m1")
    done = _run(box, tmp_path, "cancel", "polymarket", order.id, "--market", "m1")
    assert done.returncode == 0, done.stderr
    assert "CLICK AT FIRST SEND False" in done.stderr
    assert done.stdout.startswith("not_open")  # its outcome line, written with click
    assert box.open_orders() == []
    # Any other line is click's from the start.
    other = box.seed_polymarket("quick-2", market_slug="m1")
    done = _run(box, tmp_path, "cancel", "polymarket", other.id, "--market", "m1", "--json")
    assert done.returncode == 0, done.stderr
    assert "CLICK AT FIRST SEND True" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["cancel", "polymarket", "order:1b2c", "--market", "m1"],  # Limitless's form: click's error
        ["cancel", "polymarket", "..", "--market", "m1"],  # invalid (a dot-segment): nothing sent
        ["cancel", "polymarket", "g-1", "--market="],  # an empty market: nothing sent
        ["cancel", "polymarket", "g-1", "g-1", "--market", "m1", "--market", "m2"],  # click's
    ],
)
def test_refused_input_is_said_as_click_says_it_and_nothing_is_sent(
    cancelkit_sandbox: Sandbox, tmp_path: Path, argv: list[str]
) -> None:
    """The same words and status as the same line with an option that sends it to
    click from the start (``--deadline 60``, the default), and no request."""
    box = cancelkit_sandbox
    box.clear_requests()
    quick = _run(box, tmp_path, *argv)
    clicked = _run(box, tmp_path, *argv, "--deadline", "60")
    assert quick.returncode == clicked.returncode == 2, quick.stderr
    assert quick.stderr == clicked.stderr
    assert quick.stdout == clicked.stdout == ""
    assert box.requests == []
