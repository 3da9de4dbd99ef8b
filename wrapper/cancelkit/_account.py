"""An account of a desk (one key on one venue) and where its secret is: the data the
accounts file describes (``_accounts``) and the desk acts on (``_desk``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

import attrs

from ._exceptions import InvalidRequest

_MAX_SECRET = 64 * 1024  # a key file larger than this is not a key


@attrs.frozen
class SecretRef:
    """Where an account's secret is: an environment variable's name (``env``) or a
    file's path (``file``), never the secret itself."""

    env: str | None = None
    file: str | None = None
    # The environment the name is read in (None: the process's), for load_accounts(environ=).
    _environ: Mapping[str, str] | None = attrs.field(
        default=None, repr=False, eq=False, alias="environ"
    )

    def __str__(self) -> str:
        return f"${self.env}" if self.env is not None else f"file {self.file}"

    def read(self) -> str:
        """The secret, read now (InvalidRequest naming the reference if it cannot be)."""
        if self.env is not None:
            value = (os.environ if self._environ is None else self._environ).get(self.env, "")
            if not value:
                raise InvalidRequest(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        return read_secret_file(self.file)


@attrs.frozen
class Account:
    """One key on one venue, as the accounts file (or the environment) names it.

    Attributes:
        name: the account's name (its table in the file; the venue's name for an
            account from the environment).
        venue: the venue (``cancelkit._VENUES``).
        key_id: the key id (Polymarket key id, Limitless token id, Kalshi key id).
        secret: where the secret is (:class:`SecretRef`): never the secret.
        base_url: the API root, if not the venue's default.
        tier: the key's rate tier (Kalshi).
        subaccount: the sub-account acted for (Kalshi subaccount, Limitless onBehalfOf).
        markets: the markets to cover where the venue lists orders only per market
            (Limitless).
        source: where the account was read: ``FILE [name]`` or ``environment``.
    """

    name: str
    venue: str
    key_id: str | None
    secret: SecretRef
    base_url: str | None = None
    tier: str | None = None
    subaccount: int | None = None
    markets: tuple[str, ...] = ()
    source: str = attrs.field(default="environment", eq=False)

    def public(self) -> dict[str, Any]:
        """What may be shown of the account (no secret, only where it is)."""
        return {
            "account": self.name,
            "venue": self.venue,
            "key_id": self.key_id,
            "secret": str(self.secret),
            "base_url": self.base_url,
            "tier": self.tier,
            "subaccount": self.subaccount,
            "markets": list(self.markets),
            "source": self.source,
        }


def secret_file_problem(path: str) -> None:
    """Refuse a key file anyone else could read or write, or that is not a file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidRequest(f"secret_file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidRequest(f"secret_file {path} is not a regular file")
    if info.st_uid != os.getuid():
        raise InvalidRequest(
            f"secret_file {path} belongs to uid {info.st_uid}, not to this user"
            f" ({os.getuid()}): refused"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise InvalidRequest(
            f"secret_file {path} has mode {mode:04o}: other users can read or write it;"
            f" refused (chmod 600 {path})"
        )


def read_secret_file(path: str) -> str:
    secret_file_problem(path)  # again: it may have changed since the load
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_SECRET + 1)
    except OSError as exc:
        raise InvalidRequest(f"secret_file {path}: {exc.strerror}") from None
    if len(data) > _MAX_SECRET:
        raise InvalidRequest(f"secret_file {path} is larger than {_MAX_SECRET} bytes")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidRequest(f"secret_file {path} is not UTF-8 text") from None
    if not text:
        raise InvalidRequest(f"secret_file {path} is empty")
    return text
