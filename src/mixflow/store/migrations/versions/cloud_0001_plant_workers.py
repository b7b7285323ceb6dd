"""Cloud: where each plant's worker listens (the registry API processes find the plants by).

Revision ID: cloud_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "cloud_0001"
down_revision = "0001_base"
branch_labels = ("cloud",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cloud_plant_workers",
        sa.Column("plant_id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cloud_plant_workers")
