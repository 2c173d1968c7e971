"""The setup file's contents, validated. Pure: text in, a :class:`Setup` (or every
problem, each with its line and key) out.

Format (every section optional)::

    owners:
      - name: Ada Lovelace
        email: ada@example.com
    destinations:                   # the admin API's destination fields
      - name: ops-slack
        kind: slack
        url: ${SLACK_WEBHOOK_URL}   # secrets are ${VAR} references, read at apply time
        template: "{{ text }}"
        alerts: true                # alerts go here too
      - name: enrich-table
        kind: clay
        webhooks:                   # the pool, in order; each with its own limit
          - url: ${ENRICH_TABLE_WEBHOOK_1_URL}
            submission_limit: 50000
    workflows:
      - key: route-lead             # see claybridge.mapping.workflow
        steps: [ … ]
    sources:
      - name: Clay leads
        template: clay-leads        # default clay-customers
        config: { … }               # optional: the template's when left out

Tokens never appear in the file: a new source's token is printed once by ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claybridge.core import coerce
from claybridge.core.destination_spec import DestinationSpec
from claybridge.mapping.model import config_errors, model_errors
from claybridge.mapping.workflow import workflow_errors
from claybridge.secretbox import MASK
from claybridge.setup import secrets
from claybridge.setup.document import Document, Loc, SetupError, parse
from claybridge.templates import DEFAULT_TEMPLATE, TEMPLATES

SECTIONS = ("owners", "destinations", "workflows", "sources")
WEBHOOK_KEYS = ("url", "auth_header_name", "auth_header_value", "submission_limit")
Problem = Callable[[Loc, str], None]
DESTINATION_KEYS = (*DestinationSpec.model_fields, "webhooks")


@dataclass
class Setup:
    """A validated setup file; destinations keep their ``${VAR}`` references."""

    owners: list[dict[str, str]] = field(default_factory=list)
    destinations: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    doc: Document = field(default_factory=lambda: Document({}))


def _section(data: dict[str, Any], name: str, problem: Problem) -> list[Any]:
    items = data.get(name) or []
    if not isinstance(items, list):
        problem((name,), "must be a list")
        return []
    return items


def _owners(items: list[Any], problem: Problem, out: Setup) -> None:
    seen: dict[str, int] = {}
    for i, owner in enumerate(items):
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
                out.owners.append({"name": name, "email": email})


def masked(entry: dict[str, Any]) -> dict[str, Any]:
    """A destination entry with each ``${VAR}`` secret replaced by the mask, as the
    destination spec accepts it before the variables are read."""

    def hide(value: Any) -> Any:
        return MASK if isinstance(value, str) and secrets.names(value) else value

    out = {
        k: hide(v) if k in ("url", "signing_secret", "auth_header_value") else v
        for k, v in entry.items()
    }
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: hide(v) for k, v in out["headers"].items()}
    return out


def as_spec(entry: dict[str, Any]) -> dict[str, Any]:
    """A file destination as the admin API's destination fields: a Clay destination's
    first webhook becomes its ``url`` and auth header (the rest are added after)."""
    if entry.get("kind") != "clay" or "webhooks" not in entry:
        return dict(entry)
    spec = {k: v for k, v in entry.items() if k != "webhooks"}
    first = entry["webhooks"][0]
    spec["url"] = first.get("url")
    for key in ("auth_header_name", "auth_header_value"):
        if first.get(key) is not None:
            spec[key] = first[key]
    return spec


def _webhooks(entry: dict[str, Any], loc: Loc, problem: Problem) -> bool:
    hooks = entry.get("webhooks")
    if entry.get("kind") != "clay":
        if hooks is not None:
            problem((*loc, "webhooks"), "only a clay destination has webhooks")
            return False
        return True
    if "url" in entry:
        problem((*loc, "url"), "a clay destination lists its webhooks under webhooks")
        return False
    if not isinstance(hooks, list) or not hooks:
        problem((*loc, "webhooks"), "a clay destination needs a list of webhooks (url each)")
        return False
    good = True
    for j, hook in enumerate(hooks):
        if not isinstance(hook, dict) or not hook.get("url") or set(hook) - set(WEBHOOK_KEYS):
            problem(
                (*loc, "webhooks", j),
                f"a webhook has url and optionally {', '.join(WEBHOOK_KEYS[1:])}",
            )
            good = False
        elif hook.get("submission_limit") is not None and (
            not isinstance(hook["submission_limit"], int) or hook["submission_limit"] < 1
        ):
            problem(
                (*loc, "webhooks", j, "submission_limit"), "must be a whole number of at least 1"
            )
            good = False
    return good


def _destinations(items: list[Any], problem: Problem, out: Setup) -> None:
    names: dict[str, int] = {}
    for i, entry in enumerate(items):
        loc: Loc = ("destinations", i)
        if not isinstance(entry, dict):
            problem(loc, "a destination is a mapping with name, kind, url…")
            continue
        unknown = [k for k in entry if k not in DESTINATION_KEYS]
        for key in unknown:
            problem((*loc, key), f"unknown key (expected {', '.join(DESTINATION_KEYS)})")
        if unknown or not _webhooks(entry, loc, problem):
            continue
        errors = model_errors(DestinationSpec, masked(as_spec(entry)))
        for where, message in errors:
            problem((*loc, *where), message)
        name = " ".join(str(entry.get("name") or "").split())
        if name in names:
            problem((*loc, "name"), f"{name!r} is also destinations[{names[name]}]")
        elif not errors:
            names[name] = i
            out.destinations.append({**entry, "name": name})


def _workflows(items: list[Any], problem: Problem, out: Setup) -> None:
    keys: dict[str, int] = {}
    for i, flow in enumerate(items):
        loc: Loc = ("workflows", i)
        errors = workflow_errors(flow)
        for where, message in errors:
            problem((*loc, *where), message)
        if errors:
            continue
        if flow["key"] in keys:
            problem((*loc, "key"), f"{flow['key']!r} is also workflows[{keys[flow['key']]}]")
            continue
        keys[flow["key"]] = i
        out.workflows.append(flow)


def _sources(items: list[Any], problem: Problem, out: Setup) -> None:
    names: dict[str, int] = {}
    for i, source in enumerate(items):
        loc: Loc = ("sources", i)
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
        out.sources.append({"name": name, "template": template, "config": config})


def load(text: str) -> Setup:
    """Parse and validate a setup file; :class:`SetupError` lists every problem."""
    doc = parse(text)
    problems: list[str] = []

    def problem(loc: Loc, message: str) -> None:
        problems.append(f"{doc.where(loc)}: {message}")

    if not isinstance(doc.data, dict):
        raise SetupError([f"line 1: the file must be a mapping with {', '.join(SECTIONS)}"])
    for key in doc.data:
        if key not in SECTIONS:
            problem((key,), f"unknown key (expected {', '.join(SECTIONS)})")
    setup = Setup(doc=doc)
    _owners(_section(doc.data, "owners", problem), problem, setup)
    _destinations(_section(doc.data, "destinations", problem), problem, setup)
    _workflows(_section(doc.data, "workflows", problem), problem, setup)
    _sources(_section(doc.data, "sources", problem), problem, setup)
    if problems:
        raise SetupError(problems)
    return setup
