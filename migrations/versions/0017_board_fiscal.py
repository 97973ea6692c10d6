"""donor-month rollups keep what each donor's gifts raised (fiscal-year upgrades and downgrades);
gifts are indexed by amount (the year's top gifts)

Revision ID: 0017_board_fiscal
Revises: 0016_rollups_gift_day

The new column starts at zero; emptying the rollups makes `db upgrade` (and the embedded
database's start) rebuild every rollup from the ledger (schema.build_missing_rollups), so the
column holds the right sums without anyone running `rebuild-rollups`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_board_fiscal"
down_revision = "0017_donor_form"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rollup_donor_months") as batch:
        batch.add_column(sa.Column("raised_cents", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_gifts_amount", "gifts", ["amount_cents"])
    op.execute("DELETE FROM rollup_daily")
    op.execute("DELETE FROM rollup_monthly")


def downgrade() -> None:
    op.drop_index("ix_gifts_amount", table_name="gifts")
    with op.batch_alter_table("rollup_donor_months") as batch:
        batch.drop_column("raised_cents")
