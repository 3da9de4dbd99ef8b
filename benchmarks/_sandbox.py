"""The sandbox in its own process, so the server does not share the client's GIL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, NamedTuple

import httpx

KALSHI_MEMBER = "kalshi-demo"  # the member the sandbox's demo keys act for
KALSHI_TICKER = "KXBENCH-26DEC31-T50"


class Arrival(NamedTuple):
    """One request as the sandbox logged it, with its ``time.monotonic()`` instants:
    ``arrived`` when the sandbox's handler began, ``wire`` when its bytes reached the
    sandbox's socket (the kernel's stamp; ``arrived`` where there is none)."""

    venue: str
    method: str
    path: str
    status: int
    arrived: float
    wire: float


class SandboxProcess:
    """The sandbox (``benchmarks._sandbox_host``) on loopback, driven through its admin
    routes, and through its stdin for the request log's arrival instants."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._sandbox_host"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.env: dict[str, str] = {}
        # Kalshi's demo keys by type: (key id, private key PEM).
        self.kalshi_keys: dict[str, tuple[str, str]] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                self.env[name] = json.loads(value)
            elif line.startswith("kalshi-keys "):
                keys = json.loads(line[len("kalshi-keys ") :])
                self.kalshi_keys = {kind: (key[0], key[1]) for kind, key in keys.items()}
            if line.strip() == "ready":
                break
        self.pm_url = self.env["POLYMARKET_API_URL"]
        self.lm_url = self.env["LIMITLESS_API_URL"]
        self.kalshi_url = self.env["KALSHI_API_URL"]  # with the API root's path
        self._origins = {
            "pm": self.pm_url,
            "lm": self.lm_url,
            # The sandbox's admin routes are at the origin, outside the API root.
            "kalshi": str(httpx.URL(self.kalshi_url).copy_with(path="")).rstrip("/"),
        }
        self.admin = httpx.Client(timeout=60)

    def seed(self, venue: str, ids: list[str], owner: str, market: str = "bench-market") -> None:
        orders = [{"id": i, "owner": owner, "market_slug": market} for i in ids]
        self.admin.post(self._origins[venue] + "/_sandbox/orders", json=orders).raise_for_status()

    def knobs(self, venue: str, **knobs: Any) -> None:
        self.admin.post(self._origins[venue] + "/_sandbox/knobs", json=knobs).raise_for_status()

    def stats(self, venue: str) -> dict[str, int]:
        result: dict[str, int] = self.admin.get(self._origins[venue] + "/_sandbox/stats").json()
        return result

    def open_count(self, venue: str, ids: list[str]) -> int:
        wanted = set(ids)
        orders = self.admin.get(self._origins[venue] + "/_sandbox/orders").json()
        return sum(o["status"] == "open" for o in orders if o["id"] in wanted)

    def kalshi_seed(self, ids: list[str], ticker: str = KALSHI_TICKER) -> None:
        """Resting Kalshi orders of the demo member (both demo keys act for it), in
        ``ticker``, subaccount 0."""
        orders = [
            {"id": i, "owner": KALSHI_MEMBER, "market_slug": ticker, "subaccount": 0} for i in ids
        ]
        self.admin.post(
            self._origins["kalshi"] + "/_sandbox/orders", json=orders
        ).raise_for_status()

    def kalshi_knobs(self, **knobs: Any) -> None:
        """Set the Kalshi book's knobs (``validate``, ``published_limits``, ``tier``...)."""
        self.knobs("kalshi", **knobs)

    def kalshi_resting(self, ids: list[str]) -> int:
        """How many of ``ids`` the Kalshi book still holds resting."""
        return self.open_count("kalshi", ids)

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline()

    def clear_requests(self) -> None:
        """Empty the sandbox's request log (both venues)."""
        self._ask("clear")

    def arrivals(self) -> list[Arrival]:
        """Every request logged since :meth:`clear_requests`, in order of arrival."""
        return [Arrival(*row) for row in json.loads(self._ask("requests"))]

    def add_account(self, venue: str) -> dict[str, str]:
        """Another key on ``venue`` (``polymarket`` or ``limitless``), whose orders are
        its own on the book: venue, key_id, secret, owner (to seed with), base_url."""
        answer: dict[str, str] = json.loads(self._ask(f"account {venue}"))
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def reset(self, venue: str) -> None:
        """Forget one venue's orders and counters, and reset its knobs."""
        self.admin.post(self._origins[venue] + "/_sandbox/reset").raise_for_status()

    def close(self) -> None:
        """Stop the sandbox (end of its stdin), and kill it if it lingers."""
        self.admin.close()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class VenueSandboxes(SandboxProcess):
    """One sandbox process per venue (Polymarket US, Limitless, Kalshi), driven as
    one :class:`SandboxProcess`. The exchanges are separate servers; in one sandbox
    process a venue's request waits for the interpreter while another venue's
    handler runs (a 300-order cancel-all is milliseconds of Python), which delays
    that venue's arrival stamp by the other one's work. Each process stamps its
    arrivals with ``time.monotonic()`` (system-wide on Linux: one clock for every
    process), so their logs merge in order of arrival."""

    VENUES = ("polymarket", "limitless", "kalshi")

    def __init__(self) -> None:  # no super().__init__(): one process per venue
        self.boxes: dict[str, SandboxProcess] = {}
        try:
            for venue in self.VENUES:
                self.boxes[venue] = SandboxProcess()
        except BaseException:
            self.close()
            raise
        prefixes = {"polymarket": "POLYMARKET_", "limitless": "LIMITLESS_", "kalshi": "KALSHI_"}
        self.env = {}
        for venue, box in self.boxes.items():
            self.env.update({k: v for k, v in box.env.items() if k.startswith(prefixes[venue])})
        self.kalshi_keys = self.boxes["kalshi"].kalshi_keys
        self.pm_url = self.boxes["polymarket"].pm_url
        self.lm_url = self.boxes["limitless"].lm_url
        self.kalshi_url = self.boxes["kalshi"].kalshi_url

    def _of(self, venue: str) -> SandboxProcess:
        return self.boxes[{"pm": "polymarket", "lm": "limitless"}.get(venue, venue)]

    def seed(self, venue: str, ids: list[str], owner: str, market: str = "bench-market") -> None:
        self._of(venue).seed(venue, ids, owner, market)

    def knobs(self, venue: str, **knobs: Any) -> None:
        self._of(venue).knobs(venue, **knobs)

    def stats(self, venue: str) -> dict[str, int]:
        return self._of(venue).stats(venue)

    def open_count(self, venue: str, ids: list[str]) -> int:
        return self._of(venue).open_count(venue, ids)

    def kalshi_seed(self, ids: list[str], ticker: str = KALSHI_TICKER) -> None:
        self.boxes["kalshi"].kalshi_seed(ids, ticker)

    def clear_requests(self) -> None:
        for box in self.boxes.values():
            box.clear_requests()

    def arrivals(self) -> list[Arrival]:
        # Each process's log, of its own venue only (the others' are not used there).
        mine = [a for venue, box in self.boxes.items() for a in box.arrivals() if a.venue == venue]
        return sorted(mine, key=lambda a: a.arrived)

    def add_account(self, venue: str) -> dict[str, str]:
        return self._of(venue).add_account(venue)

    def reset(self, venue: str) -> None:
        self._of(venue).reset(venue)

    def close(self) -> None:
        for box in self.boxes.values():
            box.close()
