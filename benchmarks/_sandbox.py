"""The sandbox in its own process, so the server does not share the client's GIL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, NamedTuple

import httpx


class Arrival(NamedTuple):
    """One request as the sandbox logged it, with its ``time.monotonic()`` arrival."""

    venue: str
    method: str
    path: str
    status: int
    arrived: float


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
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                self.env[name] = value
            if line.strip() == "ready":
                break
        self.pm_url = self.env["POLYMARKET_API_URL"]
        self.lm_url = self.env["LIMITLESS_API_URL"]
        self.admin = httpx.Client(timeout=60)

    def seed(self, venue: str, ids: list[str], owner: str, market: str = "bench-market") -> None:
        url = self.pm_url if venue == "pm" else self.lm_url
        orders = [{"id": i, "owner": owner, "market_slug": market} for i in ids]
        self.admin.post(url + "/_sandbox/orders", json=orders).raise_for_status()

    def knobs(self, venue: str, **knobs: Any) -> None:
        url = self.pm_url if venue == "pm" else self.lm_url
        self.admin.post(url + "/_sandbox/knobs", json=knobs).raise_for_status()

    def stats(self, venue: str) -> dict[str, int]:
        url = self.pm_url if venue == "pm" else self.lm_url
        result: dict[str, int] = self.admin.get(url + "/_sandbox/stats").json()
        return result

    def open_count(self, venue: str, ids: list[str]) -> int:
        url = self.pm_url if venue == "pm" else self.lm_url
        wanted = set(ids)
        orders = self.admin.get(url + "/_sandbox/orders").json()
        return sum(o["status"] == "open" for o in orders if o["id"] in wanted)

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
        url = self.pm_url if venue == "pm" else self.lm_url
        self.admin.post(url + "/_sandbox/reset").raise_for_status()

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
