"""Fixing a saved gift from its page: who gave it, when and how move its money in every total and
rollup through new ledger entries; descriptive details are revised; the audit log keeps the before,
the after and the reason; a bad form changes nothing."""

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from fundraiser import ledger
from fundraiser.models import (
    AuditLog,
    CampaignDonorTotal,
    CampaignTotals,
    DailyRollup,
    DonorBitmap,
    EntryKind,
    Gift,
    GiftChannel,
    GiftMethod,
    LedgerEntry,
    MonthlyRollup,
    OutboxMessage,
)
from fundraiser.rollups import compute_rollups, differences
from fundraiser.statements import year_statement
from tests.factories import give, local_today, make_campaign, make_donor
from tests.functional.staff_helpers import signed_in_client

TZ = ZoneInfo("America/New_York")


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=TZ)


def form_for(gift: Gift, **changes) -> dict:
    """The "Edit details" form as the gift page fills it in, with some fields changed."""
    fields = {
        "donor_id": str(gift.donor_id or ""), "donor_query": gift.donor.name if gift.donor else "",
        "received_on": gift.received_at.astimezone(TZ).date().isoformat(), "method": gift.method.value,
        "reference": gift.reference or "", "description": gift.description or "", "goods_value": "",
        "dedication_kind": "", "dedication_name": "", "show_publicly": "" if gift.is_anonymous else "yes",
        "reason": "",
    }
    fields.update(changes)
    return fields


def ledger_is_consistent(session) -> None:
    assert ledger.verify_totals(session) == []
    assert differences(session, compute_rollups(session)) == []


def test_a_date_moved_across_the_new_year_moves_rollups_and_the_year_end_statement(app, session):
    campaign = make_campaign(session)
    donor = make_donor(session, name="Ada Lovelace")
    gift = give(session, campaign, 10000, donor=donor, received_at=noon(date(2025, 12, 30)), reference="1042")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    page = client.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "Edit details" in page and 'value="2025-12-30"' in page

    response = client.post(f"/staff/gifts/{gift.id}/edit", data=form_for(
        gift, received_on="2026-01-02", reason="check was dated in January"), follow_redirects=True)
    html = response.get_data(as_text=True)

    assert "Changed gift" in html and "received date" in html
    session.expire_all()
    assert gift.received_at.astimezone(TZ).date() == date(2026, 1, 2)
    kinds = [(e.kind, e.amount_cents, e.occurred_at.astimezone(TZ).date()) for e in gift.entries]
    assert kinds == [  # the original entry stays as entered; a re-entry pair moves it
        (EntryKind.GIFT, 10000, date(2025, 12, 30)),
        (EntryKind.REASSIGN_OUT, -10000, date(2025, 12, 30)),
        (EntryKind.REASSIGN_IN, 10000, date(2026, 1, 2)),
    ]
    assert "check was dated in January" in gift.entries[-1].reason
    assert session.get(CampaignTotals, campaign.id).raised_cents == 10000
    assert session.get(DailyRollup, (campaign.id, date(2025, 12, 30))).raised_cents == 0
    assert session.get(DailyRollup, (campaign.id, date(2026, 1, 2))).raised_cents == 10000
    december = session.get(MonthlyRollup, (campaign.id, date(2025, 12, 1), GiftChannel.OFFLINE, GiftMethod.CHECK))
    assert december.raised_cents == 0
    assert year_statement(session, donor, 2025, TZ).lines == []
    assert [line.net_cents for line in year_statement(session, donor, 2026, TZ).lines] == [10000]
    ledger_is_consistent(session)
    row = session.scalar(select(AuditLog).where(AuditLog.action == "gift.edit"))
    assert row.before == {"received_on": "2025-12-30"}
    assert row.after == {"received_on": "2026-01-02", "reason": "check was dated in January"}


def test_a_new_donor_takes_the_gift_its_totals_and_its_receipt(app, session):
    campaign = make_campaign(session)
    wrong = make_donor(session, name="Bob Wrong", email="bob@example.org")
    right = make_donor(session, name="Carol Right", email="carol@example.org")
    gift = give(session, campaign, 5000, donor=wrong)
    from fundraiser.receipts import queue_for_gift

    queue_for_gift(session, gift)
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    response = client.post(f"/staff/gifts/{gift.id}/edit", data=form_for(
        gift, donor_id=str(right.id), donor_query="Carol Right", reason="the check was Carol's"), follow_redirects=True)

    html = response.get_data(as_text=True)
    assert "earlier donor already had a receipt" in html and "New receipts went to the donor now credited" in html
    session.expire_all()
    assert gift.donor_id == right.id
    assert session.get(CampaignDonorTotal, (campaign.id, wrong.id)).net_cents == 0
    assert session.get(CampaignDonorTotal, (campaign.id, right.id)).net_cents == 5000
    assert session.get(CampaignTotals, campaign.id).donor_count == 1
    month = gift.received_at.astimezone(TZ).date().replace(day=1)
    bits = int.from_bytes(session.get(DonorBitmap, (campaign.id, "all", month)).bits, "little")
    assert bits == 1 << right.id  # the board counts Carol, not Bob
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to_email == "carol@example.org")) == 1
    ledger_is_consistent(session)
    assert client.get(f"/staff/donors/{right.id}").status_code == 200
    row = session.scalar(select(AuditLog).where(AuditLog.action == "gift.edit"))
    assert row.before == {"donor_id": wrong.id} and row.after["donor_id"] == right.id


