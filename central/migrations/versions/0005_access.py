"""access: doors, door groups, schedules, cards, the versioned change log, access log, alarms, remote opens

Revision ID: 0005
Revises: 0004

Wire ids use the "C" collation on PostgreSQL so ordering by them is byte order (the checksum's order). A
partial unique index keeps one card row per key that is not returned: a lost card's key stays taken forever.
See central/access/models.py.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def Key(length: int) -> sa.String:  # noqa: N802
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _estate(foreign: bool = True) -> sa.Column:
    if foreign:
        return sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False)
    return sa.Column("estate", sa.String(64), nullable=False)


def _setup_tables() -> None:
    op.create_table(
        "doors", _id(), _estate(),
        sa.Column("code", Key(64), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("readers", Json, nullable=False),
        sa.Column("unlock_s", sa.Integer(), nullable=False),
        sa.Column("held_open_s", sa.Integer(), nullable=False),
        sa.Column("anti_passback", Json),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("estate", "code", name="uq_doors_estate_code"),
    )
    op.create_table(
        "door_groups", _id(), _estate(),
        sa.Column("code", Key(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("building_id", Id, sa.ForeignKey("buildings.id")),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("estate", "code", name="uq_door_groups_estate_code"),
    )
    op.create_table(
        "access_schedules", _id(), _estate(),
        sa.Column("code", Key(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("weekly", Json, nullable=False),
        sa.Column("holidays", Json, nullable=False),
        sa.Column("holiday_intervals", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("estate", "code", name="uq_access_schedules_estate_code"),
    )
    op.create_table(
        "door_group_members", _id(), _estate(),
        sa.Column("door_id", Id, sa.ForeignKey("doors.id"), nullable=False),
        sa.Column("group_id", Id, sa.ForeignKey("door_groups.id"), nullable=False),
        sa.Column("schedule_id", Id, sa.ForeignKey("access_schedules.id")),
        sa.UniqueConstraint("door_id", "group_id", name="uq_door_group_members"),
    )
    op.create_index("ix_door_group_members_group_id", "door_group_members", ["group_id"])
    op.create_index("ix_door_group_members_schedule_id", "door_group_members", ["schedule_id"])


def _card_tables() -> None:
    op.create_table(
        "access_cards", _id(), _estate(),
        sa.Column("card", Key(64), nullable=False),
        sa.Column("resident_id", Id, sa.ForeignKey("residents.id")),
        sa.Column("staff_id", Id, sa.ForeignKey("staff.id")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("door_groups", Json, nullable=False),
        sa.Column("valid_from", Time),
        sa.Column("valid_until", Time),
        sa.Column("issued_at", Time, nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("ended_at", Time),
        sa.Column("replaces_id", Id, sa.ForeignKey("access_cards.id")),
        sa.Column("note", sa.String(256), nullable=False),
        sa.CheckConstraint("(resident_id IS NULL) <> (staff_id IS NULL)", name="ck_access_cards_one_holder"),
        sa.CheckConstraint("state IN ('active', 'suspended', 'lost', 'returned')", name="ck_access_cards_state"),
    )
    live = sa.text("state <> 'returned'")
    op.create_index("uq_access_cards_live", "access_cards", ["estate", "card"], unique=True,
                    sqlite_where=live, postgresql_where=live)
    op.create_index("ix_access_cards_estate_card", "access_cards", ["estate", "card"])
    op.create_index("ix_access_cards_resident_id", "access_cards", ["resident_id"])
    op.create_index("ix_access_cards_staff_id", "access_cards", ["staff_id"])
    op.create_table(
        "access_card_history", _id(), _estate(),
        sa.Column("card_id", Id, sa.ForeignKey("access_cards.id"), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
    )
    op.create_index("ix_access_card_history_card_id", "access_card_history", ["card_id"])
    op.create_table(
        "visitor_passes", _id(), _estate(),
        sa.Column("visitor_name", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("doors", Json, nullable=False),
        sa.Column("door_groups", Json, nullable=False),
        sa.Column("valid_from", Time, nullable=False),
        sa.Column("valid_until", Time, nullable=False),
        sa.Column("single_use", sa.Boolean(), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", Time, nullable=False),
        sa.Column("used_at", Time),
        sa.Column("used_door", sa.String(128)),
    )
    op.create_index("ix_visitor_passes_estate", "visitor_passes", ["estate", "id"])


def _sync_tables() -> None:
    op.create_table(
        "access_versions",
        sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("floor", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "access_changes", _id(), _estate(False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", Key(128), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("record", sa.Text()),
        sa.Column("at", Time, nullable=False),
        sa.UniqueConstraint("estate", "version", "kind", "key", name="uq_access_changes"),
    )
    op.create_table(
        "access_records",
        sa.Column("estate", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key", Key(128), primary_key=True),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "gateway_access_state",
        sa.Column("estate", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.String(64), primary_key=True),
        sa.Column("reported_version", sa.BigInteger()),
        sa.Column("reported_checksum", sa.String(64)),
        sa.Column("reported_synced_at", Time),
        sa.Column("reported_at", Time),
        sa.Column("sent_kind", sa.String(16)),
        sa.Column("sent_version", sa.BigInteger()),
        sa.Column("sent_at", Time),
        sa.Column("reply_status", sa.String(16)),
        sa.Column("reply_detail", sa.String(256)),
        sa.Column("reply_at", Time),
    )


def _report_tables() -> None:
    op.create_table(
        "access_log", _id(), _estate(False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("door", sa.String(128), nullable=False),
        sa.Column("reader", sa.String(64)),
        sa.Column("card", sa.String(128), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("holder_id", sa.String(128)),
        sa.Column("holder_name", sa.String(128)),
        sa.Column("holder_kind", sa.String(16)),
        sa.Column("pass_id", sa.BigInteger()),
        sa.UniqueConstraint("estate", "gateway", "event_seq", name="uq_access_log_event"),
    )
    for name, column in (("at", "at"), ("card", "card"), ("door", "door"), ("holder", "holder_id")):
        op.create_index(f"ix_access_log_estate_{name}", "access_log", ["estate", column])
    op.create_table(
        "alarms", _id(), _estate(False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("door", sa.String(128)),
        sa.Column("at", Time, nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("acknowledged_at", Time),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("commented_by", sa.String(64)),
        sa.Column("commented_at", Time),
        sa.UniqueConstraint("estate", "gateway", "event_seq", name="uq_alarms_event"),
    )
    op.create_index("ix_alarms_estate_state", "alarms", ["estate", "state"])
    op.create_table(
        "remote_opens", _id(), _estate(False),
        sa.Column("command_id", sa.String(36), nullable=False, unique=True),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("door_id", Id, nullable=False),
        sa.Column("door", sa.String(128), nullable=False),
        sa.Column("seconds", sa.Integer()),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("sent_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("replied_at", Time),
        sa.Column("executed_at", Time),
    )
    op.create_index("ix_remote_opens_estate", "remote_opens", ["estate", "id"])


def upgrade() -> None:
    _setup_tables()
    _card_tables()
    _sync_tables()
    _report_tables()


def downgrade() -> None:
    for table in ("remote_opens", "alarms", "access_log", "gateway_access_state", "access_records", "access_changes",
                  "access_versions", "visitor_passes", "access_card_history", "access_cards", "door_group_members",
                  "access_schedules", "door_groups", "doors"):
        op.drop_table(table)  # their indexes go with them
