"""Applying a setup to the database: what changes, field by field, all or nothing.

Contract: :func:`apply_setup` first checks everything it can without writing (the
``${VAR}`` references, and that each mapping and workflow step names a destination or
workflow that exists or that the file creates), then applies owners, destinations,
workflows and sources in that order in the caller's transaction (a failure rolls all
of it back). Running it again with the same file and environment changes nothing.
Records the file does not mention are left as they are. Tokens are never read from or
written to the file: a source created here gets a new token, returned once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.core.destination_spec import GENERATE, DestinationSpec
from claybridge.core.ssrf import Network
from claybridge.diff import changes as diff
from claybridge.errors import ClaybridgeError
from claybridge.mapping.model import parse_config
from claybridge.records import destinations, owners, references, sources, workflows
from claybridge.secretbox import MASK, SecretBox
from claybridge.setup import pool, secrets
from claybridge.setup.document import SetupError
from claybridge.setup.model import Setup, as_spec
from claybridge.storage.tables import destinations as destinations_table
from claybridge.storage.tables import owners as owners_table
from claybridge.storage.tables import sources as sources_table
from claybridge.storage.tables import workflows as workflows_table

SECRET_FIELDS = ("url", "signing_secret", "auth_header_value")


@dataclass
class Outcome:
    """What applying did (or would do): one line per change, field by field."""

    changes: list[str] = field(default_factory=list)
    unchanged: int = 0
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> key, token
    signing_secrets: dict[str, str] = field(default_factory=dict)  # generated, shown once


@dataclass
class Context:
    """What applying needs besides the setup."""

    conn: sa.Connection
    now: datetime
    box: SecretBox
    dry_run: bool
    allow: Sequence[Network] = ()
    environ: Mapping[str, str] = field(default_factory=dict)


def _resolve(entry: dict[str, Any], exists: bool, environ: Mapping[str, str]) -> dict[str, Any]:
    """``entry`` with its ``${VAR}`` secrets read; an unset variable keeps the stored
    secret of an existing destination (the mask), and is refused for a new one."""

    def one(value: Any, where: str) -> Any:
        if not isinstance(value, str) or not secrets.names(value):
            return value
        try:
            return secrets.resolve(value, environ)
        except secrets.Unset as unset:
            if exists:
                return MASK
            raise ClaybridgeError(
                f"${{{unset.name}}} is not set in the environment", field=where
            ) from None

    out = {k: one(v, k) if k in SECRET_FIELDS else v for k, v in entry.items()}
    if isinstance(entry.get("headers"), dict):
        out["headers"] = {k: one(v, f"headers.{k}") for k, v in entry["headers"].items()}
    if isinstance(entry.get("webhooks"), list):
        out["webhooks"] = [
            {k: one(v, f"webhooks[{j}].{k}") if k in SECRET_FIELDS else v for k, v in hook.items()}
            for j, hook in enumerate(entry["webhooks"])
        ]
    return out


def _existing(
    conn: sa.Connection, table: sa.Table, column: str, value: str
) -> dict[str, Any] | None:
    row = conn.execute(sa.select(table).where(table.c[column] == value)).first()
    return None if row is None else dict(row._mapping)


def _check(ctx: Context, setup: Setup) -> list[dict[str, Any]]:
    """Every problem found before writing, with its line; returns the destinations with
    their secrets read."""
    problems: list[str] = []
    resolved = []
    for i, entry in enumerate(setup.destinations):
        exists = _existing(ctx.conn, destinations_table, "name", entry["name"]) is not None
        try:
            resolved.append(_resolve(entry, exists, ctx.environ))
        except ClaybridgeError as exc:
            loc = ("destinations", i, *_loc(exc.field or ""))
            problems.append(f"{setup.doc.where(loc)}: {exc.message}")
    exist = references.known(ctx.conn)
    exist[references.DESTINATION] |= {d["name"] for d in setup.destinations}
    exist[references.WORKFLOW] |= {w["key"] for w in setup.workflows}
    refs: list[tuple[tuple[Any, ...], references.Reference]] = []
    for i, flow in enumerate(setup.workflows):
        refs += [(("workflows", i), r) for r in references.in_steps(workflows.validate(flow))]
    for i, source in enumerate(setup.sources):
        config = parse_config(source["config"])
        refs += [(("sources", i, "config"), r) for r in references.in_config(config)]
    for prefix, ref in refs:
        for error in references.missing([ref], exist):
            message = error.message.removeprefix(f"{ref.field}: ")
            problems.append(f"{setup.doc.where((*prefix, *ref.loc))}: {message}")
    if problems:
        raise SetupError(problems)
    return resolved


def _loc(dotted: str) -> tuple[Any, ...]:
    out: list[Any] = []
    for part in dotted.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdigit() else part)
    return tuple(out)


def apply_setup(ctx: Context, setup: Setup) -> Outcome:
    """Bring the database in line with ``setup`` (see the module docstring)."""
    resolved = _check(ctx, setup)
    outcome = Outcome()
    for owner in setup.owners:
        _owner(ctx, owner, outcome)
    for entry in resolved:
        _destination(ctx, entry, outcome)
    for flow in setup.workflows:
        _workflow(ctx, flow, outcome)
    for source in setup.sources:
        _source(ctx, source, outcome)
    return outcome


def _owner(ctx: Context, owner: dict[str, str], outcome: Outcome) -> None:
    existing = _existing(ctx.conn, owners_table, "email", owner["email"])
    if existing is None:
        outcome.changes.append(f"+ owner {owner['email']} ({owner['name']})")
        if not ctx.dry_run:
            owners.add(ctx.conn, owner["name"], owner["email"], ctx.now)
    elif existing["name"] != owner["name"]:
        outcome.changes.append(
            f"~ owner {owner['email']}: name {existing['name']!r} -> {owner['name']!r}"
        )
        if not ctx.dry_run:
            owners.rename(ctx.conn, existing["id"], owner["name"])
    else:
        outcome.unchanged += 1


def _destination(ctx: Context, entry: dict[str, Any], outcome: Outcome) -> None:
    found = _existing(ctx.conn, destinations_table, "name", entry["name"])
    hooks = entry.get("webhooks") or []
    if found is None:
        outcome.changes.append(f"+ destination {entry['name']} ({entry['kind']})")
        if not ctx.dry_run:
            made, shown = destinations.create(ctx.conn, as_spec(entry), ctx.now, ctx.box, ctx.allow)
            pool.extend(ctx, made, hooks)
            _show_once(outcome, entry["name"], shown)
        return
    row = destinations.Destination.of(found)
    if entry.get("signing_secret") == GENERATE and row.signing_secret:
        entry = {**entry, "signing_secret": MASK}  # keep the one generated before
    lines = _destination_changes(ctx, row, entry) + pool.differences(ctx, row, hooks)
    if not lines:
        outcome.unchanged += 1
        return
    outcome.changes += [f"~ destination {entry['name']}: {line}" for line in lines]
    if not ctx.dry_run:
        spec = as_spec(entry)
        _, shown = destinations.update(ctx.conn, row.id, spec, ctx.now, ctx.box, ctx.allow)
        pool.sync(ctx, row, hooks)
        _show_once(outcome, entry["name"], shown)


def _destination_changes(
    ctx: Context, row: destinations.Destination, entry: dict[str, Any]
) -> list[str]:
    """The stored destination's settings against the file's, field by field (a Clay
    destination's webhooks are compared by ``pool``)."""
    before, after = _clear_spec(ctx, None, row), _clear_spec(ctx, as_spec(entry), row)
    if row.kind == "clay":
        for key in ("url", "auth_header_name", "auth_header_value"):
            before.pop(key, None)
            after.pop(key, None)
    return [_hide(line) for line in diff(before, after)]


def _show_once(outcome: Outcome, name: str, secret: str | None) -> None:
    if secret:
        outcome.signing_secrets[name] = secret


def _clear_spec(
    ctx: Context, data: dict[str, Any] | None, row: destinations.Destination
) -> dict[str, Any]:
    """A destination's settings (``data`` over the stored ones; ``None``: the stored
    ones) with secrets in clear (masked ones: the stored value), defaults filled in, so
    that equal settings compare equal."""
    stored = destinations.spec_of(row)
    spec = stored if data is None else {**stored, **data}
    clear = dict(spec)
    decrypt = ctx.box.decrypt
    if clear.get("url") == MASK:
        clear["url"] = decrypt(row.url)
    if clear.get("signing_secret") == MASK:
        clear["signing_secret"] = decrypt(row.signing_secret) if row.signing_secret else None
    headers = {k.lower(): v for k, v in row.headers.items()}
    clear["headers"] = {
        k: decrypt(headers[k.lower()]) if v == MASK and k.lower() in headers else v
        for k, v in (clear.get("headers") or {}).items()
    }
    return DestinationSpec.model_validate(clear).model_dump(exclude_none=True)


def _hide(line: str) -> str:
    """A diff line with a secret's values left out."""
    path = line.split(":", 1)[0]
    if path in ("url", "signing_secret", "auth_header_value") or path.startswith("headers."):
        return f"{path}: changed (secret)"
    return line


def _workflow(ctx: Context, flow: dict[str, Any], outcome: Outcome) -> None:
    spec = workflows.validate(flow)
    wanted = {
        "name": spec.name or spec.key,
        "description": spec.description,
        "steps": [s.model_dump(exclude_none=True) for s in spec.steps],
    }
    found = _existing(ctx.conn, workflows_table, "key", spec.key)
    if found is None:
        outcome.changes.append(f"+ workflow {spec.key}")
    else:
        lines = diff({k: found[k] for k in wanted}, wanted)
        if not lines:
            outcome.unchanged += 1
            return
        outcome.changes += [f"~ workflow {spec.key}: {line}" for line in lines]
    if not ctx.dry_run:
        workflows.save(ctx.conn, flow, ctx.now)


def _comparable(config: dict[str, Any], stored: dict[str, Any] | None, box: SecretBox) -> Any:
    """A configuration in a form where equal settings compare equal (secrets in clear)."""
    data = parse_config(config).model_dump(exclude_defaults=True, exclude_none=True)
    given = (data.get("signature") or {}).get("secrets")
    if given:
        before = ((stored or {}).get("signature") or {}).get("secrets") or []
        clear = []
        for i, secret in enumerate(given):
            if secret == MASK and i < len(before):
                secret = before[i]
            clear.append(box.decrypt(secret))
        data["signature"] = {**data["signature"], "secrets": clear}
    return data


def _source(ctx: Context, source: dict[str, Any], outcome: Outcome) -> None:
    found = _existing(ctx.conn, sources_table, "name", source["name"])
    if found is None:
        outcome.changes.append(f"+ source {source['name']} ({source['template']})")
        if not ctx.dry_run:
            created, token = sources.create(
                ctx.conn,
                source["name"],
                source["template"],
                ctx.now,
                config=source["config"],
                box=ctx.box,
            )
            outcome.tokens[source["name"]] = {"key": created.key, "token": token}
        return
    row = sources.Source.of(found)
    stored = sources.config_data(row)
    lines = [
        f"config.{line}"
        if not line.startswith("signature.secrets")
        else "config.signature.secrets: changed (secret)"
        for line in diff(
            _comparable(stored, stored, ctx.box), _comparable(source["config"], stored, ctx.box)
        )
    ]
    if row.template != source["template"]:
        lines.append(f"template: {row.template!r} -> {source['template']!r}")
    if not lines:
        outcome.unchanged += 1
        return
    outcome.changes += [f"~ source {source['name']}: {line}" for line in dict.fromkeys(lines)]
    if not ctx.dry_run:
        sources.set_config(ctx.conn, row.id, source["config"], ctx.now, box=ctx.box)
        if row.template != source["template"]:
            ctx.conn.execute(
                sources_table.update()
                .where(sources_table.c.id == row.id)
                .values(template=source["template"])
            )
