"""Kalshi signing, checked the way the exchange checks it: the public key verifies
``timestamp + METHOD + path`` (the whole path from the host, no query), RSA-PSS or
Ed25519 as the key's type says; a wrong key is refused at construction unseen."""

from __future__ import annotations

import base64
import time
import warnings
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from cancelkit import InvalidRequest
from cancelkit._clock import Clock
from cancelkit._generated.kalshi_api.api.orders import batch_cancel_orders_v2, cancel_order_v2
from cancelkit._generated.kalshi_api.models import (
    BatchCancelOrdersV2Request,
    BatchCancelOrdersV2RequestOrdersItem,
)
from cancelkit._signing import on_signature
from cancelkit._wire import Wire
from cancelkit.kalshi._auth import KalshiAuth
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, x25519
from helpers import secret_pem

KEY_ID = "a952bcbe-ec3b-4b5b-b8f9-11dae589608c"
PROD = "https://external-api.kalshi.com/trade-api/v2"
PKCS8 = serialization.PrivateFormat.PKCS8
PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL
PEM = serialization.Encoding.PEM


def pem(key: Any, form: serialization.PrivateFormat = PKCS8, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    # Registered with the secret scan: no test may show any line of it.
    return secret_pem(key.private_bytes(PEM, form, encryption).decode("ascii"))


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def keys(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> dict[str, tuple[str, bytes, str]]:
    """name -> (private PEM, public PEM as the exchange holds it, key type)."""

    def public(key: Any) -> bytes:
        return key.public_key().public_bytes(  # type: ignore[no-any-return]
            PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return {
        "rsa-pkcs1": (pem(rsa_key, PKCS1), public(rsa_key), "rsa"),
        "rsa-pkcs8": (pem(rsa_key, PKCS8), public(rsa_key), "rsa"),
        "ed25519-pkcs8": (pem(ed_key, PKCS8), public(ed_key), "ed25519"),
    }


KINDS = ["rsa-pkcs1", "rsa-pkcs8", "ed25519-pkcs8"]


def verify(request: httpx.Request, public_pem: bytes) -> None:
    """What Kalshi does: the public key of KALSHI-ACCESS-KEY verifies the signature
    over timestamp + METHOD + the path as received, query cut off."""
    path = request.url.raw_path.split(b"?")[0]
    message = request.headers["KALSHI-ACCESS-TIMESTAMP"].encode() + request.method.encode() + path
    verify_text(public_pem, request.headers["KALSHI-ACCESS-SIGNATURE"], message)


def verify_text(public_pem: bytes, signature: str, message: bytes) -> None:
    """Verify a base64 ``signature`` of ``message`` as RSA-PSS (SHA-256, MGF1, salt 32)
    or Ed25519, as the public key's type says; InvalidSignature if it does not."""
    raw = base64.b64decode(signature, validate=True)
    key = serialization.load_pem_public_key(public_pem)
    if isinstance(key, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        key.verify(raw, message, pss, hashes.SHA256())
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key.verify(raw, message)
    else:  # pragma: no cover - the test keys are one of the two
        raise AssertionError(type(key))


def send(auth: KalshiAuth, base_url: str, kwargs: dict[str, Any]) -> httpx.Request:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={})

    with httpx.Client(base_url=base_url, auth=auth, transport=httpx.MockTransport(answer)) as c:
        c.request(**kwargs)
    (request,) = seen
    return request


@pytest.mark.parametrize("kind", KINDS)
def test_a_cancel_verifies_with_the_public_key_and_its_query_is_not_signed(
    keys: dict[str, tuple[str, bytes, str]], kind: str
) -> None:
    private, public, key_type = keys[kind]
    auth = KalshiAuth(KEY_ID, private)
    assert auth.key_type == key_type
    kwargs = cancel_order_v2._get_kwargs("ord-1", subaccount=3, market_ticker="KXBTC-26")
    before = int(time.time() * 1000)
    request = send(auth, PROD, kwargs)
    assert request.method == "DELETE"
    assert request.url.raw_path == (
        b"/trade-api/v2/portfolio/events/orders/ord-1?subaccount=3&market_ticker=KXBTC-26"
    )
    assert request.headers["KALSHI-ACCESS-KEY"] == KEY_ID
    stamp = int(request.headers["KALSHI-ACCESS-TIMESTAMP"])
    assert before <= stamp <= int(time.time() * 1000)  # milliseconds, now
    verify(request, public)
    # The query is not part of the signed text: signed with it, it would not verify.
    stamp_text = request.headers["KALSHI-ACCESS-TIMESTAMP"].encode()
    with_query = stamp_text + b"DELETE" + request.url.raw_path
    with pytest.raises(InvalidSignature):
        verify_text(public, request.headers["KALSHI-ACCESS-SIGNATURE"], with_query)


@pytest.mark.parametrize("kind", KINDS)
def test_a_base_url_prefix_is_part_of_the_signed_path(
    keys: dict[str, tuple[str, bytes, str]], kind: str
) -> None:
    private, public, _ = keys[kind]
    request = send(
        KalshiAuth(KEY_ID, private),
        "https://gateway.example/kalshi/trade-api/v2",
        cancel_order_v2._get_kwargs("a/b c"),
    )
    assert request.url.raw_path == b"/kalshi/trade-api/v2/portfolio/events/orders/a%2Fb%20c"
    verify(request, public)
    # Signed without the prefix, the exchange (which sees the whole path) would refuse it.
    tampered = httpx.Request(
        "DELETE",
        "https://gateway.example/portfolio/events/orders/a%2Fb%20c",
        headers=request.headers,
    )
    with pytest.raises(InvalidSignature):
        verify(tampered, public)


@pytest.mark.parametrize("kind", KINDS)
def test_the_wire_path_signs_each_attempt_afresh_and_the_body_is_not_signed(
    keys: dict[str, tuple[str, bytes, str]], kind: str
) -> None:
    private, public, _ = keys[kind]
    ticks = iter([1_800_000_000.000, 1_800_000_000.250])
    auth = KalshiAuth(KEY_ID, private, Clock(wall=lambda: next(ticks)))
    body = BatchCancelOrdersV2Request(
        orders=[BatchCancelOrdersV2RequestOrdersItem(order_id=f"o-{i}") for i in range(3)]
    )
    prepared = Wire(PROD, {}, auth).prepare(batch_cancel_orders_v2._get_kwargs(body=body))
    assert prepared is not None
    attempts = [dict(prepared.wire_headers()) for _ in range(2)]
    assert [a["KALSHI-ACCESS-TIMESTAMP"] for a in attempts] == ["1800000000000", "1800000000250"]
    assert attempts[0]["KALSHI-ACCESS-SIGNATURE"] != attempts[1]["KALSHI-ACCESS-SIGNATURE"]
    for headers in attempts:
        request = httpx.Request(
            "DELETE", "https://external-api.kalshi.com" + prepared.target, headers=headers
        )
        verify(request, public)
        # Another body under the same headers verifies too: the body is not signed
        # (docs/security.md: replay inside the window, TLS only).
        replayed = httpx.Request(
            "DELETE",
            "https://external-api.kalshi.com" + prepared.target,
            headers=headers,
            content=b'{"orders":[{"order_id":"someone-elses"}]}',
        )
        verify(replayed, public)


def test_the_timestamp_follows_the_servers_date(keys: dict[str, tuple[str, bytes, str]]) -> None:
    private, public, _ = keys["ed25519-pkcs8"]
    server_now = time.time()
    auth = KalshiAuth(KEY_ID, private, Clock(wall=lambda: server_now - 3600))  # an hour slow
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"Date": formatdate(server_now, usegmt=True)})

    with httpx.Client(base_url=PROD, auth=auth, transport=httpx.MockTransport(answer)) as c:
        c.request(**cancel_order_v2._get_kwargs("o-1"))
        c.request(**cancel_order_v2._get_kwargs("o-1"))
    first, second = (int(r.headers["KALSHI-ACCESS-TIMESTAMP"]) / 1000 for r in seen)
    assert abs(first - (server_now - 3600)) < 1
    assert abs(second - server_now) < 2  # learned from the first answer's Date
    for request in seen:
        verify(request, public)


def test_every_signature_is_reported_to_the_secret_scan(
    keys: dict[str, tuple[str, bytes, str]],
) -> None:
    seen: list[str] = []
    on_signature.append(seen.append)
    try:
        request = send(
            KalshiAuth(KEY_ID, keys["rsa-pkcs8"][0]), PROD, cancel_order_v2._get_kwargs("x")
        )
    finally:
        on_signature.remove(seen.append)
    assert seen == [request.headers["KALSHI-ACCESS-SIGNATURE"]]


def _body_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("-----")]


