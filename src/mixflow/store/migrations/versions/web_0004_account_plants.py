"""Web app: in a cloud of several plants, the plants each staff account works at.

Revision ID: web_0004
Revises: web_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0004"
down_revision = "web_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_account_plants",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("web_users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("plant_id", sa.String(40), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("web_account_plants")
