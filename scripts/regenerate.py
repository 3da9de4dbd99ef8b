"""Regenerate ``generated/`` from ``specs/``; with ``--check``, report drift.

For every ``specs/NAME.yaml``, or directory ``specs/NAME/`` of pages' blocks
(each file one page's OpenAPI block, kept verbatim, as published), this:

0. merges the pages of a directory into one document in memory with
   :func:`extract_spec.merge` (a path and method on two pages, or one component
   defined differently, stops the run naming both pages); then merges
   ``scripts/generator/NAME.supplement.yaml``, if there is one, into the
   document in memory: what the page's prose documents but its OpenAPI block
   does not declare (Limitless's ``onBehalfOf`` query parameter). Mappings
   merge, lists append, and a supplement that would change a value the spec
   already gives stops the run;
1. normalizes the document in memory with :mod:`normalize`. The
   rewrite: a schema that declares ``properties`` and a ``oneOf`` whose branches
   only list ``required`` ("provide exactly one of orderId or clientOrderId")
   becomes a ``oneOf`` of ``$ref``\\ s to one explicit variant schema per branch,
   ``<Schema>By<Property>``: an object that requires its property, keeps that
   property's schema whole (type, format, maxLength, description) and allows no
   additional properties. openapi-python-client 0.29 would otherwise drop the
   schema silently and type the body ``Any``. Any ``oneOf`` shape the normalizer
   does not understand stops the run with a message naming the schema; so do two
   operations whose ``operationId`` values the generator writes as one Python name
   (:func:`check_operation_names`);
2. runs openapi-python-client (the exact version pinned in pyproject.toml's
   ``dev`` dependency group) with ``scripts/generator/NAME.yaml`` as its config and
   ``--fail-on-warning`` and the templates in ``scripts/generator/templates``
   (string enums keep a value the spec does not list yet instead of failing,
   see ``str_enum.py.jinja``; ``models/__init__.py`` loads each model when it
   is first asked for, not all with the package, see ``models_init.py.jinja``),
   into package ``NAME_api``; its post-hooks run
   the pinned ruff in isolated mode, so the output does not depend on the machine;
3. fails if any generated endpoint still takes a request body typed ``Any``
   (a schema went missing without a warning);
4. writes ``constraints.py`` into the package: every constraint the spec states
   on a component's properties, or on a named scalar schema (lengths, item counts,
   bounds, patterns, enums, required properties), as named constants, so the
   wrapper imports them and never retypes one (a spec change reaches the
   client's validation through regeneration, and the drift check covers it);
5. stamps every generated ``.py`` file with the spec file and its sha256, and
   adds ``py.typed``.

Without ``--check`` the result replaces ``generated/``. With ``--check`` it is
compared with ``generated/``: any difference (a spec changed, the generator was
bumped, a generated file was edited by hand) is printed as a unified diff and
the exit status is 1; so is ``wrapper/cancelkit/_generated`` being anything but
the symlink to ``../../generated`` (or, in an sdist, an identical copy) through
which the wheel ships the packages as ``cancelkit._generated`` and an editable
install imports them.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from _codegen_safety import (
    UnsafeSpec,
    audit_package,
    check_constants_module,
    check_document,
    identifier,
)
from _safe_yaml import UnsafeYAML
from _safe_yaml import load as load_yaml
from extract_spec import ExtractError, merge
from normalize import NormalizationError, normalize
from path_templates import PathTemplateError
from path_templates import declare as declare_path_parameters
from provisional import apply as merge_provisional

ROOT = Path(__file__).resolve().parent.parent
# Where the pipeline's output lives, at the top of the repository. The wheel ships
# it inside the cancelkit package as ``cancelkit._generated`` (private: cancelkit
# re-exports what users annotate with), through the symlink below, so the wheel has
# one top-level package and an editable install imports the same files.
GENERATED = Path("generated")
PACKAGED = Path("wrapper", "cancelkit", "_generated")  # -> ../../generated
_INIT = (
    '"""The clients openapi-python-client generates from specs/ (scripts/regenerate.py).\n\n'
    "Never edited by hand; private: ``cancelkit`` re-exports the names users need.\n"
    '"""\n'
)
_PINNED_TOOLS = ("openapi-python-client", "ruff")
_BODY_ANY = re.compile(r"^\s+body: Any,$", re.MULTILINE)
_TEMPLATES = "scripts/generator/templates"


class RegenerateError(Exception):
    """Generation failed or would lose information."""


