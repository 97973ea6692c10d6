"""donor trust: the cover's alt text and size, a donor's newsletter consent date

Revision ID: 0017_donor_trust
Revises: 0016_rollups_gift_day
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0017_donor_trust"
down_revision = "0017_donor_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cover_alt", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("cover_width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cover_height", sa.Integer(), nullable=True))
    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("newsletter_consent_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.drop_column("newsletter_consent_at")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("cover_height")
        batch_op.drop_column("cover_width")
        batch_op.drop_column("cover_alt")
