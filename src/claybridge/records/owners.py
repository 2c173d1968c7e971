"""Owners: the team members ``owner`` (display name) and ``ownerEmail`` resolve to."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from claybridge.core import coerce
from claybridge.errors import (
    AmbiguousOwner,
    ClaybridgeError,
    Conflict,
    InvalidField,
    MissingField,
    NotFound,
    UnknownOwner,
)
from claybridge.ids import new_id
from claybridge.storage.prepared import Prepared
from claybridge.storage.tables import owners


def name_key(name: str) -> str:
    """The form names are matched in: inner spaces collapsed, case folded."""
    return " ".join(name.split()).casefold()


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An owner as the API and CLI show it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "created_at": row["created_at"].isoformat(),
    }


def _validate(name: str | None, email: str | None) -> tuple[str, str]:
    clean_name = " ".join((name or "").split())
    if not clean_name:
        raise MissingField("name is required", field="name")
    if len(clean_name) > 200:
        raise InvalidField("name is longer than 200 characters", field="name")
    try:
        clean_email = coerce.email(email)
    except ValueError as exc:
        raise InvalidField(str(exc), field="email") from None
    if clean_email is None:
        raise MissingField("email is required", field="email")
    return clean_name, clean_email


def add(conn: sa.Connection, name: str, email: str, now: datetime) -> dict[str, Any]:
    """Register an owner; :class:`Conflict` if the email is taken."""
    clean_name, clean_email = _validate(name, email)
    if conn.execute(sa.select(owners.c.id).where(owners.c.email == clean_email)).first():
        raise Conflict(f"an owner with email {clean_email} already exists", field="email")
    row = {
        "id": new_id("own"),
        "name": clean_name,
        "name_key": name_key(clean_name),
        "email": clean_email,
        "created_at": now,
    }
    conn.execute(owners.insert().values(**row))
    return row


def list_all(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every owner, by name."""
    return [dict(r._mapping) for r in conn.execute(sa.select(owners).order_by(owners.c.name_key))]


def find(conn: sa.Connection, ref: str) -> dict[str, Any]:
    """An owner by id or email; :class:`NotFound` otherwise."""
    cond = owners.c.id == ref if ref.startswith("own_") else owners.c.email == ref.strip().lower()
    row = conn.execute(sa.select(owners).where(cond)).first()
    if row is None:
        raise NotFound(f"no owner {ref!r}")
    return dict(row._mapping)


def get(conn: sa.Connection, owner_id: str) -> dict[str, Any] | None:
    """An owner by id, or ``None``."""
    row = conn.execute(_BY_ID, {"id": owner_id}).first()
    return dict(row._mapping) if row else None


def rename(conn: sa.Connection, owner_id: str, name: str) -> None:
    """Change an owner's display name (and the form it is matched in)."""
    conn.execute(
        owners.update().where(owners.c.id == owner_id).values(name=name, name_key=name_key(name))
    )


def remove(conn: sa.Connection, ref: str) -> dict[str, Any]:
    """Delete an owner; customers they owned keep no owner."""
    row = find(conn, ref)
    conn.execute(owners.delete().where(owners.c.id == row["id"]))
    return row


# Prepared: the ingest path resolves an owner once per batch (see ingest.pipeline).
_BY_EMAIL = Prepared(
    sa.select(owners).where(owners.c.email == sa.bindparam("email")),
    ["email"],
    returning=list(owners.c),
)
_BY_NAME_KEY = Prepared(
    sa.select(owners).where(owners.c.name_key == sa.bindparam("name_key")).limit(2),
    ["name_key"],
    returning=list(owners.c),
)
_BY_ID = sa.select(owners).where(owners.c.id == sa.bindparam("id"))


def resolve(conn: sa.Connection, *, name: str | None, email: str | None) -> dict[str, Any] | None:
    """The owner an ``ownerEmail`` (preferred) or ``owner`` names, or ``None`` if neither.

    Raises :class:`UnknownOwner` when nothing matches and :class:`AmbiguousOwner` when a
    display name matches several owners (the message says to send ``ownerEmail``).
    """
    if email is not None:
        row = _BY_EMAIL.execute(conn, {"email": email})
        if row is None:
            raise UnknownOwner(f"no owner has the email {email}", field="ownerEmail")
        return row
    if name is None:
        return None
    rows = _BY_NAME_KEY.all(conn, {"name_key": name_key(name)})
    if not rows:
        raise UnknownOwner(f"no owner is named {name!r}", field="owner")
    if len(rows) > 1:
        raise AmbiguousOwner(
            f"several owners are named {name!r}; send ownerEmail instead to pick one",
            field="owner",
        )
    return rows[0]


@dataclass(frozen=True)
class ImportResult:
    """What ``import_csv`` did."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]


def parse_csv(text: str) -> list[tuple[int, str, str]]:
    """Rows ``(line, name, email)`` of a CSV with ``name`` and ``email`` headers.

    Every bad row is reported at once, by line number, in one :class:`ClaybridgeError`.
    """
    reader = csv.DictReader(io.StringIO(text))
    headers = {h.strip().lower(): h for h in (reader.fieldnames or [])}
    if "name" not in headers or "email" not in headers:
        raise ClaybridgeError(
            "the CSV needs a header row with name and email columns", code="invalid_csv"
        )
    rows: list[tuple[int, str, str]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        try:
            name, email = _validate(record.get(headers["name"]), record.get(headers["email"]))
        except ClaybridgeError as exc:
            problems.append(f"line {line}: {exc.message}")
            continue
        if email in seen:
            problems.append(f"line {line}: {email} is also on line {seen[email]}")
            continue
        seen[email] = line
        rows.append((line, name, email))
    if problems:
        raise ClaybridgeError("; ".join(problems), code="invalid_csv")
    return rows


def import_csv(conn: sa.Connection, text: str, now: datetime) -> ImportResult:
    """Add or rename owners from CSV, matched by email. All rows or none."""
    result = ImportResult([], [], [])
    for _line, name, email in parse_csv(text):
        existing = conn.execute(sa.select(owners).where(owners.c.email == email)).first()
        if existing is None:
            add(conn, name, email, now)
            result.added.append(email)
        elif existing.name != name:
            rename(conn, existing.id, name)
            result.updated.append(email)
        else:
            result.unchanged.append(email)
    return result
