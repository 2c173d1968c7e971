"""Sources: inbound endpoints Clay posts to, and their bearer tokens.

A token is shown once when made; only its SHA-256 is stored. Rotating replaces the hash
(the old token fails at once); disconnecting removes it (every request answers 401
saying so) until the token is rotated again, which reconnects the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import Conflict, InvalidField, MissingField, NotFound
from claybridge.ids import new_id
from claybridge.mapping.model import SourceConfig, parse_config
from claybridge.records import references
from claybridge.secretbox import MASK, SecretBox
from claybridge.secretbox import PREFIX as SECRET_PREFIX
from claybridge.security import hash_secret, new_source_key, new_source_token
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import sources
from claybridge.templates import TEMPLATES

ACTIVE = "active"
DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class Source:
    """A source as stored (its token only as a hash)."""

    id: str
    key: str
    name: str
    template: str
    token_hash: str | None  # None once disconnected
    token_hint: str | None  # the token's last characters, to recognise it
    previous_token_hash: str | None  # the token before the last rotation
    status: str
    created_at: datetime
    updated_at: datetime
    token_rotated_at: datetime | None
    disconnected_at: datetime | None
    config: dict[str, Any] | None  # None: the template's configuration

    @classmethod
    def of(cls, row: Mapping[str, Any] | sa.RowMapping) -> Source:
        """The source of a row of the ``sources`` table."""
        return cls(**{name: row[name] for name in _FIELDS})


_FIELDS = tuple(Source.__dataclass_fields__)


def config_data(source: Source) -> dict[str, Any]:
    """The source's configuration as stored, or its template's when none is stored.

    Signing secrets are in their stored (encrypted) form.
    """
    stored = source.config
    return dict(stored) if stored else dict(TEMPLATES[source.template].config)


def display_config(source: Source) -> dict[str, Any]:
    """The configuration as shown by the API, CLI and export: secrets masked, settings
    at their defaults left out, in one order whichever database stored it (PostgreSQL's
    JSONB does not keep key order): events, and each action's fields, by name."""
    data = parse_config(config_data(source)).model_dump(exclude_defaults=True, exclude_none=True)
    mappings = data.get("mappings") or {}
    for actions in mappings.values():
        for action in actions:
            if isinstance(action.get("fields"), dict):
                action["fields"] = dict(sorted(action["fields"].items()))
    if mappings:
        data["mappings"] = dict(sorted(mappings.items()))
    signature = data.get("signature")
    if signature and signature.get("secrets"):
        data["signature"] = {**signature, "secrets": [MASK for _ in signature["secrets"]]}
    return data


def _stored(
    config: SourceConfig, previous: dict[str, Any] | None, box: SecretBox | None
) -> dict[str, Any]:
    """The configuration to store: secrets encrypted; a masked secret keeps the stored one."""
    data = config.model_dump(exclude_defaults=True, exclude_none=True)
    secrets = config.signature.secrets
    if not secrets:
        return data
    before = ((previous or {}).get("signature") or {}).get("secrets") or []
    stored: list[str] = []
    for index, secret in enumerate(secrets):
        if secret == MASK:
            if index >= len(before):
                raise InvalidField(
                    f"signature.secrets[{index}] is masked but no secret is stored there; "
                    "send the secret itself",
                    field=f"signature.secrets[{index}]",
                )
            stored.append(before[index])
        elif secret.startswith(SECRET_PREFIX):
            stored.append(secret)
        else:
            if box is None:
                raise RuntimeError("a SecretBox is needed to store signing secrets")
            stored.append(box.encrypt(secret))
    data["signature"] = {**data["signature"], "secrets": stored}
    return data


def set_config(
    conn: sa.Connection,
    ref: str,
    data: dict[str, Any],
    now: datetime,
    box: SecretBox | None = None,
) -> Source:
    """Validate and store a new configuration; :class:`InvalidField` names the bad key."""
    config = parse_config(data)
    row = find(conn, ref)
    references.check(conn, references.in_config(config))
    return _changed(conn, row, config=_stored(config, row.config, box), updated_at=now)


def _changed(conn: sa.Connection, row: Source, **values: Any) -> Source:
    """``row`` with ``values`` stored."""
    conn.execute(sources.update().where(sources.c.id == row.id).values(**values))
    return replace(row, **values)


def create(
    conn: sa.Connection,
    name: str,
    template: str,
    now: datetime,
    config: dict[str, Any] | None = None,
    box: SecretBox | None = None,
) -> tuple[Source, str]:
    """Create a source; returns it and its plaintext token (the only time it exists).

    ``config`` (validated) replaces the template's default configuration.
    """
    clean = " ".join((name or "").split())
    if not clean:
        raise MissingField("name is required", field="name")
    if len(clean) > 200:
        raise InvalidField("name is longer than 200 characters", field="name")
    if template not in TEMPLATES:
        known = ", ".join(sorted(TEMPLATES))
        raise InvalidField(f"unknown template {template!r}; known: {known}", field="template")
    stored = parse_config(config if config is not None else TEMPLATES[template].config)
    references.check(conn, references.in_config(stored))
    if conn.execute(sa.select(sources.c.id).where(sources.c.name == clean)).first():
        raise Conflict(f"a source named {clean!r} already exists", field="name")
    token = new_source_token()
    row = {
        "id": new_id("src"),
        "key": new_source_key(),
        "name": clean,
        "template": template,
        "token_hash": hash_secret(token),
        "token_hint": token[-4:],
        "previous_token_hash": None,
        "status": ACTIVE,
        "created_at": now,
        "updated_at": now,
        "token_rotated_at": None,
        "disconnected_at": None,
        "config": _stored(stored, None, box),
    }
    conn.execute(sources.insert().values(**row))
    return Source.of(row), token


