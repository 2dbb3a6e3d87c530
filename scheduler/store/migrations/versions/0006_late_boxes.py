"""The late boxes of a published plan by priority, with why each is late

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 01:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_outcomes") as t:
        t.add_column(sa.Column("site_id", sa.String(length=64), nullable=False, server_default=""))
        t.add_column(sa.Column("priority", sa.String(length=16), nullable=False, server_default=""))
        t.add_column(sa.Column("why", sa.JSON(), nullable=False, server_default="[]"))
    op.create_index(
        "ix_plan_outcomes_late", "plan_outcomes", ["plan_id", "priority", "on_time", "late_h"]
    )


def downgrade() -> None:
    op.drop_index("ix_plan_outcomes_late", table_name="plan_outcomes")
    with op.batch_alter_table("plan_outcomes") as t:
        t.drop_column("why")
        t.drop_column("priority")
        t.drop_column("site_id")