def _refused(private: object, problem: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest, match=problem) as caught:
        KalshiAuth(KEY_ID, private)  # type: ignore[arg-type]
    error = caught.value
    # No chained parser error that could carry the key into a traceback.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    if isinstance(private, str):
        for line in _body_lines(private):
            assert line not in str(error)
            assert line not in repr(error)
    return error


def test_a_public_key_is_refused_naming_the_problem(rsa_key: rsa.RSAPrivateKey) -> None:
    public = rsa_key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _refused(public.decode(), "is a public key")
    pkcs1 = rsa_key.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1)
    _refused(pkcs1.decode(), "is a public key")


def test_an_encrypted_pem_is_refused_naming_the_problem(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    _refused(pem(rsa_key, PKCS8, b"hunter2"), "is encrypted")
    _refused(pem(rsa_key, PKCS1, b"hunter2"), "is encrypted")  # Proc-Type: 4,ENCRYPTED
    _refused(pem(ed_key, PKCS8, b"hunter2"), "is encrypted")


def _dsa_key() -> Any:
    with warnings.catch_warnings():  # DSA is deprecated: which is why it must be refused
        warnings.simplefilter("ignore")
        return dsa.generate_private_key(key_size=1024)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "elliptic-curve (EC, secp256r1)"),
        (_dsa_key, "a DSA"),
        (ed448.Ed448PrivateKey.generate, "an Ed448"),
        (x25519.X25519PrivateKey.generate, "key-agreement"),
    ],
)
def test_a_key_of_another_kind_is_refused_naming_it(make: Callable[[], Any], kind: str) -> None:
    error = _refused(pem(make()), "Kalshi takes RSA or Ed25519")
    assert kind in str(error)


