"""Cloud scheduler: the line each order is promised on (a plant may have several final-assembly lines).

Orders stored before keep "", which names the plant's first line.

Revision ID: plan_0004
Revises: plan_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "plan_0004"
down_revision = "plan_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_orders") as batch:
        batch.add_column(sa.Column("line", sa.String(40), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("plan_orders") as batch:
        batch.drop_column("line")
