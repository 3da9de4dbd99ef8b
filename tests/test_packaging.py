"""The distribution as a user installs it: the wheel in a clean venv without extras,
its top-level packages, the sdist's contents (#24); the generated clients, kept in
generated/ at the top of the repository, shipped and imported as
``cancelkit._generated`` by the wheel and by an editable install alike, and their
types seen by mypy and pyright in user code either way (#30)."""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = {"cancelkit"}  # the generated clients ship inside it
GENERATED = sorted(p.name for p in (ROOT / "generated").iterdir() if p.name.endswith("_api"))
# Python that imports a module of every generated package as cancelkit._generated.X
# and prints where each one and cancelkit came from.
_WHERE = (
    "import importlib, cancelkit\n"
    "print(cancelkit.__file__)\n"
    f"for name in {GENERATED!r}:\n"
    "    print(importlib.import_module(f'cancelkit._generated.{name}.models').__file__)\n"
)
# User code: the generated types reached through cancelkit's public names and their
# private home; one deliberate mistake each checker must name with the generated
# class (were the import unresolved, Order would be Any and nothing would be said).
_USER_CODE = """\
from typing import assert_type

from cancelkit.limitless import CancelByOrderId
from cancelkit.polymarket import Order, OrderState
from cancelkit._generated.limitless_api.models import CancelByOrderId as LimitlessCancel
from cancelkit._generated.polymarket_us_api.models import Order as GeneratedOrder


def state(order: Order) -> OrderState | None:
    assert_type(order, GeneratedOrder)
    assert_type(CancelByOrderId, type[LimitlessCancel])
    return order.state or None


def mistake(order: Order) -> int:
    return order
"""


def _build(target: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return next(out.glob("*.whl" if target == "wheel" else "*.tar.gz"))


def _requirements(name: str, seen: set[str]) -> None:
    """``name`` and what it requires (without extras), transitively, as installed here."""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        return
    seen.add(key)
    for requirement in md.requires(name) or []:
        if "extra ==" in requirement:
            continue
        marker = requirement.partition(";")[2].strip()
        if marker and not _marker_holds(marker):
            continue
        _requirements(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0], seen)


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate({"extra": ""})


def _link_installed(dist_name: str, site: Path) -> None:
    """Put an installed distribution's files in ``site`` by symlinking its top-level
    entries: offline, and only what the wheel declares is importable."""
    dist = md.distribution(dist_name)
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    for top in tops:
        source = Path(str(dist.locate_file(top)))
        if source.exists() and not (site / top).exists():
            (site / top).symlink_to(source)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("wheel", tmp_path_factory.mktemp("dist"))


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        return archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()


@pytest.fixture(scope="module")
def wheel_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed in a clean venv, its dependencies (no extras) beside it."""
    python = _clean_venv(tmp_path_factory.mktemp("wheel") / "venv")
    _pip(python, "--no-deps", "--no-index", str(wheel))
    _link_dependencies(_metadata(wheel), _site(python))
    return python


def test_the_wheel_works_in_a_clean_venv_without_extras(wheel: Path, wheel_python: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == TOP_LEVEL
    text = metadata.decode()
    for field in ("Classifier: Typing :: Typed", "Author: ", "Keywords: ", "Project-URL: "):
        assert field in text
    assert "Provides-Extra: dev" not in text  # dev tools are dependency groups
    assert "Provides-Extra: bench" not in text

    python = wheel_python
    site = _site(python)
    assert not (site / "generated").exists()  # the generated packages ship inside cancelkit
    where = _run(python, _WHERE).splitlines()
    assert Path(where[0]) == site / "cancelkit" / "__init__.py"
    for name, module in zip(GENERATED, where[1:], strict=True):
        assert Path(module) == site / "cancelkit" / "_generated" / name / "models" / "__init__.py"
    venv = python.parent.parent

    check = """
import asyncio, cancelkit
from cancelkit import PolymarketUSClient, AsyncLimitlessClient
PolymarketUSClient("k", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").close()
async def main():
    c = AsyncLimitlessClient("t", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    await c.aclose()
asyncio.run(main())
try:
    import cancelkit.sandbox
except ImportError as exc:
    print("ImportError:", exc)
"""
    out = subprocess.run([str(python), "-c", check], capture_output=True, text=True, check=True)
    assert "ImportError:" in out.stdout
    assert "cancelkit[sandbox]" in out.stdout
    cli = subprocess.run(
        [str(venv / "bin" / "cancelkit"), "--help"], capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr


def _clean_venv(venv: Path) -> Path:
    """A venv without system site-packages (and without pip: the outer pip installs)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def _site(python: Path) -> Path:
    return Path(_run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())


def _run(python: Path, code: str) -> str:
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *args],
        check=True,
        capture_output=True,
    )


