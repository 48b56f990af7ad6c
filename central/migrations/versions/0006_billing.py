"""billing: fee items, rule versions, assignments, policies, bill runs, bills, lines, payments, postings, nonces

Revision ID: 0006
Revises: 0005

Postings, bills, bill lines and payments are append-only: triggers refuse UPDATE and DELETE (as for the audit
log). A rule version refuses UPDATE and DELETE once a bill line names it. A partial unique index on bill lines
of runs, (estate, period, unit, fee item, line number), makes re-running a period bill nothing twice.
See central/billing/models.py.
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Money = sa.Numeric(14, 2)
APPEND_ONLY = ("postings", "bills", "bill_lines", "payments")


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _estate(foreign: bool = True) -> sa.Column:
    if foreign:
        return sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False)
    return sa.Column("estate", sa.String(64), nullable=False)


def _setup_tables() -> None:
    op.create_table(
        "fee_items", _id(), _estate(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("meter_kind", sa.String(16)),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("estate", "code", name="uq_fee_items_estate_code"),
        sa.CheckConstraint("scope IN ('all', 'assigned')", name="ck_fee_items_scope"),
    )
    op.create_table(
        "fee_rules", _id(), _estate(),
        sa.Column("fee_item_id", Id, sa.ForeignKey("fee_items.id"), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("fee_item_id", "version", name="uq_fee_rules_item_version"),
        sa.UniqueConstraint("fee_item_id", "effective_from", name="uq_fee_rules_item_from"),
    )
    op.create_table(
        "fee_assignments", _id(), _estate(),
        sa.Column("fee_item_id", Id, sa.ForeignKey("fee_items.id"), nullable=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id"), nullable=False),
        sa.Column("household_size", sa.Integer()),
        sa.Column("created_at", Time, nullable=False),
        sa.UniqueConstraint("fee_item_id", "unit_id", name="uq_fee_assignments_item_unit"),
    )
    op.create_index("ix_fee_assignments_unit", "fee_assignments", ["unit_id"])
    op.create_table(
        "billing_policies",
        sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), primary_key=True),
        sa.Column("due_months", sa.Integer(), nullable=False),
        sa.Column("late_fee_daily_rate", sa.Numeric(8, 6), nullable=False),
        sa.Column("late_fee_cap_ratio", sa.Numeric(6, 4), nullable=False),
        sa.Column("late_fee_grace_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "receipt_sequences",
        sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )


def _run_tables() -> None:
    op.create_table(
        "bill_runs", _id(), _estate(),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("finished_at", Time),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("bills", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("total", Money, nullable=False),
        sa.Column("already_billed", sa.Integer(), nullable=False),
        sa.Column("held_count", sa.Integer(), nullable=False),
        sa.Column("held", Json, nullable=False),
        sa.Column("settled", Money, nullable=False),
        sa.Column("error", sa.String(1024), nullable=False),
    )
    op.create_index("ix_bill_runs_estate_period", "bill_runs", ["estate", "period"])
    op.create_table(
        "bills", _id(), _estate(foreign=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("run_id", Id),  # no foreign keys to the rows every bill or line names: see models.py
        sa.Column("issued_at", Time, nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("total", Money, nullable=False),
        sa.UniqueConstraint("estate", "period", "unit_id", "seq", name="uq_bills_period_unit_seq"),
    )
    op.create_index("ix_bills_unit_period", "bills", ["unit_id", "period"])
    op.create_index("ix_bills_estate_period", "bills", ["estate", "period"])
    op.create_table(
        "bill_lines", _id(),
        sa.Column("bill_id", Id, nullable=False),
        _estate(foreign=False),
        sa.Column("unit_id", Id, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("fee_item_id", Id, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(160), nullable=False),
        sa.Column("quantity", sa.Numeric(16, 4), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("unit_price", sa.Numeric(18, 6), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("rule_id", Id, nullable=False),
        sa.Column("rule_name", sa.String(32), nullable=False),
        sa.Column("rule_version", sa.String(32), nullable=False),
        sa.Column("source", Json),
    )
    run_lines = sa.text("origin = 'run'")
    op.create_index("uq_bill_lines_run_key", "bill_lines", ["estate", "period", "unit_id", "fee_item_id", "line_no"],
                    unique=True, sqlite_where=run_lines, postgresql_where=run_lines)
    op.create_index("ix_bill_lines_bill", "bill_lines", ["bill_id"])
    op.create_index("ix_bill_lines_rule", "bill_lines", ["rule_id"])


def _ledger_tables() -> None:
    op.create_table(
        "payments", _id(), _estate(),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id"), nullable=False),
        sa.Column("purpose", sa.String(12), nullable=False),
        sa.Column("method", sa.String(12), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("receipt_no", sa.String(48), nullable=False),
        sa.Column("provider", sa.String(32)),
        sa.Column("provider_payment_id", sa.String(128)),
        sa.Column("raw", Json),
        sa.Column("client_key", sa.String(64)),
        sa.Column("bill_id", Id, sa.ForeignKey("bills.id")),
        sa.Column("received_at", Time, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_id"),
        sa.UniqueConstraint("estate", "receipt_no", name="uq_payments_receipt"),
        sa.UniqueConstraint("estate", "client_key", name="uq_payments_client_key"),
    )
    op.create_index("ix_payments_estate_received", "payments", ["estate", "received_at"])
    op.create_index("ix_payments_unit", "payments", ["unit_id"])
    op.create_table(
        "postings", _id(), _estate(foreign=False),
        sa.Column("unit_id", Id, sa.ForeignKey("units.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("due_date", sa.Date()),
        sa.Column("bill_id", Id),
        sa.Column("bill_line_id", Id),
        sa.Column("payment_id", Id),
        sa.Column("reverses_id", Id),
        sa.Column("key", sa.String(128)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.CheckConstraint("kind IN ('charge', 'payment', 'late_fee', 'discount', 'refund', 'reversal', "
                           "'prepayment')", name="ck_postings_kind"),
        sa.CheckConstraint("side IN ('billed', 'received')", name="ck_postings_side"),
        sa.CheckConstraint("amount <> 0", name="ck_postings_amount"),
    )
    op.create_index("ix_postings_unit", "postings", ["unit_id", "id"])
    op.create_index("ix_postings_estate_period", "postings", ["estate", "period"])
    op.create_index("ix_postings_bill_line", "postings", ["bill_line_id"])
    for column, name in (("reverses_id", "uq_postings_reverses"), ("key", "uq_postings_key")):
        used = sa.text(f"{column} IS NOT NULL")  # partial: most postings have neither
        op.create_index(name, "postings", [column], unique=True, sqlite_where=used, postgresql_where=used)
    op.create_table(
        "webhook_nonces",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("received_at", Time, nullable=False),
    )
    op.create_index("ix_webhook_nonces_received_at", "webhook_nonces", ["received_at"])


def _postgresql_triggers() -> None:
    op.execute("""
        CREATE FUNCTION billing_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only: post a reversal instead', TG_TABLE_NAME; END $$""")
    for table in APPEND_ONLY:
        op.execute(f"""CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
                       FOR EACH ROW EXECUTE FUNCTION billing_is_append_only()""")
    op.execute("""
        CREATE FUNCTION fee_rule_unused() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM bill_lines WHERE rule_id = OLD.id) THEN
                RAISE EXCEPTION 'rule version % priced bills: add a new version instead', OLD.version;
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END $$""")
    op.execute("""CREATE TRIGGER fee_rules_frozen_once_used BEFORE UPDATE OR DELETE ON fee_rules
                  FOR EACH ROW EXECUTE FUNCTION fee_rule_unused()""")


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                           BEGIN SELECT RAISE(ABORT, '{table} is append-only: post a reversal instead'); END""")
    for event in ("UPDATE", "DELETE"):
        op.execute(f"""CREATE TRIGGER fee_rules_frozen_on_{event.lower()} BEFORE {event} ON fee_rules
                       WHEN EXISTS (SELECT 1 FROM bill_lines WHERE rule_id = OLD.id)
                       BEGIN SELECT RAISE(ABORT, 'the rule version priced bills: add a new version instead');
                       END""")


def upgrade() -> None:
    _setup_tables()
    _run_tables()
    _ledger_tables()
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_change ON {table}")
        op.execute("DROP TRIGGER fee_rules_frozen_once_used ON fee_rules")
        op.execute("DROP FUNCTION billing_is_append_only()")
        op.execute("DROP FUNCTION fee_rule_unused()")
    for table in ("webhook_nonces", "postings", "payments", "bill_lines", "bills", "bill_runs", "receipt_sequences",
                  "billing_policies", "fee_assignments", "fee_rules", "fee_items"):
        op.drop_table(table)  # their indexes and SQLite triggers go with them
