"""operations: processes, pushes, alerts; deliveries.push_id; destinations.alerts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:40:00
"""

import sqlalchemy as sa
from alembic import op

import claybridge.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TIME = claybridge.storage.types.UTCDateTime(timezone=True)
_UNRESOLVED = "status <> 'resolved'"


def upgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.add_column(
            sa.Column("alerts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("push_id", sa.String(length=40), nullable=True))
    op.create_index("ix_deliveries_push_id", "deliveries", ["push_id"])
    # Alerts look for dead deliveries not replayed yet.
    op.create_index("ix_deliveries_replay_of", "deliveries", ["replay_of"])
    op.create_table(
        "processes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("public_url", sa.String(length=2000), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("seen_at", _TIME, nullable=False),
        sa.Column("stopped_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_processes"),
    )
    op.create_index("ix_processes_seen_at", "processes", ["seen_at"])
    op.create_table(
        "pushes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("destination_id", sa.String(length=40), nullable=False),
        sa.Column("file", sa.String(length=2000), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("bad", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name="fk_pushes_destination_id_destinations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pushes"),
    )
    op.create_index("ix_pushes_created_at", "pushes", ["created_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("resolved_at", _TIME, nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_status_last_seen_at", "alerts", ["status", "last_seen_at"])
    op.create_index(
        "uq_alerts_unresolved_cause",
        "alerts",
        ["kind", "subject"],
        unique=True,
        sqlite_where=sa.text(_UNRESOLVED),
        postgresql_where=sa.text(_UNRESOLVED),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("pushes")
    op.drop_table("processes")
    op.drop_index("ix_deliveries_push_id", table_name="deliveries")
    op.drop_index("ix_deliveries_replay_of", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("push_id")
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("alerts")
