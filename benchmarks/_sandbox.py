"""The sandbox in its own process, so the server does not share the client's GIL."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx


class SandboxProcess:
    """``python -m cancelkit sandbox`` on loopback, driven through its admin routes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cancelkit", "sandbox"],
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
            if line.startswith("Press Ctrl+C"):
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

    def close(self) -> None:
        self.admin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
