"""metering: meter points, meters (install/replace history), readings, leak alerts

Revision ID: 0004
Revises: 0003

Register values are Numeric(16,3). Partial unique indexes keep one fitted meter per point and one fitted meter
per gateway device; both SQLite and PostgreSQL support them. See central/metering/models.py.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Register = sa.Numeric(16, 3)
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _estate() -> sa.Column:
    return sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False)


def _fitted(*columns: str) -> sa.TextClause:
    return sa.text(" AND ".join(columns))


def upgrade() -> None:
    op.create_table(
        "meter_points", _id(), _estate(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id")),
        sa.Column("common_area_id", Id, sa.ForeignKey("common_areas.id")),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("register_limit", Register, nullable=False),
        sa.Column("resolution", sa.Numeric(4, 3), nullable=False),
        sa.Column("max_per_day", Register, nullable=False),
        sa.Column("estimate_periods", sa.Integer(), nullable=False),
        sa.Column("leak_min_flow_per_hour", Register),
        sa.Column("leak_nights", sa.Integer()),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("estate", "name", name="uq_meter_points_estate_name"),
        sa.CheckConstraint("(unit_id IS NULL) <> (common_area_id IS NULL)", name="ck_meter_points_serves_one"),
        sa.CheckConstraint("kind IN ('water', 'electricity', 'gas')", name="ck_meter_points_kind"),
    )
    op.create_index("ix_meter_points_unit_id", "meter_points", ["unit_id"])
    op.create_index("ix_meter_points_common_area_id", "meter_points", ["common_area_id"])
    op.create_table(
        "meters", _id(), _estate(),
        sa.Column("meter_point_id", Id, sa.ForeignKey("meter_points.id"), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("installed_at", Time, nullable=False),
        sa.Column("removed_at", Time),
        sa.Column("first_reading", Register, nullable=False),
        sa.Column("final_reading", Register),
        sa.Column("gateway", sa.String(64)),
        sa.Column("device", sa.String(64)),
        sa.CheckConstraint("(gateway IS NULL) = (device IS NULL)", name="ck_meters_binding"),
    )
    op.create_index("ix_meters_point_installed", "meters", ["meter_point_id", "installed_at"])
    op.create_index("ix_meters_estate_serial", "meters", ["estate", "serial"])
    fitted = _fitted("removed_at IS NULL")
    op.create_index("uq_meters_point_fitted", "meters", ["meter_point_id"], unique=True,
                    sqlite_where=fitted, postgresql_where=fitted)
    bound = _fitted("removed_at IS NULL", "gateway IS NOT NULL")
    op.create_index("uq_meters_device_fitted", "meters", ["estate", "gateway", "device"], unique=True,
                    sqlite_where=bound, postgresql_where=bound)
    op.create_table(
        "readings", _id(), _estate(),
        sa.Column("meter_point_id", Id, sa.ForeignKey("meter_points.id"), nullable=False),
        sa.Column("meter_id", Id, sa.ForeignKey("meters.id"), nullable=False),
        sa.Column("meter_serial", sa.String(64), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("value", Register, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("flags", Json, nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("event_gateway", sa.String(64)),
        sa.Column("event_seq", sa.BigInteger()),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("meter_id", "at", name="uq_readings_meter_at"),
        sa.UniqueConstraint("estate", "event_gateway", "event_seq", name="uq_readings_event"),
        sa.CheckConstraint("source IN ('gateway', 'manual', 'import', 'estimate')", name="ck_readings_source"),
    )
    op.create_index("ix_readings_point_at", "readings", ["meter_point_id", "at"])
    op.create_table(
        "leak_alerts", _id(), _estate(),
        sa.Column("meter_point_id", Id, sa.ForeignKey("meter_points.id"), nullable=False),
        sa.Column("raised_at", Time, nullable=False),
        sa.Column("nights", Json, nullable=False),
        sa.Column("min_flow_per_hour", Register, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("closed_at", Time),
        sa.Column("closed_by", sa.String(64)),
        sa.Column("note", sa.String(256), nullable=False),
    )
    op.create_index("ix_leak_alerts_estate_status", "leak_alerts", ["estate", "status"])
    op.create_index("ix_leak_alerts_point", "leak_alerts", ["meter_point_id"])


def downgrade() -> None:
    for table in ("leak_alerts", "readings", "meters", "meter_points"):
        op.drop_table(table)  # their indexes go with them
