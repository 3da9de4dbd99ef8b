"""Pulling OpenAPI documents out of the exchanges' documentation pages."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
import yaml
from extract_spec import ExtractError, extract, main
from pipeline_site import refreshed

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = FIXTURES.parent.parent
POLYMARKET_PAGE = FIXTURES / "000_4c8dd3b6eb22306f.txt"
LIMITLESS_PAGE = FIXTURES / "004_01da29b7033c1939.txt"


@pytest.mark.parametrize(
    ("page", "spec"),
    [
        (POLYMARKET_PAGE, "polymarket_us/cancel-order.yaml"),
        (LIMITLESS_PAGE, "limitless/cancel.yaml"),
    ],
)
def test_a_seed_page_gives_its_block_byte_for_byte(page: Path, spec: str, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    # The block is what sits between the ````yaml fence line and the closing fence.
    start = text.index("\n", text.index("````yaml")) + 1
    block = text[start : text.index("\n````", start) + 1]
    out = tmp_path / Path(spec).name
    assert main([str(page), "-o", str(out)]) == 0
    assert out.read_bytes() == block.encode("utf-8")
    # ...and specs/ holds exactly that, until a refresh brings the published page.
    if not refreshed(spec):
        assert (ROOT / "specs" / spec).read_bytes() == out.read_bytes()


def test_a_page_served_over_http_is_read_too(tmp_path: Path) -> None:
    handler = http.server.SimpleHTTPRequestHandler

    class Quiet(handler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(FIXTURES), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{LIMITLESS_PAGE.name}"
        assert extract([url]) == extract([str(LIMITLESS_PAGE)])
    finally:
        server.shutdown()
        server.server_close()


def _page(tmp_path: Path, name: str, document: dict[str, object]) -> Path:
    page = tmp_path / name
    block = yaml.safe_dump(document, sort_keys=False)
    page.write_text(f"# {name}\n\nSome prose.\n\n````yaml POST /x\n{block}````\n")
    return page


@pytest.fixture
def two_pages(tmp_path: Path) -> tuple[Path, Path]:
    shared = {"Error": {"type": "object", "properties": {"message": {"type": "string"}}}}
    first = _page(
        tmp_path,
        "cancel.md",
        {
            "openapi": "3.0.0",
            "info": {"title": "T", "version": "1"},
            "tags": [{"name": "Trading"}],
            "paths": {"/orders/cancel": {"post": {"operationId": "cancel"}}},
            "components": {"schemas": {**shared, "Cancel": {"type": "object"}}},
        },
    )
    second = _page(
        tmp_path,
        "place.md",
        {
            "openapi": "3.0.0",
            "info": {"title": "T", "version": "1"},
            "tags": [{"name": "Trading"}, {"name": "Orders"}],
            "paths": {
                "/orders/cancel": {"get": {"operationId": "status"}},
                "/orders": {"post": {"operationId": "place"}},
            },
            "components": {"schemas": {**shared, "Place": {"type": "object"}}},
        },
    )
    return first, second


def test_pages_of_one_api_merge_their_paths_and_components(
    two_pages: tuple[Path, Path],
) -> None:
    merged = yaml.safe_load(extract([str(p) for p in two_pages]))
    assert set(merged["paths"]) == {"/orders/cancel", "/orders"}
    assert set(merged["paths"]["/orders/cancel"]) == {"post", "get"}
    assert set(merged["components"]["schemas"]) == {"Error", "Cancel", "Place"}
    assert [t["name"] for t in merged["tags"]] == ["Trading", "Orders"]


def test_differing_top_level_security_moves_onto_each_pages_operations(tmp_path: Path) -> None:
    base = {"openapi": "3.0.0", "info": {"title": "T", "version": "1"}}
    one = _page(
        tmp_path,
        "a.md",
        {**base, "security": [{"key": []}], "paths": {"/a": {"post": {"operationId": "a"}}}},
    )
    two = _page(tmp_path, "b.md", {**base, "paths": {"/b": {"post": {"operationId": "b"}}}})
    merged = yaml.safe_load(extract([str(one), str(two)]))
    assert "security" not in merged
    assert merged["paths"]["/a"]["post"]["security"] == [{"key": []}]
    assert "security" not in merged["paths"]["/b"]["post"]


def test_same_path_and_method_on_two_pages_is_an_error_naming_both(tmp_path: Path) -> None:
    doc = {
        "openapi": "3.0.0",
        "info": {"title": "T", "version": "1"},
        "paths": {"/orders/cancel": {"post": {"operationId": "x"}}},
    }
    one, two = _page(tmp_path, "one.md", doc), _page(tmp_path, "two.md", doc)
    with pytest.raises(ExtractError, match="POST /orders/cancel") as caught:
        extract([str(one), str(two)])
    assert str(one) in str(caught.value)
    assert str(two) in str(caught.value)


def test_a_component_defined_differently_is_an_error_naming_both(tmp_path: Path) -> None:
    base = {"openapi": "3.0.0", "info": {"title": "T", "version": "1"}}
    one = _page(
        tmp_path,
        "one.md",
        {**base, "paths": {"/a": {}}, "components": {"schemas": {"E": {"type": "string"}}}},
    )
    two = _page(
        tmp_path,
        "two.md",
        {**base, "paths": {"/b": {}}, "components": {"schemas": {"E": {"type": "integer"}}}},
    )
    with pytest.raises(ExtractError, match="components/schemas/E") as caught:
        extract([str(one), str(two)])
    assert str(one) in str(caught.value)
    assert str(two) in str(caught.value)


def test_a_page_without_an_openapi_block_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "prose.md"
    page.write_text("# Just prose\n\n```yaml\nkey: value\n```\n")
    out = tmp_path / "out.yaml"
    assert main([str(page), "-o", str(out)]) == 1
    assert f"{page}: no OpenAPI block" in capsys.readouterr().err
    assert not out.exists(), "nothing is written on error"
