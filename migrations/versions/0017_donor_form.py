"""campaigns: a default amount and a short impact line per suggested amount (the donate form)

Revision ID: 0017_donor_form
Revises: 0016_rollups_gift_day
"""

import sqlalchemy as sa
from alembic import op


revision = "0017_donor_form"
down_revision = "0017_donor_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("default_amount_cents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("impact_lines", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("impact_lines")
        batch.drop_column("default_amount_cents")
