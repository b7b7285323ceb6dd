"""Cloud scheduler: where the fleet model last had every AGV, for a restart's AGVs that do not report.

Revision ID: plan_0003
Revises: plan_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "plan_0003"
down_revision = "plan_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_fleet",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at_s", sa.Integer, nullable=False),
        sa.Column("cells", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_fleet")
