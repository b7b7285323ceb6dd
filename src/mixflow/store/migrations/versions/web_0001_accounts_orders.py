"""Web app: user accounts, the order book and its status history.

Revision ID: web_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "web_0001"
down_revision = "0001_base"
branch_labels = ("web",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "web_orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer", sa.String(64), nullable=False),
        sa.Column("configuration", sa.Text, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("placed_s", sa.Integer, nullable=False),
        sa.Column("requested_s", sa.Integer, nullable=False),
        sa.Column("promised_s", sa.Integer, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_orders_customer", "web_orders", ["customer"])
    op.create_table(
        "web_order_status",
        sa.Column(
            "order_id", sa.String(40), sa.ForeignKey("web_orders.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at_s", sa.Integer, nullable=False),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("web_order_status")
    op.drop_index("ix_web_orders_customer", table_name="web_orders")
    op.drop_table("web_orders")
    op.drop_table("web_users")
