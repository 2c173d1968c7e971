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
    # The token before the last rotation: a request still sending it is told so
    # (401 rotated_token), and the console counts them.
    sa.Column("previous_token_hash", sa.String(64), nullable=True),
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
    # admin (everything) | viewer (reads only: every write is 403)
    sa.Column("role", sa.String(16), nullable=False, server_default="admin"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

# Single-use sign-in links for the console, printed by `claybridge console-link`.
console_links = sa.Table(
    "console_links",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

# Signed-in console sessions: the cookie holds the token, the table its hash.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    # How it was opened: "link" or the API key's name.
    sa.Column("opened_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
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

destinations = sa.Table(
    "destinations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    # http | slack
    sa.Column("kind", sa.String(16), nullable=False),
    # The URL encrypted (Slack webhook URLs are credentials), and a masked form to show.
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("url_hint", sa.String(2000), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    # {name: encrypted value}
    sa.Column("headers", json_type(), nullable=False),
    # Jinja2 (sandboxed): the request body for http (NULL: the whole row as JSON), the
    # message text for slack.
    sa.Column("template", sa.Text(), nullable=True),
    sa.Column("signing_secret", sa.Text(), nullable=True),
    sa.Column("timeout_seconds", sa.Float(), nullable=False),
    sa.Column("rate_limit", sa.Float(), nullable=True),
    sa.Column("concurrency", sa.Integer(), nullable=False),
    # Seconds before each attempt (NULL: the default schedule).
    sa.Column("retry_schedule", json_type(), nullable=True),
    # active | paused (by a person, or by the worker: status_reason; the circuit
    # breaker has its own state)
    sa.Column("status", sa.String(16), nullable=False),
    # Why the destination is paused when the worker paused it (its secrets do not
    # decrypt, say); None when a person paused it or it is active.
    sa.Column("status_reason", sa.Text(), nullable=True),
    sa.Column("circuit_state", sa.String(16), nullable=False),
    sa.Column("circuit_threshold", sa.Integer(), nullable=False),
    sa.Column("circuit_cooldown_seconds", sa.Float(), nullable=False),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("circuit_opened_at", UTCDateTime(), nullable=True),
    sa.Column("probe_at", UTCDateTime(), nullable=True),
    # kind clay: workspace rate limit, payload limit, callbacks (see delivery.spec)
    sa.Column("clay", json_type(), nullable=True),
    # Alerts are sent here too (through the delivery queue) when true.
    sa.Column("alerts", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "destination_id",
        ID,
        sa.ForeignKey("destinations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Where it came from (plain ids: the event log may be pruned before the delivery).
    sa.Column("event_id", ID, nullable=True, index=True),
    sa.Column("run_id", ID, nullable=True, index=True),
    sa.Column("replay_of", ID, nullable=True, index=True),
    # The `claybridge push` this row belongs to (cancelling the push cancels it).
    sa.Column("push_id", ID, nullable=True, index=True),
    # kind clay: the row's request id (never submitted twice once Clay accepted it)
    sa.Column("request_id", sa.String(255), nullable=True),
    # The row (JSON) the destination's template renders.
    sa.Column("payload", json_type(), nullable=False),
    # pending | in_flight | failed (a retry is due later) | delivered | dead | cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    # The claim query walks this in order: only work still to send is indexed.
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        sqlite_where=sa.text("status IN ('pending', 'failed')"),
        postgresql_where=sa.text("status IN ('pending', 'failed')"),
    ),
    sa.Index(
        "ix_deliveries_leased",
        "lease_expires_at",
        sqlite_where=sa.text("status = 'in_flight'"),
        postgresql_where=sa.text("status = 'in_flight'"),
    ),
    sa.Index("ix_deliveries_destination_id_status", "destination_id", "status"),
    sa.Index("ix_deliveries_created_at", "created_at"),
    # A Clay request id is queued at most once per destination at a time, whichever
    # process or path queues it (clay.submit answers a second copy with the first).
    sa.Index(
        "uq_deliveries_queued_request",
        "destination_id",
        "request_id",
        unique=True,
        sqlite_where=sa.text(
            "request_id IS NOT NULL AND status IN ('pending', 'in_flight', 'failed')"
        ),
        postgresql_where=sa.text(
            "request_id IS NOT NULL AND status IN ('pending', 'in_flight', 'failed')"
        ),
    ),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "delivery_id", ID, sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("attempted_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("response_excerpt", sa.Text(), nullable=True),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Index("ix_delivery_attempts_delivery_id_attempted_at", "delivery_id", "attempted_at"),
)

# Shared rate limiters (GCRA): the theoretical arrival time of the next request.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("tat", sa.Float(), nullable=False),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("key", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    # The validated steps (see claybridge.mapping.workflow).
    sa.Column("steps", json_type(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False),
    # queued | running | waiting | completed | failed | cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("event", json_type(), nullable=False),
    sa.Column("source", json_type(), nullable=True),
    sa.Column("event_id", ID, nullable=True),
    # One entry per step as it is carried out: {index, kind, status, ...}.
    sa.Column("steps", json_type(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("workflow_id", "idempotency_key"),
    sa.Index("ix_runs_status_next_attempt_at", "status", "next_attempt_at"),
)

# A Clay table destination's webhook URLs (a pool, used in ``position`` order), each
# with the submissions Clay accepted: Clay allows 50,000 per webhook for its whole life.
clay_webhooks = sa.Table(
    "clay_webhooks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "destination_id", ID, sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),  # encrypted
    sa.Column("url_hint", sa.String(2000), nullable=False),
    sa.Column("auth_header_name", sa.String(100), nullable=True),
    sa.Column("auth_header_value", sa.Text(), nullable=True),  # encrypted
    sa.Column("submissions", sa.Integer(), nullable=False),
    sa.Column("submission_limit", sa.Integer(), nullable=False),
    # active | exhausted
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("warned_at", UTCDateTime(), nullable=True),
    sa.Column("exhausted_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("destination_id", "position"),
)

# Rows Clay accepted, by request id: a retry or a re-run never submits them again.
clay_submissions = sa.Table(
    "clay_submissions",
    metadata,
    sa.Column(
        "destination_id", ID, sa.ForeignKey("destinations.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("request_id", sa.String(255), primary_key=True),
    sa.Column("webhook_id", ID, nullable=False),
    sa.Column("delivery_id", ID, nullable=True),
    sa.Column("accepted_at", UTCDateTime(), nullable=False),
)

# A submission waiting for its enriched row to come back through a callback source.
pending_requests = sa.Table(
    "pending_requests",
    metadata,
    sa.Column("request_id", sa.String(255), primary_key=True),
    sa.Column(
        "destination_id", ID, sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("delivery_id", ID, nullable=True),
    sa.Column("run_id", ID, nullable=True, index=True),
    # pending | completed | expired
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("result", json_type(), nullable=True),
    sa.Column("callback_event_id", ID, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Index("ix_pending_requests_status_expires_at", "status", "expires_at"),
)


# Running Claybridge processes (serve, api, worker, push): what `status` reports, and
# where the CLI learns the server's public URL.
processes = sa.Table(
    "processes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # serve | api | worker | push
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("public_url", sa.String(2000), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("seen_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("stopped_at", UTCDateTime(), nullable=True),
)

# `claybridge push` runs: a file of rows sent into one Clay destination.
pushes = sa.Table(
    "pushes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "destination_id", ID, sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("file", sa.String(2000), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("queued", sa.Integer(), nullable=False),
    sa.Column("skipped", sa.Integer(), nullable=False),
    sa.Column("bad", sa.Integer(), nullable=False),
    # running | finished | cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
)

# Alerts: one row per cause while it is open or acknowledged (see records.alerts).
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # The cause: kind plus subject (a destination, a webhook, a source…)
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    # open | acknowledged | resolved
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    # How it was resolved: "auto" (the cause cleared) or who resolved it.
    sa.Column("resolved_by", sa.String(200), nullable=True),
    sa.Index("ix_alerts_status_last_seen_at", "status", "last_seen_at"),
    # One unresolved alert per cause: a repeat counts on the open one.
    sa.Index(
        "uq_alerts_unresolved_cause",
        "kind",
        "subject",
        unique=True,
        sqlite_where=sa.text("status <> 'resolved'"),
        postgresql_where=sa.text("status <> 'resolved'"),
    ),
)
