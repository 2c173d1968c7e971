"""Writing a database's setup as a setup file that ``apply`` rebuilds it from.

No secret is written: a destination's URL, secret headers, signing secret and Clay
webhook URLs and auth values become ``${VAR}`` references (named after the destination),
listed at the top of the file; a source's signing secrets are masked. Settings equal to
their defaults are left out.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import yaml

from claybridge.core.clay_rules import ClayOptions
from claybridge.core.destination_spec import DestinationSpec
from claybridge.records import clay, destinations, owners, sources, workflows
from claybridge.records.destinations import Destination
from claybridge.redact import is_secret_name
from claybridge.secretbox import SecretBox
from claybridge.setup.secrets import names, reference

DEFAULTS = DestinationSpec.model_validate({"name": "x", "kind": "http", "url": "x"}).model_dump()


def _destination(row: Destination, box: SecretBox, conn: sa.Connection) -> dict[str, Any]:
    spec = destinations.spec_of(row)
    name = row.name
    out: dict[str, Any] = {"name": name, "kind": row.kind}
    written_apart = ("name", "kind", "url", "headers", "signing_secret", "clay")
    for key, value in spec.items():
        if key not in written_apart and value != DEFAULTS.get(key):
            out[key] = value
    if row.kind != "clay":
        out["url"] = reference(name, "url")
    if row.headers:
        out["headers"] = {
            header: reference(name, header) if is_secret_name(header) else box.decrypt(value)
            for header, value in sorted(row.headers.items())
        }
    if row.signing_secret:
        out["signing_secret"] = reference(name, "signing_secret")
    if row.kind == "clay":
        clay_options = ClayOptions.model_validate(row.clay or {})
        out["clay"] = clay_options.model_dump(exclude_defaults=True)
        out["webhooks"] = [_webhook(name, hook) for hook in clay.webhooks(conn, row.id)]
    return out


def _webhook(name: str, hook: dict[str, Any]) -> dict[str, Any]:
    position = str(hook["position"])
    out: dict[str, Any] = {"url": reference(name, "webhook", position, "url")}
    if hook["auth_header_name"]:
        out["auth_header_name"] = hook["auth_header_name"]
        out["auth_header_value"] = reference(name, "webhook", position, "auth")
    out["submission_limit"] = hook["submission_limit"]
    return out


def export(conn: sa.Connection, box: SecretBox) -> str:
    """The setup file for everything in the database (see the module docstring)."""
    data: dict[str, Any] = {
        "owners": [{"name": o["name"], "email": o["email"]} for o in owners.list_all(conn)],
        "destinations": [_destination(r, box, conn) for r in destinations.list_all(conn)],
        "workflows": [
            {
                "key": w["key"],
                "name": w["name"],
                **({"description": w["description"]} if w.get("description") else {}),
                "steps": workflows.public(w)["steps"],
            }
            for w in workflows.list_all(conn)
        ],
        "sources": [
            {"name": s.name, "template": s.template, "config": sources.display_config(s)}
            for s in sources.list_all(conn)
        ],
    }
    data = {k: v for k, v in data.items() if v}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return header(variables(data)) + text


def variables(data: Any) -> list[str]:
    """Every ``${VAR}`` the exported data refers to, in order."""
    found: dict[str, None] = {}
    if isinstance(data, dict):
        for value in data.values():
            found.update(dict.fromkeys(variables(value)))
    elif isinstance(data, list):
        for value in data:
            found.update(dict.fromkeys(variables(value)))
    elif isinstance(data, str):
        found.update(dict.fromkeys(names(data)))
    return list(found)


def header(needed: list[str]) -> str:
    """The comment that opens an exported file."""
    lines = [
        "# Claybridge setup, written by `claybridge export`; rebuild with `claybridge apply -f`."
    ]
    if needed:
        lines.append("# Secrets are references: set these variables before applying it elsewhere")
        lines.append(
            "# (where a destination exists already, an unset one keeps its stored secret):"
        )
        lines += [f"#   {name}" for name in needed]
    return "\n".join(lines) + "\n"
