"""The benchmarks' sandbox process (``python -m benchmarks._sandbox_host``).

It runs :class:`cancelkit.sandbox.Sandbox` on loopback, prints its environment as
``export NAME=value`` lines (a value as a JSON string: a PEM has line breaks), its
Kalshi demo keys as one ``kalshi-keys {"rsa": [id, pem], "ed25519": [id, pem]}`` line,
then ``ready``, and answers one command per stdin line with one stdout line, for
what the HTTP admin routes do not expose:

- ``clear``: forget the request log; answers ``ok``.
- ``account VENUE``: another key on ``polymarket`` or ``limitless``, for an account
  of its own (``Sandbox.add_account``); answers its venue, key_id, secret (sandbox-only
  credentials), owner and base_url as JSON.
- ``requests``: the log as JSON, ``[[venue, method, path, status, arrived, wire], ...]``
  in order of arrival, ``arrived`` being the sandbox's ``time.monotonic()`` when its
  handler began and ``wire`` when the bytes reached its socket (system-wide on Linux,
  so the runner compares them with its own clock).

End of stdin stops the servers.
"""

from __future__ import annotations

import json
import sys

from cancelkit.sandbox import Sandbox


def main() -> None:
    """Serve until stdin closes."""
    with Sandbox() as box:
        for name, value in box.env().items():
            print(f"export {name}={json.dumps(value)}")
        keys = {kind: box.credentials.kalshi_key(kind) for kind in ("rsa", "ed25519")}
        print(f"kalshi-keys {json.dumps(keys)}")
        print("ready", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "clear":
                box.clear_requests()
                print("ok", flush=True)
            elif command.startswith("account "):
                try:
                    key = box.add_account(command.split()[1])  # type: ignore[arg-type]
                except (AttributeError, ValueError) as exc:  # no such venue (or sandbox)
                    print(json.dumps({"error": str(exc)}), flush=True)
                    continue
                fields = ("venue", "key_id", "secret", "owner", "base_url")
                print(json.dumps({name: getattr(key, name) for name in fields}), flush=True)
            elif command == "requests":
                log = [
                    [r.venue, r.method, r.path, r.status, r.arrived, r.wire] for r in box.requests
                ]
                print(json.dumps(log), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


if __name__ == "__main__":
    main()
