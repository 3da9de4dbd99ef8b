"""What every venue's commands share: the common options of ``cancel``, the orders
read from arguments and files (and the records of earlier runs), listing errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from ._click import click


@attrs.frozen
class CancelOptions:
    """The options every ``cancel`` command takes (see :func:`common`)."""

    from_file: str | None
    base_url: str | None
    json_lines: bool
    journal: str | None
    missing_ok: bool
    deadline: float
    rate: float | None
    concurrency: int | None
    skip_invalid: bool
    dry_run: bool
    verbose: bool
    foreign_record: bool


DEFAULTS = CancelOptions(
    from_file=None,
    base_url=None,
    json_lines=False,
    journal=None,
    missing_ok=False,
    deadline=60.0,
    rate=None,
    concurrency=None,
    skip_invalid=False,
    dry_run=False,
    verbose=False,
    foreign_record=False,
)
"""Every option as a command line that gives none has it (the options' defaults
below are these; ``_quick`` runs a cancel with them)."""


def common(
    *, rate: str, concurrency: str, missing_ok: str = ""
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options every ``cancel`` command takes, passed to it as one ``opts``; the
    venue's own words for what differs: ``rate`` and ``concurrency`` (their defaults,
    and any limit the venue keeps besides), ``missing_ok`` (what else it accepts)."""
    return functools.partial(_common, rate=rate, concurrency=concurrency, missing_ok=missing_ok)


def _common(
    command: Callable[..., None], *, rate: str, concurrency: str, missing_ok: str
) -> Callable[..., None]:
    from ._params import Finite  # (a click type: loaded with the commands, not before)

    options = [
        click.option(
            "--from-file",
            "from_file",
            metavar="FILE",
            help="Orders, one per line ('-': stdin); UTF-8, # comments; or a journal or --json"
            " record of an earlier run, to resume it (every order in it, final ones checked"
            " again).",
        ),
        click.option("--base-url", help="API root [default: *_API_URL, else the exchange]."),
        click.option(
            "--json", "json_lines", is_flag=True, help="One JSON record per order on stdout."
        ),
        click.option(
            "--journal",
            metavar="FILE",
            help="Write-ahead record, fsynced (survives kill -9): the plan (every order),"
            " each request as it is sent, each outcome. --from-file FILE resumes it."
            " Without it, the journal is kept in the state directory ($CANCELKIT_STATE_DIR,"
            " else $XDG_STATE_HOME/cancelkit, else ~/.local/state/cancelkit), where other"
            " runs on this key find it (with it, a pointer to FILE is left there).",
        ),
        click.option(
            "--missing-ok/--no-missing-ok",
            default=DEFAULTS.missing_ok,
            show_default=True,
            help="Count an order the exchange does not know for this key as done"
            + missing_ok
            + ".",
        ),
        click.option(
            "--deadline",
            type=Finite(min=0, min_open=True),
            default=DEFAULTS.deadline,
            show_default=True,
            help="The run's end: no request is started after it, every wait (rate limit, 429"
            " pause, retry) ends with it; then up to 3 s for answers and one confirming"
            " listing. What was not sent by then is not_sent.",
        ),
        click.option(
            "--rate",
            type=Finite(min=0),
            default=None,
            help="Max requests/s over all endpoints (0: no cap) " + rate + " A rate R"
            " is whole attempts per window: floor(R) per floor(R)/R s (2.5 is 2 per 0.8 s)."
            " Each 429 halves the limit, recovered over ~10 windows.",
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(min=1),
            default=None,
            help=f"Requests in flight at once [default: the library's: {concurrency}].",
        ),
        click.option(
            "--skip-invalid", is_flag=True, help="Send the valid orders, report the rest."
        ),
        click.option("--dry-run", is_flag=True, help="Validate and show what would be sent."),
        click.option(
            "--foreign-record",
            is_flag=True,
            help="Resume from a record made for another venue, base URL or key (refused"
            " otherwise).",
        ),
        click.option("--verbose", is_flag=True, help="The library's debug log on stderr."),
    ]

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> None:
        fields = attrs.fields_dict(CancelOptions)
        picked = {name: kwargs.pop(name) for name in fields}
        command(opts=CancelOptions(**picked), **kwargs)

    for option in reversed(options):
        with_options = option(with_options)
    return with_options


def rate_or(value: float | None, default: float) -> float | None:
    if value is None:
        return default
    return value or None


def rate_text(rate: float | None) -> str:
    return "no cap" if rate is None else f"{rate:g}/s"


@attrs.frozen
class Inputs:
    """Parsed orders, the problems, what a record of an earlier run says."""

    items: list[tuple[str, Any]]
    bad: list[str]
    invalid_records: list[tuple[str, str, str]]
    recorded: dict[int, str]  # index in items -> final outcome recorded for it
    origins: list[Any]  # the venue, URL and key the records were made for
    recorded_sent: set[int]  # index in items of orders the record shows were sent


def gather(
    args: list[tuple[str, str]],
    from_file: str | None,
    parse: Callable[[str], Any],
    foreign: Callable[[list[tuple[str, str]]], None],
    listing: tuple[str, str] | None = None,
) -> Inputs:
    """Parsed orders from arguments and the file; a record's orders all come back
    (each as its latest record says), final ones marked to be checked again.
    ``foreign``: the venue's check that the inputs are not another venue's ids (a
    usage error if they are), run on every input before any is parsed. ``listing``:
    how the venue's listing shows an order (``_inputs.Listed``; by default an
    ``id`` and a ``marketSlug``)."""
    from . import _cancel as cli
    from . import _inputs as given

    given.no_bare_dash(args)
    shape = given.LISTED if listing is None else listing
    lines = cli.read_lines(from_file, shape) if from_file else []
    origins = list({line.origin for line in lines if line.origin is not None})
    lines = cli.latest_records(lines)
    listed = [(line.label, line.text) for line in lines]
    foreign([*args, *listed])
    good, bad = cli.validate_records(args, parse)
    more, problems = cli.validate_records(listed, cli.plausible(parse))
    done = {line.label: line.done for line in lines if line.done is not None}
    items = good + more
    recorded = {n: done[label] for n, (label, _) in enumerate(items) if label in done}
    sent = {line.label for line in lines if line.record == "sent"}
    recorded_sent = {n for n, (label, _) in enumerate(items) if label in sent}
    invalid = bad + problems
    return Inputs(
        items,
        [f"{label}: {why}" for label, _, why in invalid],
        invalid,
        recorded,
        origins,
        recorded_sent,
    )


@contextmanager
def listing_errors() -> Iterator[None]:
    """A listing's failure as the CLI reports it: bad input exit 2, the rest exit 1."""
    from .._exceptions import CancelKitError, InvalidRequest
    from ._terminal import printable

    try:
        yield
    except InvalidRequest as exc:
        click.echo(f"cancelkit: {printable(exc.message)}", err=True)
        raise SystemExit(2) from None
    except CancelKitError as exc:
        click.echo(f"cancelkit: {type(exc).__name__}: {printable(exc)}", err=True)
        raise SystemExit(1) from None
