"""Web app: failed-login strikes in the store, so every API process throttles a guesser as one.

Revision ID: web_0005
Revises: web_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0005"
down_revision = "web_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_login_strikes",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
    )
    op.create_index("ix_web_login_strikes_last", "web_login_strikes", ["last"])


def downgrade() -> None:
    op.drop_index("ix_web_login_strikes_last", "web_login_strikes")
    op.drop_table("web_login_strikes")
