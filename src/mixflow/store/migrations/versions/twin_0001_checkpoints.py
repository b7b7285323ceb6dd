"""Twin: the newest checkpoint of a twin plant's world, so its worker resumes where it stood.

Revision ID: twin_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "twin_0001"
down_revision = "0001_base"
branch_labels = ("twin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twin_checkpoints",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("sources", sa.String(64), nullable=False),
        sa.Column("at_s", sa.Integer, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("twin_checkpoints")
