"""``cancelkit runs``: the records the state directory keeps, and pruning them.

Every CLI run leaves its journal (or a pointer to ``--journal``) in the state
directory: what a resume reads and what a second operator's run on the same key
learns from. Each run prunes what the retention rule no longer keeps
(``Registry.prune``); ``--prune`` does it now.
"""

from __future__ import annotations

import json

import click


@click.command("runs")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per record.")
@click.option(
    "--prune",
    is_flag=True,
    help="First remove the records the retention rule no longer keeps (what every"
    " cancel run does as it starts): older than 24 hours and not among the newest 5 runs"
    " of their venue, URL and key; never one a running run holds.",
)
def runs(json_lines: bool, prune: bool) -> None:
    """The runs recorded in the state directory, newest first: when each started, its
    run id, venue and key id, how many orders it planned and how they stand (each
    order's latest record: cancelled, failed, sent with no answer...), and whether it
    is running now. The directory: $CANCELKIT_STATE_DIR, else
    $XDG_STATE_HOME/cancelkit, else ~/.local/state/cancelkit."""
    from ._registry import Registry, RegistryError
    from ._terminal import json_safe, printable

    try:
        registry = Registry.open()
    except RegistryError as exc:
        click.echo(f"cancelkit: {exc}", err=True)
        raise SystemExit(2) from None
    if prune:
        removed = registry.prune()
        for path in removed:
            click.echo(f"cancelkit: removed {printable(path)}", err=True)
        click.echo(f"cancelkit: pruned {len(removed)} record(s) in {registry.path}", err=True)
    records = registry.runs()
    for record in records:
        if json_lines:
            click.echo(json_safe(json.dumps(record.as_dict(), ensure_ascii=False)))
            continue
        origin = record.origin
        counts = record.counts
        outcome = (
            "unreadable"
            if origin is None
            else "too large to count"
            if counts is None
            else ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
            or "no orders"
        )
        cells = (
            record.started or "?",
            record.run,
            "?" if origin is None else origin.venue,
            "?" if origin is None else origin.key,
            "?" if record.orders is None else str(record.orders),
            outcome + (" (running)" if record.running else ""),
        )
        click.echo(printable("  ".join(cells)))
    if not json_lines:
        click.echo(f"cancelkit: {len(records)} record(s) in {registry.path}", err=True)
