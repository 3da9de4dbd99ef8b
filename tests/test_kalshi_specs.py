"""Kalshi's pages through the pipeline: verbatim blocks, one generated package, and what
the generator does not model (a DELETE with a body, fixed-point counts, a free status)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pipeline_site import refreshed

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT.parent / "shared" / "pages" / "kalshi"

# sha256 of each page's OpenAPI block, as ../shared/pages/kalshi/README.md records them.
BLOCKS = {
    "cancel-order-v2": "3a5e1f099289df706aebea6995e52213d6adb3215c9913b86995920fbdc932f5",
    "batch-cancel-orders-v2": "4c3c3842968580ec7474ba1b561efcd2baff8c0155df49a405fb5c4cd679372a",
    "cancel-all-orders": "87ef4a3b633a3b68581102a6426239d710eb81d805271dfaf9ea63e218017a16",
    "get-orders": "3c7ba59fedbf6c6f94c8b626e6a5b489affb36c41558eec0ba51642424848eed",
    "get-order": "75887e85cf8690b3a40a7830b8f6266b6b8c760bd19f9c08b6873bbef9eaff63",
    "trigger-order-group": "523bc651dc1c03418b48415a543900a13d528a2e7716bf6cc9bdf045dccbf4c7",
}
ADDRESSES = {
    "cancel-order-v2": "api-reference/orders/cancel-order-v2",
    "batch-cancel-orders-v2": "api-reference/orders/batch-cancel-orders-v2",
    "cancel-all-orders": "api-reference/orders/cancel-all-orders",
    "get-orders": "api-reference/orders/get-orders",
    "get-order": "api-reference/orders/get-order",
    "trigger-order-group": "api-reference/order-groups/trigger-order-group",
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_each_kalshi_page_is_its_own_verbatim_spec_file(name: str) -> None:
    from extract_spec import extract

    spec = ROOT / "specs" / "kalshi" / f"{name}.yaml"
    if refreshed(f"kalshi/{name}.yaml"):
        pytest.skip(f"specs/kalshi/{name}.yaml was refreshed from the published page")
    page = PAGES / f"{name}.md"
    if not page.exists():
        pytest.fail(f"{page} is missing: ../shared must sit beside the project")
    assert extract([str(page)]).encode() == spec.read_bytes()
    assert hashlib.sha256(spec.read_bytes()).hexdigest() == BLOCKS[name]


def test_sources_list_every_kalshi_page_address() -> None:
    sources = yaml.safe_load((ROOT / "specs" / "sources.yaml").read_text())
    for name, address in ADDRESSES.items():
        assert sources[f"kalshi/{name}.yaml"] == f"https://docs.kalshi.com/{address}.md"
    on_disk = {p.stem for p in (ROOT / "specs" / "kalshi").glob("*.yaml")}
    assert on_disk == set(ADDRESSES)


def test_every_generated_kalshi_file_names_its_spec_and_hash() -> None:
    from regenerate import load_spec

    _, digest = load_spec(ROOT, ROOT / "specs" / "kalshi")
    supplement = ROOT / "scripts" / "generator" / "kalshi.supplement.yaml"
    note = hashlib.sha256(supplement.read_bytes()).hexdigest()
    files = list((ROOT / "generated" / "kalshi_api").rglob("*.py"))
    assert files
    for file in files:
        head = file.read_text().splitlines()[:2]
        assert head[0].endswith("specs/kalshi/")
        assert digest in head[1]
        assert note in head[1]
    assert (ROOT / "generated" / "kalshi_api" / "py.typed").exists()


def test_every_operation_of_the_six_pages_is_generated() -> None:
    from cancelkit._generated.kalshi_api.api import order_groups, orders

    made = {p.stem for p in Path(orders.__file__).parent.glob("*.py")} | {
        p.stem for p in Path(order_groups.__file__).parent.glob("*.py")
    }
    assert made - {"__init__"} == {
        "cancel_order_v2",
        "batch_cancel_orders_v2",
        "cancel_all_orders",
        "get_orders",
        "get_order",
        "trigger_order_group",
    }


@pytest.mark.parametrize(
    ("module", "path"),
    [
        ("get_order", "/portfolio/orders/{}"),
        ("cancel_order_v2", "/portfolio/events/orders/{}"),
    ],
)
def test_a_path_parameter_declared_by_reference_is_one_encoded_segment(
    module: str, path: str
) -> None:
    # The pages declare order_id through `$ref: '#/components/parameters/OrderIdPath'`;
    # declaring it again would make the generator drop the endpoint (a duplicate).
    import importlib

    endpoint = importlib.import_module(f"cancelkit._generated.kalshi_api.api.orders.{module}")
    kwargs = endpoint._get_kwargs("a/b c?#")
    assert kwargs["url"] == path.format("a%2Fb%20c%3F%23")


def test_path_templates_follow_a_local_parameter_reference() -> None:
    from path_templates import declare

    document: dict[str, Any] = {
        "paths": {
            "/o/{order_id}": {"get": {"parameters": [{"$ref": "#/components/parameters/Id"}]}},
            "/g/{group}": {"get": {"parameters": [{"$ref": "#/components/parameters/Gone"}]}},
        },
        "components": {"parameters": {"Id": {"name": "order_id", "in": "path"}}},
    }
    # Declared by reference: nothing added. A reference to nothing declares nothing.
    assert declare(document) == ["GET /g/{group} {group}"]
    assert document["paths"]["/o/{order_id}"]["get"]["parameters"] == [
        {"$ref": "#/components/parameters/Id"}
    ]


def test_the_batch_cancel_is_a_delete_that_sends_its_json_body() -> None:
    from cancelkit._generated.kalshi_api.api.orders import batch_cancel_orders_v2 as endpoint
    from cancelkit._generated.kalshi_api.models import (
        BatchCancelOrdersV2Request,
        BatchCancelOrdersV2RequestOrdersItem,
    )
    from cancelkit._wire import Wire

    body = BatchCancelOrdersV2Request(
        orders=[
            BatchCancelOrdersV2RequestOrdersItem(order_id="o-1", subaccount=2),
            BatchCancelOrdersV2RequestOrdersItem(order_id="o-2"),
        ]
    )
    kwargs = endpoint._get_kwargs(body=body)
    assert kwargs["method"] == "delete"

    class Unsigned:
        def signed(self, method: str, target: str, body: bytes) -> list[tuple[str, str]]:
            return []

        def observe(self, date: str | None) -> None:
            return None

    wire = Wire("https://external-api.kalshi.com/trade-api/v2", {}, Unsigned())
    prepared = wire.prepare(kwargs)
    assert prepared is not None
    assert prepared.method == "DELETE"
    assert prepared.target == "/trade-api/v2/portfolio/events/orders/batched"
    sent = b'{"orders":[{"order_id":"o-1","subaccount":2},{"order_id":"o-2"}]}'
    assert prepared.body == sent
    headers = dict(prepared.wire_headers())
    assert headers["Content-Length"] == str(len(sent))
    assert headers["Content-Type"] == "application/json"
    # httpx's own route (a transport the caller gives) sends the same body on a DELETE.
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"orders": []})

    with httpx.Client(
        base_url="https://external-api.kalshi.com/trade-api/v2",
        transport=httpx.MockTransport(answer),
    ) as client:
        client.request(**kwargs)
    assert seen[0].method == "DELETE"
    assert seen[0].content == sent


def test_fixed_point_counts_have_a_pattern_in_the_constraints() -> None:
    from cancelkit._generated.kalshi_api.constraints import FIXED_POINT_COUNT_PATTERN

    pattern = re.compile(FIXED_POINT_COUNT_PATTERN)
    for count in ("10.00", "0.01", "10", "10.5", "2.50"):
        assert pattern.fullmatch(count), count
    for bad in ("", "-1.00", "1e3", "1.005", ".5", "10.", "NaN", " 1.00", "1,00"):
        assert not pattern.fullmatch(bad), bad


def test_the_orders_status_filter_is_the_documented_set() -> None:
    from cancelkit._generated.kalshi_api.api.orders import get_orders as endpoint
    from cancelkit._generated.kalshi_api.constraints import ORDER_STATUS_ENUM
    from cancelkit._generated.kalshi_api.models import GetOrdersStatus

    assert {s.value for s in GetOrdersStatus} == set(ORDER_STATUS_ENUM)
    kwargs = endpoint._get_kwargs(status=GetOrdersStatus.RESTING, limit=1000)
    assert kwargs["params"]["status"] == "resting"


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for part in ("specs", "scripts", "wrapper", "generated"):
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / part, tmp_path / part, ignore=skip, symlinks=True)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "regenerate.py"), "--check", "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_supplement_that_contradicts_a_page_stops_the_run(project_copy: Path) -> None:
    supplement = project_copy / "scripts" / "generator" / "kalshi.supplement.yaml"
    text = supplement.read_text()
    # FixedPointDollars is `type: string` on the pages: a supplement may add, not change.
    text = text.replace(
        "  schemas:\n", "  schemas:\n    FixedPointDollars:\n      type: number\n", 1
    )
    supplement.write_text(text, encoding="utf-8")
    result = check(project_copy)
    assert result.returncode == 2
    assert "FixedPointDollars/type" in result.stderr
    assert "the spec already says 'string'" in result.stderr


def test_a_changed_count_pattern_is_drift_in_the_constraints(project_copy: Path) -> None:
    supplement = project_copy / "scripts" / "generator" / "kalshi.supplement.yaml"
    supplement.write_text(supplement.read_text().replace("{1,2}", "{1,4}"), encoding="utf-8")
    result = check(project_copy)
    assert result.returncode == 1
    assert "generated/kalshi_api/constraints.py" in result.stdout
    assert "+FIXED_POINT_COUNT_PATTERN" in result.stdout
