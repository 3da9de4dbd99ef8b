"""Kalshi signing cost per request, in microseconds, per key type (RSA-PSS, Ed25519):
cancelkit against the bare primitive (cryptography's sign of the same text, base64ed)
and against kalshi-python-async's ``KalshiAuth``, rounds interleaved."""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HOST = "https://external-api.kalshi.com"
PATH = "/trade-api/v2/portfolio/events/orders/6f52b6d2-6c9e-4a5c-8a4f-28ab4b7ff203"
STAMP_MS = "1700000000000"
KEY_TYPES = {"rsa": "RSA-PSS (2048-bit key)", "ed25519": "Ed25519"}
PRIMITIVE = "bare primitive"
OURS = "cancelkit sign()"
OURS_SIGNED = "cancelkit signed() (per attempt, as sent)"
OURS_FLOW = "cancelkit auth flow (httpx auth: a caller's transport only)"
SDK = "kalshi-python-async 3.2.0 KalshiAuth"
GOAL = 1.05  # issue 32: the signature within 1.05 x the primitive
# An RSA private operation costs ~30 x an Ed25519 signature: fewer calls per round.
RSA_SHARE = 20
BLOCKS = 5  # blocks per round


def pems() -> dict[str, str]:
    """A fresh private key of each type, PKCS#8 PEM (Kalshi issues 2048-bit RSA)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = Ed25519PrivateKey.generate()
    return {
        kind: key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        for kind, key in (("rsa", rsa_key), ("ed25519", ed_key))
    }


def sdk_auth(pem: str) -> tuple[object | None, str]:
    """kalshi-python-async's ``KalshiAuth`` for ``pem``, or None and why it refused."""
    from kalshi_python_async.auth import KalshiAuth as SdkAuth

    try:
        return SdkAuth("key", pem), ""
    except ValueError as exc:
        return None, str(exc)


def candidates(keys: dict[str, str]) -> tuple[dict[str, dict[str, Callable[[], object]]], dict]:  # type: ignore[type-arg]
    """Per key type, name -> one signing of one request; and, per key type, the SDK's
    refusal (its message) where it has no signer for that key."""
    from cancelkit.kalshi._auth import KalshiAuth

    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    message = (STAMP_MS + "DELETE" + PATH).encode()
    request = httpx.Request("DELETE", HOST + PATH)
    table: dict[str, dict[str, Callable[[], object]]] = {}
    refused: dict[str, str] = {}
    for kind, pem in keys.items():
        ours = KalshiAuth("key", pem)
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if isinstance(key, Ed25519PrivateKey):
            ed = key

            def bare(ed: Ed25519PrivateKey = ed) -> object:
                return base64.b64encode(ed.sign(message)).decode()
        else:
            assert isinstance(key, rsa.RSAPrivateKey)
            rk = key

            def bare(rk: rsa.RSAPrivateKey = rk) -> object:
                return base64.b64encode(rk.sign(message, pss, hashes.SHA256())).decode()

        named: dict[str, Callable[[], object]] = {
            PRIMITIVE: bare,
            OURS: lambda ours=ours: ours.sign(STAMP_MS, "DELETE", PATH),
            OURS_SIGNED: lambda ours=ours: ours.signed("DELETE", PATH, b""),
            OURS_FLOW: lambda ours=ours: next(ours.auth_flow(request)),
        }
        theirs, why = sdk_auth(pem)
        if theirs is None:
            refused[kind] = why
        else:
            # As its ApiClient.call_api calls it: the whole URL (host + path).
            named[SDK] = lambda theirs=theirs: theirs.create_auth_headers(  # type: ignore[attr-defined]
                "DELETE", HOST + PATH
            )
        table[kind] = named
    return table, refused


Figures = dict[str, dict[str, tuple[float, float]]]  # kind -> name -> (µs, x primitive)
Result = tuple[Figures, dict[str, str], dict[str, float]]
LOADS = 15  # key loads per type (each client's construction, each CLI start)


def key_loads(keys: dict[str, str], repeats: int) -> dict[str, float]:
    """Median CPU ms of ``KalshiAuth(key_id, pem)`` per key type, interleaved: what
    every client construction (and every CLI start) pays. cryptography checks an
    RSA private key's consistency when loading it."""
    from cancelkit.kalshi._auth import KalshiAuth

    samples: dict[str, list[float]] = {kind: [] for kind in keys}
    for _ in range(repeats):
        for kind, pem in keys.items():
            started = time.thread_time()
            KalshiAuth("key", pem)
            samples[kind].append((time.thread_time() - started) * 1e3)
    return {kind: statistics.median(values) for kind, values in samples.items()}


