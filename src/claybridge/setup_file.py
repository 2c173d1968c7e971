"""The setup file (``claybridge.yaml``): owners and sources as code. Pure: text in,
a validated :class:`Setup` (or every error, with its line and key) out.

Format::

    owners:
      - name: Ada Lovelace
        email: ada@example.com
    sources:
      - name: Clay leads
        template: clay-leads        # default clay-customers
        config: { … }               # optional: the template's when left out
    workflows:
      - key: route-lead             # see claybridge.workflows.model
        steps: [ … ]

Tokens never appear in the file: a new source's token is printed once by ``apply``.
Signing secrets may be given in plain text (they are stored encrypted) or as the mask
``********`` that ``export`` writes, which keeps the stored secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from claybridge.errors import ClaybridgeError
from claybridge.ingest import coerce
from claybridge.mapping.model import config_errors, error_location
from claybridge.templates import DEFAULT_TEMPLATE, TEMPLATES
from claybridge.workflows.model import workflow_errors

Loc = tuple[Any, ...]


@dataclass
class Setup:
    """A validated setup file."""

    owners: list[dict[str, str]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)


class SetupError(ClaybridgeError):
    """The file is refused; ``problems`` lists every error as "line N: key: message"."""

    status_code = 422
    code = "invalid_setup"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _to_python(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if key in out:
                raise SetupError(
                    [f"line {key_node.start_mark.line + 1}: {_dotted((*loc, key))}: duplicate key"]
                )
            out[key] = _to_python(value_node, (*loc, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _dotted(loc: Loc) -> str:
    return error_location(loc) or "(top)"


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def load(text: str) -> Setup:
    """Parse and validate a setup file; :class:`SetupError` lists every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SetupError([f"line {line}: not valid YAML: {exc.problem}"]) from None
    if node is None:
        return Setup()
    lines: dict[Loc, int] = {}
    data = _to_python(node, (), lines)
    problems: list[str] = []

    def problem(loc: Loc, message: str) -> None:
        problems.append(f"line {_line(lines, loc)}: {_dotted(loc)}: {message}")

    if not isinstance(data, dict):
        raise SetupError(["line 1: the file must be a mapping with owners and sources"])
    for key in data:
        if key not in ("owners", "sources", "workflows"):
            problem((key,), "unknown key (expected owners, sources, workflows)")
    setup = Setup()
    owners = data.get("owners") or []
    if not isinstance(owners, list):
        problem(("owners",), "must be a list")
        owners = []
    seen: dict[str, int] = {}
    for i, owner in enumerate(owners):
        loc: Loc = ("owners", i)
        if not isinstance(owner, dict) or set(owner) - {"name", "email"}:
            problem(loc, "an owner has exactly name and email")
            continue
        name = " ".join(str(owner.get("name") or "").split())
        try:
            email = coerce.email(owner.get("email"))
        except ValueError as exc:
            problem((*loc, "email"), str(exc))
            continue
        if not name:
            problem((*loc, "name"), "is required")
        if not email:
            problem((*loc, "email"), "is required")
        elif email in seen:
            problem((*loc, "email"), f"{email} is also owners[{seen[email]}]")
        else:
            seen[email] = i
            if name:
                setup.owners.append({"name": name, "email": email})
    sources = data.get("sources") or []
    if not isinstance(sources, list):
        problem(("sources",), "must be a list")
        sources = []
    names: dict[str, int] = {}
    for i, source in enumerate(sources):
        loc = ("sources", i)
        if not isinstance(source, dict):
            problem(loc, "a source is a mapping with name, template and config")
            continue
        for key in source:
            if key not in ("name", "template", "config"):
                problem((*loc, key), "unknown key (expected name, template, config)")
        name = " ".join(str(source.get("name") or "").split())
        template = source.get("template") or DEFAULT_TEMPLATE
        if not name:
            problem((*loc, "name"), "is required")
        elif name in names:
            problem((*loc, "name"), f"{name!r} is also sources[{names[name]}]")
        names.setdefault(name, i)
        if template not in TEMPLATES:
            problem((*loc, "template"), f"unknown template; known: {', '.join(TEMPLATES)}")
            continue
        config = source.get("config")
        if config is None:
            config = TEMPLATES[template].config
        else:
            for err_loc, message in config_errors(config):
                problem((*loc, "config", *err_loc), message)
        setup.sources.append({"name": name, "template": template, "config": config})
    flows = data.get("workflows") or []
    if not isinstance(flows, list):
        problem(("workflows",), "must be a list")
        flows = []
    keys: dict[str, int] = {}
    for i, flow in enumerate(flows):
        loc = ("workflows", i)
        errors = workflow_errors(flow)
        for where, message in errors:
            problem((*loc, *where), message)
        if errors:
            continue
        if flow["key"] in keys:
            problem((*loc, "key"), f"{flow['key']!r} is also workflows[{keys[flow['key']]}]")
            continue
        keys[flow["key"]] = i
        setup.workflows.append(flow)
    if problems:
        raise SetupError(problems)
    return setup


def dump(
    owners: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    workflows: list[dict[str, Any]] | None = None,
) -> str:
    """The setup file for the given owners, sources and workflows (secrets masked)."""
    data: dict[str, Any] = {
        "owners": [{"name": o["name"], "email": o["email"]} for o in owners],
        "sources": [
            {"name": s["name"], "template": s["template"], "config": s["config"]} for s in sources
        ],
    }
    if workflows:
        data["workflows"] = [
            {
                "key": w["key"],
                "name": w["name"],
                **({"description": w["description"]} if w.get("description") else {}),
                "steps": w["steps"],
            }
            for w in workflows
        ]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
