"""A desk's accounts: the accounts file (TOML), or the venues' environment variables.

The file is found at the path given, else ``$CANCELKIT_CONFIG``, else
``$XDG_CONFIG_HOME/cancelkit/accounts.toml``, else ``~/.config/cancelkit/accounts.toml``.
One table per account::

    [desk-pm]
    venue = "polymarket"
    key_id = "0b4c...-..."
    secret_env = "DESK_PM_SECRET"          # or secret_file = "~/.keys/desk-pm"

A secret is named, never written there: an environment variable, or a file that is
the user's and readable by nobody else (refused otherwise, as ssh refuses a key).
Everything is checked at load, before any request: every error names the file, the
account and the problem, and never holds a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._account import Account as Account
from ._account import SecretRef as SecretRef
from ._account import secret_file_problem
from ._desk_hook import desk_hook, venues
from ._exceptions import InvalidRequest
from ._urls import check_base_url

CONFIG_ENV = "CANCELKIT_CONFIG"
_TWICE = re.compile(r"Cannot declare \('([^']*)',?\) twice \((.*)\)")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_COMMON = frozenset({"venue", "key_id", "secret_env", "secret_file", "base_url"})
_OPTIONAL = frozenset({"tier", "subaccount", "markets"})


class AccountsError(InvalidRequest):
    """The accounts file (or the environment) describes no usable desk: the message
    names the file, the account and the problem."""


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the accounts file is looked for when none is given (it may not exist)."""
    env = os.environ if environ is None else environ
    given = env.get(CONFIG_ENV)
    if given:
        return Path(given).expanduser()
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    else:
        base = Path(env.get("HOME") or Path.home()) / ".config"
    return base / "cancelkit" / "accounts.toml"


