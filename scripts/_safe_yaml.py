"""Load a page's OpenAPI block as plain data, bounded: a page is hostile input.

PyYAML's ``safe_load`` refuses Python objects but still expands aliases (an
11 KB "billion laughs" page grew past 3 GB), recurses once per nesting level
(20,000 ``[`` is a ``RecursionError``), and keeps the last of two equal keys
silently. :func:`load` uses a ``SafeLoader`` that refuses anchors and aliases
(no spec needs them), duplicate keys, and any document over the caps below, so
the work done is proportional to the bytes read.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node

# The largest published block is about 11 KB and 12 levels deep; these leave
# ample room for growth while keeping one page's cost small.
MAX_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64


class UnsafeYAML(ValueError):
    """The block is not YAML we accept (alias, too big, too deep, duplicate key...)."""


class _BoundedLoader(yaml.SafeLoader):
    """A ``SafeLoader`` without anchors or aliases, with node and depth caps."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    # The scanner's cost grows with the square of flow depth (20,000 ``[`` took
    # seconds before composing began): stop at the cap as each level opens.
    def fetch_flow_sequence_start(self) -> None:
        self._flow_cap()
        super().fetch_flow_sequence_start()

    def fetch_flow_mapping_start(self) -> None:
        self._flow_cap()
        super().fetch_flow_mapping_start()

    def _flow_cap(self) -> None:
        if self.flow_level >= MAX_DEPTH or len(self.indents) >= MAX_DEPTH:
            raise UnsafeYAML(f"nested deeper than {MAX_DEPTH} levels")

    def add_indent(self, column: int) -> bool:
        self._flow_cap()
        return super().add_indent(column)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            raise UnsafeYAML(f"an alias (*{event.anchor}) at {event.start_mark}: refused")
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise UnsafeYAML(f"an anchor (&{event.anchor}) at {event.start_mark}: refused")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise UnsafeYAML(f"more than {MAX_NODES} nodes")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYAML(f"nested deeper than {MAX_DEPTH} levels at {event.start_mark}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = key_node.value if key_node.tag == "tag:yaml.org,2002:str" else None
            if key is not None and key in seen:
                raise UnsafeYAML(f"the key {key!r} appears twice at {key_node.start_mark}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# JSON has no dates: an unquoted ``2024-01-01`` stays the string it is on the page.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(text: str | bytes, where: str) -> Any:
    """The one YAML document in ``text`` as plain data, or :class:`UnsafeYAML` naming ``where``."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise UnsafeYAML(f"{where}: {len(text)} bytes; the limit is {MAX_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsafeYAML(f"{where}: not UTF-8 ({exc})") from None
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise UnsafeYAML(f"{where}: larger than {MAX_BYTES} bytes")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except UnsafeYAML as exc:
        raise UnsafeYAML(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UnsafeYAML(f"{where}: not valid YAML ({exc})") from None
    except RecursionError:
        raise UnsafeYAML(f"{where}: nested too deeply") from None
    finally:
        loader.dispose()
