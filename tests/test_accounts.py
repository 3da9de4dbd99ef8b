"""A desk's accounts (issue 33): the accounts file, each refusal naming the file, the
account and the problem before any request; the environment's accounts; and
``cancelkit accounts [--check]`` through a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cancelkit
import pytest
from cancelkit import Account, AccountsError, SecretRef, load_accounts
from cancelkit.sandbox import Sandbox

PM_KEY = "0b4c3a2e-1111-4222-8333-944455556666"
NO_HOME = {"HOME": "/nonexistent-home"}  # the default places hold no file


def write(tmp_path: Path, text: str, name: str = "accounts.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(AccountsError) as caught:
        load_accounts(path, environ={**NO_HOME, **(environ or {})})
    return caught.value.message


def test_a_file_names_each_account_its_venue_settings_and_where_its_secret_is(
    tmp_path: Path,
) -> None:
    key = tmp_path / "lm.key"
    key.write_text("c2VjcmV0\n")
    key.chmod(0o600)
    path = write(
        tmp_path,
        f'[desk-pm]\nvenue = "polymarket"\nkey_id = "{PM_KEY}"\nsecret_env = "DESK_PM"\n'
        '\n[desk-lm]\nvenue = "limitless"\nkey_id = "tok"\nsecret_file = "lm.key"\n'
        'base_url = "http://127.0.0.1:1"\nmarkets = ["m-one", "m-two"]\nsubaccount = 7\n',
    )
    pm, lm = load_accounts(path, environ={"DESK_PM": "c2VjcmV0"})
    assert (pm.name, pm.venue, pm.key_id, pm.secret.env) == (
        "desk-pm",
        "polymarket",
        PM_KEY,
        "DESK_PM",
    )
    assert lm.secret == SecretRef(file=str(key))  # relative to the file's directory
    assert (lm.markets, lm.subaccount, lm.base_url) == (("m-one", "m-two"), 7, "http://127.0.0.1:1")
    assert lm.secret.read() == "c2VjcmV0"
    assert "c2VjcmV0" not in repr(pm) + repr(lm) + str(pm.public()) + str(lm.public())


def test_the_search_order_config_env_then_xdg_then_home(tmp_path: Path) -> None:
    text = f'[a]\nvenue = "polymarket"\nkey_id = "{PM_KEY}"\nsecret_env = "S"\n'
    xdg = tmp_path / "xdg" / "cancelkit"
    xdg.mkdir(parents=True)
    write(xdg, text.replace("[a]", "[from-xdg]"))
    home = tmp_path / "home" / ".config" / "cancelkit"
    home.mkdir(parents=True)
    write(home, text.replace("[a]", "[from-home]"))
    given = write(tmp_path, text.replace("[a]", "[from-env]"), "given.toml")
    env = {"S": "x", "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert load_accounts(environ={**env, "CANCELKIT_CONFIG": str(given)})[0].name == "from-env"
    assert load_accounts(environ=env)[0].name == "from-xdg"
    del env["XDG_CONFIG_HOME"]
    assert load_accounts(environ=env)[0].name == "from-home"
    assert load_accounts(given, environ=env)[0].name == "from-env"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_file_others_can_read_is_refused_naming_file_and_mode(
    tmp_path: Path, mode: int
) -> None:
    key = tmp_path / "pm.key"
    key.write_text("secret-bytes-that-must-not-show")
    key.chmod(mode)
    path = write(
        tmp_path,
        f'[desk-pm]\nvenue = "polymarket"\nkey_id = "{PM_KEY}"\nsecret_file = "{key}"\n',
    )
    message = refused(path)
    assert str(path) in message
    assert "[desk-pm]" in message
    assert f"secret_file {key} has mode {mode:04o}" in message
    assert "secret-bytes" not in message


def test_a_secret_file_of_another_user_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "theirs.key"
    key.write_text("x")
    key.chmod(0o600)
    other = 65534 if os.getuid() == 0 else 0  # nobody (as root), else root
    if os.getuid() == 0:
        os.chown(key, other, other)
    else:
        key = Path("/etc/hostname")  # root's, mode 644: refused for its owner first
    path = write(
        tmp_path, f'[a]\nvenue = "polymarket"\nkey_id = "{PM_KEY}"\nsecret_file = "{key}"\n'
    )
    assert f"secret_file {key} belongs to uid {other}, not to this user" in refused(path)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('venue = "binance"\nkey_id = "k"\nsecret_env = "S"', "unknown venue 'binance'"),
        ('key_id = "k"\nsecret_env = "S"', "no venue"),
        ('venue = "polymarket"\nkey_id = "k"\nsecret_env = "UNSET_VAR"', "UNSET_VAR is not set"),
        (
            'venue = "polymarket"\nkey_id = "k"\nsecret_env = "S"\nbase_ulr = "http://x"',
            "unknown key(s) base_ulr",
        ),
        ('venue = "polymarket"\nkey_id = "k"\nsecret_env = "S"\nmarkets = ["m"]', "markets"),
        ('venue = "polymarket"\nkey_id = "k"\nsecret = "abc"', "never written in the accounts"),
        ('venue = "polymarket"\nkey_id = "k"', "give one of secret_env and secret_file"),
        ('venue = "polymarket"\nsecret_env = "S"', "key_id is missing"),
        ('venue = "limitless"\nkey_id = "k"\nsecret_env = "S"\nmarkets = "m"', "list of market"),
        ('venue = "limitless"\nkey_id = "k"\nsecret_env = "S"\nsubaccount = "7"', "integer"),
        (
            'venue = "limitless"\nkey_id = "k"\nsecret_env = "S"\nmarkets = [""]',
            "market_slug is empty",
        ),
        ('venue = "polymarket"\nkey_id = "k"\nsecret_file = "missing.key"', "missing.key"),
        ('venue = "polymarket"\nkey_id = "k"\nsecret_env = "S"\nbase_url = "ftp://x"', "ftp"),
        ('venue = "polymarket"\nkey_id = "k\\r\\nX: y"\nsecret_env = "S"', "control character"),
    ],
)
def test_each_bad_table_is_refused_naming_file_account_and_problem(
    tmp_path: Path, table: str, problem: str
) -> None:
    path = write(tmp_path, f"[desk-1]\n{table}\n")
    message = refused(path, {"S": "c2VjcmV0"})
    assert message.startswith(f"accounts file {path} [desk-1]: ")
    assert problem in message
    assert "abc" not in message.replace("[desk-1]", "")  # a secret written there stays out


def test_a_duplicate_account_and_bad_toml_are_refused_naming_the_line(tmp_path: Path) -> None:
    one = f'venue = "polymarket"\nkey_id = "{PM_KEY}"\nsecret_env = "S"\n'
    path = write(tmp_path, f"[a]\n{one}\n[a]\n{one}")
    message = refused(path, {"S": "x"})
    assert message.startswith(f"accounts file {path} [a]: a second account of that name (at line")
    path = write(tmp_path, "[a\nvenue=", "broken.toml")
    assert str(path) in refused(path)


def test_a_config_given_must_exist_and_an_empty_one_is_refused(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "nope.toml")
    assert "no account in it" in refused(write(tmp_path, "# nothing yet\n"))


def test_without_a_file_each_venue_whose_variables_are_set_is_one_account() -> None:
    env = {
        **NO_HOME,
        "POLYMARKET_KEY_ID": PM_KEY,
        "POLYMARKET_SECRET_KEY": "c2VjcmV0",
        "LIMITLESS_TOKEN_ID": "tok",
        "LIMITLESS_TOKEN_SECRET": "c2VjcmV0",
        "LIMITLESS_API_URL": "http://127.0.0.1:1",
        "LIMITLESS_MARKETS": "m-one, m-two",
    }
    pm, lm = load_accounts(environ=env)
    assert pm == Account("polymarket", "polymarket", PM_KEY, SecretRef(env="POLYMARKET_SECRET_KEY"))
    assert (lm.name, lm.key_id, lm.markets) == ("limitless", "tok", ("m-one", "m-two"))
    assert lm.base_url == "http://127.0.0.1:1"
    (only,) = load_accounts(
        environ={**NO_HOME, "LIMITLESS_TOKEN_ID": "t", "LIMITLESS_TOKEN_SECRET": "s"}
    )
    assert (only.venue, only.markets) == ("limitless", ())


def test_the_environment_half_set_or_empty_is_refused() -> None:
    with pytest.raises(AccountsError, match="POLYMARKET_SECRET_KEY is not set"):
        load_accounts(environ={**NO_HOME, "POLYMARKET_KEY_ID": PM_KEY})
    with pytest.raises(AccountsError, match="no venue's variables are set"):
        load_accounts(environ=NO_HOME)


# -- cancelkit accounts, through a real process ------------------------------------


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cancelkit", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def desk_file(box: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Three accounts on two venues, the second Polymarket key revoked (unknown to the
    sandbox: a made-up id), its secret named by variable."""
    c = box.credentials
    second = box.add_account("polymarket")
    path = write(
        tmp_path,
        f'[pm-a]\nvenue = "polymarket"\nkey_id = "{c.polymarket_key_id}"\n'
        f'base_url = "{box.polymarket_url}"\nsecret_env = "PM_A"\n\n'
        f'[pm-revoked]\nvenue = "polymarket"\nkey_id = "{PM_KEY}"\n'
        f'base_url = "{box.polymarket_url}"\nsecret_env = "PM_B"\n\n'
        f'[lm]\nvenue = "limitless"\nkey_id = "{c.limitless_token_id}"\n'
        f'base_url = "{box.limitless_url}"\nsecret_env = "LM"\nmarkets = ["m-one"]\n',
    )
    env = {"PM_A": c.polymarket_secret_key, "PM_B": second.secret, "LM": c.limitless_secret}
    return path, env


