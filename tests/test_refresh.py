"""Spec refresh: pages served over loopback by a real HTTP server, a project copy updated."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def page(block: bytes, title: str) -> bytes:
    """A documentation page in the exchanges' form: prose, then the block."""
    return f"# {title}\n\nSome prose.\n\n````yaml {title}\n".encode() + block + b"````\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    for part in ("specs", "scripts", "wrapper", "generated"):
        # symlinks=True: wrapper/cancelkit/_generated stays the link to generated/
        shutil.copytree(
            ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True
        )
    shutil.copy(ROOT / "pyproject.toml", copy)
    return copy


@pytest.fixture
def site(project: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Every spec file's page, served on 127.0.0.1; a sources file pointing at them."""
    pages = tmp_path / "site"
    sources = {}
    for spec in sorted((project / "specs").rglob("*.yaml")):
        name = spec.relative_to(project / "specs").as_posix()
        if name == "sources.yaml":
            continue
        target = pages / name.replace(".yaml", ".md")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page(spec.read_bytes(), name))
        sources[name] = name.replace(".yaml", ".md")

    class Pages(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(pages), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    listing = tmp_path / "sources.yaml"
    listing.write_text(yaml.safe_dump({k: url + v for k, v in sources.items()}))
    yield pages, str(listing)
    server.shutdown()
    server.server_close()


def refresh(project: Path, sources: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(project / "scripts" / "refresh.py"),
            "--root",
            str(project),
            "--sources",
            sources,
            "--timeout",
            "5",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # The wrapper check's mypy reuses the project's cache (warm after `make types`).
        env={**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")},
    )


def snapshot(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for part in ("specs", "generated")
        for p in (project / part).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def tighten(pages: Path) -> None:
    """The Limitless page: clientOrderId's maxLength 128 -> 64, and a new optional field."""
    limitless = pages / "limitless" / "cancel.md"
    text = limitless.read_text()
    text = text.replace("maxLength: 128", "maxLength: 64")
    text = text.replace(
        "          example: partner-order-001\n",
        "          example: partner-order-001\n"
        "        note:\n"
        "          type: string\n"
        "          description: Free text kept with the cancel.\n",
        1,
    )
    limitless.write_text(text)


def test_an_unchanged_site_exits_0_and_writes_nothing(
    project: Path, site: tuple[Path, str]
) -> None:
    before = snapshot(project)
    result = refresh(project, site[1], "--check")
    assert result.returncode == 0, result.stderr
    assert "no change" in result.stdout
    assert snapshot(project) == before


def test_a_tightened_length_and_a_new_field_are_reported_and_judged(
    project: Path, site: tuple[Path, str], tmp_path: Path
) -> None:
    pages, sources = site
    tighten(pages)
    before = snapshot(project)
    saved = tmp_path / "saved"
    result = refresh(project, sources, "--check", "--no-typecheck", "--save", str(saved))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    tightened = next(line for line in lines if "maxLength 128 → 64" in line)
    assert "`clientOrderId`" in tightened
    assert "**breaking**" in tightened
    assert "requests valid before may now be refused" in tightened
    added = next(line for line in lines if "`note` added (optional)" in line)
    assert added.startswith("- compatible")
    assert snapshot(project) == before  # --check writes nothing

    # --save kept the report as --json prints it (one run: each regenerates in a scratch tree).
    as_json = json.loads((saved / "report.json").read_text())
    assert (saved / "report.md").read_text() + "\n" == result.stdout
    assert as_json["changed"] is True
    (spec,) = as_json["specs"]
    assert any(c["breaking"] and "maxLength" in c["what"] for c in as_json["specs"][spec])


def test_a_refresh_updates_specs_and_generated_and_the_client_follows(
    project: Path, site: tuple[Path, str]
) -> None:
    pages, sources = site
    tighten(pages)
    result = refresh(project, sources)
    assert result.returncode == 0, result.stderr
    cancel = project / "specs" / "limitless" / "cancel.yaml"
    assert b"maxLength: 64" in cancel.read_bytes()
    assert "every `cancelkit` module imported): passed" in result.stdout
    record = json.loads((project / "specs" / "refreshed.json").read_text())
    assert (
        record["limitless/cancel.yaml"]["sha256"] == hashlib.sha256(cancel.read_bytes()).hexdigest()
    )
    assert record["limitless/cancel.yaml"]["url"].endswith("/limitless/cancel.md")
    check = subprocess.run(
        [
            sys.executable,
            str(project / "scripts" / "regenerate.py"),
            "--check",
            "--root",
            str(project),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # The client refuses the longer id before any I/O, with no hand edit.
    code = (
        "import httpx, cancelkit\n"
        "sent = []\n"
        "t = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))\n"
        "lm = cancelkit.LimitlessClient('t', 'bGltaXRsZXNzLXNhbmRib3gtc2VjcmV0', transport=t)\n"
        "try:\n"
        "    lm.cancel_order(client_order_id='x' * 100)\n"
        "except cancelkit.InvalidRequest as exc:\n"
        "    print('refused:', exc, len(sent))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{project / 'wrapper'}", "PATH": ""},
    )
    assert "refused: client_order_id is 100 characters long; the limit is 64 0" in run.stdout, (
        run.stdout + run.stderr
    )


@pytest.mark.parametrize("fault", ["unreachable", "no block"])
def test_a_page_that_cannot_be_had_exits_2_naming_it_and_writes_nothing(
    project: Path, site: tuple[Path, str], fault: str
) -> None:
    pages, sources = site
    tighten(pages)  # a change elsewhere that must not be written either
    listing = yaml.safe_load(Path(sources).read_text())
    broken = "polymarket_us/get-order.yaml"
    if fault == "unreachable":
        listing[broken] = "http://127.0.0.1:9/get-order.md"  # nothing listens on port 9
    else:
        (pages / "polymarket_us" / "get-order.md").write_text("# Get Order\n\nNo block here.\n")
    Path(sources).write_text(yaml.safe_dump(listing))
    before = snapshot(project)
    result = refresh(project, sources)
    assert result.returncode == 2
    assert "get-order.md" in result.stderr
    assert "nothing written" in result.stderr
    assert snapshot(project) == before


def test_every_spec_file_has_a_source() -> None:
    sources = yaml.safe_load((ROOT / "specs" / "sources.yaml").read_text())
    files = {
        p.relative_to(ROOT / "specs").as_posix()
        for p in (ROOT / "specs").rglob("*.yaml")
        if p.name != "sources.yaml"
    }
    assert files <= set(sources)
    assert all(url.startswith("https://docs.") for url in sources.values())
    # A page listed without its file is one the provisional document stands in for.
    provisional = yaml.safe_load(
        (ROOT / "scripts" / "generator" / "limitless.provisional.yaml").read_bytes()
    )
    pages = {
        operation["x-provisional"]["page"] + ".md"
        for item in provisional["paths"].values()
        for operation in item.values()
    }
    assert {sources[name] for name in set(sources) - files} == pages


def _doc(**changes: object) -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(
        (ROOT / "specs" / "polymarket_us" / "get-open-orders.yaml").read_bytes()
    )
    operation = document["paths"]["/v1/orders/open"]["get"]  # type: ignore[index]
    operation.update(changes)
    return document


@pytest.mark.parametrize(
    ("mutate", "expected", "breaking"),
    [
        (
            lambda d: d["paths"]["/v1/orders/open"]["get"]["parameters"].append(
                {"name": "cursor", "in": "query", "required": True, "schema": {"type": "string"}}
            ),
            "query parameter `cursor` added",
            True,
        ),
        (
            lambda d: d["components"]["schemas"]["OrderState"]["enum"].append("ORDER_STATE_X"),
            "adds ['ORDER_STATE_X']",  # a response enum: unknown values parse
            False,
        ),
        (
            lambda d: d["components"]["schemas"]["Order"]["properties"].pop("leavesQuantity"),
            "`orders[].leavesQuantity` removed",
            True,
        ),
        (
            lambda d: d["paths"].pop("/v1/orders/open"),
            "operation removed",
            True,
        ),
        (
            lambda d: d["components"]["securitySchemes"]["X-PM-Timestamp"].update(name="X-Time"),
            "changed",
            True,
        ),
        (
            lambda d: d["paths"]["/v1/orders/open"]["get"]["responses"].update(
                {"429": {"description": "Too Many Requests"}}
            ),
            "response 429 added",
            False,
        ),
    ],
    ids=["required-param", "response-enum", "response-field", "op-removed", "security", "code"],
)
def test_each_kind_of_change_is_named_and_judged(
    mutate: object, expected: str, breaking: bool
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from spec_diff import compare

    old = _doc()
    new = _doc()
    mutate(new)  # type: ignore[operator]
    found = [c for c in compare(old, new) if expected in c.what or expected in c.where]
    assert found, compare(old, new)
    assert all(c.breaking is breaking for c in found), found


def test_a_refreshed_spec_is_not_held_to_the_frozen_page(tmp_path: Path) -> None:
    """The tests comparing specs/ with ../shared/pages must not block a refresh."""
    from pipeline_site import refreshed

    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "limitless.yaml"
    spec.write_bytes(b"openapi: 3.0.3\n")
    assert not refreshed("limitless.yaml", tmp_path)
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()
    record = {"limitless.yaml": {"url": "https://docs.example/p.md", "sha256": digest}}
    (tmp_path / "specs" / "refreshed.json").write_text(json.dumps(record))
    assert refreshed("limitless.yaml", tmp_path)
    spec.write_bytes(b"openapi: 3.0.3\n# edited by hand\n")
    assert not refreshed("limitless.yaml", tmp_path)
