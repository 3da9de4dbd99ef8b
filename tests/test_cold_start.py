"""The cold command's start-up: what a `cancelkit cancel` process imports before its
first cancel, judged in a real process against the sandbox. (Its speed is measured in
benchmarks/, never asserted here.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from cancelkit.sandbox import Sandbox

# Never needed by a cancel from a script or a pipe: httpx's own command line (pygments,
# rich's syntax and tables; rich comes back only for a terminal's progress bar) and the
# async clients' aiohttp route (the command sends through httpx's own transport).
UNNEEDED = ("pygments", "rich", "aiohttp")
REPORT = (
    "import atexit, gc, sys\n"
    f"UNNEEDED = {UNNEEDED!r}\n"
    "atexit.register(lambda: print('IMPORTED', [m for m in UNNEEDED if m in sys.modules],"
    " file=sys.stderr))\n"
    "atexit.register(lambda: print('GC', gc.isenabled(), gc.get_freeze_count() > 0,"
    " file=sys.stderr))\n"
    "from cancelkit._cli import main\n"
    "main()\n"
)


def _cancel(box: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", REPORT, "cancel", *args],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("venue", ["polymarket", "limitless"])
def test_a_cancel_from_a_script_imports_nothing_it_does_not_use(
    cancelkit_sandbox: Sandbox, venue: str
) -> None:
    box = cancelkit_sandbox
    if venue == "polymarket":
        order = box.seed_polymarket("cold-1", market_slug="m")
        done = _cancel(box, "polymarket", order.id)
    else:
        order = box.seed_limitless()
        done = _cancel(box, "limitless", "--order-id", order.id)
    assert done.returncode == 0, done.stderr
    assert order.status == "cancelled"
    said = done.stderr.splitlines()
    assert "IMPORTED []" in said, done.stderr
    # Its modules were loaded without the cyclic collector and frozen out of its sight;
    # the collector runs again for the run itself (a long run must still collect).
    assert "GC True True" in said, done.stderr


def test_loading_without_gc_restores_the_collector_as_it_was() -> None:
    import gc

    from cancelkit._cli._loading import without_gc

    frozen = gc.get_freeze_count()
    was = gc.isenabled()
    try:
        gc.disable()  # a program that turned it off keeps it off
        with without_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
        gc.enable()
        with without_gc() as loading:
            assert not gc.isenabled()
            loading.done()  # ended early (the event loop's first task)...
            assert gc.isenabled()
        assert gc.isenabled()  # ...and once only
        assert gc.get_freeze_count() == frozen  # nothing was loaded: nothing frozen
    finally:
        (gc.enable if was else gc.disable)()


def test_housekeeping_waits_for_the_first_answer_not_the_first_cancel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The state directory's pruning (a thread) starts once the first outcome is
    written, not as the first cancel is about to leave: a thread started then takes
    the interpreter from the request on its way out."""
    from cancelkit._bulk import CancelResult
    from cancelkit._cli._cancel import _Report

    report = _Report(["argument 1"], ["o1"], False, None, {}, str)
    started: list[str] = []
    report.after_first_outcome = lambda: started.append("pruning")
    report.sent([0])  # the first cancel is about to leave
    assert started == []
    report(CancelResult("o1", "cancelled", index=0))
    report(CancelResult("o1", "cancelled", index=0))
    assert started == ["pruning"]  # once
    assert "cancelled" in capsys.readouterr().out


# Says on stderr, when the first byte of the first request leaves, which modules of
# the generated models packages, of the Polymarket package and of anyio are loaded.
AT_FIRST_SEND = (
    "import socket, sys\n"
    "_said = []\n"
    "def _say():\n"
    "    if not _said:\n"
    "        _said.append(1)\n"
    "        for label, prefix in (('MODELS', 'cancelkit._generated.polymarket_us_api.models.'),\n"
    "                              ('VENUE', 'cancelkit.polymarket.'), ('ANYIO', 'anyio.')):\n"
    "            loaded = sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))\n"
    "            print(label, 'AT FIRST SEND', ','.join(loaded), file=sys.stderr)\n"
    "for _name in ('send', 'sendall'):\n"
    "    def _wrap(original):\n"
    "        def sending(self, data, *args):\n"
    "            _say()\n"
    "            return original(self, data, *args)\n"
    "        return sending\n"
    "    setattr(socket.socket, _name, _wrap(getattr(socket.socket, _name)))\n"
    "from cancelkit._cli import main\n"
    "main()\n"
)
# An order's model and the models it names: a listing's, never a batched cancel's.
ORDER_MODELS = {"order", "amount", "market_metadata", "team"}
# What the run that follows the first cancel uses: the async client, the kill switch,
# the order stream's events and what was heard on it.
RUN_MODULES = {"_async_client", "_client", "_kill", "_heard", "_events", "_stream"}


def _loaded_at_first_send(stderr: str, label: str) -> set[str]:
    said = [line for line in stderr.splitlines() if line.startswith(f"{label} AT FIRST SEND")]
    assert len(said) == 1, stderr
    _, _, names = said[0].partition(" AT FIRST SEND ")
    return set(names.split(","))