def _check_pins(root: Path) -> str:
    """Refuse to run with tool versions other than the pinned ones."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    pins: dict[str, str] = {}
    for requirement in project["dependency-groups"]["dev"]:
        if not isinstance(requirement, str):  # {include-group = ...}
            continue
        name, _, version = requirement.partition("==")
        pins[name.strip().lower()] = version.strip()
    for tool in _PINNED_TOOLS:
        if tool not in pins:
            raise RegenerateError(f"pyproject.toml's dev group must pin {tool}==X.Y.Z")
        try:
            installed = metadata.version(tool)
        except metadata.PackageNotFoundError:
            raise RegenerateError(
                f"{tool} is not installed for {sys.executable}; run `make regenerate`"
                " (or use .venv/bin/python after `make test`)"
            ) from None
        if installed != pins[tool]:
            raise RegenerateError(
                f"{tool} {installed} is installed but {pins[tool]} is pinned;"
                " run `make test` (or pip install -e '.[sandbox]' --group dev) first"
            )
    return pins["openapi-python-client"]


def _header(spec: str, digest: str, version: str) -> str:
    return (
        f"# Generated by openapi-python-client {version} from {spec}\n"
        f"# (sha256 {digest}), normalized by scripts/normalize.py.\n"
        "# Do not edit by hand: change the spec or the pipeline and run\n"
        "# scripts/regenerate.py.\n"
    )


def _supplement(target: dict[str, object], extra: dict[str, object], where: str) -> None:
    """Merge ``extra`` into ``target``: add, never override."""
    for key, value in extra.items():
        here = f"{where}/{key}"
        current = target.get(key)
        if key not in target:
            target[key] = value
        elif isinstance(current, dict) and isinstance(value, dict):
            _supplement(current, value, here)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        elif current != value:
            raise RegenerateError(f"{here}: the spec already says {current!r}")


def spec_pages(spec: Path) -> list[Path]:
    """The page files of one spec: the file itself, or a directory's ``*.yaml``."""
    return sorted(spec.glob("*.yaml")) if spec.is_dir() else [spec]


def checked_document(raw: bytes, page: str) -> dict[str, object]:
    """One page's block parsed by the bounded loader and checked name by name."""
    try:
        document = load_yaml(raw, page)
        check_document(document, page)
    except (UnsafeYAML, UnsafeSpec) as exc:
        raise RegenerateError(str(exc)) from None
    return document  # type: ignore[no-any-return]


def load_spec(root: Path, spec: Path) -> tuple[dict[str, object], str]:
    """The document of one spec (pages merged) and a digest of its verbatim bytes."""
    pages = spec_pages(spec)
    if not pages:
        raise RegenerateError(f"{spec.relative_to(root)}/ holds no page (*.yaml)")
    documents: list[tuple[str, dict[str, object]]] = []
    digest = hashlib.sha256()
    for page in pages:
        raw = page.read_bytes()
        digest.update(page.name.encode() + b"\0" + raw)
        shown = page.relative_to(root).as_posix()
        documents.append((shown, checked_document(raw, shown)))
    if len(documents) == 1:
        return documents[0][1], hashlib.sha256(pages[0].read_bytes()).hexdigest()
    try:
        return merge(documents), digest.hexdigest()
    except ExtractError as exc:
        raise RegenerateError(str(exc)) from exc


_CONSTRAINT_KEYS = (
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "maximum",
    "minimum",
    "pattern",
    "format",
)


def _constant(value: object, where: str) -> object:
    """``value`` if it is plain data ``repr`` writes as a literal, else UnsafeSpec."""
    if isinstance(value, list):
        value = tuple(value)
    items = value if isinstance(value, tuple) else (value,)
    if not all(item is None or isinstance(item, str | int | float | bool) for item in items):
        raise UnsafeSpec(f"{where}: {value!r} is not a plain value")
    return value


