"""Admin API keys: ``cbk_<prefix>_<secret>``, found by prefix, checked by hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.errors import InvalidField, MissingField, NotFound
from claybridge.ids import new_id
from claybridge.security import api_key_prefix, hash_secret, matches, new_api_key
from claybridge.storage.tables import api_keys

ADMIN = "admin"  # everything
VIEWER = "viewer"  # reads only: every write is refused with 403
ROLES = (ADMIN, VIEWER)


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`; 422 ``invalid_field`` otherwise."""
    if role not in ROLES:
        raise InvalidField(f"role must be one of {', '.join(ROLES)}", field="role")
    return role


def create(
    conn: sa.Connection, name: str, now: datetime, role: str = ADMIN
) -> tuple[dict[str, Any], str]:
    """A new key; returns its row and the plaintext (shown once, stored as a hash)."""
    clean = " ".join((name or "").split())
    if not clean:
        raise MissingField("name is required", field="name")
    key, prefix = new_api_key()
    row = {
        "id": new_id("key"),
        "name": clean,
        "prefix": prefix,
        "role": check_role(role),
        "key_hash": hash_secret(key),
        "created_at": now,
        "revoked_at": None,
    }
    conn.execute(api_keys.insert().values(**row))
    return row, key


def verify(conn: sa.Connection, presented: str | None) -> dict[str, Any] | None:
    """The live key ``presented`` is, or ``None``; the hash is compared in constant time."""
    prefix = api_key_prefix(presented) if presented else None
    if prefix is None:
        return None
    row = conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix)).first()
    if row is None or row.revoked_at is not None or not matches(presented, row.key_hash):
        return None
    return dict(row._mapping)


def list_all(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every key (never the secret), oldest first."""
    return [dict(r._mapping) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.id))]


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A key as the CLI lists it: never its secret or hash."""
    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "prefix": f"cbk_{row['prefix']}_",
        "created_at": row["created_at"].isoformat(),
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
    }


def revoke(conn: sa.Connection, ref: str, now: datetime) -> dict[str, Any]:
    """Revoke a key by id or prefix; it stops working at once."""
    row = conn.execute(
        sa.select(api_keys).where(sa.or_(api_keys.c.id == ref, api_keys.c.prefix == ref))
    ).first()
    if row is None:
        raise NotFound(f"no API key {ref!r}")
    conn.execute(api_keys.update().where(api_keys.c.id == row.id).values(revoked_at=now))
    return {**dict(row._mapping), "revoked_at": now}
