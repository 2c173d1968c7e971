"""A setup file's YAML, with the line of every key and item. Pure: text in, values out.

Lines point at keys: a key whose value is a block (``config:`` followed by an indented
mapping) is reported at the key's own line, not at the first line of the block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from claybridge.errors import ClaybridgeError
from claybridge.mapping.model import error_location

Loc = tuple[Any, ...]


class SetupError(ClaybridgeError):
    """The file is refused; ``problems`` lists every error as "line N: key: message"."""

    status_code = 422
    code = "invalid_setup"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Document:
    """Parsed YAML (``data``) and the line of each location in it."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        """The line of ``loc``, or of its nearest located parent."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1

    def where(self, loc: Loc) -> str:
        """``line N: dotted.key`` for a problem at ``loc``."""
        return f"line {self.line(loc)}: {error_location(loc) or '(top)'}"


def _to_python(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            here = (*loc, key)
            if key in out:
                raise SetupError(
                    [f"line {key_node.start_mark.line + 1}: {error_location(here)}: duplicate key"]
                )
            lines[here] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, here, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def parse(text: str) -> Document:
    """Parse ``text``; :class:`SetupError` for YAML that does not parse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SetupError([f"line {line}: not valid YAML: {exc.problem}"]) from None
    if node is None:
        return Document({})
    lines: dict[Loc, int] = {}
    return Document(_to_python(node, (), lines), lines)
