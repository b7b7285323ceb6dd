"""Connect: telemetry samples and rollups, alarms, registered devices.

Revision ID: telemetry_0001
Revises: 0001_base
"""

import sqlalchemy as sa
from alembic import op

revision = "telemetry_0001"
down_revision = "0001_base"
branch_labels = ("telemetry",)
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "telemetry_sample",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_telemetry_sample_device_metric_at", "telemetry_sample", ["device_id", "metric", "at_ms"]
    )
    op.create_table(
        "telemetry_rollup",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger, nullable=False),
        sa.Column("bucket_s", sa.Integer, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("min_value", sa.Float, nullable=False),
        sa.Column("max_value", sa.Float, nullable=False),
        sa.Column("mean_value", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_telemetry_rollup_device_metric_bucket", "telemetry_rollup", ["device_id", "metric", "bucket_ms"]
    )
    op.create_table(
        "connect_alarm",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("raised_ms", sa.BigInteger, nullable=False),
        sa.Column("cleared_ms", sa.BigInteger, nullable=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("message", sa.String(256), nullable=False),
    )
    op.create_table(
        "connect_device",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("plant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger, nullable=True),
        sa.Column("online", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connect_device")
    op.drop_table("connect_alarm")
    op.drop_index("ix_telemetry_rollup_device_metric_bucket", "telemetry_rollup")
    op.drop_table("telemetry_rollup")
    op.drop_index("ix_telemetry_sample_device_metric_at", "telemetry_sample")
    op.drop_table("telemetry_sample")
