"""The first networked refresh of a page the provisional document stands in for: its
verbatim block is fetched (a hand-made page on loopback), the report says what it
changes against the provisional definition, and generation then takes the verbatim one."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import yaml
from test_refresh import page, project, refresh, site, snapshot

__all__ = ["project", "site"]  # fixtures, used by name

ROOT = Path(__file__).resolve().parent.parent


def published_batch_cancel() -> bytes:
    """A hand-made 'verbatim' block of the batch-cancel page, as its site would serve it:
    the provisional operation without its marker, and client ids of at most 64."""
    provisional = yaml.safe_load(
        (ROOT / "scripts" / "generator" / "limitless.provisional.yaml").read_bytes()
    )
    cancel = yaml.safe_load((ROOT / "specs" / "limitless" / "cancel.yaml").read_bytes())
    operation = copy.deepcopy(provisional["paths"]["/orders/batch-cancel"]["post"])
    del operation["x-provisional"]
    schemas = provisional["components"]["schemas"]
    wanted = ("BatchCancelOrdersDto", "BatchCancelOrdersResponseDto", "FailedCancelDto")
    components = {name: copy.deepcopy(schemas[name]) for name in wanted}
    components["BatchCancelOrdersDto"]["properties"]["clientOrderIds"]["items"]["maxLength"] = 64
    components["ErrorResponseDto"] = cancel["components"]["schemas"]["ErrorResponseDto"]
    block = {
        **{k: cancel[k] for k in ("openapi", "info", "servers", "security", "tags")},
        "paths": {"/orders/batch-cancel": {"post": operation}},
        "components": {
            "schemas": components,
            "securitySchemes": cancel["components"]["securitySchemes"],
        },
    }
    return yaml.safe_dump(block, sort_keys=False).encode()


def add_page(site: tuple[Path, str]) -> str:
    pages, sources = site
    target = pages / "limitless" / "batch-cancel.md"
    target.write_bytes(page(published_batch_cancel(), "Batch Cancel Orders (Combined)"))
    listing = yaml.safe_load(Path(sources).read_text())
    base = listing["limitless/cancel.yaml"].rpartition("/")[0]
    listing["limitless/batch-cancel.yaml"] = f"{base}/batch-cancel.md"
    Path(sources).write_text(yaml.safe_dump(listing))
    return sources


def test_the_report_says_what_the_published_block_changes(
    project: Path, site: tuple[Path, str], tmp_path: Path
) -> None:
    sources = add_page(site)
    before = snapshot(project)
    saved = tmp_path / "saved"
    # One run (each regenerates in a scratch tree): --save keeps the report as --json
    # prints it; the wrapper check is not what this test is about.
    result = refresh(project, sources, "--check", "--no-typecheck", "--save", str(saved))
    assert result.returncode == 1, result.stderr
    section = result.stdout.split("# Provisional operations now published", 1)[1]
    assert "### POST /orders/batch-cancel (https://docs.limitless.exchange/" in section
    changed = next(line for line in section.splitlines() if "maxLength 128 → 64" in line)
    assert changed.startswith("- **breaking**")
    assert "DELETE /orders/all/{slug}" not in section  # its page was not fetched
    as_json = json.loads((saved / "report.json").read_text())
    (entry,) = as_json["provisional"]["limitless.provisional.yaml"].values()
    assert any(c["breaking"] for c in entry["changes"])
    assert snapshot(project) == before  # --check writes nothing


def test_once_written_the_verbatim_definition_replaces_the_provisional_one(
    project: Path, site: tuple[Path, str]
) -> None:
    sources = add_page(site)
    result = refresh(project, sources)
    assert result.returncode == 0, result.stderr
    assert (project / "specs" / "limitless" / "batch-cancel.yaml").read_bytes() == (
        published_batch_cancel()
    )
    constraints = (project / "generated" / "limitless_api" / "constraints.py").read_text()
    assert "BATCH_CANCEL_ORDERS_DTO_BY_CLIENT_ORDER_IDS_CLIENT_ORDER_IDS_ITEMS_MAX_LENGTH = 64" in (
        constraints
    )
    sys.path.insert(0, str(ROOT / "scripts"))
    import provisional
    from regenerate import load_spec

    document, _ = load_spec(project, project / "specs" / "limitless")
    dropped = provisional.merge(
        document, provisional.load(project / "scripts/generator/limitless.provisional.yaml") or {}
    )
    assert dropped == ["POST /orders/batch-cancel"]
    # What is still provisional keeps being generated until its page is published.
    assert "CANCEL_ALL_ORDERS_RESPONSE_DTO_REQUIRED" in constraints


def test_a_published_block_that_omits_its_path_parameter_still_generates() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import pytest
    from path_templates import PathTemplateError, declare

    # The cancel-all page as published: `parameters: []` although the path has {slug}.
    document = {"paths": {"/orders/all/{slug}": {"delete": {"parameters": []}}}}
    assert declare(document) == ["DELETE /orders/all/{slug} {slug}"]
    (parameter,) = document["paths"]["/orders/all/{slug}"]["delete"]["parameters"]
    assert parameter == {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert declare(document) == []  # declared once
    with pytest.raises(PathTemplateError):
        declare({"paths": {"/x/{a b}": {"get": {}}}})
