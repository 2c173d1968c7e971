"""Console sign-in: single-use links and sessions. Tokens are 256-bit random values;
only their SHA-256 hashes are stored (a lookup by hash of a random token leaks nothing
an attacker could time)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from claybridge.ids import new_id
from claybridge.records.api_keys import check_role
from claybridge.security import hash_secret
from claybridge.storage.tables import console_links, console_sessions

LINK_LIFETIME = timedelta(minutes=10)


def create_link(conn: sa.Connection, role: str, now: datetime) -> str:
    """A sign-in token for ``role``, valid once within :data:`LINK_LIFETIME`."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        console_links.insert().values(
            id=new_id("lnk"),
            token_hash=hash_secret(token),
            role=check_role(role),
            created_at=now,
            expires_at=now + LINK_LIFETIME,
            used_at=None,
        )
    )
    return token


def redeem_link(conn: sa.Connection, token: str, now: datetime) -> str | None:
    """Use a sign-in token: its role, or ``None`` if it is unknown, used or expired. One
    conditional UPDATE, so two requests racing with the same link cannot both win."""
    digest = hash_secret(token)
    used = conn.execute(
        console_links.update()
        .where(
            console_links.c.token_hash == digest,
            console_links.c.used_at.is_(None),
            console_links.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if not used.rowcount:
        return None
    role = conn.execute(
        sa.select(console_links.c.role).where(console_links.c.token_hash == digest)
    ).scalar_one()
    return str(role)


def open_session(
    conn: sa.Connection, role: str, opened_by: str, now: datetime, lifetime: timedelta
) -> str:
    """A new session for ``role``; returns the cookie token (stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        console_sessions.insert().values(
            id=new_id("ses"),
            token_hash=hash_secret(token),
            role=check_role(role),
            csrf_token=secrets.token_urlsafe(32),
            opened_by=opened_by[:200],
            created_at=now,
            expires_at=now + lifetime,
            ended_at=None,
        )
    )
    return token


def live_session(conn: sa.Connection, token: str, now: datetime) -> dict[str, Any] | None:
    """The open, unexpired session of a cookie token, or ``None``."""
    row = conn.execute(
        sa.select(console_sessions).where(
            console_sessions.c.token_hash == hash_secret(token),
            console_sessions.c.ended_at.is_(None),
            console_sessions.c.expires_at > now,
        )
    ).first()
    return None if row is None else dict(row._mapping)


def end_session(conn: sa.Connection, session_id: str, now: datetime) -> None:
    """Sign out: the session's cookie stops working at once."""
    conn.execute(
        console_sessions.update().where(console_sessions.c.id == session_id).values(ended_at=now)
    )
