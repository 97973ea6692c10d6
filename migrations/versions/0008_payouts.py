"""real money on Stripe: disputes and their fees, the settlement of each gift, payouts and their lines

Revision ID: 0008_payouts
Revises: 0009_donate_guard
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0008_payouts"
down_revision = "0009_donate_guard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("settled_net_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("exchange_rate", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("stripe_balance_transaction_id", sa.String(length=255), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_gifts_stripe_balance_transaction_id"), ["stripe_balance_transaction_id"], unique=False
        )

    op.create_table(
        "stripe_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(length=255), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("is_inquiry", sa.Boolean(), nullable=False),
        sa.Column("opened_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stripe_updated_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_stripe_disputes_gift_id_gifts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_disputes")),
        sa.UniqueConstraint("stripe_dispute_id", name=op.f("uq_stripe_disputes_stripe_dispute_id")),
    )
    with op.batch_alter_table("stripe_disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stripe_disputes_gift_id"), ["gift_id"], unique=False)

    op.create_table(
        "gift_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Enum("dispute_fee", name="costkind", native_enum=False, length=24), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("stripe_balance_transaction_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_gift_costs_amount_not_zero")),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_gift_costs_gift_id_gifts")),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"], ["ledger_entries.id"], name=op.f("fk_gift_costs_ledger_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_costs")),
        sa.UniqueConstraint(
            "stripe_balance_transaction_id", name=op.f("uq_gift_costs_stripe_balance_transaction_id")
        ),
    )
    with op.batch_alter_table("gift_costs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gift_costs_gift_id"), ["gift_id"], unique=False)

    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_payout_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("arrival_date", sa.Date(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("reconciliation_status", sa.String(length=24), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("stripe_updated_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines_fetched_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetch_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_fetch_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("stripe_payout_id", name=op.f("uq_payouts_stripe_payout_id")),
    )

    op.create_table(
        "payout_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("stripe_balance_transaction_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("reporting_category", sa.String(length=40), nullable=False),
        sa.Column("gross_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("net_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("exchange_rate", sa.String(length=40), nullable=True),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("occurred_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=True),
        sa.Column("ledger_entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"], name=op.f("fk_payout_lines_payout_id_payouts")),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_payout_lines_gift_id_gifts")),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"], ["ledger_entries.id"], name=op.f("fk_payout_lines_ledger_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_lines")),
        sa.UniqueConstraint("payout_id", "stripe_balance_transaction_id", name=op.f("uq_payout_lines_payout_txn")),
    )
    with op.batch_alter_table("payout_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_lines_payout_id"), ["payout_id"], unique=False)
        batch_op.create_index("ix_payout_lines_gift", ["gift_id"], unique=False)


def downgrade() -> None:
    op.drop_table("payout_lines")
    op.drop_table("payouts")
    op.drop_table("gift_costs")
    op.drop_table("stripe_disputes")
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gifts_stripe_balance_transaction_id"))
        batch_op.drop_column("stripe_balance_transaction_id")
        batch_op.drop_column("exchange_rate")
        batch_op.drop_column("settled_net_cents")
        batch_op.drop_column("fee_currency")
