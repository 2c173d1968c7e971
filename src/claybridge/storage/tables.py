"""Table definitions (SQLAlchemy Core). The migrations must produce exactly this schema;
``tests/integration/test_migrations.py`` checks it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from claybridge.storage.types import Money, UTCDateTime, json_type

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = sa.String(40)

owners = sa.Table(
    "owners",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    # Case- and space-folded display name: what ``owner`` resolves against.
    sa.Column("name_key", sa.String(200), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("key", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("template", sa.String(40), nullable=False),
    # SHA-256 of the bearer token; NULL once the source is disconnected.
    sa.Column("token_hash", sa.String(64), nullable=True),
    sa.Column("token_hint", sa.String(8), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("token_rotated_at", UTCDateTime(), nullable=True),
    sa.Column("disconnected_at", UTCDateTime(), nullable=True),
    # The validated SourceConfig (event routing and mappings); NULL means the template's.
    sa.Column("config", json_type(), nullable=True),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("domain", sa.String(253), nullable=False, unique=True),
    sa.Column("name", sa.String(1000), nullable=False),
    sa.Column("website_url", sa.String(1000), nullable=False),
    sa.Column(
        "owner_id", ID, sa.ForeignKey("owners.id", ondelete="SET NULL"), nullable=True, index=True
    ),
    sa.Column("stage", sa.String(1000), nullable=True),
    sa.Column("arr", Money(), nullable=True),
    sa.Column("renewal_date", sa.Date(), nullable=True),
    sa.Column("source_id", ID, sa.ForeignKey("sources.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("source_id", ID, sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    # accepted | rejected
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=False),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("error_field", sa.String(200), nullable=True),
    sa.Column("request_headers", json_type(), nullable=False),
    # The parsed body with secrets redacted, or the raw text when it did not parse.
    sa.Column("request_body", sa.Text(), nullable=True),
    # The JSON answer exactly as sent (serialised once, for the client and the log).
    sa.Column("response_body", sa.Text(), nullable=False),
    sa.Column("customer_id", ID, sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True),
    sa.Column("event_name", sa.String(200), nullable=True),
    # Why an event was processed without idempotency, or whose duplicate it is.
    sa.Column("note", sa.Text(), nullable=True),
    sa.Index("ix_events_source_id_received_at", "source_id", "received_at"),
    sa.Index("ix_events_status_received_at", "status", "received_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(8), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # The person's key in the mapping (body.email by default).
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("full_name", sa.String(1000), nullable=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),
    sa.Column("phone_number", sa.String(100), nullable=True),
    sa.Column("avatar_url", sa.String(2000), nullable=True),
    sa.Column("properties", json_type(), nullable=False),
    sa.Column("source_id", ID, sa.ForeignKey("sources.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("collection", sa.String(100), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("properties", json_type(), nullable=False),
    sa.Column("source_id", ID, sa.ForeignKey("sources.id", ondelete="SET NULL"), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("collection", "key"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("source_id", ID, sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    # The event that claimed the key, and the answer a repeat gets back.
    sa.Column("event_id", ID, nullable=False),
    sa.Column("response_body", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)
