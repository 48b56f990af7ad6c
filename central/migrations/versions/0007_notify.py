"""notify: the notification outbox, attachments, and the append-only attempt log

Revision ID: 0007
Revises: 0006

(estate, channel, purpose, dedup_key) is unique: the same notice is never queued twice. Triggers refuse UPDATE
and DELETE on notification_attempts (as for the audit log). See central/notify/models.py.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id")),
        sa.Column("resident_id", Id, sa.ForeignKey("residents.id")),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(128), nullable=False),
        sa.Column("template", sa.String(32), nullable=False),
        sa.Column("template_data", Json, nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("document", Json),
        sa.Column("attachment_name", sa.String(128)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("lease_until", Time),
        sa.Column("claim_token", sa.String(36)),
        sa.Column("last_error", sa.String(500)),
        sa.Column("provider_id", sa.String(256)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("sent_at", Time),
        sa.UniqueConstraint("estate", "channel", "purpose", "dedup_key", name="uq_notifications_dedup"),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_notifications_channel"),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed_permanently', 'cancelled')",
                           name="ck_notifications_status"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_estate_id", "notifications", ["estate", "id"])
    op.create_index("ix_notifications_unit_id", "notifications", ["unit_id"])
    op.create_index("ix_notifications_resident_id", "notifications", ["resident_id"])
    op.create_table(
        "notification_attachments",
        sa.Column("notification_id", Id, sa.ForeignKey("notifications.id"), primary_key=True),
        sa.Column("filename", sa.String(128), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("notification_id", Id, sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.CheckConstraint("outcome IN ('sent', 'retry', 'failed', 'lease_expired')",
                           name="ck_notification_attempts_outcome"),
    )
    op.create_index("ix_notification_attempts_notification_id", "notification_attempts", ["notification_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION notification_attempts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'notification_attempts is append-only'; END $$""")
        op.execute("""CREATE TRIGGER notification_attempts_no_change BEFORE UPDATE OR DELETE
                      ON notification_attempts FOR EACH ROW EXECUTE FUNCTION notification_attempts_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER notification_attempts_no_{event.lower()} BEFORE {event}
                           ON notification_attempts
                           BEGIN SELECT RAISE(ABORT, 'notification_attempts is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER notification_attempts_no_change ON notification_attempts")
        op.execute("DROP FUNCTION notification_attempts_append_only()")
    for table in ("notification_attempts", "notification_attachments", "notifications"):
        op.drop_table(table)  # their indexes and SQLite triggers go with them
