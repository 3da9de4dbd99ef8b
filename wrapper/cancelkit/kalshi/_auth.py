"""Kalshi signing as an httpx auth flow: what is signed is what goes on the wire."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, padding, x448, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.utils import CryptographyDeprecationWarning

from .._clock import Clock
from .._exceptions import InvalidRequest
from .._signing import SigningAuth
from .._signing import header_value as _header_value
from .._signing import reported as _reported

KeyType = Literal["rsa", "ed25519"]

_MIN_RSA_BITS = 2048  # what Kalshi issues; smaller keys are not worth signing with
_MAX_PEM = 64 * 1024  # a private key PEM is a few kilobytes
# RSA-PSS as Kalshi verifies it: SHA-256, MGF1(SHA-256), salt as long as the digest.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
_SHA256 = hashes.SHA256()
_WHAT = "Kalshi private key"


def _pem_bytes(private_key: object) -> bytes:
    if isinstance(private_key, str):
        try:
            data = private_key.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRequest(f"{_WHAT} is not a PEM (it has non-ASCII characters)") from None
    elif isinstance(private_key, bytes | bytearray | memoryview):
        data = bytes(private_key)
    else:
        raise InvalidRequest(
            f"{_WHAT} must be the PEM text (str or bytes), not {type(private_key).__name__}"
        )
    if not data.strip():
        raise InvalidRequest(f"{_WHAT} is empty")
    if len(data) > _MAX_PEM:
        raise InvalidRequest(f"{_WHAT} is {len(data)} bytes long; a PEM key is a few kilobytes")
    return data


def _labels(data: bytes) -> list[str]:
    """The PEM block labels (``RSA PRIVATE KEY``...) in ``data``: armour, never key bytes."""
    found = []
    for line in data.splitlines():
        line = line.strip()
        if line.startswith(b"-----BEGIN ") and line.endswith(b"-----"):
            found.append(line[11:-5].decode("ascii", "replace"))
    return found


def load_private_key(private_key: object) -> RSAPrivateKey | Ed25519PrivateKey:
    """The RSA or Ed25519 private key in a PEM (PKCS#1 or PKCS#8; the type is read
    from the key itself: ``BEGIN PRIVATE KEY`` holds either). Anything else is an
    :class:`InvalidRequest` naming the problem, never the key's bytes, with no
    chained parser error (which could carry them into a traceback)."""
    data = _pem_bytes(private_key)
    labels = _labels(data)
    if not labels:
        raise InvalidRequest(
            f"{_WHAT} is not a PEM: expected a '-----BEGIN PRIVATE KEY-----' or"
            " '-----BEGIN RSA PRIVATE KEY-----' block"
        )
    if any("PUBLIC KEY" in label or "CERTIFICATE" in label for label in labels) and not any(
        "PRIVATE KEY" in label for label in labels
    ):
        raise InvalidRequest(
            f"{_WHAT} is a public key or certificate ({labels[0]}); give the private key"
            " you downloaded when the API key was created"
        )
    if any("ENCRYPTED" in label for label in labels) or b"Proc-Type: 4,ENCRYPTED" in data:
        raise InvalidRequest(f"{_WHAT} is encrypted; give it unencrypted, as Kalshi issues it")
    loaded: object
    problem = ""
    try:
        with warnings.catch_warnings():  # a DSA key's deprecation: it is refused below
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "password was not given but private key is encrypted"
        problem = "is encrypted; give it unencrypted, as Kalshi issues it"
    except (ValueError, UnsupportedAlgorithm):
        problem = f"could not be read as a private key ({labels[0]} block)"
    if problem:
        raise InvalidRequest(f"{_WHAT} {problem}")
    if isinstance(loaded, Ed25519PrivateKey):
        return loaded
    if isinstance(loaded, RSAPrivateKey):
        if loaded.key_size < _MIN_RSA_BITS:
            raise InvalidRequest(
                f"{_WHAT} is a {loaded.key_size}-bit RSA key; Kalshi's are {_MIN_RSA_BITS}-bit"
            )
        return loaded
    raise InvalidRequest(f"{_WHAT} is {_kind(loaded)} key; Kalshi takes RSA or Ed25519")


def _kind(key: object) -> str:
    """What a refused key is, for the message."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an elliptic-curve (EC, {key.curve.name})"
    if isinstance(key, ed448.Ed448PrivateKey):
        return "an Ed448"
    if isinstance(key, x25519.X25519PrivateKey | x448.X448PrivateKey):
        return "a key-agreement (X25519/X448)"
    with warnings.catch_warnings():  # naming DSA's class warns that DSA is deprecated
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if isinstance(key, dsa.DSAPrivateKey):
            return "a DSA"
    return "another kind of"


class KalshiAuth(SigningAuth):
    """Kalshi signing: ``KALSHI-ACCESS-KEY``, ``KALSHI-ACCESS-TIMESTAMP`` (Unix
    milliseconds) and ``KALSHI-ACCESS-SIGNATURE`` (base64).

    Signs ``timestamp + METHOD + path``, where path is the whole path as sent from
    the host (a base URL's prefix, ``/trade-api/v2``, included) without the query.
    An RSA key signs RSA-PSS (SHA-256, MGF1(SHA-256), 32-byte salt); an Ed25519 key
    signs Ed25519. The key is a PEM, loaded once here; its type is read from it
    (:attr:`key_type`). The body and the query are not signed (docs/security.md).
    """

    def __init__(self, key_id: str, private_key: str | bytes, clock: Clock | None = None) -> None:
        self.key_id = _header_value(key_id, "Kalshi key id")
        key = load_private_key(private_key)
        self._key = key
        # The algorithm chosen once: a per-request isinstance on cryptography's key
        # classes (ABCs) costs 1% of an Ed25519 signature.
        self._raw_sign: Callable[[bytes], bytes]
        if isinstance(key, Ed25519PrivateKey):
            self.key_type: KeyType = "ed25519"
            self._raw_sign = key.sign
        else:
            self.key_type = "rsa"
            self._raw_sign = lambda message: key.sign(message, _PSS, _SHA256)
        self._clock = clock or Clock()

    def public_key_pem(self) -> bytes:
        """The public half (SubjectPublicKeyInfo PEM): what Kalshi verifies with."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, timestamp: str, method: str, path: str) -> str:
        """Base64 signature of ``timestamp + METHOD + path`` with the key's algorithm."""
        raw = self._raw_sign((timestamp + method.upper() + path).encode("utf-8"))
        return _reported(base64.b64encode(raw).decode("ascii"))

    def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
        """The signature headers for a request line's ``method`` and ``target`` (path
        and query as sent, percent-encoded): a fresh timestamp from the corrected
        clock, and the path without the query signed."""
        timestamp = str(int(self._clock.now() * 1000))
        # sign() inlined: this runs on every attempt, and the goal is the primitive's
        # cost within 5% (benchmarks/_kalshi_signing.py).
        raw = self._raw_sign((timestamp + method.upper() + target.partition("?")[0]).encode())
        return [
            ("KALSHI-ACCESS-KEY", self.key_id),
            ("KALSHI-ACCESS-TIMESTAMP", timestamp),
            ("KALSHI-ACCESS-SIGNATURE", _reported(base64.b64encode(raw).decode("ascii"))),
        ]

    def __repr__(self) -> str:
        return f"KalshiAuth(key_id={self.key_id!r}, key_type={self.key_type!r})"
