"""matching challenges store what they have unlocked; campaign totals know whether there are matches

Revision ID: 0018_match_unlocked
Revises: 0017_board_fiscal

The ledger keeps `unlocked_cents` and `counted_through` current from now on (matches.py); this
revision fills them once by counting every campaign's standing gifts with the same allocation
code (matches.count), reading the tables as they are at this revision rather than through the
app's models, which may have moved on by the time an old database is upgraded.
"""

import sqlalchemy as sa
from alembic import op

import fundraiser.db
from fundraiser.matches import GiftForMatch, count
from fundraiser.models import GiftChannel

revision = "0018_match_unlocked"
down_revision = "0017_board_fiscal"
branch_labels = None
depends_on = None

UTC_DATETIME = fundraiser.db.UTCDateTime(timezone=True)

matching_challenges = sa.table(
    "matching_challenges",
    sa.column("id", sa.Integer), sa.column("campaign_id", sa.Integer), sa.column("ratio_percent", sa.Integer),
    sa.column("cap_cents", sa.BigInteger), sa.column("starts_at", UTC_DATETIME), sa.column("ends_at", UTC_DATETIME),
    sa.column("counts_offline", sa.Boolean), sa.column("counts_events", sa.Boolean),
    sa.column("follows_id", sa.Integer), sa.column("unlocked_cents", sa.BigInteger),
    sa.column("counted_through", UTC_DATETIME),
)
gifts = sa.table("gifts", sa.column("id", sa.Integer), sa.column("received_at", UTC_DATETIME), sa.column("channel", sa.String))
ledger_entries = sa.table(
    "ledger_entries", sa.column("gift_id", sa.Integer), sa.column("campaign_id", sa.Integer),
    sa.column("amount_cents", sa.BigInteger),
)
campaign_totals = sa.table("campaign_totals", sa.column("campaign_id", sa.Integer), sa.column("has_matches", sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table("matching_challenges") as batch:
        batch.add_column(sa.Column("unlocked_cents", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("counted_through", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("campaign_totals") as batch:
        batch.add_column(sa.Column("has_matches", sa.Boolean(), nullable=False, server_default=sa.false()))
    fill()


def fill() -> None:
    """Count every campaign's standing gifts into its matches, and flag the campaigns that have any."""
    conn = op.get_bind()
    by_campaign: dict[int, list] = {}
    for m in conn.execute(sa.select(matching_challenges).order_by(matching_challenges.c.id)):
        by_campaign.setdefault(m.campaign_id, []).append(m)
    if not by_campaign:
        return
    conn.execute(
        campaign_totals.update().where(campaign_totals.c.campaign_id.in_(list(by_campaign))).values(has_matches=True)
    )
    net = sa.func.sum(ledger_entries.c.amount_cents)
    for campaign_id, matches in by_campaign.items():
        standing = [
            GiftForMatch(received_at=r.received_at, channel=GiftChannel(r.channel), net_cents=int(r.net), gift_id=r.id)
            for r in conn.execute(
                sa.select(gifts.c.id, gifts.c.received_at, gifts.c.channel, net.label("net"))
                .join(ledger_entries, ledger_entries.c.gift_id == gifts.c.id)
                .where(ledger_entries.c.campaign_id == campaign_id)
                .group_by(gifts.c.id, gifts.c.received_at, gifts.c.channel)
                .having(net > 0)
            )
        ]
        unlocked, through = count(matches, standing)
        for m in matches:
            conn.execute(
                matching_challenges.update().where(matching_challenges.c.id == m.id)
                .values(unlocked_cents=unlocked[m.id], counted_through=through)
            )


def downgrade() -> None:
    with op.batch_alter_table("campaign_totals") as batch:
        batch.drop_column("has_matches")
    with op.batch_alter_table("matching_challenges") as batch:
        batch.drop_column("counted_through")
        batch.drop_column("unlocked_cents")
