"""What a regeneration changes in the generated packages' Python API.

:mod:`spec_diff` judges a spec change by what it means on the wire; renaming an
``operationId`` or a tag, or adding an unreferenced component, means nothing on
the wire and still renames or adds modules, classes and types. This compares two
generated trees by their parsed source: every module, class, function signature,
field annotation, enum member and module constant, and the method and URL each
operation's ``_get_kwargs`` builds (a function that keeps its name and signature but
now builds another path is a change, and breaking where the wrapper imports it), and
says which changes touch a name the wrapper (``wrapper/``) imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import attrs


def _generated_package(name: str) -> bool:
    """A generated package's name: regenerate.py writes spec NAME into ``NAME_api``
    (any spec under specs/, so a new venue needs no line here)."""
    return name.endswith("_api")


@attrs.frozen
class ApiChange:
    """One entry of the generated API added, removed or changed."""

    entry: str
    change: str  # "added", "removed" or "changed"
    before: str
    after: str
    used_by_wrapper: bool

    @property
    def breaking(self) -> bool:
        """A name the wrapper imports went away or changed shape."""
        return self.used_by_wrapper and self.change != "added"


def _module_name(package_root: Path, source: Path) -> str:
    parts = list(source.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({ast.unparse(node.args)}){returns}"


# The one private function an entry is made for: the request an operation builds.
_REQUEST = "_get_kwargs"


def _request(function: ast.FunctionDef) -> str:
    """``GET /v1/order/{order_id}``: the method and URL template ``_get_kwargs`` builds;
    its whole source when it has another shape (so any change still shows)."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Dict):
            continue
        fields = {
            key.value: value
            for key, value in zip(node.keys, node.values, strict=True)
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
        method, url = fields.get("method"), fields.get("url")
        if isinstance(url, ast.Call) and isinstance(url.func, ast.Attribute):
            url = url.func.value if url.func.attr == "format" else url  # "/x/{id}".format(...)
        if (
            isinstance(method, ast.Constant)
            and isinstance(method.value, str)
            and isinstance(url, ast.Constant)
            and isinstance(url.value, str)
        ):
            return f"{method.value.upper()} {url.value}"
    return ast.unparse(function)


def _entries(module: str, tree: ast.Module, init: bool) -> Iterator[tuple[str, str]]:
    """The API entries of one module; imports count only in a package's ``__init__``
    (re-exports such as ``models.Order``)."""
    yield f"{module}", "module"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == _REQUEST:
            yield f"{module}:{_REQUEST}", _request(node)
        if getattr(node, "name", "x").startswith("_"):
            continue  # private helpers are not API
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{module}:{node.name}", "def " + _signature(node)
        elif isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            yield f"{module}:{node.name}", f"class ({bases})"
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    if not item.name.startswith("_") or item.name == "__init__":
                        yield f"{module}:{node.name}.{item.name}", "def " + _signature(item)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    default = f" = {ast.unparse(item.value)}" if item.value else ""
                    yield (
                        f"{module}:{node.name}.{item.target.id}",
                        f"{ast.unparse(item.annotation)}{default}",
                    )
                elif isinstance(item, ast.Assign):
                    for target in item.targets:
                        if isinstance(target, ast.Name):
                            yield f"{module}:{node.name}.{target.id}", ast.unparse(item.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield f"{module}:{target.id}", ast.unparse(node.value)
        elif isinstance(node, ast.ImportFrom) and node.level and init:
            for alias in node.names:
                origin = "." * node.level + (node.module or "")
                yield f"{module}:{alias.asname or alias.name}", f"from {origin}"


def surface(generated: Path) -> dict[str, str]:
    """Every API entry of the generated packages under ``generated``: key -> its shape."""
    found: dict[str, str] = {}
    roots = sorted(p for p in generated.iterdir() if p.is_dir() and _generated_package(p.name))
    for root in roots if generated.is_dir() else []:
        for source in sorted(root.rglob("*.py")):
            module = _module_name(generated, source)
            tree = ast.parse(source.read_text(encoding="utf-8"))
            found.update(_entries(module, tree, source.name == "__init__.py"))
    return found


def _generated_module(module: str, level: int) -> str | None:
    """The generated module an import names (``cancelkit._generated.limitless_api.x``,
    ``._generated.limitless_api.x`` or ``limitless_api.x``: ``limitless_api.x``), or None."""
    for prefix in ("cancelkit._generated.", "_generated."):
        if module.startswith(prefix) and (level > 0) == (prefix == "_generated."):
            module = module.removeprefix(prefix)
            break
    else:
        if level:
            return None
    return module if _generated_package(module.split(".")[0]) else None


def wrapper_uses(wrapper: Path) -> tuple[set[str], set[str]]:
    """(modules, names) of the generated packages that ``wrapper`` imports."""
    modules: set[str] = set()
    names: set[str] = set()
    for source in sorted(wrapper.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = _generated_module(node.module, node.level)
                if module is not None:
                    modules.add(module)
                    for alias in node.names:
                        names.add(alias.name)
                        modules.add(f"{module}.{alias.name}")  # a submodule, maybe
            elif isinstance(node, ast.Import):
                modules.update(
                    a.name for a in node.names if _generated_package(a.name.split(".")[0])
                )
    return modules, names


def compare(before: Path, after: Path, wrapper: Path) -> list[ApiChange]:
    """Every entry added, removed or changed from tree ``before`` to tree ``after``."""
    old, new = surface(before), surface(after)
    modules, names = wrapper_uses(wrapper) if wrapper.is_dir() else (set(), set())

    def used(entry: str) -> bool:
        module, _, name = entry.partition(":")
        return module in modules or (bool(name) and name.split(".")[0] in names)

    changes: list[ApiChange] = []
    for entry in sorted(old.keys() | new.keys()):
        was, now = old.get(entry, ""), new.get(entry, "")
        if was == now:
            continue
        kind = "added" if entry not in old else "removed" if entry not in new else "changed"
        changes.append(ApiChange(entry, kind, was, now, used(entry)))
    return changes
