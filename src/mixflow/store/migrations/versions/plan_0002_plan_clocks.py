"""Cloud scheduler: each plant's plan epoch, so a restarted scheduler counts time from the same instant.

Revision ID: plan_0002
Revises: plan_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "plan_0002"
down_revision = "plan_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_clocks",
        sa.Column("plant_id", sa.String(40), primary_key=True),
        sa.Column("epoch_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_clocks")
