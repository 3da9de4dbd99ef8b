"""A documentation page is hostile input: pages served on loopback, run through refresh.py.

Each case is something an attacker who controls one page did to the pipeline
(issue 17): code in a name, YAML that expands or nests without end, a page that
never finishes, a redirect elsewhere, a path out of specs/, a remote $ref. Each
must end with exit 2 naming the page, in bounded time and memory, and nothing
written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from pipeline_site import ROOT, Site, edit_block, project_and_site, refresh, snapshot

GET_ORDER = "polymarket_us/get-order.yaml"


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Site, Path, dict[str, str]]]:
    # One project copy for the module: every case asserts that it wrote nothing.
    yield from project_and_site(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def env(
    shared: tuple[Path, Site, Path, dict[str, str]],
) -> Iterator[tuple[Path, Site, Path, dict[str, str]]]:
    _, site, sources, _ = shared
    pages, listing = dict(site.routes), sources.read_bytes()
    site.hits.clear()
    yield shared
    site.routes.clear()
    site.routes.update(pages)
    sources.write_bytes(listing)


def _before_fence(text: str, insert: str) -> str:
    """``insert`` as the last lines of the page's block (inside components/securitySchemes)."""
    head, _, _ = text.rpartition("````\n")
    return head + insert + "````\n"


def _unreferenced_schema(name: str, prop: str) -> Callable[[str], str]:
    """An unreferenced schema ``name`` with one constrained property ``prop``, added to a page."""
    entry = (
        f"    {json.dumps(name, ensure_ascii=False)}:\n"
        "      type: object\n"
        "      properties:\n"
        f"        {json.dumps(prop, ensure_ascii=False)}:\n"
        "          type: string\n"
        "          maxLength: 5\n"
    )
    return lambda text: text.replace("\n  schemas:\n", "\n  schemas:\n" + entry, 1)


def _canary_payload(canary: Path) -> str:
    """A property name that, written into constraints.py as source, creates ``canary``.

    ``exec`` in mathematical italic letters survives ``.upper()`` and is NFKC-normalized
    back to ``exec`` by the parser; the code is octal escapes, which ``.upper()`` keeps.
    """
    code = f"__import__('pathlib').Path({str(canary)!r}).touch()"
    octal = "".join(f"\\{ord(c):03o}" for c in code)
    return f'x = 1\n\U0001d452\U0001d465\U0001d452\U0001d450("{octal}")\n#'


def _assert_refused(
    result: subprocess.CompletedProcess[str], *named: str, before: dict[str, str | bytes]
) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr)
    assert "nothing written" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for name in named:
        assert name in result.stderr, (name, result.stderr)
    assert before["snapshot"] == snapshot(Path(str(before["project"]))), "something was written"


