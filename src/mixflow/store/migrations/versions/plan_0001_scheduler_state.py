"""Cloud scheduler: orders with promises and line slots, operations, material tasks.

Revision ID: plan_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "plan_0001"
down_revision = "0001_base"
branch_labels = ("plan",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("configuration", sa.Text, nullable=False),
        sa.Column("placed_s", sa.Integer, nullable=False),
        sa.Column("requested_s", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("promised_s", sa.Integer, nullable=True),
        sa.Column("slot", sa.Integer, nullable=True, index=True),
        sa.Column("slot_s", sa.Integer, nullable=True),
        sa.Column("parts_ready_s", sa.Integer, nullable=True),
        sa.Column("earliest_s", sa.Integer, nullable=True),
        sa.Column("binding", sa.String(80), nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("history", sa.Text, nullable=False),
    )
    op.create_table(
        "plan_operations",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False, index=True),
        sa.Column("part", sa.String(40), nullable=False),
        sa.Column("machine_id", sa.String(40), nullable=False),
        sa.Column("started_s", sa.Integer, nullable=False),
        sa.Column("done_s", sa.Integer, nullable=True),
    )
    op.create_table(
        "plan_tasks",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False, index=True),
        sa.Column("part", sa.String(40), nullable=False),
        sa.Column("station", sa.Integer, nullable=False),
        sa.Column("agv_id", sa.String(40), nullable=False),
        sa.Column("posted_s", sa.Integer, nullable=False),
        sa.Column("deadline_s", sa.Integer, nullable=False),
        sa.Column("delivered_s", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("plan_tasks")
    op.drop_table("plan_operations")
    op.drop_table("plan_orders")
