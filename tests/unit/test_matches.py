"""Matching challenges: stacking, one after another, caps, dates, channels, refunds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundraiser import ledger, matches
from fundraiser.matches import GiftForMatch, compute, parse_ratio
from fundraiser.models import GiftChannel, MatchingChallenge
from tests.factories import give, make_campaign, make_match

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
ONLINE, OFFLINE, EVENT = GiftChannel.ONLINE, GiftChannel.OFFLINE, GiftChannel.EVENT


def match(id, cap, ratio=100, follows=None, starts=None, ends=None, offline=False, events=False):
    return MatchingChallenge(id=id, campaign_id=1, sponsor=f"S{id}", description="", ratio_percent=ratio,
                             cap_cents=cap, follows_id=follows, starts_at=starts, ends_at=ends,
                             counts_offline=offline, counts_events=events)


def gift(cents, minutes=0, channel=ONLINE):
    return GiftForMatch(received_at=T0 + timedelta(minutes=minutes), channel=channel, net_cents=cents)


def unlocked(statuses):
    return {s.id: s.unlocked_cents for s in statuses}


def test_one_to_one_up_to_the_cap():
    result = compute([match(1, 5000)], [gift(3000), gift(4000, 1)], T0 + timedelta(hours=1))
    assert unlocked(result) == {1: 5000}
    assert result[0].state == "full" and result[0].remaining_cents == 0


def test_separate_matches_stack():
    result = compute([match(1, 10_000), match(2, 10_000, ratio=50)], [gift(4000)], T0)
    assert unlocked(result) == {1: 4000, 2: 2000}


def test_a_following_match_takes_only_what_the_first_could_not():
    # Board member: $50 at 1:1; then a company: $25 at 1:1.
    ms = [match(1, 5000), match(2, 2500, follows=1)]
    result = compute(ms, [gift(3000), gift(3000, 1), gift(3000, 2)], T0 + timedelta(hours=1))
    assert unlocked(result) == {1: 5000, 2: 2500}
    assert [s.state for s in result] == ["full", "full"]
    partial = compute(ms, [gift(3000)], T0 + timedelta(hours=1))
    assert unlocked(partial) == {1: 3000, 2: 0}
    assert [s.state for s in partial] == ["running", "next"]


def test_the_gift_that_fills_a_match_spills_its_unmatched_part_to_the_next():
    # 2:1 match with $10 left takes $5 of a $20 gift; the other $15 flows on to the 1:1 follower.
    ms = [match(1, 1000, ratio=200), match(2, 10_000, follows=1)]
    assert unlocked(compute(ms, [gift(2000)], T0)) == {1: 1000, 2: 1500}


def test_dates_and_channels_decide_what_counts():
    ms = [match(1, 100_000, starts=T0, ends=T0 + timedelta(hours=1)), match(2, 100_000, offline=True, events=True)]
    gifts = [gift(1000, -5), gift(2000, 10), gift(4000, 120), gift(800, 5, OFFLINE), gift(300, 6, EVENT)]
    assert unlocked(compute(ms, gifts, T0)) == {1: 2000, 2: 8100}


def test_states_follow_the_clock():
    ms = [match(1, 5000, starts=T0 + timedelta(days=1)), match(2, 5000, ends=T0 - timedelta(days=1))]
    assert [s.state for s in compute(ms, [], T0)] == ["upcoming", "ended"]


@pytest.mark.parametrize(("raw", "percent"), [("1:1", 100), ("2:1", 200), ("0.5:1", 50), ("3", 300), (" 1.25 : 1", 125), ("10:1", 1000)])
def test_ratio_parsing(raw, percent):
    assert parse_ratio(raw) == percent


@pytest.mark.parametrize("raw", ["", "double", "0:1", "11:1", "1.005:1", "-1:1"])
def test_bad_ratios_get_a_message(raw):
    with pytest.raises(ValueError, match="ratio"):
        parse_ratio(raw)


@settings(max_examples=200, deadline=None)
@given(
    caps=st.lists(st.integers(1, 50_000), min_size=1, max_size=4),
    ratios=st.lists(st.sampled_from([50, 100, 150, 200, 300]), min_size=4, max_size=4),
    chained=st.lists(st.booleans(), min_size=4, max_size=4),
    amounts=st.lists(st.integers(1, 30_000), max_size=30),
)
def test_no_match_ever_unlocks_more_than_its_cap_or_its_ratio_allows(caps, ratios, chained, amounts):
    ms = [match(i + 1, cap, ratios[i], follows=i if (i and chained[i]) else None) for i, cap in enumerate(caps)]
    result = compute(ms, [gift(a, n) for n, a in enumerate(amounts)], T0 + timedelta(days=1))
    total = sum(amounts)
    for status, m in zip(result, sorted(ms, key=lambda m: m.id), strict=False):
        assert 0 <= status.unlocked_cents <= status.cap_cents
    for s in result:
        assert s.unlocked_cents <= total * s.ratio_percent // 100
    # Within one chain, the donors' dollars are used at most once.
    roots = [m for m in ms if m.follows_id is None]
    by_id = {s.id: s for s in result}
    for root in roots:
        chain, current = [root], root
        while (nxt := next((m for m in ms if m.follows_id == current.id), None)) is not None:
            chain.append(nxt)
            current = nxt
        used = sum(-(-by_id[m.id].unlocked_cents * 100 // m.ratio_percent) for m in chain)
        assert used <= total + len(chain)  # rounding up each pool's share costs at most a cent each


def test_refunded_gifts_stop_counting(session):
    campaign = make_campaign(session)
    make_match(session, campaign, 100_000)
    kept = give(session, campaign, 3000, channel=ONLINE)
    refunded = give(session, campaign, 2000, channel=ONLINE)
    ledger.refund_gift(session, refunded, 2000, source_key="r1")
    ledger.refund_gift(session, kept, 500, source_key="r2")
    session.flush()
    session.refresh(campaign)
    statuses = matches.campaign_matches(session, campaign)
    assert [s.unlocked_cents for s in statuses] == [2500]
    assert matches.matched_total(statuses) == 2500