def constraints_module(document: dict[str, object], page: str = "the spec") -> str:
    """Python source naming every constraint of the components' properties.

    Names are built by :func:`_codegen_safety.identifier` (an allow-list, never
    an escape) and values written with ``repr`` of plain data only; the result is
    parsed back and must hold exactly the assignments made here.
    """
    constants: dict[str, object] = {}

    def add(name: str, value: object, where: str) -> None:
        if name in constants:
            raise UnsafeSpec(f"{page}: {where}: two names map to the constant {name}")
        constants[name] = _constant(value, f"{page}: {where}")

    components = document.get("components") or {}
    schemas = components.get("schemas") or {} if isinstance(components, dict) else {}
    for schema_name, schema in sorted(schemas.items()):
        where = f"components/schemas/{schema_name}"
        prefix = identifier(schema_name, f"{page}: {where}")
        if not isinstance(schema, dict):
            continue
        if schema.get("required"):
            add(f"{prefix}_REQUIRED", schema["required"], where)
        if schema.get("enum"):
            add(f"{prefix}_ENUM", schema["enum"], where)
        if schema.get("type") != "object":  # a named scalar (Kalshi's FixedPointCount)
            for key in _CONSTRAINT_KEYS:
                if key in schema:
                    add(f"{prefix}_{identifier(key, where)}", schema[key], f"{where}/{key}")
        for prop, prop_schema in sorted((schema.get("properties") or {}).items()):
            here = f"{where}/properties/{prop}"
            name = f"{prefix}_{identifier(prop, f'{page}: {here}')}"
            if not isinstance(prop_schema, dict):
                continue
            for key in _CONSTRAINT_KEYS:
                if key in prop_schema:
                    add(f"{name}_{identifier(key, here)}", prop_schema[key], f"{here}/{key}")
            if prop_schema.get("enum"):
                add(f"{name}_ENUM", prop_schema["enum"], f"{here}/enum")
            items = prop_schema.get("items")  # an array's items: 128 characters per id
            if not isinstance(items, dict):
                continue
            for key in _CONSTRAINT_KEYS:
                if key in items:
                    item_key = f"{here}/items/{key}"
                    add(f"{name}_ITEMS_{identifier(key, here)}", items[key], item_key)
    lines = ['"""Constraints the spec states, as constants: import them, never retype them."""', ""]
    lines += [f"{name} = {value!r}" for name, value in constants.items()]
    source = "\n".join(lines) + "\n"
    check_constants_module(source, constants, f"{page}: constraints.py")
    return source


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def check_operation_names(document: dict[str, object], shown: str, prefix: str) -> None:
    """Refuse two operations the generator would write under one Python name.

    openapi-python-client names an operation's module and functions after its
    ``operationId`` in snake_case: ``OrdersService_GetOrder`` and
    ``OrdersService-GetOrder`` are both ``orders_service_get_order``, and the one
    written last would replace the other without a warning, so the function the
    wrapper imports would build the other operation's method and URL. The names
    are computed by the generator's own functions, so the check cannot disagree
    with what it writes.
    """
    from openapi_python_client.parser.openapi import generate_operation_id
    from openapi_python_client.schema.untrusted_string import UntrustedString
    from openapi_python_client.strings import PythonIdentifier

    seen: dict[str, str] = {}
    paths = document.get("paths") or {}
    for path, item in sorted(paths.items()) if isinstance(paths, dict) else []:
        for method in _METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            if not isinstance(operation, dict):
                continue
            given = operation.get("operationId")
            if isinstance(given, str):
                name = str(PythonIdentifier(given, prefix=prefix))
                what = f"operationId {given!r} ({method.upper()} {path})"
            else:
                name = str(
                    generate_operation_id(path=UntrustedString(path), method=method, prefix=prefix)
                )
                what = f"the operation without an operationId ({method.upper()} {path})"
            if name in seen:
                raise RegenerateError(
                    f"{shown}: {seen[name]} and {what} are both the Python name {name};"
                    " the generated function of one would replace the other's."
                    " Give them operationIds that differ in letters or digits"
                )
            seen[name] = what


