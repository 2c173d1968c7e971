"""hardening: why a destination was paused; one queued copy of a Clay request id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_QUEUED = "request_id IS NOT NULL AND status IN ('pending', 'in_flight', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("destinations") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    op.create_index(
        "uq_deliveries_queued_request",
        "deliveries",
        ["destination_id", "request_id"],
        unique=True,
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )


def downgrade() -> None:
    op.drop_index("uq_deliveries_queued_request", table_name="deliveries")
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("status_reason")
