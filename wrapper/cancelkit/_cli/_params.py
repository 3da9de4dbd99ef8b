"""Click parameter types the commands share (only click and math: ``cancelkit
trigger`` and ``heartbeat`` start with nothing more)."""

from __future__ import annotations

import math
from typing import Any

import click


class Finite(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf``, which click
    takes as floats: a deadline of ``nan`` ended a run before its first request,
    and a dead-man's switch of ``nan`` or ``inf`` never fired."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