def test_a_cancel_with_its_market_leaves_before_the_run_s_code_loads(
    cancelkit_sandbox: Sandbox,
) -> None:
    """The one batched cancel is built, signed and sent on the sync client with the
    few models it uses; no order model, async client, kill switch, stream code or
    anyio event-loop core is loaded until it has left (the run that confirms it loads
    them after)."""
    box = cancelkit_sandbox
    order = box.seed_polymarket("cold-models-1", market_slug="m")
    command = ["cancel", "polymarket", order.id, "--market", "m"]
    done = subprocess.run(
        [sys.executable, "-c", AT_FIRST_SEND, *command],
        env={**os.environ, **box.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert order.status == "cancelled"
    models = _loaded_at_first_send(done.stderr, "MODELS")
    assert "cancel_order_list_request" in models  # (the hook saw the cancel's own)
    assert not models & ORDER_MODELS, models
    venue = _loaded_at_first_send(done.stderr, "VENUE")
    assert "_sync_client" in venue  # (what it was sent on)
    assert not venue & RUN_MODULES, venue
    # anyio's event-loop core (its sleep, its run) loads with the run, not the client.
    assert "_core._eventloop" not in _loaded_at_first_send(done.stderr, "ANYIO")


GENERATED_MODELS = [
    "cancelkit._generated.polymarket_us_api.models",
    "cancelkit._generated.limitless_api.models",
    "cancelkit._generated.kalshi_api.models",
]
LOADS_ON_USE = (
    "import importlib, sys\n"
    "package = sys.argv[1]\n"
    "def loaded():\n"
    "    return sorted(m for m in sys.modules if m.startswith(package + '.'))\n"
    "models = importlib.import_module(package)\n"
    "print('AFTER IMPORT', loaded())\n"
    "first = sorted(models.__all__)[0]\n"
    "print('ASKED', first, getattr(models, first).__module__)\n"
    "print('AFTER ONE', len(loaded()) < len(models.__all__))\n"
    "print('DIR', dir(models) == sorted(models.__all__))\n"
    "print('ALL', all(getattr(models, n).__name__ == n for n in models.__all__))\n"
    "try:\n"
    "    models.NoSuchModel\n"
    "except AttributeError as exc:\n"
    "    print('MISSING', exc)\n"
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("package", GENERATED_MODELS)
def test_a_generated_models_package_loads_each_model_when_asked_for(package: str) -> None:
    """The pipeline's models ``__init__`` (scripts/generator/templates): importing the
    package loads no model; asking for one loads it (and what it names), not all;
    every name of ``__all__`` is there; a misspelt one is an AttributeError."""
    done = subprocess.run(
        [sys.executable, "-c", LOADS_ON_USE, package],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "AFTER IMPORT []"
    _, first, module = lines[1].split()
    assert module == f"{package}.{_snake(first)}"
    assert lines[2:5] == ["AFTER ONE True", "DIR True", "ALL True"]
    assert lines[5].startswith("MISSING")
    assert "NoSuchModel" in lines[5]


PRELOADED = (
    "import sys\n"
    "from cancelkit._cli._guard_run import _preload\n"
    "from cancelkit._desk_hook import desk_hook\n"
    "from cancelkit import _VENUES\n"
    "for venue in _VENUES:\n"
    "    _preload(desk_hook(venue))\n"
    "import pkgutil\n"
    "for package in sys.argv[1:]:\n"
    "    found = pkgutil.iter_modules(sys.modules[package].__path__, package + '.')\n"
    "    print(package, sorted(m.name for m in found if m.name not in sys.modules))\n"
)


def test_an_armed_guard_has_every_model_loaded_before_it_fires() -> None:
    """Models load on first use; the guard's warm desk loads them all when it arms, so
    that no firing pays for a model's import (``_guard_run._preload``)."""
    done = subprocess.run(
        [sys.executable, "-c", PRELOADED, *GENERATED_MODELS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [f"{package} []" for package in GENERATED_MODELS]


CLIENTS_LOAD = (
    "import importlib, pkgutil, sys\n"
    "venue, package = sys.argv[1:]\n"
    "importlib.import_module(f'cancelkit.{venue}._client')\n"
    "found = pkgutil.iter_modules(sys.modules[package].__path__, package + '.')\n"
    "print(sorted(m.name for m in found if m.name not in sys.modules))\n"
    "print('cancelkit.polymarket._kill' in sys.modules)\n"
)


VENUE_MODELS = list(zip(("polymarket", "limitless", "kalshi"), GENERATED_MODELS, strict=True))


@pytest.mark.parametrize(("venue", "package"), VENUE_MODELS)
def test_a_program_s_clients_load_what_their_first_calls_use(venue: str, package: str) -> None:
    """What the cold command loads after its first cancel (every model; Polymarket's
    kill switch) a program's clients load with their import, as before: a warm
    client's first call pays for no import (``<venue>/_client.py``)."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENTS_LOAD, venue, package],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == ["[]", str(venue == "polymarket")]