def load_accounts(
    config: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> tuple[Account, ...]:
    """The desk's accounts: those of the accounts file, or, if there is none, one per
    registered venue whose standard environment variables are set.

    ``config`` (else ``$CANCELKIT_CONFIG``) must exist; the default places may not.
    Raises :class:`AccountsError` naming the file, the account and the problem: an
    unknown key or venue, a secret given in the file, a missing variable, a secret
    file another user could read, a duplicate account. ``secrets=False`` leaves the
    secrets' references unchecked (a dry run, which needs no key)."""
    env = os.environ if environ is None else environ
    explicit = config is not None or bool(env.get(CONFIG_ENV))
    path = Path(config).expanduser() if config is not None else config_path(env)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise AccountsError(f"accounts file {path} does not exist") from None
        return _from_environment(env, secrets)
    except OSError as exc:
        raise AccountsError(f"accounts file {path}: {exc.strerror}") from None
    return _from_file(path, data, environ, secrets)


def _from_environment(env: Mapping[str, str], secrets: bool) -> tuple[Account, ...]:
    found: list[Account] = []
    for venue in venues():
        try:
            account = desk_hook(venue).from_environ(env)
        except InvalidRequest as exc:
            raise AccountsError(f"environment ({venue}): {exc.message}") from None
        if account is not None:
            _check(account, f"environment ({venue})", secrets)
            found.append(account)
    if not found:
        raise AccountsError(
            f"no accounts file ({config_path(env)}) and no venue's variables are set"
            " (give --config FILE, or set a venue's key id and secret variables)"
        )
    return tuple(found)


def _from_file(
    path: Path, data: bytes, environ: Mapping[str, str] | None, secrets: bool
) -> tuple[Account, ...]:
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise AccountsError(f"accounts file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        twice = _TWICE.match(str(exc))  # tomllib's words for a table given twice
        if twice:
            raise AccountsError(
                f"accounts file {path} [{twice[1]}]: a second account of that name"
                f" ({twice[2]}); names must differ"
            ) from None
        raise AccountsError(f"accounts file {path}: {exc}") from None
    accounts: list[Account] = []
    for name, table in document.items():
        where = f"accounts file {path} [{name}]"
        if not isinstance(table, dict):
            raise AccountsError(f"{where}: not a table (each account is a [name] table)")
        if not _NAME.fullmatch(name):
            raise AccountsError(
                f"{where}: an account name is 1-64 letters, digits, '.', '_' or '-'"
            )
        account = _account(name, table, where, path.parent, environ)
        _check(account, where, secrets)
        accounts.append(account)
    if not accounts:
        raise AccountsError(f"accounts file {path}: no account in it")
    return tuple(accounts)


def _account(
    name: str,
    table: dict[str, Any],
    where: str,
    home: Path,
    environ: Mapping[str, str] | None,
) -> Account:
    if "secret" in table or "secret_key" in table:
        raise AccountsError(
            f"{where}: a secret is never written in the accounts file: name it with"
            ' secret_env = "VARIABLE" or secret_file = "PATH"'
        )
    venue = table.get("venue")
    known = venues()
    if not isinstance(venue, str) or venue not in known:
        got = "no venue" if venue is None else f"unknown venue {venue!r}"
        raise AccountsError(f"{where}: {got} (one of: {', '.join(known)})")
    allowed = _COMMON | desk_hook(venue).SETTINGS
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise AccountsError(
            f"{where}: unknown key(s) {', '.join(unknown)} for a {venue} account"
            f" (allowed: {', '.join(sorted(allowed))})"
        )
    refs = [k for k in ("secret_env", "secret_file") if k in table]
    if len(refs) != 1:
        raise AccountsError(f"{where}: give one of secret_env and secret_file")
    for key in ("key_id", "secret_env", "secret_file", "base_url", "tier"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise AccountsError(f"{where}: {key} must be a non-empty string")
    if not table.get("key_id"):
        raise AccountsError(f"{where}: key_id is missing")
    subaccount = table.get("subaccount")
    if subaccount is not None and (isinstance(subaccount, bool) or not isinstance(subaccount, int)):
        raise AccountsError(f"{where}: subaccount must be an integer")
    markets = table.get("markets", [])
    if not isinstance(markets, list) or not all(isinstance(m, str) for m in markets):
        raise AccountsError(f"{where}: markets must be a list of market slugs")
    if "secret_file" in table:
        file = Path(table["secret_file"]).expanduser()
        secret = SecretRef(file=str(file if file.is_absolute() else home / file))
    else:
        secret = SecretRef(env=table["secret_env"], environ=environ)
    return Account(
        name,
        venue,
        table["key_id"],
        secret,
        base_url=table.get("base_url"),
        tier=table.get("tier"),
        subaccount=subaccount,
        markets=tuple(markets),
        source=where.removeprefix("accounts file "),
    )


def _check(account: Account, where: str, secrets: bool = True) -> None:
    """The venue's own checks and the secret's reference: at load, before any request."""
    try:
        desk_hook(account.venue).check(account)
        key = account.key_id or ""
        if any(c.isspace() or not c.isprintable() for c in key):
            raise InvalidRequest(f"key_id {key[:80]!r} has whitespace or a control character")
        if account.base_url is not None:
            check_base_url(account.base_url)  # as the client would, but now
        if not secrets:
            return
        if account.secret.env is not None:
            account.secret.read()  # set? (the value is dropped: read again when used)
        elif account.secret.file is not None:
            secret_file_problem(account.secret.file)
    except InvalidRequest as exc:
        raise AccountsError(f"{where}: {exc.message}") from None


def env_account(
    venue: str,
    environ: Mapping[str, str],
    variables: tuple[str, str, str],
    **settings: Any,
) -> Account | None:
    """For a venue's hook: the account of its (key id, secret, URL) variables, or None
    when neither of the first two is set; one of them alone is an error naming the other."""
    key_var, secret_var, url_var = variables
    key_id, secret = environ.get(key_var, ""), environ.get(secret_var, "")
    if not key_id and not secret:
        return None
    missing = [n for n, v in ((key_var, key_id), (secret_var, secret)) if not v]
    if missing:
        raise InvalidRequest(f"{key_var} and {secret_var} go together: {missing[0]} is not set")
    return Account(
        venue,
        venue,
        key_id,
        SecretRef(env=secret_var, environ=environ),
        base_url=environ.get(url_var) or None,
        **settings,
    )
