"""Audit: the planner's actions on the plan, who took them and when.

Revision ID: audit_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision = "0001_base"
branch_labels = ("audit",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "planner_actions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plant_s", sa.BigInteger, nullable=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_planner_actions_at", "planner_actions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_planner_actions_at", table_name="planner_actions")
    op.drop_table("planner_actions")