def find(conn: sa.Connection, ref: str) -> Source:
    """A source by id, key or name; :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(sources).where(
            sa.or_(sources.c.id == ref, sources.c.key == ref, sources.c.name == ref)
        )
    ).first()
    if row is None:
        raise NotFound(f"no source {ref!r} (give its id, key or name)")
    return Source.of(row._mapping)


# Built once: the hot path binds parameters instead of building statements per request.
# Prepared: read once per ingest batch (see storage.prepared for why).
_BY_KEY = Prepared(
    sa.select(sources).where(sources.c.key == sa.bindparam("key")),
    ["key"],
    returning=list(sources.c),
)


def by_key(conn: sa.Connection, key: str) -> Source | None:
    """The source with ``key`` or ``None``: the ingest hot path's lookup."""
    row = _BY_KEY.execute(conn, {"key": key})
    return None if row is None else Source.of(row)


def list_all(conn: sa.Connection) -> list[Source]:
    """Every source, oldest first."""
    query = sa.select(sources).order_by(sources.c.id)
    return [Source.of(r._mapping) for r in conn.execute(query)]


def rotate_token(conn: sa.Connection, ref: str, now: datetime) -> tuple[Source, str]:
    """Give the source a new token (reconnecting it if disconnected); old one stops at once."""
    row = find(conn, ref)
    token = new_source_token()
    rotated = _changed(
        conn,
        row,
        token_hash=hash_secret(token),
        token_hint=token[-4:],
        previous_token_hash=row.token_hash or row.previous_token_hash,
        status=ACTIVE,
        token_rotated_at=now,
        disconnected_at=None,
        updated_at=now,
    )
    return rotated, token


def disconnect(conn: sa.Connection, ref: str, now: datetime) -> Source:
    """Revoke the source's token; requests answer 401 ``source_disconnected``."""
    row = find(conn, ref)
    return _changed(
        conn,
        row,
        token_hash=None,
        token_hint=None,
        status=DISCONNECTED,
        disconnected_at=now,
        updated_at=now,
    )


def update(conn: sa.Connection, ref: str, changes: dict[str, Any], now: datetime) -> Source:
    """Rename a source and/or change its routing settings (``event_path``,
    ``default_event``, ``strict``) or its ``idempotency`` section (merged into the
    stored one); the configuration is re-validated whole."""
    row = find(conn, ref)
    values: dict[str, Any] = {"updated_at": now}
    if "name" in changes:
        clean = " ".join(str(changes["name"] or "").split())
        if not clean:
            raise MissingField("name is required", field="name")
        taken = conn.execute(
            sa.select(sources.c.id).where(sources.c.name == clean, sources.c.id != row.id)
        ).first()
        if taken:
            raise Conflict(f"a source named {clean!r} already exists", field="name")
        values["name"] = clean
    routing: dict[str, Any] = {
        k: changes[k] for k in ("event_path", "default_event", "strict") if k in changes
    }
    if changes.get("idempotency") is not None:
        stored = config_data(row).get("idempotency") or {}
        routing["idempotency"] = {**stored, **changes["idempotency"]}
    if routing:
        config: dict[str, Any] = {**config_data(row), **routing}
        values["config"] = parse_config(config).model_dump(exclude_defaults=True, exclude_none=True)
    return _changed(conn, row, **values)


def set_mapping(
    conn: sa.Connection, ref: str, event: str, actions: list[Any], now: datetime
) -> Source:
    """Create or replace the mapping for ``event`` (validated with the whole config)."""
    row = find(conn, ref)
    config = config_data(row)
    config["mappings"] = {**config.get("mappings", {}), event: actions}
    return set_config(conn, row.id, config, now)


def delete_mapping(conn: sa.Connection, ref: str, event: str, now: datetime) -> Source:
    """Remove the mapping for ``event``; :class:`NotFound` if there is none."""
    row = find(conn, ref)
    config = config_data(row)
    mappings = dict(config.get("mappings", {}))
    if event not in mappings:
        raise NotFound(f"source {row.name!r} has no mapping for {event!r}")
    del mappings[event]
    config["mappings"] = mappings
    return set_config(conn, row.id, config, now)


def delete(conn: sa.Connection, ref: str) -> Source:
    """Delete a source and its event log; records it created stay (without a source)."""
    row = find(conn, ref)
    conn.execute(sources.delete().where(sources.c.id == row.id))
    return row
