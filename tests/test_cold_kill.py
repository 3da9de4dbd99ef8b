"""A cold Polymarket kill (the command, one run per process) loads no CA bundle for
aiohttp's own unused TLS defaults before its first cancel (issue 33): the order stream
the kill opens first imports aiohttp, whose connector module made two contexts, each
loading the bundle, as it loaded. The stream's sessions carry the client's context, so
a program's own aiohttp keeps its defaults and TLS is verified as before."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from cancelkit.sandbox import Sandbox
from test_operator import cli, open_ids

# Counts every load of the default CA locations in the process it is loaded into
# (``sitecustomize``: before cancelkit), and writes the count as the process ends.
_COUNTER = """
import atexit, os, ssl
_loads = []
_real = ssl.SSLContext.set_default_verify_paths
def _counted(self):
    _loads.append(1)
    return _real(self)
ssl.SSLContext.set_default_verify_paths = _counted
atexit.register(lambda: open(os.environ["CA_LOADS"], "w").write(str(len(_loads))))
"""


def test_a_cold_kill_loads_no_ca_bundle_for_aiohttp_defaults(
    cancelkit_sandbox: Sandbox, tmp_path: Path
) -> None:
    box = cancelkit_sandbox
    ids = [box.seed_polymarket(f"cold-{i}").id for i in range(3)]
    (tmp_path / "sitecustomize.py").write_text(_COUNTER)
    count = tmp_path / "loads"
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path, "CA_LOADS": str(count)}
    result = cli(box, "cancel", "polymarket", "--all", env=env)
    assert result.returncode == 0, result.stderr
    assert not (set(ids) & open_ids(box))
    assert "order stream" not in result.stderr  # the stream was opened, not given up
    assert count.read_text() == "0"  # an http:// API: no TLS, no bundle to load


def test_a_programs_own_aiohttp_keeps_its_verifying_defaults() -> None:
    """Imported by a program (not the command), aiohttp's default contexts are its
    own, the CA bundle loaded: cancelkit changes nothing there."""
    code = textwrap.dedent(
        """
        import ssl
        import cancelkit
        from cancelkit.polymarket import AsyncPolymarketUSClient
        import aiohttp.connector as connector
        context = connector._SSL_CONTEXT_VERIFIED
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.cert_store_stats()["x509_ca"] > 0, context.cert_store_stats()
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
