"""The cancels whose command line is known here run before click is loaded.

A kill switch is typed when every millisecond to the first cancel counts, and
click (with the command tree built on it) is about 15 ms of a cold start that the
first request does not need. The forms recognised are the plainest ones, whose
meaning click would give them too (``test_quick.py`` holds the two equal):
``cancel VENUE ID... [OPTION VALUE]...`` where the venue has a ``_cancel_cmd``
module naming the options it takes so (``QUICK``: a market, say), each
once at most, every other option at its default (``_options.DEFAULTS``).

Anything else (another option, ``--``, a word starting with ``-``, help) goes to
click untouched. The venue's command work (``<venue>._cancel_cmd.quick``) does the
rest, as after click: it validates the input (a usage error before anything is
sent is then reported by click itself, which parses the same line again) and sends.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import NamedTuple


class Form(NamedTuple):
    """A recognised cancel: its venue's command work (``<venue>._cancel_cmd``), its
    ids, and the value each option given has (by the option's name)."""

    work: ModuleType
    ids: tuple[str, ...]
    given: dict[str, str]


def parse(
    words: Sequence[str], options: Mapping[str, str]
) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """``words`` (after ``cancel VENUE``) as ids and ``options`` (spelling -> name; each
    given once at most, ``--opt VALUE`` or ``--opt=VALUE``), if that is all they are."""
    ids: list[str] = []
    given: dict[str, str] = {}
    rest = iter(words)
    for word in rest:
        spelling, is_pair, value = word.partition("=")
        if spelling in options and word.startswith("--"):
            if not is_pair:
                following = next(rest, None)
                if following is None or following.startswith("-"):
                    return None  # click's to report (or to take as a value)
                value = following
            if options[spelling] in given:
                return None
            given[options[spelling]] = value
        elif word.startswith("-"):
            return None
        else:
            ids.append(word)
    return (tuple(ids), given) if ids else None


def recognise(argv: Sequence[str]) -> Form | None:
    """The cancel ``argv`` asks for, if it is a form known here; else None."""
    from . import VENUES

    if len(argv) < 3 or argv[0] != "cancel" or argv[1] not in VENUES:
        return None
    name = f"cancelkit.{argv[1]}._cancel_cmd"
    try:  # by module path, as the click tree loads a venue's commands (VENUES)
        work = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # a module it needs is missing: not a venue without a quick form
        return None  # a venue with no quick form
    parsed = parse(argv[2:], work.QUICK)
    return None if parsed is None else Form(work, *parsed)


def quick(argv: Sequence[str]) -> None:
    """Run ``argv``'s cancel if it is a form known here (and exit with its status);
    return when it is not, or when its input is refused before anything was sent
    (click then parses the line again, and reports the refusal as it does)."""
    form = recognise(argv)
    if form is None:
        return
    from ._options import DEFAULTS

    try:
        form.work.quick(form.ids, form.given, DEFAULTS)
    except SystemExit:
        raise
    except (EOFError, KeyboardInterrupt):  # as click ends a command so
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _quiet_stdout()  # as click does: no second error at exit
        sys.exit(1)
    except Exception as exc:
        import click

        if not isinstance(exc, click.ClickException):
            raise
        from . import _cancel

        if not _cancel.started():
            return  # nothing sent: click parses it again and says it with its usage
        exc.show()
        sys.exit(exc.exit_code)


def _quiet_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
