"""board rollups count a correction on the day its gift arrived: rebuilt from the ledger

Revision ID: 0016_rollups_gift_day
Revises: 0015_sessions

Emptying the monthly and daily rollups makes `db upgrade` (and the embedded database's start)
rebuild every rollup from the ledger under the new rule (schema.build_missing_rollups), so no one
has to remember `rebuild-rollups` after upgrading.
"""

from alembic import op


revision = "0016_rollups_gift_day"
down_revision = "0015_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM rollup_daily")
    op.execute("DELETE FROM rollup_monthly")


def downgrade() -> None:
    op.execute("DELETE FROM rollup_daily")
    op.execute("DELETE FROM rollup_monthly")
