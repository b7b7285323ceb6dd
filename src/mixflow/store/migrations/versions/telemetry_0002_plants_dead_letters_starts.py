"""Connect: devices keyed by plant and id (two plants in one database no longer take over each
other's devices), stored dead letters, and the start count of each gateway (the epoch of its command
ids).

Revision ID: telemetry_0002
Revises: telemetry_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "telemetry_0002"
down_revision = "telemetry_0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_DEVICE_COLUMNS = "plant, device_id, kind, password_hash, last_seen_ms, online"


def _device_table(name: str, key: list[str]) -> None:
    op.create_table(
        name,
        sa.Column("plant", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=True),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_connect_device_" + "_".join(key)),
    )


def _rekey(key: list[str]) -> None:
    """Rebuild connect_device with another primary key (portable: copy, drop, rename)."""
    _device_table("connect_device_new", key)
    columns = _DEVICE_COLUMNS
    op.execute(f"INSERT INTO connect_device_new ({columns}) SELECT {columns} FROM connect_device")
    op.drop_table("connect_device")
    op.rename_table("connect_device_new", "connect_device")


def upgrade() -> None:
    _rekey(["plant", "device_id"])
    op.create_table(
        "connect_dead_letter",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("plant", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
        sa.Column("excerpt", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_connect_dead_letter_plant_at", "connect_dead_letter", ["plant", "at_ms"])
    op.create_table(
        "connect_gateway_start",
        sa.Column("plant", sa.String(64), primary_key=True),
        sa.Column("gateway_id", sa.String(64), primary_key=True),
        sa.Column("starts", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connect_gateway_start")
    op.drop_index("ix_connect_dead_letter_plant_at", "connect_dead_letter")
    op.drop_table("connect_dead_letter")
    op.execute(
        "DELETE FROM connect_device WHERE EXISTS (SELECT 1 FROM connect_device AS other"
        " WHERE other.device_id = connect_device.device_id AND other.plant < connect_device.plant)"
    )
    _rekey(["device_id"])
