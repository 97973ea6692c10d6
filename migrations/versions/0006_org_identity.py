"""organisation identity kept in the database: settings admins change on the Settings page

Revision ID: 0006_org_identity
Revises: 0005_staff_console
"""

from alembic import op
import sqlalchemy as sa
import fundraiser.db


revision = "0006_org_identity"
down_revision = "0005_staff_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_settings",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", fundraiser.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_org_settings_updated_by_id_users")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_org_settings")),
    )


def downgrade() -> None:
    op.drop_table("org_settings")
