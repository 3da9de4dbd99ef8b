"""The layout holds: the core knows no venue, venues know not each other, a command
loads only the venue it acts on, and the public API is one table."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import cancelkit
import pytest
import unasync  # scripts/: each venue's sync client, generated from its async one

PACKAGE = Path(cancelkit.__file__).parent
# Registered: cancelkit._VENUES, the CLI, the sandbox. Every check below holds for
# any number of venues: a new one is added here, and nowhere else in this file.
VENUES = ("polymarket", "limitless", "kalshi")
# Venue packages being built, not yet registered (no CLI, sandbox or _VENUES entry):
# the import rules hold for them already; the registry and public-face checks do not
# ask for them until they move to VENUES.
UNREGISTERED: tuple[str, ...] = ()
EVERY_VENUE = (*VENUES, *UNREGISTERED)
# The core: every top-level private module (the CLI, the sandbox and the generated
# clients are packages of their own).
CORE = sorted(p for p in PACKAGE.glob("_*.py") if p.name not in ("__init__.py", "__main__.py"))


def _imports(path: Path, package: str) -> set[str]:
    """Every cancelkit module ``path`` imports, as an absolute name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("cancelkit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if not module.startswith("cancelkit"):
                continue
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _touches(names: set[str], package: str) -> list[str]:
    return sorted(n for n in names if n == package or n.startswith(package + "."))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_no_core_module_imports_a_venue_the_cli_or_generated_code(path: Path) -> None:
    names = _imports(path, "cancelkit")
    for other in (
        *(f"cancelkit.{v}" for v in EVERY_VENUE),
        "cancelkit._cli",
        "cancelkit._generated",
    ):
        assert not _touches(names, other), f"{path.name} imports {_touches(names, other)}"


def test_every_venue_package_is_known_here() -> None:
    """Each package of the tree that is not the CLI, the sandbox or the generated code
    is a venue, registered or not: a new one is seen by the checks below."""
    packages = {
        p.parent.name
        for p in PACKAGE.glob("*/__init__.py")
        if p.parent.name not in ("_cli", "_generated", "sandbox")
    }
    assert packages == set(EVERY_VENUE)
    assert not set(UNREGISTERED) & set(cancelkit._VENUES)


@pytest.mark.parametrize("venue", EVERY_VENUE)
def test_a_venue_imports_neither_another_venue_nor_the_cli(venue: str) -> None:
    for path in (PACKAGE / venue).glob("*.py"):
        names = _imports(path, f"cancelkit.{venue}")
        for other in set(EVERY_VENUE) - {venue}:
            assert not _touches(names, f"cancelkit.{other}"), path
        # The venue's commands (and its cancel command's work, run before click is
        # loaded: _cli/_quick.py) build on the CLI's shared parts.
        if path.name not in ("_cli.py", "_cancel_cmd.py"):
            assert not _touches(names, "cancelkit._cli"), path


def test_the_cli_imports_no_venue() -> None:
    """Venue commands are registered by module path (``VENUES``), loaded when used."""
    for path in (PACKAGE / "_cli").glob("*.py"):
        names = _imports(path, "cancelkit._cli")
        for venue in EVERY_VENUE:
            assert not _touches(names, f"cancelkit.{venue}"), path


# The sandbox command and the demo run every exchange's sandbox by design.
_BOTH_VENUES = {"_main.py", "_sandbox.py", "_sandbox_cmd.py", "_demo.py"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (PACKAGE / "_cli").glob("*.py") if p.name not in _BOTH_VENUES),
    ids=lambda p: p.name,
)
def test_the_cli_run_inputs_options_and_listing_name_no_venue(path: Path) -> None:
    """What differs per venue (id forms, its ids as written, hints, help defaults,
    listing columns) is the venue's ``_cli`` module's to say."""
    text = path.read_text().lower()
    for venue in EVERY_VENUE:
        assert venue not in text, f"{path.name} names {venue}"


def test_the_cli_registry_is_the_table_of_venues() -> None:
    """A venue is listed once (``cancelkit._VENUES``): its public names and commands."""
    from cancelkit._cli import VENUES as COMMANDS

    assert set(COMMANDS) == set(cancelkit._VENUES) == set(VENUES)
    for names in cancelkit._VENUES.values():
        assert set(names) <= set(cancelkit._EXPORTS)
    source = (PACKAGE / "_cli" / "__init__.py").read_text()
    assert not any(f'"{venue}":' in source for venue in VENUES)


