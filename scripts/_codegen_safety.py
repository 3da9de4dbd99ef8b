"""Nothing a documentation page says may become code: checks before and after generation.

A page's names end up as Python identifiers (classes, modules, attributes,
keyword arguments, constants) and its values as literals in ``generated/``.
Escaping each one at each place is easy to get wrong (Python NFKC-normalizes
identifiers, so ``.upper()`` of a look-alike is still a keyword), so names are
checked against an allow-list before anything is generated, and the generated
code is checked again after:

* :func:`check_document`: every name the generator or the pipeline turns into
  code (schema, property, parameter and security scheme names, ``operationId``,
  tags, paths, response codes, media types, enum values) matches a small ASCII
  pattern; every ``$ref`` is local (``#/...``) and points at something; every
  mapping key is a string. A name that does not fit stops the run naming it.
* :func:`identifier`: the one way the pipeline builds an identifier.
* :func:`check_constants_module`: a module the pipeline wrote holds only its
  docstring and ``NAME = <literal>`` assignments, the names expected.
* :func:`audit_package`: every generated module parses, every identifier in it
  is ASCII, and it calls none of the builtins that run or load code.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


class UnsafeSpec(ValueError):
    """A spec holds a name or reference the pipeline refuses to turn into code."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}")
_PATH = re.compile(r"/(?:[A-Za-z0-9_.~-]|\{[A-Za-z_][A-Za-z0-9_.-]{0,99}\}|/){0,500}")
_STATUS = re.compile(r"[1-5](?:[0-9][0-9]|XX)|default")
_MEDIA = re.compile(r"[a-z]+/[A-Za-z0-9.+*-]{1,100}")
_ENUM_TEXT = re.compile(r"[A-Za-z0-9_ .:/+-]{0,200}")
_REF = re.compile(r"#(?:/[A-Za-z0-9_.~-]{1,200}){1,20}")
_ASCII_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORBIDDEN_MODULES = frozenset({"os", "subprocess", "sys", "importlib", "builtins", "socket"})
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Builtins that execute, import or reach outside: generated code never calls them.
_FORBIDDEN_CALLS = frozenset(
    {"exec", "eval", "compile", "__import__", "open", "breakpoint", "globals", "locals", "vars"}
)


def identifier(name: str, where: str) -> str:
    """``name`` as an upper-case Python identifier built only from ``[A-Z0-9_]``.

    camelCase splits at each capital; ``-`` and ``.`` become ``_``. Anything
    else is refused rather than mapped, so two names cannot meet in one constant
    and no character outside the allow-list ever reaches source text.
    """
    if not _NAME.fullmatch(name):
        raise UnsafeSpec(f"{where}: the name {name!r} is not [A-Za-z_][A-Za-z0-9_.-]*")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    result = re.sub(r"[.-]", "_", snake).upper()
    assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", result), result  # by construction
    return result


