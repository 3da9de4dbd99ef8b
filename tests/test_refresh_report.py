"""The change report names every change the commit makes, escaped, with the wrapper's verdict."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_site import Site, edit_block, project_and_site, refresh, snapshot

GET_ORDER = "polymarket_us/get-order.yaml"
BATCH = "polymarket_us/cancel-multiple-orders.yaml"


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Site, Path, dict[str, str]]]:
    # --check writes nothing (asserted), so one project copy serves every case.
    yield from project_and_site(tmp_path_factory.mktemp("report"))


@pytest.fixture
def env(
    shared: tuple[Path, Site, Path, dict[str, str]],
) -> Iterator[tuple[Path, Site, Path, dict[str, str]]]:
    _, site, _, _ = shared
    pages = dict(site.routes)
    yield shared
    site.routes.clear()
    site.routes.update(pages)


def test_a_renamed_operation_id_is_breaking_and_the_wrapper_check_fails(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    project, site, sources, routes = env
    edit_block(
        site,
        routes[BATCH],
        lambda t: t.replace("OrdersService_CancelOrderList", "OrdersService_CancelOrderBatch"),
    )
    before = snapshot(project)
    result, _ = refresh(project, sources, "--check", timeout=300)
    assert result.returncode == 1, result.stderr
    report = result.stdout
    module = "polymarket_us_api.api.orders.orders_service_cancel_order_list"
    removed = next(line for line in report.splitlines() if f"`{module}` removed" in line)
    assert removed.startswith("- **breaking**")
    assert "the wrapper imports it" in removed
    assert "`polymarket_us_api.api.orders.orders_service_cancel_order_batch` added" in report
    assert "every `cancelkit` module imported): **FAILED** (breaking)" in report
    assert "orders_service_cancel_order_list" in report.split("```text")[1]  # the error itself
    assert "no change a caller can see" not in report
    assert snapshot(project) == before


def test_tags_and_an_unreferenced_component_are_reported_as_generated_changes(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    project, site, sources, routes = env
    extra = (
        "    Unused:\n      type: object\n      properties:\n"
        "        note:\n          type: string\n"
    )
    edit_block(
        site,
        routes[GET_ORDER],
        lambda t: t.replace("        - Orders\n", "        - Order Book\n", 1).replace(
            "\n  schemas:\n", "\n  schemas:\n" + extra, 1
        ),
    )
    result, _ = refresh(project, sources, "--check", "--json", "--no-typecheck", timeout=300)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    entries = {(c["entry"], c["change"]) for c in data["generated"]}
    assert ("polymarket_us_api.models.unused:Unused", "added") in entries
    assert ("polymarket_us_api.api.order_book.orders_service_get_order", "added") in entries
    assert ("polymarket_us_api.api.orders.orders_service_get_order", "removed") in entries
    moved = next(
        c for c in data["generated"] if c["entry"].endswith("orders.orders_service_get_order")
    )
    assert moved["breaking"] is True  # the wrapper imports it from api.orders


def test_a_function_that_now_builds_another_path_is_a_breaking_change(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    """Same module, same name, same signature, another URL: the function the kill
    switch looks orders up with would ask for something else (issue 29, item 7)."""
    project, site, sources, routes = env
    edit_block(
        site,
        routes[GET_ORDER],
        lambda t: t.replace("  /v1/order/{orderId}:\n", "  /v1/orders/{orderId}:\n", 1),
    )
    result, _ = refresh(project, sources, "--check", "--no-typecheck", timeout=300)
    assert result.returncode == 1, result.stderr
    report = result.stdout
    entry = "polymarket_us_api.api.orders.orders_service_get_order:_get_kwargs"
    line = next(line for line in report.splitlines() if f"`{entry}`" in line)
    assert line == (
        f"- **breaking**: `{entry}` changed: `GET /v1/order/{{order_id}}` →"
        " `GET /v1/orders/{order_id}` (the wrapper imports it)"
    )
    generated = report.split("## Generated code (modules, names and types)")[1]
    assert "- no change" not in generated


def test_names_and_text_in_the_report_are_escaped(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    project, site, sources, routes = env
    # A pattern is free text: a newline and an HTML comment opener in it must not
    # hide the breaking change listed after it, nor start a workflow command.
    hostile = r'"x\n<!--\n::add-mask::breaking\n"'
    edit_block(
        site,
        routes[BATCH],
        lambda t: t.replace("maxItems: 20", f"maxItems: 10\n          pattern: {hostile}", 1),
    )
    result, _ = refresh(project, sources, "--check", "--no-typecheck", timeout=300)
    assert result.returncode == 1, result.stderr
    report = result.stdout
    # Markdown shows a code span's text literally; outside one, no "<" is left raw.
    assert "<" not in re.sub(r"`[^`\n]*`", "", report)
    assert not any(line.startswith("::") for line in report.splitlines())
    assert "&lt;!--" in report
    tightened = next(line for line in report.splitlines() if "maxItems 20 → 10" in line)
    assert tightened.startswith("- **breaking**")
