"""holder_photos: a photo per resident or member of staff, which the gatehouse console shows beside each tap

Revision ID: 0009
Revises: 0008

Keyed by (holder_kind, holder_id): residents.id or staff.id, as the kind says (no foreign key can point at
either; deleting a resident or member of staff deletes their photo in the same transaction). At most 512 KiB
of JPEG or PNG, checked before it is stored. See central/registry/models.py and central/registry/photos.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holder_photos",
        sa.Column("holder_kind", sa.String(16), primary_key=True),
        sa.Column("holder_id", sa.BigInteger(), primary_key=True),
        sa.Column("estate", sa.String(64), sa.ForeignKey("estates.code"), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("holder_kind IN ('resident', 'staff')", name="ck_holder_photos_kind"),
    )
    op.create_index("ix_holder_photos_estate", "holder_photos", ["estate"])


def downgrade() -> None:
    op.drop_table("holder_photos")  # its index goes with it
