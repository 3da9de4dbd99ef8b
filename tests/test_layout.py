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
VENUES = ("polymarket", "limitless")
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
    for other in (*(f"cancelkit.{v}" for v in VENUES), "cancelkit._cli", "cancelkit._generated"):
        assert not _touches(names, other), f"{path.name} imports {_touches(names, other)}"


@pytest.mark.parametrize("venue", VENUES)
def test_a_venue_imports_neither_the_other_venue_nor_the_cli(venue: str) -> None:
    (other,) = set(VENUES) - {venue}
    for path in (PACKAGE / venue).glob("*.py"):
        names = _imports(path, f"cancelkit.{venue}")
        assert not _touches(names, f"cancelkit.{other}"), path
        if path.name != "_cli.py":  # the venue's commands build on the CLI's shared parts
            assert not _touches(names, "cancelkit._cli"), path


def test_the_cli_imports_no_venue() -> None:
    """Venue commands are registered by module path (``VENUES``), loaded when used."""
    for path in (PACKAGE / "_cli").glob("*.py"):
        names = _imports(path, "cancelkit._cli")
        for venue in VENUES:
            assert not _touches(names, f"cancelkit.{venue}"), path


# The sandbox command and the demo run both exchanges' sandboxes by design.
_BOTH_VENUES = {"__init__.py", "_sandbox.py", "_demo.py"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (PACKAGE / "_cli").glob("*.py") if p.name not in _BOTH_VENUES),
    ids=lambda p: p.name,
)
def test_the_cli_run_inputs_options_and_listing_name_no_venue(path: Path) -> None:
    """What differs per venue (id forms, its ids as written, hints, help defaults,
    listing columns) is the venue's ``_cli`` module's to say."""
    text = path.read_text().lower()
    for venue in VENUES:
        assert venue not in text, f"{path.name} names {venue}"


def test_the_cli_registry_is_the_table_of_venues() -> None:
    """A venue is listed once (``cancelkit._VENUES``): its public names and commands."""
    from cancelkit._cli import VENUES as COMMANDS

    assert set(COMMANDS) == set(cancelkit._VENUES) == set(VENUES)
    for names in cancelkit._VENUES.values():
        assert set(names) <= set(cancelkit._EXPORTS)
    source = (PACKAGE / "_cli" / "__init__.py").read_text()
    assert not any(f'"{venue}":' in source for venue in VENUES)


@pytest.mark.parametrize("venue", VENUES)
def test_a_kill_switch_does_not_import_its_client(venue: str) -> None:
    """The kill switch reaches the client through its typed ``Wire`` protocol: no cycle."""
    names = _imports(PACKAGE / venue / "_kill.py", f"cancelkit.{venue}")
    assert not _touches(names, f"cancelkit.{venue}._client")


def test_the_core_loads_without_any_venue() -> None:
    code = (
        "import sys\n"
        "import cancelkit._base, cancelkit._bulk, cancelkit._retry, cancelkit._limiter\n"
        "import cancelkit._exceptions, cancelkit._validation, cancelkit._signing\n"
        "print(sorted(m for m in sys.modules if m.startswith(('cancelkit.polymarket',"
        " 'cancelkit.limitless', 'cancelkit._generated', 'cancelkit._cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("venue", "other"), [VENUES, VENUES[::-1]])
def test_a_command_loads_only_the_venue_it_acts_on(venue: str, other: str) -> None:
    # No credentials: the command fails on them, after importing what it needs.
    code = (
        "import os, sys\n"
        "for k in list(os.environ):\n"
        "    if k.startswith(('POLYMARKET_', 'LIMITLESS_')): del os.environ[k]\n"
        "from cancelkit._cli import main\n"
        "try:\n"
        f"    main(['orders', {venue!r}, '--market', 'm'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('cancelkit.{venue}._client' in sys.modules,"
        f" any(m.startswith('cancelkit.{other}') for m in sys.modules))"
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
        "from cancelkit import *\n"
        "print(sorted(n for n in cancelkit.__all__ if getattr(cancelkit, n) is None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


_TWINS = [
    (cancelkit.PolymarketUSClient, cancelkit.AsyncPolymarketUSClient),
    (cancelkit.LimitlessClient, cancelkit.AsyncLimitlessClient),
]
# Async-only or sync-only by nature: context managers and the async alias of close().
_OWN = {"aclose"}


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
    assert sorted(p.parent.name for p in unasync.sources()) == sorted(VENUES)


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
