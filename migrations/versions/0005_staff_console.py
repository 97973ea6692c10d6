"""staff console: sign-in throttling, itemised credits behind a gift, donor-wall moderation

Revision ID: 0005_staff_console
Revises: 0004_board_rollups
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0005_staff_console"
down_revision = '0004_board_rollups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_ip_address"), ["ip_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"], unique=False)

    op.create_table(
        "gift_credits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("created_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_cents IS NULL OR amount_cents > 0", name=op.f("ck_gift_credits_amount_positive")
        ),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_gift_credits_gift_id_gifts")),
        sa.ForeignKeyConstraint(["donor_id"], ["donors.id"], name=op.f("fk_gift_credits_donor_id_donors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_credits")),
    )
    with op.batch_alter_table("gift_credits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gift_credits_gift_id"), ["gift_id"], unique=False)


    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_hidden", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("wall_reviewed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("wall_reviewed")
        batch_op.drop_column("name_hidden")
    with op.batch_alter_table("gift_credits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gift_credits_gift_id"))
    op.drop_table("gift_credits")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_at"))
        batch_op.drop_index(batch_op.f("ix_login_failures_ip_address"))
        batch_op.drop_index(batch_op.f("ix_login_failures_email"))
    op.drop_table("login_failures")
