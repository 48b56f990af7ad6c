"""meters.register: which register of a gateway device's readings is the meter's cumulative counter

Revision ID: 0008
Revises: 0007

Null (every binding made before) means the well-known counters (central/metering/events.py, docs/meters.md
"Which register bills"). A nullable column without a default: a plain ADD/DROP COLUMN on SQLite (3.35 or
later) and PostgreSQL, no table rebuild. See central/metering/models.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meters", sa.Column("register", sa.String(64)))


def downgrade() -> None:
    op.drop_column("meters", "register")