def test_accounts_lists_every_account_and_never_a_secret(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    path, env = desk_file(cancelkit_sandbox, tmp_path)
    done = cli("accounts", "--config", str(path), "--json", env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["account"], r["venue"], r["secret"]) for r in records] == [
        ("pm-a", "polymarket", "$PM_A"),
        ("pm-revoked", "polymarket", "$PM_B"),
        ("lm", "limitless", "$LM"),
    ]
    assert records[2]["markets"] == ["m-one"]
    for secret in env.values():
        assert secret not in done.stdout + done.stderr
    assert cancelkit_sandbox.requests == []  # listing sends nothing


def test_accounts_check_exits_1_naming_every_refused_key(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    path, env = desk_file(cancelkit_sandbox, tmp_path)
    done = cli("accounts", "--config", str(path), "--check", env=env)
    assert done.returncode == 1
    lines = dict(line.split("  ", 1) for line in done.stdout.splitlines())
    assert lines["pm-a"].endswith("  ok")
    assert lines["lm"].endswith("  ok")
    assert "REFUSED: AuthenticationError" in lines["pm-revoked"]
    assert "refused or not checked: pm-revoked" in done.stderr
    # One signed read per account, each one signed.
    assert len(cancelkit_sandbox.requests) == 3
    for secret in env.values():
        assert secret not in done.stdout + done.stderr
    ok = cli("accounts", "--config", str(path), "--check", env={**env, "PM_B": env["PM_A"]})
    assert "pm-revoked" in ok.stderr  # a made-up key id stays refused with a good secret


def test_accounts_check_passes_when_every_key_is_accepted(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    env = {**box.env(), "CANCELKIT_CONFIG": "", **NO_HOME, "LIMITLESS_MARKETS": "m-one"}
    done = cli("accounts", "--check", env=env)
    assert done.returncode == 0, done.stderr
    # One account per registered venue whose variables the sandbox gives.
    expected = [v for v in cancelkit._VENUES if any(k.startswith(f"{v.upper()}_") for k in env)]
    assert {"polymarket", "limitless"} <= set(expected)
    assert [line.split("  ")[0] for line in done.stdout.splitlines()] == expected
    assert all(line.endswith("  ok") for line in done.stdout.splitlines())


def test_accounts_check_names_a_wrong_kalshi_key(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    good, other = box.add_account("kalshi"), box.add_account("kalshi", key="rsa")
    path = write(
        tmp_path,
        good.table("ks-good", "KS_GOOD", subaccount=2)
        + "\n"
        + other.table("ks-wrong", "KS_WRONG", tier="advanced"),
    )
    env = {"KS_GOOD": good.secret, "KS_WRONG": good.secret}  # ks-wrong signs with another's PEM
    done = cli("accounts", "--config", str(path), "--check", env=env)
    assert done.returncode == 1
    lines = dict(line.split("  ", 1) for line in done.stdout.splitlines())
    assert lines["ks-good"].endswith("  ok")
    assert "REFUSED: AuthenticationError" in lines["ks-wrong"]
    assert "refused or not checked: ks-wrong" in done.stderr
    assert sorted(r.verified for r in box.requests) == [False, True]  # one signed read each
    for line in good.secret.splitlines()[1:-1]:
        assert line not in done.stdout + done.stderr
    right = cli("accounts", "--config", str(path), "--check", env={**env, "KS_WRONG": other.secret})
    assert right.returncode == 0, right.stderr


def test_a_kalshi_account_in_the_file_its_pem_a_file_only_its_user_reads(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    key = box.add_account("kalshi")
    pem = tmp_path / "kalshi.pem"
    pem.write_text(key.secret)
    pem.chmod(0o600)
    path = write(tmp_path, key.table("ks", secret_file="kalshi.pem", tier="premier", subaccount=5))
    (account,) = load_accounts(path, environ=NO_HOME)
    assert (account.venue, account.key_id, account.tier, account.subaccount) == (
        "kalshi",
        key.key_id,
        "premier",
        5,
    )
    assert account.secret == SecretRef(file=str(pem))  # relative to the file's directory
    listed = cli("accounts", "--config", str(path), "--json", env={})
    assert listed.returncode == 0, listed.stderr
    (record,) = map(json.loads, listed.stdout.splitlines())
    assert (record["tier"], record["subaccount"], record["secret"]) == ("premier", 5, f"file {pem}")
    checked = cli("accounts", "--config", str(path), "--check", env={})
    assert checked.returncode == 0, checked.stderr
    assert [(r.path, r.verified) for r in box.requests] == [
        ("/trade-api/v2/portfolio/orders/cancelkit-key-check", True)
    ]
    box.clear_requests()
    pem.chmod(0o644)
    refused = cli("accounts", "--config", str(path), "--check", env={})
    assert refused.returncode == 2
    assert f"accounts file {path} [ks]: secret_file {pem} has mode 0644" in refused.stderr
    assert box.requests == []
    for line in key.secret.splitlines()[1:-1]:
        assert line not in listed.stdout + checked.stdout + refused.stderr


def test_the_environment_kalshi_account_by_variable_or_by_file(tmp_path: Path) -> None:
    pem = tmp_path / "k.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    pem.chmod(0o600)
    base = {**NO_HOME, "KALSHI_API_KEY_ID": "key-1", "KALSHI_API_URL": "http://127.0.0.1:1/v2"}
    (by_var,) = load_accounts(environ={**base, "KALSHI_PRIVATE_KEY": "pem"})
    assert (by_var.venue, by_var.key_id, by_var.secret.env) == (
        "kalshi",
        "key-1",
        "KALSHI_PRIVATE_KEY",
    )
    assert by_var.base_url == "http://127.0.0.1:1/v2"
    (by_file,) = load_accounts(environ={**base, "KALSHI_PRIVATE_KEY_PATH": str(pem)})
    assert by_file.secret == SecretRef(file=str(pem))
    with pytest.raises(AccountsError, match="both KALSHI_PRIVATE_KEY and KALSHI_PRIVATE_KEY_PATH"):
        load_accounts(
            environ={**base, "KALSHI_PRIVATE_KEY": "pem", "KALSHI_PRIVATE_KEY_PATH": str(pem)}
        )
    with pytest.raises(AccountsError, match="KALSHI_PRIVATE_KEY is not set"):
        load_accounts(environ=base)
    pem.chmod(0o644)
    with pytest.raises(AccountsError, match=r"environment \(kalshi\): secret_file .* mode 0644"):
        load_accounts(environ={**base, "KALSHI_PRIVATE_KEY_PATH": str(pem)})


def test_accounts_with_a_bad_file_exits_2_before_any_request(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    path = write(tmp_path, '[a]\nvenue = "polymarket"\nkey_id = "k"\nsecret_env = "NOPE"\n')
    done = cli("accounts", "--config", str(path), "--check", env={})
    assert done.returncode == 2
    assert f"accounts file {path} [a]: environment variable NOPE is not set" in done.stderr
    assert cancelkit_sandbox.requests == []
