"""the staff's year: numbered deposit batches, dedications staff can hide, demo campaigns marked

Revision ID: 0014_staff_year
Revises: 0011_receipt_wording
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0014_staff_year"
down_revision = "0011_receipt_wording"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum("open", "closed", name="depositstatus", native_enum=False, length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("slip_total_cents", sa.BigInteger(), nullable=True),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", fundraiser.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "slip_total_cents IS NULL OR slip_total_cents >= 0", name=op.f("ck_deposit_batches_slip_not_negative")
        ),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_deposit_batches_opened_by_id_users")),
        sa.ForeignKeyConstraint(["closed_by_id"], ["users.id"], name=op.f("fk_deposit_batches_closed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposit_batches")),
        sa.UniqueConstraint("number", name=op.f("uq_deposit_batches_number")),
    )
    # Plain ADD COLUMN (no batch copy of the table): SQLite can add these in place, and copying
    # `gifts` or `campaigns` would drop a table that other tables' rows point at.
    op.add_column("campaigns", sa.Column("is_sample", sa.Boolean(), server_default=sa.false(), nullable=False))
    # Demo campaigns seeded before this column existed: the ones holding the demo's sample gifts.
    op.execute(
        "UPDATE campaigns SET is_sample = true WHERE slug IN ('five-year-anniversary', "
        "'restrained-and-secluded-documentary', 'giving-tuesday', 'support-our-mission') "
        "AND id IN (SELECT campaign_id FROM gifts WHERE is_sample = true AND campaign_id IS NOT NULL)"
    )
    op.add_column("gifts", sa.Column("dedication_hidden", sa.Boolean(), server_default=sa.false(), nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        # Alembic adds a foreign key on SQLite only by copying the table; SQLite itself takes one inline.
        op.execute(
            "ALTER TABLE gifts ADD COLUMN deposit_batch_id INTEGER "
            "CONSTRAINT fk_gifts_deposit_batch_id_deposit_batches REFERENCES deposit_batches (id)"
        )
    else:
        op.add_column("gifts", sa.Column(
            "deposit_batch_id", sa.Integer(),
            sa.ForeignKey("deposit_batches.id", name=op.f("fk_gifts_deposit_batch_id_deposit_batches")), nullable=True,
        ))
    op.create_index(op.f("ix_gifts_deposit_batch_id"), "gifts", ["deposit_batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":
            # SQLite does not report the name of a key added inline; copying the table without
            # the column drops it there.
            batch_op.drop_constraint(batch_op.f("fk_gifts_deposit_batch_id_deposit_batches"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_gifts_deposit_batch_id"))
        batch_op.drop_column("deposit_batch_id")
        batch_op.drop_column("dedication_hidden")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("is_sample")
    op.drop_table("deposit_batches")
