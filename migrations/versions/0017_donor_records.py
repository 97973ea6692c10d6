"""donor records: soft credits on gift_credits, households, and in-kind kept out of the public goal

Revision ID: 0017_donor_records
Revises: 0016_rollups_gift_day

gift_credits gains a kind (existing rows are event guests), who added it, and who removed it
when (a removed soft credit stays on record). Donors may belong to a household. Campaigns say
whether in-kind gifts count toward the public goal (default: no).
"""

import sqlalchemy as sa
from alembic import op


revision = "0017_donor_records"
down_revision = "0016_rollups_gift_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mailing_name", sa.String(200), nullable=False),
        sa.Column("address_line1", sa.String(200)),
        sa.Column("address_line2", sa.String(200)),
        sa.Column("city", sa.String(100)),
        sa.Column("region", sa.String(100)),
        sa.Column("postal_code", sa.String(20)),
        sa.Column("country", sa.String(2)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_households_created_by_id_users")),
    )
    with op.batch_alter_table("donors") as batch:
        batch.add_column(sa.Column("household_id", sa.Integer()))
        batch.create_foreign_key("fk_donors_household_id_households", "households", ["household_id"], ["id"])
        batch.create_index("ix_donors_household_id", ["household_id"])
    with op.batch_alter_table("gift_credits") as batch:
        batch.add_column(sa.Column("kind", sa.String(24), nullable=False, server_default="event_guest"))
        batch.add_column(sa.Column("created_by_id", sa.Integer()))
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("removed_by_id", sa.Integer()))
        batch.create_foreign_key("fk_gift_credits_created_by_id_users", "users", ["created_by_id"], ["id"])
        batch.create_foreign_key("fk_gift_credits_removed_by_id_users", "users", ["removed_by_id"], ["id"])
        batch.create_index("ix_gift_credits_donor_id", ["donor_id"])
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("counts_in_kind", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("counts_in_kind")
    with op.batch_alter_table("gift_credits") as batch:
        batch.drop_index("ix_gift_credits_donor_id")
        batch.drop_constraint("fk_gift_credits_removed_by_id_users", type_="foreignkey")
        batch.drop_constraint("fk_gift_credits_created_by_id_users", type_="foreignkey")
        batch.drop_column("removed_by_id")
        batch.drop_column("removed_at")
        batch.drop_column("created_by_id")
        batch.drop_column("kind")
    with op.batch_alter_table("donors") as batch:
        batch.drop_index("ix_donors_household_id")
        batch.drop_constraint("fk_donors_household_id_households", type_="foreignkey")
        batch.drop_column("household_id")
    op.drop_table("households")