@pytest.mark.parametrize(
    ("where", "name", "prop"),
    [
        ("property", "Zz", "CANARY"),  # replaced by the exploit below
        ("property", "Zz", 'a"b'),
        ("property", "Zz", "a\\b"),
        ("property", "Zz", "\U0001d452\U0001d465\U0001d452\U0001d450"),  # NFKC "exec"
        ("property", "Zz", "x\n__import__('os').system('id')\n"),
        ("schema", "Zz\n__import__('os')", "a"),
        ("schema", "Zz'", "a"),
    ],
    ids=["nfkc-exec-canary", "quote", "backslash", "nfkc-name", "newline-import", "schema-nl", "q"],
)
def test_a_name_that_would_be_code_is_refused_and_nothing_runs(
    env: tuple[Path, Site, Path, dict[str, str]], tmp_path: Path, where: str, name: str, prop: str
) -> None:
    project, site, sources, routes = env
    canary = tmp_path / "canary"
    if prop == "CANARY":
        prop = _canary_payload(canary)
    edit_block(site, routes[GET_ORDER], _unreferenced_schema(name, prop))
    before = {"snapshot": snapshot(project), "project": str(project)}
    result, _ = refresh(project, sources, "--no-typecheck")
    _assert_refused(result, "get-order.md", "name", before=before)
    # Whatever generated code is there now imports without running anything.
    imported = subprocess.run(
        [sys.executable, "-c", "import polymarket_us_api.constraints, limitless_api.constraints"],
        env={"PYTHONPATH": str(project / "generated"), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    assert not canary.exists()


def test_constraints_are_written_from_an_allow_list_and_parsed_back() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    from _codegen_safety import UnsafeSpec, check_constants_module
    from regenerate import constraints_module

    def doc(**props: object) -> dict[str, object]:
        return {"components": {"schemas": {"A": {"properties": props}}}}

    assert constraints_module(doc(b={"maxLength": 3})).endswith("\nA_B_MAX_LENGTH = 3\n")
    with pytest.raises(UnsafeSpec, match="not a plain value"):
        constraints_module(doc(b={"maxLength": {"x": "y"}}))
    with pytest.raises(UnsafeSpec, match="two names map to the constant A_B_C_MAX_LENGTH"):
        constraints_module(doc(**{"b-c": {"maxLength": 1}, "b_c": {"maxLength": 2}}))
    for source in ('"""d"""\nA = 1\nimport os\n', "A = f()\n", "A = 1\nB = 2\n"):
        with pytest.raises((UnsafeSpec, ValueError)):
            check_constants_module(source, ["A"], "t")


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "x-bomb:\n" + "".join(f"  {line}\n" for line in lines)


def _ref_fan(count: int = 40) -> str:
    """``count`` schemas, each referencing the next twice: 2**count nodes once inlined."""
    out = []
    for index in range(count):
        following = f"'#/components/schemas/Fan{index + 1}'" if index + 1 < count else None
        props = (
            f"        a: {{$ref: {following}}}\n        b: {{$ref: {following}}}\n"
            if following
            else "        a: {type: string}\n"
        )
        out.append(f"    Fan{index}:\n      type: object\n      properties:\n{props}")
    return "".join(out)


HOSTILE_BLOCKS: dict[str, Callable[[str], str]] = {
    "alias-bomb": lambda text: text.replace("\npaths:\n", "\n" + _alias_bomb() + "paths:\n", 1),
    "self-anchor": lambda text: text.replace("\npaths:\n", "\nx-self: &self [*self]\npaths:\n", 1),
    "nested-brackets": lambda text: text.replace(
        "\npaths:\n", "\nx-deep: " + "[" * 20000 + "\npaths:\n", 1
    ),
    "ref-fan": lambda text: text.replace("\n  schemas:\n", "\n  schemas:\n" + _ref_fan(), 1),
    "paths-list": lambda text: text.replace("\npaths:\n", "\npaths: [1, 2]\nx-old-paths:\n", 1),
    "redefined-component": lambda text: text.replace("- ORDER_SIDE_SELL", "- ORDER_SIDE_SHORT"),
    "remote-ref": lambda text: _before_fence(text, "    Extra:\n      $ref: 'REMOTE'\n"),
    "file-ref": lambda text: _before_fence(
        text, "    Extra:\n      $ref: 'file:///etc/hostname'\n"
    ),
    "duplicate-key": lambda text: text.replace("\npaths:\n", "\npaths: {}\npaths:\n", 1),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BLOCKS))
def test_a_hostile_block_exits_2_naming_the_page_bounded_and_writes_nothing(
    env: tuple[Path, Site, Path, dict[str, str]], case: str
) -> None:
    project, site, sources, routes = env
    site.routes["/remote"] = b"type: apiKey\nin: header\nname: X-Leak\n"
    remote = site.url("/remote")
    edit_block(site, routes[GET_ORDER], lambda t: HOSTILE_BLOCKS[case](t).replace("REMOTE", remote))
    before = {"snapshot": snapshot(project), "project": str(project)}
    result, seconds = refresh(project, sources, "--no-typecheck", timeout=60)
    named = ["get-order"] if case != "redefined-component" else ["get-order", "get-open-orders"]
    _assert_refused(result, *named, before=before)
    assert seconds < 30
    assert "/remote" not in site.hits  # a remote $ref is never fetched


# The same operation name in another spelling, on a new path (issue 29, item 7): the
# generator writes both as orders_service_get_order, and the function the kill switch
# looks orders up with would build this path instead.
_TWIN_OPERATION = (
    "  /v1/orders/{orderId}/status:\n"
    "    get:\n"
    "      tags:\n"
    "        - Orders\n"
    "      operationId: OrdersService-GetOrder\n"
    "      parameters:\n"
    "        - name: orderId\n"
    "          in: path\n"
    "          required: true\n"
    "          schema:\n"
    "            type: string\n"
    "      responses:\n"
    "        '200':\n"
    "          description: the order's status\n"
)


def test_two_operation_ids_with_one_python_name_are_refused_naming_both(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    project, site, sources, routes = env
    edit_block(
        site,
        routes[GET_ORDER],
        lambda t: t.replace("\npaths:\n", "\npaths:\n" + _TWIN_OPERATION, 1),
    )
    before = {"snapshot": snapshot(project), "project": str(project)}
    result, _ = refresh(project, sources, "--no-typecheck")
    _assert_refused(
        result,
        "operationId 'OrdersService_GetOrder' (GET /v1/order/{orderId})",
        "operationId 'OrdersService-GetOrder' (GET /v1/orders/{orderId}/status)",
        "both the Python name orders_service_get_order",
        before=before,
    )


def test_a_drip_fed_page_is_abandoned_at_the_deadline(
    env: tuple[Path, Site, Path, dict[str, str]],
) -> None:
    project, site, sources, routes = env
    body = site.routes[routes[GET_ORDER]]
    assert isinstance(body, bytes)
    site.routes[routes[GET_ORDER]] = site.drip(body, every=0.25)
    before = {"snapshot": snapshot(project), "project": str(project)}
    started = time.monotonic()
    result, _ = refresh(project, sources, "--timeout", "2")
    _assert_refused(result, "get-order.md", "deadline", before=before)
    # The deadline is total: 2 s for the page (the other pages are instant), not 2 s a byte.
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("case", ["50 MB", "not UTF-8", "other host"])
def test_a_hostile_response_exits_2_naming_the_page(
    env: tuple[Path, Site, Path, dict[str, str]], case: str
) -> None:
    project, site, sources, routes = env
    route = routes[GET_ORDER]
    body = site.routes[route]
    assert isinstance(body, bytes)
    if case == "50 MB":
        site.routes[route] = site.padded(body)  # a valid page, 50 MB long
    elif case == "not UTF-8":
        site.routes[route] = body.replace(b"Get Order", b"Get \xff\xfe Order", 1)
    elif case == "other host":  # "localhost" is not the host the page was asked of
        port = site.server.server_port
        site.routes[route] = site.redirect(f"http://localhost:{port}/elsewhere.md")
        site.routes["/elsewhere.md"] = body
    before = {"snapshot": snapshot(project), "project": str(project)}
    result, seconds = refresh(project, sources, "--timeout", "10")
    _assert_refused(result, "get-order.md", before=before)
    assert "/elsewhere.md" not in site.hits
    assert seconds < 30


def test_an_https_page_redirected_to_http_is_refused() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    import httpx
    from _fetch import FetchError, _get

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            return httpx.Response(302, headers={"Location": "http://docs.example/p.md"})
        return httpx.Response(200, text="served over http")

    with pytest.raises(FetchError, match="from https to http"):
        _get("https://docs.example/p.md", time.monotonic() + 5, httpx.MockTransport(handler))


@pytest.mark.parametrize("key", ["../outside.yaml", "ABSOLUTE", "polymarket_us/../../x.yaml"])
def test_a_sources_key_outside_specs_is_refused(
    env: tuple[Path, Site, Path, dict[str, str]], key: str, tmp_path: Path
) -> None:
    project, _, sources, _ = env
    absolute = tmp_path / "abs.yaml"
    key = str(absolute) if key == "ABSOLUTE" else key
    listing = yaml.safe_load(sources.read_text())
    listing[key] = listing[GET_ORDER]
    sources.write_text(yaml.safe_dump(listing))
    before = {"snapshot": snapshot(project), "project": str(project)}
    result, _ = refresh(project, sources)
    _assert_refused(result, repr(key), before=before)
    assert not (project / "outside.yaml").exists()
    assert not (project / "x.yaml").exists()
    assert not absolute.exists()


def test_the_sandbox_resolves_local_refs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from cancelkit.sandbox import _contract

    document = yaml.safe_load((ROOT / "specs" / "limitless" / "cancel.yaml").read_bytes())
    document["components"]["securitySchemes"]["HmacAuth"] = {"$ref": "file:///etc/hostname"}
    monkeypatch.setattr(_contract, "spec_text", lambda name: yaml.safe_dump(document).encode())
    with pytest.raises(ValueError, match="only local"):
        _contract.openapi.__wrapped__("limitless/cancel")