def test_method_reference_goods_dedication_and_display_are_revised_with_the_board_following(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 20000, donor=make_donor(session), reference="77", is_anonymous=True)
    ledger.refund_gift(session, gift, 5000, reason="part returned")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")

    client.post(f"/staff/gifts/{gift.id}/edit", data=form_for(
        gift, method="cash", reference="", goods_value="40.00", dedication_kind="memory", dedication_name="Grace Hopper",
        show_publicly="yes", reason="entered from the wrong envelope"))

    session.expire_all()
    assert (gift.method, gift.reference, gift.goods_value_cents) == (GiftMethod.CASH, None, 4000)
    assert (gift.dedication_kind, gift.dedication_name, gift.is_anonymous) == ("memory", "Grace Hopper", False)
    month = gift.received_at.astimezone(TZ).date().replace(day=1)
    cash = session.get(MonthlyRollup, (campaign.id, month, GiftChannel.OFFLINE, GiftMethod.CASH))
    assert (cash.raised_cents, cash.refund_cents, cash.refund_count) == (15000, 5000, 1)
    assert session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.gift_id == gift.id)) == 2
    ledger_is_consistent(session)
    row = session.scalar(select(AuditLog).where(AuditLog.action == "gift.edit"))
    assert row.before == {"method": "check", "reference": "77", "goods_value_cents": None, "dedication_kind": None,
                          "dedication_name": None, "is_anonymous": True}
    assert row.after["method"] == "cash" and row.after["reason"] == "entered from the wrong envelope"


def test_an_online_gift_keeps_its_method_but_its_donor_can_be_fixed(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 2500, donor=make_donor(session), channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    other = make_donor(session, name="Dana Online")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    refused = client.post(f"/staff/gifts/{gift.id}/edit", data=form_for(gift, method="cash", received_on="2026-01-05", reason="x"))
    assert refused.status_code == 400 and "come from the card processor" in refused.get_data(as_text=True)
    client.post(f"/staff/gifts/{gift.id}/edit", data=form_for(
        gift, donor_id=str(other.id), donor_query="Dana Online", reason="paid for Dana"))
    session.expire_all()
    assert (gift.donor_id, gift.method) == (other.id, GiftMethod.CARD)
    ledger_is_consistent(session)


def test_a_bad_edit_explains_itself_and_changes_nothing(app, session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 5000, donor=make_donor(session, name="Eve Keep"))
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    cases = [
        (form_for(gift, received_on="2026-01-02", reason=" "), "Please say why you are changing this gift"),
        (form_for(gift, received_on="31/31/2025", reason="typo"), "isn&#39;t a date"),
        (form_for(gift, donor_id="", donor_query="Nobody Atall", reason="typo"), "No donor matches"),
        (form_for(gift, reason="no change"), "Nothing was changed"),
        (form_for(gift, goods_value="80", reason="dinner"), "can&#39;t be worth more than the gift"),
    ]
    for form, message in cases:
        response = client.post(f"/staff/gifts/{gift.id}/edit", data=form)
        assert response.status_code == 400 and message in response.get_data(as_text=True), message
    session.expire_all()
    assert gift.donor.name == "Eve Keep" and len(gift.entries) == 1
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "gift.edit")) == 0


