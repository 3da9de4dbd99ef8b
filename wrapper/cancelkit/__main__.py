"""``python -m cancelkit``: the same as the ``cancelkit`` command."""

from cancelkit._cli import run

run()