def generate_one(root: Path, spec: Path, out_dir: Path, version: str) -> Path:
    """Generate the package for one spec (file or directory) into ``out_dir``."""
    name = spec.stem if spec.is_file() else spec.name
    shown = spec.relative_to(root).as_posix() + ("/" if spec.is_dir() else "")
    config = root / "scripts" / "generator" / f"{name}.yaml"
    if not config.is_file():
        raise RegenerateError(f"{shown}: no generator config at {config}")
    document, digest = load_spec(root, spec)
    supplement = config.with_name(f"{name}.supplement.yaml")
    if supplement.is_file():
        digest_note = hashlib.sha256(supplement.read_bytes()).hexdigest()
        digest = f"{digest}; supplement {supplement.name} sha256 {digest_note}"
        try:
            extra = checked_document(supplement.read_bytes(), supplement.name)
            _supplement(document, extra, "")
        except RegenerateError as exc:
            raise RegenerateError(f"{supplement.name}: {exc}") from exc
    # Operations written from a page's facts (not published verbatim): see provisional.py.
    digest += merge_provisional(config.parent, name, document)
    try:
        declare_path_parameters(document)  # a published `parameters: []` beside {slug}
    except PathTemplateError as exc:
        raise RegenerateError(f"{shown}: {exc}") from exc
    try:
        document = normalize(document)
        # Again after merging and normalizing: variant names come from property names.
        check_document(document, shown)
    except (NormalizationError, UnsafeSpec) as exc:
        raise RegenerateError(f"{shown}: {exc}") from exc
    settings = load_yaml(config.read_bytes(), config.name)
    prefix = settings.get("field_prefix", "field_") if isinstance(settings, dict) else "field_"
    check_operation_names(document, shown, str(prefix))
    package = out_dir / f"{name}_api"
    with tempfile.TemporaryDirectory() as scratch:
        normalized = Path(scratch) / f"{name}.json"
        normalized.write_text(json.dumps(document, indent=2), encoding="utf-8")
        env = dict(os.environ)
        # The post-hooks call `ruff`: make it the pinned one next to this Python.
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
        command = [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(normalized),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(package),
            "--custom-template-path",
            str(root / _TEMPLATES),
            "--fail-on-warning",
        ]
        run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise RegenerateError(f"openapi-python-client failed on {shown}:\n{run.stdout}{run.stderr}")
    try:
        constraints = constraints_module(document, shown)
        audit_package(package)
    except UnsafeSpec as exc:
        raise RegenerateError(str(exc)) from None
    (package / "constraints.py").write_text(constraints, encoding="utf-8")
    for cache in package.rglob(".ruff_cache"):
        shutil.rmtree(cache)
    header = _header(shown, digest, version)
    for source in sorted(package.rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        if _BODY_ANY.search(text):
            raise RegenerateError(
                f"{shown}: {source.relative_to(package)} takes a request body"
                " typed Any; a schema was dropped by the generator"
            )
        source.write_text(header + text, encoding="utf-8")
    (package / "py.typed").write_text("", encoding="utf-8")
    return package


def generate_all(root: Path, out_dir: Path) -> list[Path]:
    """Generate a package for every spec under ``root/specs`` into ``out_dir``."""
    version = _check_pins(root)
    specs = sorted(
        p
        for p in (root / "specs").iterdir()
        if (p.is_dir() or p.suffix == ".yaml") and p.name != "sources.yaml"
    )
    if not specs:
        raise RegenerateError(f"no specs in {root / 'specs'}")
    packages = [generate_one(root, spec, out_dir, version) for spec in specs]
    (out_dir / "__init__.py").write_text(_INIT, encoding="utf-8")
    return packages


def _files(tree: Path) -> dict[str, bytes]:
    if not tree.is_dir():
        return {}
    return {
        p.relative_to(tree).as_posix(): p.read_bytes()
        for p in sorted(tree.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def diff_trees(current: Path, fresh: Path) -> str:
    """Unified diff from ``current`` (the committed tree) to ``fresh`` (what it should be)."""
    old, new = _files(current), _files(fresh)
    shown = GENERATED.as_posix()
    chunks: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) == new.get(name):
            continue
        before = old.get(name, b"").decode("utf-8", "replace").splitlines(keepends=True)
        after = new.get(name, b"").decode("utf-8", "replace").splitlines(keepends=True)
        chunks.extend(
            difflib.unified_diff(
                before,
                after,
                fromfile=f"{shown}/{name}" if name in old else "/dev/null",
                tofile=f"{shown}/{name} (regenerated)" if name in new else "/dev/null",
            )
        )
    return "".join(chunks)


def link_problem(root: Path) -> str | None:
    """What is wrong with ``wrapper/cancelkit/_generated``, through which the wheel
    ships ``generated/`` and an editable install imports it, or None.

    It is the symlink to ``../../generated`` (a checkout), or a copy identical to
    ``generated/`` (an sdist: hatchling writes files, not links). A copy that differs
    would ship code the drift check never compared.
    """
    link = root / PACKAGED
    expected = os.path.relpath(root / GENERATED, link.parent)
    if link.is_symlink():
        target = os.readlink(link)
        return None if target == expected else f"{PACKAGED} points at {target!r}, not {expected}"
    if not link.is_dir():
        return f"{PACKAGED} is missing: it must be a symlink to {expected}"
    ours, shipped = _files(root / GENERATED), _files(link)
    differ = sorted(n for n in ours.keys() | shipped.keys() if ours.get(n) != shipped.get(n))
    if differ:
        return (
            f"{PACKAGED} is a copy, and it differs from {GENERATED}/ in {', '.join(differ[:5])}"
            f"{' ...' if len(differ) > 5 else ''}; it must be a symlink to {expected}"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=f"Regenerate {GENERATED.as_posix()}/ from specs/.")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 with a diff if the generated code is stale"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="project root")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    target = root / GENERATED
    if not args.check and not (root / PACKAGED).is_symlink() and not (root / PACKAGED).exists():
        (root / PACKAGED).symlink_to(os.path.relpath(target, (root / PACKAGED).parent))
    problem = link_problem(root)
    if problem:
        print(f"regenerate: {problem}", file=sys.stderr)
        return 1 if args.check else 2
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "generated"
        try:
            generate_all(root, fresh)
        except RegenerateError as exc:
            print(f"regenerate: {exc}", file=sys.stderr)
            return 2
        if args.check:
            diff = diff_trees(target, fresh)
            if diff:
                sys.stdout.write(diff)
                print(
                    f"regenerate: {GENERATED.as_posix()}/ is stale; run scripts/regenerate.py",
                    file=sys.stderr,
                )
                return 1
            print(f"regenerate: {GENERATED.as_posix()}/ is up to date")
            return 0
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(fresh, target)
    print(f"regenerate: wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
