"""The distribution as a user installs it: the wheel in a clean venv without extras,
its top-level packages, the sdist's contents (#24)."""

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


def test_the_wheel_works_in_a_clean_venv_without_extras(wheel: Path, tmp_path: Path) -> None:
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

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        check=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    declared: set[str] = set()
    for requirement in re.findall(r"^Requires-Dist: (.+)$", text, re.MULTILINE):
        if "extra ==" not in requirement:
            _requirements(re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0], declared)
    for name in declared:
        _link_installed(name, site)

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


def test_the_sdist_carries_the_tests(tmp_path: Path) -> None:
    sdist = _build("sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert "tests/conftest.py" in names
    assert "tests/typing/user_code.py" in names
    assert "Makefile" in names


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