def test_a_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    _refused(pem(small), "1024-bit RSA key")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("not a key at all", "is not a PEM"),
        (
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGJ1dCBiYXNlNjQ=\n"
            "-----END PRIVATE KEY-----\n",
            "could not be read as a private key",
        ),
        ("-----BEGIN PRIVATE KEY-----\nünï\n-----END PRIVATE KEY-----\n", "non-ASCII"),
        (42, "must be the PEM text"),
        (None, "must be the PEM text"),
        ("A" * 70_000, "bytes long"),
    ],
)
def test_garbage_is_refused_without_echo(value: object, problem: str) -> None:
    _refused(value, problem)


def test_the_key_never_shows_in_a_repr(keys: dict[str, tuple[str, bytes, str]]) -> None:
    for private, _, key_type in keys.values():
        auth = KalshiAuth(KEY_ID, private.encode())  # bytes are taken too
        text = repr(auth) + str(auth) + repr(vars(auth))
        for line in _body_lines(private):
            assert line not in text
        assert repr(auth) == f"KalshiAuth(key_id={KEY_ID!r}, key_type={key_type!r})"


@pytest.mark.parametrize("key_id", ["", "key\nX-Evil: 1", "kéy", " key"])
def test_key_ids_that_cannot_be_a_header_value_are_refused(
    keys: dict[str, tuple[str, bytes, str]], key_id: str
) -> None:
    with pytest.raises(InvalidRequest, match="Kalshi key id"):
        KalshiAuth(key_id, keys["ed25519-pkcs8"][0])
