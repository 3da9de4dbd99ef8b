"""Loaded at start-up (``PYTHONPATH``) by the benchmarks' non-cancelkit processes (the
stack alone, the SDKs' scripts): the environment their own install would give them.

httpx imports its command line (click, rich, pygments) when those are installed, and
they are here only because cancelkit depends on them; an install of the stack or of
an SDK alone has none of them (neither SDK requires them), so httpx's import of its
command line fails there and httpx goes on without it. Refusing it here gives the same.
"""

import sys

sys.modules.setdefault("httpx._main", None)