def measure(calls: int, rounds: int) -> Result:
    """Per key type and candidate, (median µs per call, median ratio to the primitive
    in the same block), and the SDK's refusals by key type.

    ``rounds`` x ``BLOCKS`` blocks, every candidate of both key types interleaved in
    each (rotating order); an Ed25519 candidate's share of a block is ``calls /
    BLOCKS`` calls, an RSA one's ``calls / BLOCKS / RSA_SHARE`` (about the same time).
    Each ratio pairs a candidate with the primitive of its own block: a busy
    machine's drift between blocks cancels out. Times are this thread's CPU time
    (``time.thread_time``): other processes' turns on the cores are not counted."""
    keys = pems()
    table, refused = candidates(keys)
    samples = {k: {n: [] for n in named} for k, named in table.items()}  # type: ignore[var-annotated]
    for block_no in range(rounds * BLOCKS):
        for kind, named in table.items():
            count = max(1, calls // BLOCKS // (RSA_SHARE if kind == "rsa" else 1))
            names = list(named)
            shift = block_no % len(names)
            for name in names[shift:] + names[:shift]:
                sign = named[name]
                started = time.thread_time()
                for _ in range(count):
                    sign()
                samples[kind][name].append((time.thread_time() - started) / count * 1e6)
    figures: Figures = {}
    for kind, named in samples.items():
        bare = named[PRIMITIVE]
        figures[kind] = {
            name: (
                statistics.median(values),
                statistics.median(v / b for v, b in zip(values, bare, strict=True)),
            )
            for name, values in named.items()
        }
    return figures, refused, key_loads(keys, LOADS)


def table(result: Result) -> list[str]:
    """The results section."""
    figures, refused, loads = result
    lines = [
        "## Kalshi: signing cost per request (CPU µs, median of interleaved blocks)",
        "",
        "Each signs `timestamp + DELETE + /trade-api/v2/portfolio/events/orders/{id}`;",
        "'bare primitive' is cryptography's sign of that text, base64ed. `signed()` is what",
        "the client's send path runs per attempt (a fresh timestamp from the corrected",
        "clock, the path without its query, the three headers); the httpx auth flow, used",
        "only when the caller gives a transport, also sets them on an `httpx.Request`.",
        "Times are the signing thread's CPU time (`time.thread_time`), so other work on",
        "the machine is not counted; 'x bare primitive' is the median of each block's",
        "ratio to the primitive measured in the same block (short blocks, interleaved).",
        "",
    ]
    for kind, named in figures.items():
        lines += [
            f"### {KEY_TYPES[kind]}",
            "",
            "| signer | µs | x bare primitive |",
            "|---|---|---|",
        ]
        lines += [f"| {n} | {us:.2f} | {ratio:.3f} |" for n, (us, ratio) in named.items()]
        if kind in refused:
            lines.append(f"| {SDK} | refused the key: {refused[kind]!r} | |")
        lines.append("")
    lines += ["| goal | ratio | met |", "|---|---|---|"]
    for kind, named in figures.items():
        for name in (OURS, OURS_SIGNED, OURS_FLOW):
            ratio = named[name][1]
            lines.append(
                f"| {KEY_TYPES[kind]}: {name} <= {GOAL} x bare primitive | {ratio:.3f}"
                f" | {'yes' if ratio <= GOAL else 'no'} |"
            )
    rsa_us, ed_us = figures["rsa"][OURS_SIGNED][0], figures["ed25519"][OURS_SIGNED][0]
    lines += [
        "",
        f"An Ed25519 key signs a request in {ed_us:.1f} µs against RSA-PSS's {rsa_us:.1f} µs"
        f" ({rsa_us / ed_us:.0f} x less CPU per request, {rsa_us - ed_us:.0f} µs saved on every"
        " attempt, single or batch); kalshi-python-async 3.2.0 cannot sign with one.",
        f"Loading the key, which every client construction and every CLI start does, takes"
        f" {loads['ed25519']:.2f} ms of CPU for Ed25519 and {loads['rsa']:.1f} ms for RSA"
        " (cryptography checks an RSA private key's consistency as it loads it): an RSA key",
        "also delays a CLI kill's first request by that much.",
        "",
    ]
    return lines
