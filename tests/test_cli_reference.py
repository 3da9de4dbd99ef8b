"""The CLI page of the reference (docs/reference/cli.md) is every command's ``--help``
as the CLI prints it, kept true here; and the help says what a user needs (issue 31):
every outcome in ``cancel --help``, every repeatable flag saying so."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest
from cancelkit import OUTCOMES
from cancelkit._cli import main
from click.testing import CliRunner

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
_SECTION = re.compile(r"^## `(cancelkit[a-z ]*)`\n\n```text\n(.*?)\n```$", re.MULTILINE | re.DOTALL)


def _commands(
    command: click.Command = main, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command of the tree, the venues' lazily loaded ones included."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        with click.Context(command) as ctx:
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                found += _commands(sub, (*path, name))
    return found


def help_text(path: tuple[str, ...]) -> str:
    """``cancelkit PATH --help`` at 80 columns, as the page shows it."""
    result = CliRunner().invoke(
        main, [*path, "--help"], env={"COLUMNS": "80"}, prog_name="cancelkit"
    )
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n")


def test_the_cli_page_is_every_commands_help() -> None:
    sections = {name: text for name, text in _SECTION.findall(PAGE.read_text())}
    expected = {" ".join(("cancelkit", *path)): help_text(path) for path, _ in _commands()}
    assert sorted(sections) == sorted(expected), "a command is missing from or extra on the page"
    for name, text in expected.items():
        # python tests/test_cli_reference.py prints the page anew.
        assert sections[name] == text, f"{name}: the page differs from its --help"


def test_cancel_help_names_every_outcome() -> None:
    text = " ".join(help_text(("cancel",)).split())
    for outcome in OUTCOMES:
        assert outcome.replace("_", " ") in text, outcome


@pytest.mark.parametrize(
    ("path", "option"),
    [
        (path, option.name)
        for path, command in _commands()
        for option in command.params
        if isinstance(option, click.Option) and option.multiple
    ],
)
def test_every_repeatable_flag_says_so(path: tuple[str, ...], option: str) -> None:
    command = dict(_commands())[path]
    (param,) = [p for p in command.params if p.name == option]
    assert isinstance(param, click.Option)
    assert "repeatable" in (param.help or ""), f"{' '.join(path)} {param.opts[0]}"


def _page() -> str:
    parts = [
        "# Command line\n",
        "Every command's `--help`, as `cancelkit` prints it (a test keeps this page true).",
        "Credentials come only from the environment; each venue's `cancel` command names its",
        "variables. `--dry-run` needs none: it shows what would be sent.\n",
    ]
    for path, _ in _commands():
        name = " ".join(("cancelkit", *path))
        parts.append(f"## `{name}`\n\n```text\n{help_text(path)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(_page())