def test_an_event_moved_to_another_campaign_takes_its_proceeds_after_asking(app, session, runner):
    from fundraiser.models import CommunityEvent, EventRollup
    from tests.factories import make_event

    first = make_campaign(session, title="Winter Appeal")
    second = make_campaign(session, title="Spring Appeal")
    host = make_donor(session, name="Cookie Club")
    event = make_event(session, first, name="Cookie Walk", host_name="Cookie Club", host_donor_id=host.id)
    kept = give(session, first, 12000, donor=host, event_id=event.id, channel=GiftChannel.EVENT, reference="A1")
    voided = give(session, first, 3000, donor=host, event_id=event.id, channel=GiftChannel.EVENT)
    ledger.void_gift(session, voided, reason="counted twice")
    session.commit()
    client = signed_in_client(app, session, "staff", "not-a-real-hash")
    form = {"name": "Cookie Walk", "slug": event.slug, "host_name": "Cookie Club", "host_donor_id": str(host.id),
            "event_date": event.event_date.isoformat(), "campaign_id": str(second.id), "place": "", "description": ""}

    asked = client.post(f"/staff/events/{event.id}/edit", data=form).get_data(as_text=True)

    assert "Move Cookie Walk&#39;s proceeds to Spring Appeal?" in asked
    assert f"Gift {kept.id}: $120.00 received" in asked and f"Gift {voided.id}:" not in asked
    session.expire_all()
    assert session.get(CommunityEvent, event.id).campaign_id == first.id  # nothing moved before the yes
    client.post(f"/staff/events/{event.id}/edit", data={**form, "confirm": "yes"})
    session.expire_all()
    assert session.get(CommunityEvent, event.id).campaign_id == second.id
    assert session.get(CampaignTotals, first.id).raised_cents == 0
    assert session.get(CampaignTotals, second.id).raised_cents == 12000
    assert session.get(EventRollup, (event.id, second.id)).raised_cents == 12000
    assert session.get(EventRollup, (event.id, first.id)).raised_cents == 0
    ledger_is_consistent(session)
    result = runner.invoke(args=["verify-totals"])
    assert result.exit_code == 0 and "All campaign totals match" in result.output


def test_the_audit_log_tells_the_story_with_names_money_and_each_change(app, session):
    from fundraiser import audit, gifts
    from fundraiser.models import User

    campaign = make_campaign(session, title="Roof Fund")
    wrong = make_donor(session, name="Bob Wrong")
    right = make_donor(session, name="Carol Right")
    gift = give(session, campaign, 1500, donor=wrong)
    admin = User(email="ann@example.org", name="Ann Admin", role="admin", password_hash="not-a-real-hash")
    session.add(admin)
    session.flush()
    actor = audit.Actor(admin.id)
    gifts.correct(session, actor, gift, "150", "typed $15")
    edit = gifts.parse_edit(session, gift, form_for(gift, donor_id=str(right.id), donor_query="Carol Right",
                                                    reason="the check was Carol's"), today=local_today(), tz=TZ)
    gifts.edit_details(session, actor, gift, edit, TZ)
    for n in range(audit.PAGE_SIZE):  # a second page of older rows
        audit.record(session, audit.Actor(None), "donor.update", "donor", wrong.id, before={"city": "A"}, after={"city": f"B{n}"})
    audit.record(session, actor, "gift.void", "gift", gift.id, before={"net_cents": 15000}, after={"net_cents": 0, "reason": "bounced"})
    session.commit()
    client = signed_in_client(app, session, "admin", "another-hash")

    html = client.get(f"/staff/audit?gift={gift.id}").get_data(as_text=True)

    assert "Ann Admin</strong> changed the details of" in html
    assert f'<a href="/staff/gifts/{gift.id}">gift {gift.id} ($15.00 from Carol Right)</a>' in html
    assert "<dt>Donor</dt><dd><del>Bob Wrong</del>" in html and "<ins>Carol Right</ins>" in html
    assert "Reason: “the check was Carol&#39;s”" in html
    assert "<del>$15.00</del>" in html and "<ins>$150.00</ins>" in html  # the correction, money formatted
    assert "donor.update" not in html  # only this gift's story
    by_ann = client.get(f"/staff/audit?user={admin.id}").get_data(as_text=True)
    assert by_ann.count('class="story"') == 3
    everything = client.get("/staff/audit").get_data(as_text=True)
    assert everything.count('class="story"') == audit.PAGE_SIZE and "Older entries" in everything
    older_link = re.search(r'href="(/staff/audit\?before=\d+)">Older entries', everything).group(1)
    older = client.get(older_link).get_data(as_text=True)
    assert "Newest entries" in older and older.count('class="story"') == 3 and "corrected the amount of" in older
    tomorrow = client.get("/staff/audit?from=2099-01-01").get_data(as_text=True)
    assert "No audit entries match" in tomorrow
    bad = client.get("/staff/audit?from=31/12/2026")
    assert bad.status_code == 400 and "Please enter a date like" in bad.get_data(as_text=True)
    # A filter that can't be read lists nothing (everything would look like the filtered answer).
    for query, message in (("from=2026-12-05&to=2026-12-01", "The end date is before the start date."),
                           ("gift=abc", "A gift number is digits, like 348.")):
        refused = client.get(f"/staff/audit?{query}")
        page = refused.get_data(as_text=True)
        assert refused.status_code == 400 and message in page and 'class="story"' not in page, query
    assert client.get(f"/staff/audit?gift=%23{gift.id}").get_data(as_text=True).count('class="story"') > 0
    gift_page = client.get(f"/staff/gifts/{gift.id}").get_data(as_text=True)
    assert "<ins>Carol Right</ins>" in gift_page and "Value of goods received" not in gift_page.split("<h2>History</h2>")[1]