def _link_dependencies(metadata: str, site: Path, *extra: str) -> None:
    """What the wheel requires (without extras), and ``extra``, linked from here: offline."""
    declared: set[str] = set()
    requirements = re.findall(r"^Requires-Dist: (.+)$", metadata, re.MULTILINE)
    for requirement in [*requirements, *extra]:
        if "extra ==" not in requirement:
            _requirements(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0], declared)
    for name in declared:
        _link_installed(name, site)


@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """``pip install -e .`` into a clean venv; its python."""
    python = _clean_venv(tmp_path_factory.mktemp("editable") / "venv")
    # The build backend runs in that venv (no isolation: offline), so it gets hatchling too.
    _link_dependencies(_metadata(wheel), _site(python), "hatchling", "editables")
    _pip(python, "--no-deps", "--no-index", "--no-build-isolation", "-e", str(ROOT))
    return python


def test_an_editable_install_imports_the_generated_clients_from_generated(
    editable: Path,
) -> None:
    site = _site(editable)
    assert not (site / "generated").exists()
    # A path to the checkout, no copy of the code (only the sandbox's specs are copied).
    assert not list((site / "cancelkit").rglob("*.py"))
    where = _run(editable, _WHERE).splitlines()
    assert Path(where[0]) == ROOT / "wrapper" / "cancelkit" / "__init__.py"
    for name, module in zip(GENERATED, where[1:], strict=True):
        # Imported as cancelkit._generated.X, the file is the one in generated/.
        assert Path(module).resolve() == ROOT / "generated" / name / "models" / "__init__.py"


@pytest.mark.parametrize("install", ["wheel", "editable"])
def test_mypy_and_pyright_see_the_generated_types_in_user_code(
    wheel_python: Path, editable: Path, install: str, tmp_path: Path
) -> None:
    python = wheel_python if install == "wheel" else editable
    (tmp_path / "user.py").write_text(_USER_CODE)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    (tmp_path / "pyrightconfig.json").write_text(
        '{"typeCheckingMode": "strict", "pythonVersion": "3.11"}'
    )
    mypy = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            str(python),
            "--config-file",
            "mypy.ini",
            # The project's cache (warm after `make types`): a module whose file has
            # the same bytes is read from it wherever it is installed; where the
            # package is found, and what user.py sees, is decided afresh.
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert mypy.stdout.splitlines() == [
        'user.py:16: error: Incompatible return value type (got "Order", expected "int")'
        "  [return-value]",
        "Found 1 error in 1 file (checked 1 source file)",
    ], mypy.stdout + mypy.stderr
    pyright = subprocess.run(
        [str(Path(sys.executable).parent / "basedpyright"), "--pythonpath", str(python), "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    errors = [line.strip() for line in pyright.stdout.splitlines() if " - error: " in line]
    assert len(errors) == 1, pyright.stdout
    assert errors[0].startswith(f'{tmp_path / "user.py"}:16:12 - error: Type "Order" is not')
    assert "1 error, 0 warnings" in pyright.stdout, pyright.stdout


def test_the_sdist_carries_the_tests(tmp_path: Path) -> None:
    sdist = _build("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert "tests/conftest.py" in names
    assert "tests/typing/user_code.py" in names
    assert "Makefile" in names
    for name in GENERATED:
        assert f"generated/{name}/models/__init__.py" in names
        # A copy at the link's place (hatchling writes files, not links)...
        assert f"wrapper/cancelkit/_generated/{name}/models/__init__.py" in names

    # ...so a wheel built from the sdist (as pip does with it) ships the generated clients.
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=source,
        check=True,
        capture_output=True,
    )
    with zipfile.ZipFile(next(out.glob("*.whl"))) as archive:
        shipped = archive.namelist()
    assert {n.split("/")[0] for n in shipped if ".dist-info" not in n} == TOP_LEVEL
    for name in GENERATED:
        assert f"cancelkit/_generated/{name}/models/__init__.py" in shipped


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_canonical(re.split(r"[\s\[<>=!~;(]", r, maxsplit=1)[0]) for r in requirements}


# Loaded only by pytest itself (the pytest11 entry point), where pytest is present.
_PYTEST_ONLY = {"_pytest_plugin.py"}


def test_every_third_party_module_the_package_imports_is_declared() -> None:
    """A module that comes only through another package's requirements (httpcore
    through httpx, jsonschema-path through openapi-core) can change or leave under
    us with nothing in our metadata to say we need it (issue 31)."""
    import ast
    import tomllib

    import cancelkit

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    sandbox = core | _names(project["optional-dependencies"]["sandbox"])
    owners = md.packages_distributions()
    package = Path(cancelkit.__file__).parent
    missing: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.name in _PYTEST_ONLY:
            continue
        declared = sandbox if relative.parts[0] == "sandbox" else core
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("cancelkit", "__future__"):
                    continue
                dists = {_canonical(d) for d in owners.get(top, [top])}
                if not dists & declared:
                    missing.append(f"{relative}: {top} ({', '.join(sorted(dists))})")
    assert not missing, "imported but not declared in pyproject.toml:\n" + "\n".join(missing)
