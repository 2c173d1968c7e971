"""Destinations: where deliveries go. Queries, plus the secret handling around them.

Secrets at rest: the URL (a Slack webhook URL is a credential; an HTTP URL may carry a
key in its query) and every header value are stored encrypted (``claybridge.secretbox``)
and shown masked: the URL as ``url_hint`` (Slack paths and query values hidden), secret
headers (by name, as in ``claybridge.redact``) as ``********``. Sending a masked value
back in an update keeps the stored one. A generated signing secret is shown once.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from claybridge.core.destination_spec import GENERATE, DestinationSpec
from claybridge.core.schedule import DEFAULT_SCHEDULE
from claybridge.core.ssrf import Network, check_url
from claybridge.errors import Conflict, InvalidField, NotFound
from claybridge.ids import new_id
from claybridge.mapping.model import validated
from claybridge.records import clay, references
from claybridge.records.circuits import CLOSED, closed_circuit
from claybridge.secretbox import MASK, SecretBox
from claybridge.storage.tables import deliveries, destinations

ACTIVE = "active"
PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination as stored: its URL, header values and signing secret encrypted."""

    id: str
    name: str
    kind: str  # http | slack | zapier | clay
    url: str  # encrypted
    url_hint: str  # the URL as shown
    method: str
    headers: dict[str, str]  # values encrypted
    template: str | None
    signing_secret: str | None  # encrypted
    timeout_seconds: float
    rate_limit: float | None
    concurrency: int
    retry_schedule: list[float] | None  # None: the default schedule
    status: str
    status_reason: str | None
    circuit_state: str
    circuit_threshold: int
    circuit_cooldown_seconds: float
    consecutive_failures: int
    circuit_opened_at: datetime | None
    probe_at: datetime | None
    clay: dict[str, Any] | None  # a clay destination's options
    alerts: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Mapping[str, Any] | sa.RowMapping) -> Destination:
        """The destination of a row of the ``destinations`` table."""
        return cls(**{name: row[name] for name in _FIELDS})

    @property
    def schedule(self) -> list[float]:
        """The retry schedule in seconds: its own, or the default one."""
        return list(self.retry_schedule or DEFAULT_SCHEDULE)


_FIELDS = tuple(Destination.__dataclass_fields__)


def _masked(value: str | None) -> bool:
    return value is not None and (value == MASK or set(value) == {"*"})


