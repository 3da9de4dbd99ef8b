"""``cancelkit sandbox``: what the operator reads when the sandbox starts.

Every command in the banner runs as printed: the URLs are filled in, and a seeded
order belongs to the demo key (an order of another ``owner`` is invisible to it).
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from typing import Any
from uuid import uuid4

LOOPBACK_NAMES = ("localhost",)

ADMIN_ROUTES = """\
Admin routes, on each venue's URL (the sandbox's own; no authentication):
  POST /_sandbox/orders  one order or a list: {"id", "owner", "client_order_id",
                         "market_slug", "status", "subaccount"}; only "id" is
                         required. Without "owner" the order is the demo key's
                         (Polymarket "pm-demo", Limitless profile 1001, Kalshi member
                         "kalshi-demo"); "status": open, cancelled or filled; Kalshi:
                         "market_slug" is the ticker, "subaccount" 0 to 63. Kalshi's
                         admin routes are at its server's root, not under /trade-api/v2.
  GET  /_sandbox/orders  every order, whoever owns it.
  GET  /_sandbox/knobs   the knobs; POST {"name": value, ...} changes them, all or none.
  GET  /_sandbox/stats   the counters (requests, 429s, injected faults, cancels...).
  POST /_sandbox/reset   forgets orders and counters, and resets every knob to its
                         default too (flags given at start included)."""


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """The warning for a listening address other than loopback, else None."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: listening on {host}, not loopback. The /_sandbox/ admin routes have NO"
        " authentication: anyone who can reach this address can seed, list and reset"
        " orders and change the knobs. Use it only on a network you trust."
    )


def _curl(url: str, body: dict[str, Any]) -> str:
    return (
        f"curl -sS -X POST {shlex.quote(url + '/_sandbox/orders')}"
        f" -H 'content-type: application/json' -d {shlex.quote(json.dumps(body))}"
    )


def seed_commands(
    polymarket_url: str, limitless_url: str, market: str, kalshi_root: str | None = None
) -> list[str]:
    """Shell commands that seed one open order on each venue for the demo key, then
    cancel them with the CLI (after the ``export`` lines). ``kalshi_root``: the Kalshi
    server's root (its admin routes), if it runs."""
    from .. import _VENUES

    order_id = str(uuid4())
    commands = [
        _curl(polymarket_url, {"id": "ord-1", "market_slug": market}),
        _curl(limitless_url, {"id": order_id, "client_order_id": "cli-1"}),
        "cancelkit cancel polymarket ord-1",
        f"cancelkit cancel limitless --order-id {order_id}",
    ]
    if kalshi_root is not None:
        kalshi_id = str(uuid4())
        commands.insert(2, _curl(kalshi_root, {"id": kalshi_id}))
        if "kalshi" in _VENUES:  # its command exists once the venue is registered
            commands.append(f"cancelkit cancel kalshi {kalshi_id}")
    return commands


def banner(box: Any, market: str) -> str:
    """The text printed when ``cancelkit sandbox`` starts."""
    c = box.credentials
    kalshi_url = getattr(box, "kalshi_url", None)
    kalshi_root = kalshi_url.removesuffix("/trade-api/v2") if kalshi_url else None
    seeding = seed_commands(box.polymarket_url, box.limitless_url, market, kalshi_root)
    lines = [
        f"Polymarket US  {box.polymarket_url}",
        f"Limitless      {box.limitless_url}",
        *([f"Kalshi         {kalshi_url}"] if kalshi_url else []),
        "",
        "Demo credentials (sandbox only) - export them to use the CLI or from_env():",
        *(f"export {name}={shlex.quote(value)}" for name, value in box.env().items()),
        "",
        "Seed an open order on each venue (for the demo key), then cancel them:",
        *(f"  {command}" for command in seeding),
        "",
        f"Limitless: the demo token is partner profile {c.limitless_profile_id}"
        f" (delegated_signing), managing sub-account {c.limitless_sub_account}"
        f" (--on-behalf-of {c.limitless_sub_account}). Another account, profile"
        f" {c.limitless_other_profile_id}: token id {c.limitless_other_token_id},"
        f" secret {c.limitless_other_secret}",
        "",
        *(
            [
                "Kalshi: KALSHI_PRIVATE_KEY above is the demo Ed25519 key; an RSA key is"
                f" there too: key id {c.kalshi_rsa_key_id} (Sandbox.credentials)."
            ]
            if kalshi_url
            else []
        ),
        "",
        ADMIN_ROUTES,
    ]
    return "\n".join(lines)
