"""site category rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:02:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (no table copy) keeps existing rows; they get no overrides
    op.add_column(
        "sites",
        sa.Column("category_rules", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch_op:
        batch_op.drop_column("category_rules")