def _check(pattern: re.Pattern[str], value: object, what: str, where: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeSpec(f"{where}: the {what} {value!r} is not allowed")


def _keys(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(node, dict):
        raise UnsafeSpec(f"{where}: expected a mapping, found {type(node).__name__}")
    for key, value in node.items():
        if not isinstance(key, str):
            raise UnsafeSpec(f"{where}: the key {key!r} is not a string")
        yield key, value


def _pointer(document: JSON, ref: str) -> bool:
    target: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            return False
        target = target[part]
    return True


def _walk(node: Any, where: str, document: JSON) -> None:
    """Every mapping key a string; every ``$ref`` local and resolvable; enum values plain."""
    if isinstance(node, dict):
        for key, value in _keys(node, where):
            here = f"{where}/{key}"
            if key == "$ref":
                _check(_REF, value, "$ref (only local #/... references are accepted)", here)
                if not _pointer(document, value):
                    raise UnsafeSpec(f"{here}: {value!r} points at nothing in the document")
            elif key == "enum" and isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        _check(_ENUM_TEXT, item, "enum value", f"{here}/{index}")
                    elif not (item is None or isinstance(item, bool | int | float)):
                        raise UnsafeSpec(f"{here}/{index}: an enum value must be plain data")
            elif key == "properties" and isinstance(value, dict):
                for name, _ in _keys(value, here):
                    _check(_NAME, name, "property name", f"{here}/{name}")
            elif key == "x-enum-varnames" and isinstance(value, list):
                for item in value:
                    _check(_NAME, item, "enum variable name", here)
            elif key == "required" and isinstance(value, list):
                for item in value:
                    _check(_NAME, item, "required property name", here)
            _walk(value, here, document)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{where}/{index}", document)
    elif not (node is None or isinstance(node, str | bool | int | float)):
        # Dates and other YAML types have no JSON form and no place in a spec.
        raise UnsafeSpec(f"{where}: a {type(node).__name__} is not plain JSON data")


def _operation(operation: Any, where: str) -> None:
    for key, value in _keys(operation, where):
        here = f"{where}/{key}"
        if key == "operationId":
            _check(_NAME, value, "operationId", here)
        elif key == "tags":
            if not isinstance(value, list):
                raise UnsafeSpec(f"{here}: expected a list of tags")
            for tag in value:
                _check(_TAG, tag, "tag", here)
        elif key == "parameters":
            _parameters(value, here)
        elif key == "responses":
            for code, response in _keys(value, here):
                _check(_STATUS, code, "response code", f"{here}/{code}")
                for part, content in _keys(response, f"{here}/{code}"):
                    if part == "content":
                        _media(content, f"{here}/{code}/content")
        elif key == "requestBody":
            for part, content in _keys(value, here):
                if part == "content":
                    _media(content, f"{here}/content")


def _parameters(parameters: Any, where: str) -> None:
    if not isinstance(parameters, list):
        raise UnsafeSpec(f"{where}: expected a list of parameters")
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, dict):
            raise UnsafeSpec(f"{where}/{index}: a parameter must be a mapping")
        if "$ref" not in parameter:
            _check(_NAME, parameter.get("name"), "parameter name", f"{where}/{index}")


def _media(content: Any, where: str) -> None:
    for media, value in _keys(content, where):
        _check(_MEDIA, media, "media type", f"{where}/{media}")
        for _ in _keys(value, f"{where}/{media}"):
            pass  # a mapping, so that readers may .get() it


def check_document(document: Any, page: str) -> None:
    """Refuse (:class:`UnsafeSpec`, naming ``page`` and the name) a document with
    a name the pipeline would not turn into code verbatim, or a non-local ``$ref``."""
    try:
        if not isinstance(document, dict):
            raise UnsafeSpec("the OpenAPI block is not a mapping")
        _walk(document, "", document)
        for path, item in _keys(document.get("paths") or {}, "/paths"):
            _check(_PATH, path, "path", "/paths")
            for key, value in _keys(item, f"/paths/{path}"):
                if key in _METHODS:
                    _operation(value, f"/paths/{path}/{key}")
                elif key == "parameters":
                    _parameters(value, f"/paths/{path}/parameters")
        for section, entries in _keys(document.get("components") or {}, "/components"):
            for name, _ in _keys(entries, f"/components/{section}"):
                _check(_NAME, name, "component name", f"/components/{section}")
        for index, tag in enumerate(document.get("tags") or []):
            _check(_TAG, tag.get("name") if isinstance(tag, dict) else tag, "tag", f"/tags/{index}")
    except UnsafeSpec as exc:
        raise UnsafeSpec(f"{page}: {exc}") from None


def check_constants_module(source: str, expected: Iterable[str], where: str) -> None:
    """``source`` is a docstring then ``NAME = literal`` for exactly the names ``expected``."""
    tree = ast.parse(source)
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    names: list[str] = []
    for statement in body:
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise UnsafeSpec(f"{where}: line {statement.lineno} is not a constant assignment")
        ast.literal_eval(statement.value)  # ValueError unless plain data
        names.append(statement.targets[0].id)
    if names != list(expected):
        raise UnsafeSpec(f"{where}: holds {names}, expected {list(expected)}")


def audit_source(source: str, where: str) -> None:
    """One generated module: parses, ASCII identifiers only, no code-running builtins."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UnsafeSpec(f"{where}: does not parse ({exc.msg}, line {exc.lineno})") from None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and not _ASCII_IDENTIFIER.fullmatch(token.string):
            raise UnsafeSpec(f"{where}: line {token.start[0]}: non-ASCII identifier")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FORBIDDEN_CALLS
        ):
            raise UnsafeSpec(f"{where}: line {node.lineno} calls {node.func.id}()")
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [module or ""] + [alias.name for alias in node.names]
            if any(name.split(".")[0] in _FORBIDDEN_MODULES for name in names):
                raise UnsafeSpec(f"{where}: line {node.lineno} imports {names}")


def audit_package(package: Path) -> None:
    """:func:`audit_source` on every ``.py`` file of a generated package."""
    for source in sorted(package.rglob("*.py")):
        shown = source.relative_to(package.parent).as_posix()
        audit_source(source.read_text(encoding="utf-8"), shown)