@pytest.mark.parametrize("venue", EVERY_VENUE)
def test_a_kill_switch_does_not_import_its_client(venue: str) -> None:
    """The kill switch reaches the client through its typed ``Wire`` protocol: no cycle."""
    names = _imports(PACKAGE / venue / "_kill.py", f"cancelkit.{venue}")
    assert not _touches(names, f"cancelkit.{venue}._client")


def test_the_core_loads_without_any_venue() -> None:
    loaded = (*(f"cancelkit.{v}" for v in EVERY_VENUE), "cancelkit._generated", "cancelkit._cli")
    code = (
        "import sys\n"
        "import cancelkit._base, cancelkit._bulk, cancelkit._retry, cancelkit._limiter\n"
        "import cancelkit._exceptions, cancelkit._validation, cancelkit._signing\n"
        f"print(sorted(m for m in sys.modules if m.startswith({loaded!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("venue", VENUES)
def test_a_command_loads_only_the_venue_it_acts_on(venue: str) -> None:
    others = tuple(f"cancelkit.{v}" for v in EVERY_VENUE if v != venue)
    # No credentials: the command fails on them, after importing what it needs.
    code = (
        "import os, sys\n"
        "for k in list(os.environ):\n"
        "    if k.startswith(('POLYMARKET_', 'LIMITLESS_', 'KALSHI_')): del os.environ[k]\n"
        "from cancelkit._cli import main\n"
        "try:\n"
        f"    main(['orders', {venue!r}, '--market', 'm'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('cancelkit.{venue}._client' in sys.modules,"
        f" any(m.startswith({others!r}) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True False"


def _type_checking_imports(path: Path = PACKAGE / "__init__.py") -> dict[str, str]:
    """Name -> module of every import under ``if TYPE_CHECKING:`` in ``path``."""
    tree = ast.parse(path.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names:
                    assert alias.asname == alias.name, "re-export each name `as` itself"
                    found[alias.name] = "." * stmt.level + (stmt.module or "")
    return found


def test_the_public_api_is_one_table() -> None:
    table = cancelkit._EXPORTS
    moved = {name: "." + new.split(".")[1] for name, new in cancelkit._MOVED.items()}
    # Type checkers see every name, the moved ones too (typed for their last release).
    assert _type_checking_imports() == table | moved
    assert set(cancelkit.__all__) == {*table, "__version__"}
    assert len(cancelkit.__all__) == len(set(cancelkit.__all__))
    for name in table:
        assert getattr(cancelkit, name) is not None
        assert name in dir(cancelkit)
    assert not set(moved) & set(dir(cancelkit))  # dir() is no reason to warn


@pytest.mark.parametrize("venue", VENUES)
def test_each_venue_package_is_its_public_face(venue: str) -> None:
    """``cancelkit.<venue>`` holds the venue's clients, signing and models, lazily and
    typed; the names the top level re-exports are the very same objects."""
    module = importlib.import_module(f"cancelkit.{venue}")
    table: dict[str, str] = module._EXPORTS
    assert _type_checking_imports(PACKAGE / venue / "__init__.py") == table
    assert module.__all__ == list(table)
    for name in table:
        assert getattr(module, name) is not None
        assert name in dir(module)
    on_top = cancelkit._VENUES[venue]
    assert set(on_top.values()) == {f".{venue}"}
    assert set(on_top) <= set(table)
    for name in on_top:
        assert getattr(cancelkit, name) is getattr(module, name)
    with pytest.raises(AttributeError, match=f"'cancelkit.{venue}' has no attribute 'Ordr'"):
        module.Ordr  # noqa: B018


def test_no_top_level_name_stands_for_two_venues() -> None:
    """A name two venues would both want (``Order``) lives in each venue's package; at
    the top level it is only a moved name, pointing at one venue's."""
    owners: dict[str, list[str]] = {}
    for venue in VENUES:
        for name in importlib.import_module(f"cancelkit.{venue}")._EXPORTS:
            owners.setdefault(name, []).append(venue)
    shared = {name for name, venues in owners.items() if len(venues) > 1}
    assert not shared & set(cancelkit._EXPORTS)
    for old, new in cancelkit._MOVED.items():
        assert old not in cancelkit._EXPORTS
        venue, name = new.split(".")[1:]
        assert name in importlib.import_module(f"cancelkit.{venue}")._EXPORTS


@pytest.mark.parametrize(
    ("old", "new"), [("Order", "polymarket.Order"), ("OrderState", "polymarket.OrderState")]
)
def test_a_moved_name_still_works_and_warns_naming_its_new_home(old: str, new: str) -> None:
    home = importlib.import_module("cancelkit." + new.split(".")[0])
    expected = getattr(home, new.split(".")[1])
    message = (
        f"cancelkit.{old} is deprecated: use cancelkit.{new} (the old name will be"
        " removed in the next release)"
    )
    for _ in range(2):  # every access warns, not only the first
        with pytest.warns(DeprecationWarning, match="is deprecated") as caught:
            value = getattr(cancelkit, old)
        assert [str(w.message) for w in caught] == [message]
        assert caught[0].filename == __file__  # the warning points at the user's line
        assert value is expected
    with pytest.warns(DeprecationWarning, match=f"use cancelkit.{new} "):
        exec(f"from cancelkit import {old}", {})


def test_the_new_homes_and_the_other_public_names_do_not_warn() -> None:
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "import cancelkit\n"
        "from cancelkit.polymarket import Order, OrderState, PolymarketUSClient\n"
        "from cancelkit.limitless import CancelByOrderId, LimitlessClient, UserOrderDto\n"
        "from cancelkit.kalshi import KalshiClient, Order, OrderStatus\n"
        "from cancelkit import *\n"
        "print(sorted(n for n in cancelkit.__all__ if getattr(cancelkit, n) is None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


_TWINS = [
    (cancelkit.PolymarketUSClient, cancelkit.AsyncPolymarketUSClient),
    (cancelkit.LimitlessClient, cancelkit.AsyncLimitlessClient),
    (cancelkit.KalshiClient, cancelkit.AsyncKalshiClient),
]
# Async-only or sync-only by nature: context managers, the async alias of close(),
# and the private order stream (an async iterator of events).
_OWN = {"aclose", "order_events"}


@pytest.mark.parametrize(("sync", "async_"), _TWINS, ids=lambda c: c.__name__)
def test_every_public_method_of_a_sync_client_has_its_async_twin(
    sync: type[object], async_: type[object]
) -> None:
    def public(cls: type[object]) -> dict[str, object]:
        return {
            n: getattr(cls, n)
            for n in dir(cls)
            if not n.startswith("_") and callable(getattr(cls, n)) and n not in _OWN
        }

    mine, theirs = public(sync), public(async_)
    assert set(mine) == set(theirs)
    for name, method in mine.items():
        twin = theirs[name]
        assert _shape(method) == _shape(twin), name
        assert inspect.iscoroutinefunction(twin) or name == "from_env", name
        assert inspect.getdoc(method), f"{sync.__name__}.{name} has no docstring"
        assert inspect.getdoc(twin), f"{async_.__name__}.{name} has no docstring"
    assert _shape(sync) == _shape(async_)


@pytest.mark.parametrize(("sync", "async_"), _TWINS, ids=lambda c: c.__name__)
def test_only_the_async_client_takes_the_state_a_sync_client_shares_with_its_twin(
    sync: type[object], async_: type[object]
) -> None:
    """``_shared`` is how a sync client builds its twin: the generator leaves its
    ``# unasync: async only`` lines out of the sync client."""
    assert "_shared" in inspect.signature(async_).parameters
    assert "_shared" not in inspect.signature(sync).parameters


def test_the_private_order_stream_is_the_async_clients_alone() -> None:
    """``order_events`` (an async iterator) is marked async only in the source: the
    sync client has no such method, nor the stream's imports."""
    assert callable(cancelkit.AsyncPolymarketUSClient.order_events)
    assert not hasattr(cancelkit.PolymarketUSClient, "order_events")
    written = (PACKAGE / "polymarket" / unasync.TARGET).read_text()
    assert "def order_events" not in written
    assert "_stream" not in written
    assert "AsyncGenerator" not in written


_MARKED = '''"""A venue."""

from collections.abc import (
    AsyncIterator,  # unasync: async only
    Callable,
)


class AsyncThing(_AsyncBase):
    async def first(self, f: Callable[[], int]) -> int:
        return await self._call(f)

    @staticmethod  # unasync: async only
    def helper() -> int:
        return 1

    def events(  # unasync: async only (the whole method)
        self,
        n: int = 2,
    ) -> AsyncIterator[int]:
        """Events."""
        return self._events(n)

    if TYPE_CHECKING:  # unasync: async only
        extra: int

    async def last(self) -> None:
        await self.first(lambda: 1)
'''


def test_a_marked_statement_is_left_out_of_the_sync_client_whole() -> None:
    """A marked line that opens a statement (a method, decorators included; an ``if``)
    takes the whole statement out; a marked line inside one (an import's name) only
    itself."""
    written = unasync.rewrite(_MARKED)
    tree = ast.parse(written)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert cls.name == "Thing"
    assert [n.name for n in cls.body if isinstance(n, ast.FunctionDef)] == ["first", "last"]
    assert not [n for n in cls.body if not isinstance(n, ast.FunctionDef)]
    assert "from collections.abc import (\n    Callable,\n)" in written
    for word in ("AsyncIterator", "helper", "_events", "extra", "await"):
        assert word not in written


def _shape(function: object) -> str:
    """A signature, with the async types (transport, options) read as their sync twins,
    without private keyword parameters (an async client's ``_shared``: how a sync client
    builds the twin its bulk cancels run on, not an argument users give)."""
    signature = inspect.signature(function)  # type: ignore[arg-type]
    public = [p for p in signature.parameters.values() if not p.name.startswith("_")]
    text = str(signature.replace(parameters=public))
    return text.replace("AsyncBaseTransport", "BaseTransport").replace(
        "AsyncOptions", "SyncOptions"
    )


# The public methods are written once, in each venue's async client; its sync
# client is generated from it (scripts/unasync.py, checked by `make drift`).


def test_every_venue_writes_its_client_methods_once() -> None:
    assert sorted(p.parent.name for p in unasync.sources()) == sorted(EVERY_VENUE)


@pytest.mark.parametrize("source", unasync.sources(), ids=lambda p: p.parent.name)
def test_each_sync_client_is_what_the_generator_writes(source: Path) -> None:
    target = source.with_name(unasync.TARGET)
    assert target.read_text() == unasync.generate(source), "run python scripts/unasync.py"


_ADDED = '''
    async def order_again(self, order_id: str) -> Order:
        """One order (an ``AsyncPolymarketUSClient`` method, on either client)."""
        async with self._http:
            return await self.get_order(order_id)
'''


def test_a_method_added_to_an_async_client_is_one_edit(tmp_path: Path) -> None:
    """Added to the async client only, a method is in the sync client once the
    generator has run; until then the check fails and writes nothing."""
    venue = tmp_path / "polymarket"
    venue.mkdir()
    source = venue / unasync.SOURCE
    source.write_text((PACKAGE / "polymarket" / unasync.SOURCE).read_text() + _ADDED)
    target = venue / unasync.TARGET
    target.write_text((PACKAGE / "polymarket" / unasync.TARGET).read_text())
    before = target.read_text()

    assert unasync.main(["--check"], package=tmp_path) == 1
    assert target.read_text() == before
    assert unasync.main([], package=tmp_path) == 0
    assert unasync.main(["--check"], package=tmp_path) == 0
    written = target.read_text()
    assert written.startswith(before.split("class PolymarketUSClient", 1)[0])
    assert (
        "    def order_again(self, order_id: str) -> Order:\n"
        '        """One order (an ``AsyncPolymarketUSClient`` method, on either client)."""\n'
        "        with self._http:\n"
        "            return self.get_order(order_id)\n"
    ) in written
    tree = ast.parse(written)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert (cls.name, [ast.unparse(b) for b in cls.bases]) == (
        "PolymarketUSClient",
        ["_SyncPolymarket"],
    )
    assert not any(isinstance(n, ast.AsyncFunctionDef | ast.Await) for n in ast.walk(tree))


# ---------------------------------------------------------------------------
# No reads of another package's private attributes (core, each venue, the CLI,
# the sandbox): what one package needs of another is public to the library, a
# name without a leading underscore. The generated clients are exempt as a source:
# openapi-python-client offers an operation's request only as ``_get_kwargs``, and
# the pipeline owns that code.
# ---------------------------------------------------------------------------
_SCANNED = [p for p in sorted(PACKAGE.rglob("*.py")) if "_generated" not in p.parts]
# The one table of venues, in the package root every package belongs to: the CLI
# derives its commands from it (a public name there would be public API).
_REGISTRY = {"cancelkit._VENUES"}


def _package_of(path: Path) -> str:
    """``core`` for a top-level module, else the subpackage's name."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "core"


def _module_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and (PACKAGE / parts[1]).is_dir() else "core"


def _is_module(module: str) -> bool:
    relative = PACKAGE.joinpath(*module.split(".")[1:])
    return relative.with_suffix(".py").exists() or (relative / "__init__.py").exists()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names() -> dict[str, set[str]]:
    """Every name each package defines: functions, classes, assigned names and attributes."""
    defined: dict[str, set[str]] = {}
    for path in _SCANNED:
        names = defined.setdefault(_package_of(path), set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return defined


def _private_reads(path: Path, defined: dict[str, set[str]], text: str | None = None) -> list[str]:
    """What ``path`` (its ``text``, if given) reads of other packages' private names."""
    mine = _package_of(path)
    dotted = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = dotted.removesuffix(".__init__") if path.name == "__init__.py" else dotted
    package = package if path.name == "__init__.py" else package.rpartition(".")[0]
    tree = ast.parse(path.read_text() if text is None else text)
    foreign: dict[str, str] = {}  # local name -> what it is, for names from another package
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _import_source(node, package)
            if not source.startswith("cancelkit") or source.startswith("cancelkit._generated"):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                other = _module_package(full if _is_module(full) else source) != mine
                if not other:
                    continue
                if _private(alias.name) and not _is_module(full) and full not in _REGISTRY:
                    found.append(f"line {node.lineno}: imports {full}")
                foreign[alias.asname or alias.name] = full
    others = {n for pkg, names in defined.items() if pkg != mine for n in names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in foreign:
            found.append(f"line {node.lineno}: {ast.unparse(node)} ({foreign[owner.id]})")
        elif isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue  # a subclass uses what its base class gives it
        elif isinstance(owner, ast.Call) and ast.unparse(owner.func) == "super":
            continue
        elif node.attr in others and node.attr not in defined[mine]:
            # On any object: a private name only another package defines.
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def _import_source(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


_DEFINED = _defined_names()


@pytest.mark.parametrize("path", _SCANNED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_reads_another_packages_private_attributes(path: Path) -> None:
    assert not _private_reads(path, _DEFINED), path


def test_the_private_read_scan_sees_one() -> None:
    """The scan is no test that cannot fail: each of its three catches, planted in a
    venue module (as text: nothing is written into the package)."""
    planted = (
        "from .._base import SyncHTTP, _options\n"
        "from .. import _retry\n"
        "def f(client):\n"
        "    return SyncHTTP._twin_class, _retry.Attempts, client._bulk_lock\n"
    )
    found = _private_reads(PACKAGE / "polymarket" / "_planted.py", _DEFINED, planted)
    assert [f.split(":", 1)[1].strip() for f in found] == [
        "imports cancelkit._base._options",
        "SyncHTTP._twin_class (cancelkit._base.SyncHTTP)",
        "client._bulk_lock",
    ]


# ---------------------------------------------------------------------------
# No circles in the import graph: every module can be read (and loaded) after
# the ones it imports. Every import counts, wherever it is written (top level,
# inside a function, under TYPE_CHECKING) and ``importlib.import_module`` of a
# literal name too: a circle that only a lazy import keeps from failing today is
# one reordering away from an ImportError. An import of a module's own package
# is no edge (importing a submodule runs its packages first anyway); the
# generated clients are the pipeline's and import nothing of the wrapper.
# ---------------------------------------------------------------------------
def _module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


_MODULES = {_module_of(p): p for p in _SCANNED}


def _imported(node: ast.AST, package: str) -> list[str]:
    """The cancelkit names ``node`` imports (module or module.attribute)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        source = _import_source(node, package)
        return [f"{source}.{a.name}" for a in node.names]
    if (
        isinstance(node, ast.Call)
        and ast.unparse(node.func).split(".")[-1] == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [node.args[0].value]
    return []


def import_graph(modules: dict[str, Path] = _MODULES) -> dict[str, set[str]]:
    """Module -> the modules of the wrapper it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text())):
            for name in _imported(node, package):
                while name and name not in modules:  # module.attribute -> module
                    name = name.rpartition(".")[0]
                if name and name != module and not module.startswith(name + "."):
                    edges.add(name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_import_graph_of_the_wrapper_has_no_circle() -> None:
    assert circles(import_graph()) == []


def test_the_import_graph_sees_every_kind_of_import() -> None:
    """The scan is no test that cannot fail: type-only, lazy (in a function) and
    ``import_module`` edges are in the graph, and a circle is found."""
    graph = import_graph()
    assert "cancelkit._settings" in graph["cancelkit._oneshot"]  # under TYPE_CHECKING
    assert "cancelkit.sandbox" in graph["cancelkit._cli._sandbox_cmd"]  # inside a function
    assert "cancelkit._extras" in graph["cancelkit.sandbox._extra"]
    assert "cancelkit._settings" in graph["cancelkit._base"]
    assert not graph["cancelkit._settings"] & {"cancelkit._base", "cancelkit._oneshot"}
    assert not graph["cancelkit._extras"]  # below the sandbox: imports nothing of ours
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(planted) == [["a", "b", "c"]]


def test_the_settings_are_where_they_were() -> None:
    """Moved below ``_base`` and ``_oneshot``, re-exported: nothing public changed."""
    from cancelkit import _base, _settings

    assert cancelkit.HTTPSettings is _base.HTTPSettings is _settings.HTTPSettings
    assert _base.check_proxy is _settings.check_proxy
