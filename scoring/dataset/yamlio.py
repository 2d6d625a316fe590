"""Reading YAML written by people (datasets, policy packs, overlays) safely and strictly.

* nesting deeper than :data:`MAX_DEPTH` is refused *before* anything recursive runs (the C
  composer overflows its stack at ~50,000 levels and kills the process);
* duplicate keys in a mapping are refused (PyYAML would keep the last one and silently drop
  the rest, e.g. a second ``links:`` list);
* every parser or constructor failure (huge ints, year-0 dates, recursion) becomes a
  :class:`YamlError` with a message, never another exception.

>>> load_yaml("a: 1\\nb: [x, y]")
{'a': 1, 'b': ['x', 'y']}
>>> load_yaml("a: 1\\na: 2")
Traceback (most recent call last):
...
georisk.scoring.dataset.yamlio.YamlError: line 2: duplicate key 'a' (first on line 1)
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "YamlError", "check_depth", "load_yaml"]

MAX_DEPTH = 200
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """The text is not acceptable YAML; the message says where and why."""


class _StrictLoader(_Base):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise YamlError(
                        f"line {line}: duplicate key {key_node.value!r} (first on line {seen[key]})"
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``max_depth`` using the (iterative) event parser."""
    depth = 0
    try:
        for ev in yaml.parse(text, Loader=_Base):
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    line = ev.start_mark.line + 1 if ev.start_mark else "?"
                    raise YamlError(f"line {line}: nested deeper than {max_depth} levels")
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise YamlError(f"unparsable YAML: {exc}") from None


def load_yaml(text: str) -> Any:
    """Parse ``text`` safely (see module docstring); raises :class:`YamlError`."""
    check_depth(text)
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        raise YamlError(f"unparsable YAML: {exc}") from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise YamlError(f"unreadable value: {str(exc)[:300]}") from None
