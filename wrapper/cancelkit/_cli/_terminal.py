"""Text from a server, made safe for a terminal.

An exchange, a proxy or anything in between chooses the bytes of an error message,
an order id or a market slug. Printed raw, a carriage return or a CSI sequence
redraws the operator's screen (an "all clear" over a failure) and an OSC 8
sequence plants a link. Every such string goes through here before it is printed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# C0 and C1 controls (ESC, CR, LF, BEL, CSI U+009B...), and the bidirectional
# overrides and isolates, which reorder what the operator reads.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` with every control character shown as a visible escape (``\\x1b``):
    nothing in it can move the cursor, clear a line or start a hyperlink."""
    return _UNSAFE.sub(_escaped, str(text))


def printable_cells(cells: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`printable` of each cell, with one scan of them all when none has
    anything to escape (a listing's usual row; each control is one character, so
    the joined text has one exactly when a cell has)."""
    if _UNSAFE.search("".join(cells)) is None:
        return cells
    return tuple(printable(cell) for cell in cells)


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def json_safe(line: str) -> str:
    """A JSON text (from ``json.dumps``, which escapes C0 controls itself) with the
    rest of the unsafe characters escaped too: the same JSON value, safe to print."""
    return _UNSAFE.sub(_json_escaped, line)


class _Printable(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


@contextmanager
def library_log(verbose: bool) -> Iterator[None]:
    """For one CLI command, the library's log on stderr through the CLI's own handler:
    warnings as ``cancelkit: ...`` lines; with ``verbose``, the debug log too. Its
    own handler, because basicConfig does nothing once the root logger has one."""
    handler = logging.StreamHandler(sys.stderr)
    if verbose:
        handler.setFormatter(_Printable("%(asctime)s %(name)s %(message)s"))
    else:
        handler.setFormatter(_Printable("cancelkit: %(message)s"))
        handler.setLevel(logging.WARNING)
    logger = logging.getLogger("cancelkit")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else min(level or logging.WARNING, logging.WARNING))
    logger.propagate = False  # printed here once, not again by a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
