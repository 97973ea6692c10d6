"""Hypothesis ledgers for the rollup and board tests: every kind of entry, on awkward local days."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from fundraiser import ledger
from fundraiser.ledger import LedgerError
from fundraiser.models import GiftChannel, GiftMethod, PlanStatus, RecurringPlan
from tests.factories import give, make_campaign, make_donor, make_event

# Instants either side of New York midnight on a leap day, a month end, a year end and both
# daylight-saving changes, where a UTC day and a local day disagree.
EDGES = [
    datetime(2024, 2, 29, 4, 59, 59, tzinfo=UTC),   # Feb 28, 23:59:59 in New York
    datetime(2024, 2, 29, 5, 0, tzinfo=UTC),        # Feb 29, 00:00
    datetime(2024, 3, 1, 4, 59, 59, tzinfo=UTC),    # Feb 29, 23:59:59
    datetime(2024, 3, 1, 5, 0, tzinfo=UTC),         # Mar 1, 00:00
    datetime(2024, 3, 10, 6, 59, tzinfo=UTC),       # DST starts
    datetime(2024, 11, 3, 5, 30, tzinfo=UTC),       # DST ends
    datetime(2024, 1, 1, 4, 59, tzinfo=UTC),        # still 2023 locally
    datetime(2024, 1, 1, 5, 0, tzinfo=UTC),
    datetime(2025, 1, 1, 4, 59, tzinfo=UTC),
    datetime(2025, 3, 1, 4, 59, tzinfo=UTC),        # Feb 28, 2025 locally
]

moment = st.one_of(
    st.sampled_from(EDGES),
    st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2025, 6, 30), timezones=st.just(UTC)),
)

operation = st.one_of(
    st.tuples(
        st.just("gift"), st.integers(0, 2), st.integers(0, 4), st.sampled_from([500, 2500, 5000, 10_000, 123_456]),
        moment, st.sampled_from(list(GiftChannel)), st.sampled_from(list(GiftMethod)),
        st.sampled_from([None, 0, 175]), st.booleans(),
    ),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 6000), moment),
    st.tuples(st.just("void"), st.integers(0, 30)),
    st.tuples(st.just("correct"), st.integers(0, 30), st.integers(1, 20_000)),
    st.tuples(st.just("dispute"), st.integers(0, 30), moment),
    st.tuples(st.just("win"), st.integers(0, 30), moment),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 2)),
    st.tuples(st.just("fee"), st.integers(0, 30), st.integers(0, 300)),
    # Staff fix a saved gift: a new donor (or none), date received and method (gifts.edit_details).
    st.tuples(st.just("restate"), st.integers(0, 30), st.integers(0, 4), st.one_of(st.none(), moment),
              st.sampled_from(list(GiftMethod))),
)


def build_ledger(session, ops, prepare=None) -> list:
    """Play the operations through ledger.py; refused ones change nothing. Returns the campaigns.

    `prepare(campaigns)`, when given, runs before the operations (e.g. to add matches)."""
    campaigns = [make_campaign(session, currency="USD") for _ in range(3)]
    if prepare is not None:
        prepare(campaigns)
    donors = [make_donor(session) for _ in range(4)] + [None]
    events = [make_event(session, c) for c in campaigns]
    plan = RecurringPlan(campaign_id=campaigns[0].id, amount_cents=2500, currency="USD", status=PlanStatus.ACTIVE)
    session.add(plan)
    session.flush()
    gifts: list = []
    disputed: list = []
    for op in ops:
        try:
            if op[0] == "gift":
                _, c, d, amount, at, channel, method, fee, recurring = op
                gifts.append(
                    give(
                        session, campaigns[c], amount, donor=donors[d], received_at=at, channel=channel,
                        method=method, fee_cents=fee,
                        event_id=events[c].id if channel == GiftChannel.EVENT else None,
                        recurring_plan_id=plan.id if recurring and c == 0 else None,
                    )
                )
            elif not gifts:
                continue
            elif op[0] == "refund":
                ledger.refund_gift(session, gifts[op[1] % len(gifts)], op[2], occurred_at=op[3])
            elif op[0] == "void":
                ledger.void_gift(session, gifts[op[1] % len(gifts)], reason="test")
            elif op[0] == "correct":
                ledger.correct_amount(session, gifts[op[1] % len(gifts)], op[2], reason="test")
            elif op[0] == "dispute":
                gift = gifts[op[1] % len(gifts)]
                amount = ledger.gift_net(session, gift)
                ledger.record_dispute(session, gift, amount, occurred_at=op[2])
                disputed.append((gift, amount))
            elif op[0] == "win" and disputed:
                gift, amount = disputed.pop(op[1] % len(disputed))
                ledger.record_dispute_won(session, gift, amount, occurred_at=op[2])
            elif op[0] == "move":
                ledger.assign_campaign(session, gifts[op[1] % len(gifts)], campaigns[op[2]])
            elif op[0] == "fee":
                ledger.set_fee(session, gifts[op[1] % len(gifts)], op[2])
            elif op[0] == "restate":
                gift = gifts[op[1] % len(gifts)]
                donor = donors[op[2]]
                ledger.restate_gift(
                    session, gift, donor_id=donor.id if donor else None, received_at=op[3] or gift.received_at,
                    method=op[4], reason="test",
                )
        except LedgerError:
            pass  # a refused change must leave every rollup as it was; the checks prove it
    session.flush()
    return campaigns
