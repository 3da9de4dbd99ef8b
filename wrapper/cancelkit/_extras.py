"""Optional parts of cancelkit and the one message that says how to get them.

Imports nothing of cancelkit: the sandbox's own check (``cancelkit.sandbox._extra``)
raises :class:`MissingExtra` before it imports the extra's modules, and the CLI and
the pytest plugin catch it around ``import cancelkit.sandbox``.
"""

from __future__ import annotations

SANDBOX_MISSING = (
    "the cancelkit sandbox needs the 'sandbox' extra: pip install 'cancelkit[sandbox]'"
)


class MissingExtra(ImportError):
    """An optional dependency of cancelkit is not installed; the message says which extra."""
