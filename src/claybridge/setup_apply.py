"""Applying a setup file to the database: what changes, and doing it in one transaction.

Contract: :func:`apply_setup` computes every change first, then (unless ``dry_run``)
applies them all in the caller's transaction, so a file is applied whole or not at all.
Running it again with the same file changes nothing. Tokens are never read from or
written to the file: a source created here gets a new token, returned once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.mapping.model import parse_config
from claybridge.records import owners, sources, workflows
from claybridge.secretbox import MASK, SecretBox
from claybridge.setup_file import Setup
from claybridge.storage.tables import owners as owners_table
from claybridge.storage.tables import sources as sources_table
from claybridge.storage.tables import workflows as workflows_table


@dataclass
class Outcome:
    """What applying did (or would do)."""

    changes: list[str] = field(default_factory=list)
    unchanged: int = 0
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> key, token


def _comparable(config: dict[str, Any], stored: dict[str, Any] | None, box: SecretBox) -> Any:
    """A configuration in a form where equal settings compare equal (secrets in clear)."""
    data = parse_config(config).model_dump(exclude_defaults=True, exclude_none=True)
    secrets = (data.get("signature") or {}).get("secrets")
    if secrets:
        before = ((stored or {}).get("signature") or {}).get("secrets") or []
        clear = []
        for i, secret in enumerate(secrets):
            if secret == MASK and i < len(before):
                secret = before[i]
            clear.append(box.decrypt(secret))
        data["signature"] = {**data["signature"], "secrets": clear}
    return data


def apply_setup(
    conn: sa.Connection, setup: Setup, *, now: datetime, box: SecretBox, dry_run: bool
) -> Outcome:
    """Bring owners and sources in line with ``setup`` (see the module docstring)."""
    outcome = Outcome()
    for owner in setup.owners:
        existing = conn.execute(
            sa.select(owners_table).where(owners_table.c.email == owner["email"])
        ).first()
        if existing is None:
            outcome.changes.append(f"+ owner {owner['email']} ({owner['name']})")
            if not dry_run:
                owners.add(conn, owner["name"], owner["email"], now)
        elif existing.name != owner["name"]:
            outcome.changes.append(
                f"~ owner {owner['email']}: name {existing.name!r} -> {owner['name']!r}"
            )
            if not dry_run:
                owners.rename(conn, existing.id, owner["name"])
        else:
            outcome.unchanged += 1
    for source in setup.sources:
        row = conn.execute(
            sa.select(sources_table).where(sources_table.c.name == source["name"])
        ).first()
        if row is None:
            outcome.changes.append(f"+ source {source['name']} ({source['template']})")
            if not dry_run:
                created, token = sources.create(
                    conn,
                    source["name"],
                    source["template"],
                    now,
                    config=source["config"],
                    box=box,
                )
                outcome.tokens[source["name"]] = {"key": created["key"], "token": token}
            continue
        current = dict(row._mapping)
        stored = sources.config_data(current)
        same_config = _comparable(source["config"], stored, box) == _comparable(stored, stored, box)
        if same_config and current["template"] == source["template"]:
            outcome.unchanged += 1
            continue
        what = "config" if not same_config else "template"
        outcome.changes.append(f"~ source {source['name']}: {what} changed")
        if not dry_run:
            sources.set_config(conn, current["id"], source["config"], now, box=box)
            if current["template"] != source["template"]:
                conn.execute(
                    sources_table.update()
                    .where(sources_table.c.id == current["id"])
                    .values(template=source["template"])
                )
    for flow in setup.workflows:
        spec = workflows.validate(flow)
        wanted = {
            "name": spec.name or spec.key,
            "description": spec.description,
            "steps": [s.model_dump(exclude_none=True) for s in spec.steps],
        }
        found = conn.execute(
            sa.select(workflows_table).where(workflows_table.c.key == spec.key)
        ).first()
        if found is None:
            outcome.changes.append(f"+ workflow {spec.key}")
        elif {k: getattr(found, k) for k in wanted} != wanted:
            outcome.changes.append(f"~ workflow {spec.key}: changed")
        else:
            outcome.unchanged += 1
            continue
        if not dry_run:
            workflows.save(conn, flow, now)
    return outcome
