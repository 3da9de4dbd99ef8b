"""A project copy and a hostile documentation site on loopback, for the spec pipeline's tests.

The site is a real HTTP server on 127.0.0.1 (ephemeral port). A route is bytes
(served with a Content-Length) or a callable given the request handler, for the
behaviours a hostile server has: drip-feeding, redirects, endless bodies, a page
that changes between two fetches. ``refresh`` runs ``scripts/refresh.py`` as the
workflow does, in a subprocess bounded in time and address space so that a
regression fails the test instead of hanging or exhausting the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of a refresh run (bytes)
Route = bytes | Callable[[http.server.BaseHTTPRequestHandler], None]


def page(block: bytes, title: str) -> bytes:
    """A documentation page in the exchanges' form: prose, then the block."""
    return f"# {title}\n\nSome prose.\n\n````yaml {title}\n".encode() + block + b"````\n"


def copy_project(target: Path) -> Path:
    """The parts of the project the pipeline reads and writes, copied to ``target``."""
    for part in ("specs", "scripts", "wrapper", "generated"):
        # symlinks=True: wrapper/cancelkit/_generated stays the link to generated/
        shutil.copytree(
            ROOT / part, target / part, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True
        )
    shutil.copy(ROOT / "pyproject.toml", target)
    (target / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return target


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of ``specs/`` and the generated code."""
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for part in ("specs", "generated")
        for p in (project / part).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


class Site:
    """Routes served on 127.0.0.1; ``url(path)`` is where each one is."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.closing = threading.Event()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits[self.path] = site.hits.get(self.path, 0) + 1
                route = site.routes.get(self.path)
                try:
                    if route is None:
                        self.send_error(404)
                    elif callable(route):
                        route(self)
                    else:
                        self.send_response(200)
                        self.send_header("Content-Type", "text/markdown; charset=utf-8")
                        self.send_header("Content-Length", str(len(route)))
                        self.end_headers()
                        self.wfile.write(route)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """The address of ``path`` on this site."""
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        """Stop serving (drip routes notice and end)."""
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    # Hostile behaviours -------------------------------------------------

    def drip(self, body: bytes, every: float = 0.5) -> Route:
        """Headers at once, then one byte per ``every`` seconds."""

        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            for index in range(len(body)):
                if self.closing.wait(every):
                    return
                handler.wfile.write(body[index : index + 1])
                handler.wfile.flush()

        return route

    def padded(self, body: bytes, total: int = 50 * 1024 * 1024) -> Route:
        """``total`` bytes of prose lines, then ``body``, without a Content-Length."""

        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.end_headers()
            handler.close_connection = True
            chunk = b"Some more prose.\n" * 4096
            sent = 0
            while sent < total and not self.closing.is_set():
                handler.wfile.write(chunk)
                sent += len(chunk)
            handler.wfile.write(body)

        return route

    @staticmethod
    def redirect(location: str) -> Route:
        """A 302 to ``location``."""

        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        return route

    @staticmethod
    def sequence(*bodies: bytes) -> Route:
        """The first body on the first request, the next on the next (the last thereafter)."""
        served = [0]

        def route(handler: http.server.BaseHTTPRequestHandler) -> None:
            body = bodies[min(served[0], len(bodies) - 1)]
            served[0] += 1
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        return route


def serve_project(project: Path, site: Site, sources: Path) -> dict[str, str]:
    """Serve each spec file of ``project`` as a page; write ``sources`` pointing at them.

    Returns spec file -> route path (so a test can replace a page).
    """
    routes: dict[str, str] = {}
    for spec in sorted((project / "specs").rglob("*.yaml")):
        name = spec.relative_to(project / "specs").as_posix()
        if name == "sources.yaml":
            continue
        path = "/" + name.replace(".yaml", ".md")
        site.routes[path] = page(spec.read_bytes(), name)
        routes[name] = path
    sources.write_text(yaml.safe_dump({name: site.url(path) for name, path in routes.items()}))
    return routes


def refreshed(spec: str, root: Path = ROOT) -> bool:
    """Whether ``specs/<spec>`` is what a refresh wrote from the published page.

    ``scripts/refresh.py`` records each file it writes in ``specs/refreshed.json``
    with its sha256. The frozen pages in ``../shared/pages`` are older than such a
    file, so comparing the two would block every legitimate refresh; a file edited
    after the refresh no longer matches its record and is compared again.
    """
    record = root / "specs" / "refreshed.json"
    if not record.is_file():
        return False
    entry = json.loads(record.read_text(encoding="utf-8")).get(spec)
    current = hashlib.sha256((root / "specs" / spec).read_bytes()).hexdigest()
    return isinstance(entry, dict) and entry.get("sha256") == current


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def refresh(
    project: Path, sources: Path, *args: str, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``scripts/refresh.py`` on ``project`` as the workflow runs it; (result, seconds)."""
    env = {**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            str(project / "scripts" / "refresh.py"),
            "--root",
            str(project),
            "--sources",
            str(sources),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limits,
        env=env,
    )
    return result, time.monotonic() - started


def edit_block(site: Site, route: str, edit: Callable[[str], str]) -> None:
    """Replace the page at ``route`` by one whose text went through ``edit``."""
    current = site.routes[route]
    assert isinstance(current, bytes)
    site.routes[route] = edit(current.decode("utf-8")).encode("utf-8")


def project_and_site(tmp_path: Path) -> Iterator[tuple[Path, Site, Path, dict[str, str]]]:
    """A project copy, its pages on a loopback site, and the sources file."""
    project = copy_project(tmp_path / "project")
    site = Site()
    sources = tmp_path / "sources.yaml"
    routes = serve_project(project, site, sources)
    try:
        yield project, site, sources, routes
    finally:
        site.close()
