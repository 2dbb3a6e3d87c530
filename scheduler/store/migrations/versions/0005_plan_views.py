"""What the pages show of a published plan, stored beside it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_outcomes",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=96), nullable=False),
        sa.Column("lab_id", sa.String(length=64), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("first_slot", sa.DateTime(), nullable=True),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("arrival_at", sa.DateTime(), nullable=True),
        sa.Column("result_at", sa.DateTime(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("tat_h", sa.Float(), nullable=False),
        sa.Column("late_h", sa.Float(), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "batch_id"),
    )
    op.create_index("ix_plan_outcomes_lab", "plan_outcomes", ["plan_id", "lab_id", "first_slot"])
    op.create_index("ix_plan_outcomes_county", "plan_outcomes", ["plan_id", "county_code"])
    op.create_table(
        "plan_lab_loads",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.String(length=64), nullable=False),
        sa.Column("load", sa.JSON(), nullable=False),
        sa.Column("nominal", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "lab_id"),
    )
    # a lab's page lists the boxes it holds
    op.create_index("ix_batches_pinned_lab", "batches", ["pinned_lab"])
    op.create_table(
        "plan_summaries",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id"),
    )


def downgrade() -> None:
    op.drop_table("plan_summaries")
    op.drop_index("ix_batches_pinned_lab", table_name="batches")
    op.drop_table("plan_lab_loads")
    op.drop_index("ix_plan_outcomes_county", table_name="plan_outcomes")
    op.drop_index("ix_plan_outcomes_lab", table_name="plan_outcomes")
    op.drop_table("plan_outcomes")
