"""Connect: each device's high-water mark (boot, seq) of the messages stored, written in the same
transaction as their samples, so that a gateway killed between storing a batch and acknowledging it
drops the broker's re-delivery of that batch as duplicates instead of storing it twice.

Revision ID: telemetry_0003
Revises: telemetry_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "telemetry_0003"
down_revision = "telemetry_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connect_device_mark",
        sa.Column("plant", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("boot", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connect_device_mark")