def url_hint(kind: str, url: str) -> str:
    """The URL as shown: no credentials, Slack path and query values masked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    if kind == "slack":
        return urlunsplit((parts.scheme, netloc, "/" + MASK, "", ""))
    query = urlencode([(k, MASK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _validate(data: dict[str, Any]) -> DestinationSpec:
    return validated(DestinationSpec, data, code="invalid_field")


def new_signing_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _columns(
    spec: DestinationSpec,
    stored: Destination | None,
    box: SecretBox,
    allow: Sequence[Network],
) -> tuple[dict[str, Any], str | None]:
    """Column values for ``spec``; masked secrets keep ``stored``'s. Returns the values and
    a newly generated signing secret (to show once), if any."""
    if stored is not None and _masked(spec.url):
        url_enc, hint = stored.url, stored.url_hint
    else:
        url = check_url(spec.url, allow)
        url_enc, hint = box.encrypt(url), url_hint(spec.kind, url)
    headers = _stored_headers(spec.headers, stored, box)
    signing, shown = _stored_signing(spec.signing_secret, stored, box)
    schedule = [float(d) for d in spec.retry_schedule]
    values = {
        "name": spec.name,
        "kind": spec.kind,
        "url": url_enc,
        "url_hint": hint,
        "method": spec.method,
        "headers": headers,
        "template": spec.template,
        "signing_secret": signing,
        "timeout_seconds": spec.timeout_seconds,
        "rate_limit": spec.rate_limit,
        "concurrency": spec.concurrency,
        "retry_schedule": None if tuple(schedule) == DEFAULT_SCHEDULE else schedule,
        "circuit_threshold": spec.circuit_threshold,
        "circuit_cooldown_seconds": spec.circuit_cooldown,
        "status": ACTIVE if spec.enabled else PAUSED,
        "alerts": spec.alerts,
        "clay": spec.clay.model_dump() if spec.clay else None,
    }
    return values, shown


def _stored_headers(
    sent: dict[str, str], stored: Destination | None, box: SecretBox
) -> dict[str, str]:
    """Header values encrypted; a masked one keeps the stored value (matched by name,
    case-insensitively), and there must be one."""
    old = {k.lower(): v for k, v in (stored.headers if stored else {}).items()}
    headers: dict[str, str] = {}
    for name, value in sent.items():
        if not _masked(value):
            headers[name] = box.encrypt(value)
        elif name.lower() in old:
            headers[name] = old[name.lower()]
        else:
            raise InvalidField(f"headers.{name}: no stored value to keep", field=f"headers.{name}")
    return headers


def _stored_signing(
    secret: str | None, stored: Destination | None, box: SecretBox
) -> tuple[str | None, str | None]:
    """The signing secret to store (encrypted) and, when generated now, the secret to
    show once: ``generate`` makes one, the mask keeps the stored one."""
    if secret == GENERATE:
        shown = new_signing_secret()
        return box.encrypt(shown), shown
    if _masked(secret):
        return (stored.signing_secret if stored else None), None
    return (box.encrypt(secret) if secret else None), None


def create(
    conn: sa.Connection,
    data: dict[str, Any],
    now: datetime,
    box: SecretBox,
    allow: Sequence[Network] = (),
) -> tuple[Destination, str | None]:
    """Validate and store a destination; returns it and a generated signing secret.

    A ``clay`` destination takes ``webhook_url`` (or ``url``) and optionally both
    ``auth_header_name`` and ``auth_header_value`` (one without the other: 400); it
    becomes the first webhook of its pool.
    """
    if data.get("kind") == "clay":
        data = dict(data)
        if "webhook_url" in data:
            data["url"] = data.pop("webhook_url")
        clay.check_auth_pair(data.get("auth_header_name"), data.get("auth_header_value"))
    spec = _validate(data)
    if conn.execute(sa.select(destinations.c.id).where(destinations.c.name == spec.name)).first():
        raise Conflict(f"a destination named {spec.name!r} already exists", field="name")
    values, shown = _columns(spec, None, box, allow)
    row = {
        "id": new_id("dst"),
        **values,
        "status_reason": None,
        "circuit_state": CLOSED,
        "consecutive_failures": 0,
        "circuit_opened_at": None,
        "probe_at": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(destinations.insert().values(**row))
    if spec.kind == "clay":
        assert spec.clay is not None
        clay.add_webhook(
            conn,
            row["id"],
            spec.url.strip(),
            auth_header_name=spec.auth_header_name,
            auth_header_value=spec.auth_header_value,
            submission_limit=spec.clay.submission_limit,
            now=now,
            box=box,
        )
    return Destination.of(row), shown


def spec_of(dest: Destination) -> dict[str, Any]:
    """The destination as a spec with its secrets masked (what ``update`` merges into)."""
    return {
        "name": dest.name,
        "kind": dest.kind,
        "url": MASK,
        "method": dest.method,
        "headers": dict.fromkeys(dest.headers, MASK),
        "template": dest.template,
        "signing_secret": MASK if dest.signing_secret else None,
        "timeout_seconds": dest.timeout_seconds,
        "rate_limit": dest.rate_limit,
        "concurrency": dest.concurrency,
        "retry_schedule": dest.schedule,
        "circuit_threshold": dest.circuit_threshold,
        "circuit_cooldown": dest.circuit_cooldown_seconds,
        "enabled": dest.status == ACTIVE,
        "alerts": bool(dest.alerts),
        **({"clay": dest.clay} if dest.kind == "clay" else {}),
    }


def update(
    conn: sa.Connection,
    ref: str,
    changes: dict[str, Any],
    now: datetime,
    box: SecretBox,
    allow: Sequence[Network] = (),
) -> tuple[Destination, str | None]:
    """Apply ``changes`` (any spec keys) to a destination; same rules as :func:`create`."""
    row = find(conn, ref)
    if "kind" in changes and changes["kind"] != row.kind:
        raise InvalidField("a destination's kind cannot change; create a new one", field="kind")
    merged = {**spec_of(row), **changes}
    spec = _validate(merged)
    if (
        spec.name != row.name
        and conn.execute(
            sa.select(destinations.c.id).where(destinations.c.name == spec.name)
        ).first()
    ):
        raise Conflict(f"a destination named {spec.name!r} already exists", field="name")
    if spec.name != row.name:
        references.refuse_if_used(conn, references.DESTINATION, row.name, doing="rename")
    values, shown = _columns(spec, row, box, allow)
    if values["status"] == ACTIVE and row.status == PAUSED:
        values.update(closed_circuit())
    values["updated_at"] = now
    return _changed(conn, row, values), shown


def _changed(conn: sa.Connection, row: Destination, values: dict[str, Any]) -> Destination:
    """``row`` with ``values`` stored."""
    conn.execute(destinations.update().where(destinations.c.id == row.id).values(**values))
    return replace(row, **values)


def set_enabled(conn: sa.Connection, ref: str, enabled: bool, now: datetime) -> Destination:
    """Pause or resume. Resuming also closes an open circuit (a person says it is fixed)."""
    row = find(conn, ref)
    values: dict[str, Any] = {
        "status": ACTIVE if enabled else PAUSED,
        "status_reason": None,
        "updated_at": now,
    }
    if enabled:
        values.update(closed_circuit())
    return _changed(conn, row, values)


def pause_broken(conn: sa.Connection, destination_id: str, reason: str, now: datetime) -> None:
    """Pause a destination the worker cannot send to, saying why (shown by the API and
    CLI as ``status_reason``); its deliveries wait until a person resumes it."""
    conn.execute(
        destinations.update()
        .where(destinations.c.id == destination_id)
        .values(status=PAUSED, status_reason=reason, updated_at=now)
    )


def find(conn: sa.Connection, ref: str) -> Destination:
    """A destination by id or name; :class:`NotFound` otherwise."""
    row = conn.execute(
        sa.select(destinations).where(sa.or_(destinations.c.id == ref, destinations.c.name == ref))
    ).first()
    if row is None:
        raise NotFound(f"no destination {ref!r} (give its id or name)")
    return Destination.of(row._mapping)


def get(conn: sa.Connection, destination_id: str) -> Destination | None:
    """A destination by id, or ``None``."""
    row = conn.execute(sa.select(destinations).where(destinations.c.id == destination_id)).first()
    return Destination.of(row._mapping) if row else None


def by_name(conn: sa.Connection, name: str) -> Destination | None:
    """A destination by name, or ``None``."""
    row = conn.execute(sa.select(destinations).where(destinations.c.name == name)).first()
    return Destination.of(row._mapping) if row else None


def list_all(conn: sa.Connection) -> list[Destination]:
    """Every destination, oldest first."""
    rows = conn.execute(sa.select(destinations).order_by(destinations.c.id))
    return [Destination.of(r._mapping) for r in rows]


def delete(conn: sa.Connection, ref: str, *, force: bool = False) -> Destination:
    """Delete a destination and its delivery history.

    Refused (409) while it has deliveries still to send, or while a mapping or workflow
    step forwards to it, unless ``force``: deleting would drop that work, and an
    acknowledged event's work is not dropped silently.
    """
    row = find(conn, ref)
    if not force:
        references.refuse_if_used(conn, references.DESTINATION, row.name)
    waiting = conn.execute(
        sa.select(sa.func.count())
        .select_from(deliveries)
        .where(
            deliveries.c.destination_id == row.id,
            deliveries.c.status.in_(("pending", "in_flight", "failed")),
        )
    ).scalar_one()
    if waiting and not force:
        raise Conflict(
            f"destination {row.name!r} has {waiting} deliveries still to send; "
            "wait for them, or delete with force to drop them",
            code="destination_busy",
        )
    conn.execute(destinations.delete().where(destinations.c.id == row.id))
    return row
