"""Validate requests against the verbatim specs with openapi-core."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import SecurityValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict


def spec_text(name: str) -> bytes:
    """The verbatim spec ``name``: ``limitless``, or one Polymarket page such as
    ``polymarket_us/get-open-orders`` (each page's block is checked on its own)."""
    packaged = resources.files("cancelkit.sandbox").joinpath("specs", f"{name}.yaml")
    if packaged.is_file():
        return packaged.read_bytes()
    # Editable install: the specs live at the repository root.
    return (Path(__file__).resolve().parents[3] / "specs" / f"{name}.yaml").read_bytes()


PROVISIONAL = ".provisional"
"""Suffix of the name of a venue's provisional document (``limitless.provisional``):
operations written from the pages' facts until their verbatim blocks are in specs/."""


def provisional_text(venue: str) -> bytes | None:
    """``scripts/generator/<venue>.provisional.yaml`` (packaged beside the specs), if any."""
    packaged = resources.files("cancelkit.sandbox").joinpath("specs", f"{venue}{PROVISIONAL}.yaml")
    if packaged.is_file():
        return packaged.read_bytes()
    source = Path(__file__).resolve().parents[3] / "scripts" / "generator"
    path = source / f"{venue}{PROVISIONAL}.yaml"
    return path.read_bytes() if path.is_file() else None


def _document(name: str) -> Any:
    if name.endswith(PROVISIONAL):
        return yaml.safe_load(provisional_text(name.removesuffix(PROVISIONAL)) or b"{}")
    return yaml.safe_load(spec_text(name))


def _specs_dir() -> Any:
    packaged = resources.files("cancelkit.sandbox").joinpath("specs")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "specs"  # editable install


@cache
def pages(venue: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(spec name, path pattern, method) for every operation of a venue's pages."""
    folder = _specs_dir().joinpath(venue)
    names = (
        [f"{venue}/{p.name.removesuffix('.yaml')}" for p in folder.iterdir()]
        if folder.is_dir()
        else [venue]
    )
    # The verbatim pages first: an operation they declare is never the provisional one.
    names = sorted(names)
    if provisional_text(venue) is not None:
        names.append(venue + PROVISIONAL)
    found: list[tuple[str, re.Pattern[str], str]] = []
    for name in names:
        for path, item in _document(name)["paths"].items():
            pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))
            found.extend((name, pattern, method.upper()) for method in item)
    return tuple(found)


def page_for(venue: str, method: str, path: str) -> str | None:
    """The name of the page whose operation serves ``method path``, if any."""
    for name, pattern, verb in pages(venue):
        if verb == method.upper() and pattern.fullmatch(path):
            return name
    return None


def _local_refs_only(node: Any, where: str) -> None:
    """Refuse a ``$ref`` that is not ``#/...``: a spec never makes the sandbox fetch or read."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and not (isinstance(value, str) and value.startswith("#/")):
                raise ValueError(f"{where}: only local $refs are resolved, not {value!r}")
            _local_refs_only(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _local_refs_only(value, f"{where}/{index}")


@cache
def openapi(name: str) -> OpenAPI:
    """The parsed verbatim spec, built once per process; local ``$ref``\\ s only.

    openapi-core's default resolver follows ``http(s)://`` and ``file://``
    references when a request is validated; no handler is given here, so the
    document is all it can read (and a non-local ``$ref`` is refused up front).
    """
    document = _document(name)
    _local_refs_only(document, name)
    return OpenAPI(SchemaPath.from_dict(document, handlers={}))


class _Request:
    """openapi-core's request protocol over what the sandbox received."""

    def __init__(
        self,
        host_url: str,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes,
        content_type: str,
    ) -> None:
        self.host_url = host_url
        self.method = method.lower()
        self.path = path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
        )
        self.body = body or None
        self.content_type = content_type


class Violation(Exception):
    """The request breaks the contract; ``security`` tells a 401 from a 400."""

    def __init__(self, message: str, *, security: bool) -> None:
        super().__init__(message)
        self.security = security


def _explain(error: BaseException) -> str:
    cause: Any = error.__cause__
    details = [getattr(e, "message", str(e)) for e in getattr(cause, "schema_errors", ())]
    return f"{error}" if not details else f"{type(error).__name__}: {'; '.join(details)}"


def check(
    name: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: list[tuple[str, str]],
    body: bytes,
) -> Any:
    """Validate one request; return the unmarshalled body or raise :class:`Violation`."""
    api = openapi(name)
    # Match the spec's own server so that the sandbox's loopback address does not matter.
    host = str(api.spec["servers"][0]["url"])
    content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # openapi-core would raise rather than report: answer as a 400 like any bad body.
        raise Violation("Request body is not UTF-8 JSON", security=False) from None
    result = api.unmarshal_request(
        _Request(host, method, path, query, headers, body, content_type.lower())
    )
    errors = list(result.errors)
    if errors:
        error = errors[0]
        raise Violation(_explain(error), security=isinstance(error, SecurityValidationError))
    return result.body
