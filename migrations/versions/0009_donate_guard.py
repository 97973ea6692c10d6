"""donate guard: donation starts counted per address/campaign/total; each attempt's address, and its email indexed

Revision ID: 0009_donate_guard
Revises: 0012_year_end
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0009_donate_guard"
down_revision = "0012_year_end"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "donate_counters",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_start", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_donate_counters")),
    )
    with op.batch_alter_table("donate_counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_donate_counters_window_start"), ["window_start"], unique=False)

    with op.batch_alter_table("donation_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip_address", sa.String(length=45), nullable=True))
        batch_op.create_index(batch_op.f("ix_donation_attempts_ip_address"), ["ip_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_donation_attempts_donor_email"), ["donor_email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("donation_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donation_attempts_donor_email"))
        batch_op.drop_index(batch_op.f("ix_donation_attempts_ip_address"))
        batch_op.drop_column("ip_address")
    with op.batch_alter_table("donate_counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donate_counters_window_start"))
    op.drop_table("donate_counters")
