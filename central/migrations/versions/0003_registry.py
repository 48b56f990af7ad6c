"""registry: estates, buildings, units, parking, common areas, residents, occupancies, vehicles, staff, attendance

Revision ID: 0003
Revises: 0002

Search keys (name_key, phone_rev, plate_key, plate_rev, card) use the "C" collation on PostgreSQL so that a
prefix is an index range on both databases; see central/registry/models.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Area = sa.Numeric(12, 2)


def Key(length: int) -> sa.String:  # noqa: N802
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _estate() -> sa.Column:
    return sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "estates",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "buildings", _id(), _estate(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("floors", sa.Integer()),
        sa.UniqueConstraint("estate", "code", name="uq_buildings_estate_code"),
    )
    op.create_table(
        "units", _id(), _estate(),
        sa.Column("building_id", Id, sa.ForeignKey("buildings.id"), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("floor", sa.Integer()),
        sa.Column("layout", sa.String(32), nullable=False),
        sa.Column("built_area", Area),
        sa.Column("usable_area", Area),
        sa.Column("use", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("building_id", "number", name="uq_units_building_number"),
    )
    op.create_index("ix_units_estate_number", "units", ["estate", "number"])
    op.create_table(
        "parking_spaces", _id(), _estate(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id")),
        sa.UniqueConstraint("estate", "code", name="uq_parking_estate_code"),
    )
    op.create_index("ix_parking_spaces_unit_id", "parking_spaces", ["unit_id"])
    op.create_table(
        "common_areas", _id(), _estate(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("area", Area),
        sa.Column("note", sa.String(256), nullable=False),
        sa.UniqueConstraint("estate", "name", name="uq_common_areas_estate_name"),
    )
    op.create_table(
        "residents", _id(), _estate(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", Key(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("phone_rev", Key(32), nullable=False),
        sa.Column("email", sa.String(128), nullable=False),
        sa.Column("identity_cipher", sa.Text()),
        sa.Column("identity_hmac", sa.String(64)),
        sa.Column("identity_masked", sa.String(40)),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_residents_estate_name_key", "residents", ["estate", "name_key"])
    op.create_index("ix_residents_estate_phone_rev", "residents", ["estate", "phone_rev"])
    op.create_index("ix_residents_identity_hmac", "residents", ["identity_hmac"],
                    sqlite_where=sa.text("identity_hmac IS NOT NULL"),
                    postgresql_where=sa.text("identity_hmac IS NOT NULL"))
    op.create_table(
        "occupancies", _id(), _estate(),
        sa.Column("resident_id", Id, sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id"), nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("move_in", sa.Date(), nullable=False),
        sa.Column("move_out", sa.Date()),
    )
    op.create_index("ix_occupancies_resident_id", "occupancies", ["resident_id"])
    op.create_index("ix_occupancies_unit_id", "occupancies", ["unit_id"])
    op.create_table(
        "vehicles", _id(), _estate(),
        sa.Column("resident_id", Id, sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("plate_key", Key(16), nullable=False),
        sa.Column("plate_rev", Key(16), nullable=False),
        sa.Column("description", sa.String(128), nullable=False),
        sa.UniqueConstraint("estate", "plate_key", name="uq_vehicles_estate_plate"),
    )
    op.create_index("ix_vehicles_estate_plate_rev", "vehicles", ["estate", "plate_rev"])
    op.create_index("ix_vehicles_resident_id", "vehicles", ["resident_id"])
    op.create_table(
        "staff", _id(), _estate(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", Key(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("phone_rev", Key(32), nullable=False),
        sa.Column("position", sa.String(64), nullable=False),
        sa.Column("shift", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("joined_on", sa.Date()),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_staff_estate_name_key", "staff", ["estate", "name_key"])
    op.create_index("ix_staff_estate_phone_rev", "staff", ["estate", "phone_rev"])
    op.create_table(
        "staff_cards", _id(), _estate(),
        sa.Column("staff_id", Id, sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("card", Key(64), nullable=False),
        sa.UniqueConstraint("estate", "card", name="uq_staff_cards_estate_card"),
    )
    op.create_index("ix_staff_cards_staff_id", "staff_cards", ["staff_id"])
    op.create_table(
        "attendance_points", _id(), _estate(),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.UniqueConstraint("estate", "gateway", "device", name="uq_attendance_points_device"),
    )
    op.create_table(
        "attendance_records", _id(), _estate(),
        sa.Column("staff_id", Id, sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("device", sa.String(64)),
        sa.Column("gateway", sa.String(64)),
        sa.Column("event_seq", sa.BigInteger()),
        sa.Column("note", sa.String(256), nullable=False),
        sa.UniqueConstraint("staff_id", "gateway", "event_seq", name="uq_attendance_event"),
    )
    op.create_index("ix_attendance_staff_at", "attendance_records", ["staff_id", "at"])
    op.create_index("ix_attendance_estate_at", "attendance_records", ["estate", "at"])
    op.create_table(
        "performance_records", _id(), _estate(),
        sa.Column("staff_id", Id, sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", Area, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.UniqueConstraint("staff_id", "period", "metric", name="uq_performance_staff_period_metric"),
    )
    op.create_index("ix_performance_estate_period", "performance_records", ["estate", "period"])


def downgrade() -> None:
    for table in ("performance_records", "attendance_records", "attendance_points", "staff_cards", "staff",
                  "vehicles", "occupancies", "residents", "common_areas", "parking_spaces", "units", "buildings",
                  "estates"):
        op.drop_table(table)  # their indexes go with them
