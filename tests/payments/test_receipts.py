"""Receipts: what each kind says (golden plain-text parts, checked HTML parts), when one goes out
again and with which figures, and delivery through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from fundraiser import donors, gifts, ledger, mail, receipts
from fundraiser.audit import Actor
from fundraiser.db import new_session, utcnow
from fundraiser.models import (
    DonorKind,
    GiftChannel,
    GiftMethod,
    IssuedReceipt,
    MessageStatus,
    OutboxMessage,
    PlanStatus,
    RecurringPlan,
)
from fundraiser.settings import current_settings
from tests.factories import give, make_campaign, make_donor, make_event
from tests.netutil import start_smtp

GOLDEN = Path(__file__).parent / "golden"
NEW_YORK = ZoneInfo("America/New_York")
RECEIVED = datetime(2026, 11, 3, 12, tzinfo=NEW_YORK)
ACTOR = Actor(None, "127.0.0.1")


def send(app) -> tuple[int, int]:
    with app.app_context():
        return mail.send_due(mail.Mailer(current_settings()))


def _gift(session, **kwargs):
    campaign = make_campaign(session, title="Five Year Anniversary Fundraiser")
    donor = make_donor(session, **{"name": "Rosa Parks", "email": "rosa@example.org", **kwargs.pop("donor", {})})
    kwargs.setdefault("received_at", RECEIVED)
    return give(session, campaign, kwargs.pop("amount", 12_500), donor=donor, **kwargs)


# ------------------------------------------------------------------ one golden receipt per kind


def _monthly(session, interval="month"):
    campaign = make_campaign(session, title="Five Year Anniversary Fundraiser")
    donor = make_donor(session, name="Rosa Parks", email="rosa@example.org")
    plan = RecurringPlan(donor_id=donor.id, campaign_id=campaign.id, amount_cents=2_500, currency="USD",
                         status=PlanStatus.ACTIVE, started_at=RECEIVED - timedelta(days=31), interval=interval)
    session.add(plan)
    session.flush()
    for day in (RECEIVED - timedelta(days=31), RECEIVED):
        gift = give(session, campaign, 2_500, donor=donor, received_at=day, channel=GiftChannel.ONLINE,
                    method=GiftMethod.CARD, recurring_plan_id=plan.id)
    return gift


def _event(session, *, hosts_own: bool):
    campaign = make_campaign(session, title="Five Year Anniversary Fundraiser")
    host = make_donor(session, name="Keystone RV", email="team@keystone.example", kind=DonorKind.ORGANISATION)
    event = make_event(session, campaign, name="Holiday Cookie Walk", host_name="Keystone RV customer service team",
                       host_donor_id=host.id)
    gift = give(session, campaign, 41_250, donor=host, received_at=RECEIVED, channel=GiftChannel.EVENT,
                method=GiftMethod.CASH, event_id=event.id, description="Proceeds: Holiday Cookie Walk")
    gift.proceeds_are_hosts_gift = hosts_own
    return gift


CASES = {
    "one_time_online": lambda s: _gift(s, channel=GiftChannel.ONLINE, method=GiftMethod.CARD),
    "monthly_instalment": _monthly,
    "quarterly_instalment": lambda s: _monthly(s, interval="quarter"),
    "check": lambda s: _gift(s, method=GiftMethod.CHECK, reference="1042"),
    "cash": lambda s: _gift(s, amount=4_000, method=GiftMethod.CASH),
    "daf": lambda s: _gift(s, amount=100_000, method=GiftMethod.DAF,
                           donor={"kind": DonorKind.ORGANISATION, "name": "Fidelity Charitable"}),
    "stock": lambda s: _gift(s, amount=311_000, method=GiftMethod.STOCK, description="10 shares of ACME Corp (ACME)"),
    "in_kind": lambda s: _gift(s, amount=80_000, method=GiftMethod.IN_KIND,
                               description="40 copies of 'The Explosive Child'"),
    "quid_pro_quo": lambda s: _gift(s, amount=15_000, goods_value_cents=6_500, method=GiftMethod.CARD,
                                    channel=GiftChannel.ONLINE, description="Gala dinner ticket"),
    "event_proceeds_to_host": lambda s: _event(s, hosts_own=False),
    "hosts_own_gift": lambda s: _event(s, hosts_own=True),
}


class _Parts(HTMLParser):
    """The receipt's HTML part as a reader sees it: table rows, paragraphs, images."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.paragraphs, self.images = {}, [], []
        self._tag, self._label, self._text = None, None, []

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td", "p"):
            self._tag, self._text = tag, []
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag != self._tag:
            return
        text = "".join(self._text).strip()
        if tag == "th":
            self._label = text
        elif tag == "td" and self._label is not None:
            self.rows[self._label] = text
            self._label = None
        elif tag == "p":
            self.paragraphs.append(text)
        self._tag = None

    def handle_data(self, data):
        if self._tag:
            self._text.append(data)


def html_parts(html: str) -> _Parts:
    parser = _Parts()
    parser.feed(html)
    return parser


def golden(name: str, gift) -> str:
    """The golden text for a case, with the gift's id filled in (the manage token, signed with the
    time, is checked apart: `as_golden`)."""
    return (GOLDEN / f"{name}.txt").read_text().replace("{gift_id}", str(gift.id))


def as_golden(text: str, gift) -> str:
    """The text with its manage link's token replaced by {manage_token}, once the token is checked
    to open the gift's own plan."""
    for token in re.findall(r"/giving/manage/([\w.\-]+)", text):
        assert receipts.read_manage_token(current_settings(), token) == receipts.ManageToken(gift.recurring_plan_id, False)
    return re.sub(r"/giving/manage/[\w.\-]+", "/giving/manage/{manage_token}", text)


@pytest.mark.parametrize("name", list(CASES))
def test_each_kind_of_gift_gets_its_golden_receipt_in_text_and_html(session, name):
    gift = CASES[name](session)
    [message] = receipts.queue_for_gift(session, gift)
    assert as_golden(message.subject + "\n\n" + message.body_text, gift) == golden(name, gift)
    # The HTML part states the same facts as the text part, row for row and sentence for sentence.
    parts = html_parts(message.body_html)
    for label, value in parts.rows.items():
        assert f"{label}: {value}\n" in message.body_text
    for paragraph in parts.paragraphs:
        assert paragraph in message.body_text.replace("\n", " ")
    assert parts.images == []  # no logo uploaded: no image
    assert "Players Philanthropy Fund, Inc., Tax ID (EIN): 27-6601178" in parts.paragraphs


@pytest.mark.parametrize(("name", "value"), [("in_kind", "$800.00"), ("stock", "$3,110.00")])
def test_in_kind_and_stock_receipts_never_state_a_value(session, name, value):
    gift = CASES[name](session)
    [message] = receipts.queue_for_gift(session, gift)
    assert value not in message.body_text and value not in message.body_html
    assert value not in message.subject
    registered = session.scalar(select(IssuedReceipt).where(IssuedReceipt.gift_id == gift.id))
    assert registered.amount_cents is None  # never summed into money totals


@pytest.mark.parametrize(("amount", "goods"), [(8_000, 1_200), (5_000, 1_200)])
def test_goods_received_state_the_good_faith_estimate_and_deductible_part_over_and_under_75(session, amount, goods):
    gift = _gift(session, amount=amount, goods_value_cents=goods, channel="event", method="cash")
    [message] = receipts.queue_for_gift(session, gift)
    deductible = f"${(amount - goods) // 100}.00"
    assert "estimated fair market value of $12.00 (our good-faith estimate)" in message.body_text
    assert f"limited to the excess of your contribution over that value: {deductible}" in message.body_text
    assert "No goods or services" not in message.body_text


def test_a_daf_grant_that_bought_a_ticket_still_says_not_to_claim_a_deduction(session):
    gift = _gift(session, amount=20_000, goods_value_cents=8_000, method=GiftMethod.DAF)
    [message] = receipts.queue_for_gift(session, gift)
    assert "please do not claim this gift as a charitable deduction" in message.body_text
    assert "estimated fair market value of $80.00" in message.body_text
    assert "is tax-deductible to the extent allowed by law" not in message.body_text


def test_golden_one_time_receipt_is_delivered_once_by_smtp_as_text_and_html(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        gift = CASES["one_time_online"](session)
        receipts.queue_for_gift(session, gift)
        session.commit()
        expected = golden("one_time_online", gift)
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
        assert send(smtp_app) == (0, 0)
    finally:
        controller.stop()
    [email] = inbox.messages
    assert email["To"] == "rosa@example.org" and email["From"] == "Receipts <receipts@example.org>"
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    assert email["Subject"] + "\n\n" + text.replace("\r\n", "\n") == expected
    assert html_parts(html).rows["Amount"] == "$125.00"


def test_receipt_and_dedication_notice_are_delivered_once(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        gift = _gift(session, dedication_kind="honour", dedication_name="Ms. Alvarez",
                     dedication_notify_email="alvarez@example.org", is_anonymous=True)
        receipts.queue_for_gift(session, gift)
        receipts.queue_for_gift(session, gift)  # a second arrival of the same payment queues nothing
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (2, 0)
    finally:
        controller.stop()
    receipt, notice = sorted(inbox.messages, key=lambda m: m["To"] != "rosa@example.org")
    assert "in honor of Ms. Alvarez" in receipt.get_body(preferencelist=("plain",)).get_content()
    assert notice["To"] == "alvarez@example.org"
    assert "Someone who cares" in notice.get_content() and "$125.00" not in notice.get_content()


def test_logo_and_contact_details_come_from_the_organisation(session):
    from fundraiser.organisation import forget_cached, update_organisation

    update_organisation(session, current_settings(), {"logo_file": "logo/logo.png", "website": "https://example.org"},
                        ACTOR)
    session.commit()
    forget_cached()
    [message] = receipts.queue_for_gift(session, _gift(session))
    parts = html_parts(message.body_html)
    assert parts.images == [f"{current_settings().base_url}/media/logo/logo.png"]
    for line in ("PO Box 1234", "Baltimore, MD 21203", "hello@example.org", "(410) 555-0134", "https://example.org"):
        assert line in message.body_text and line in message.body_html


def test_a_donor_name_is_never_markup_in_the_html_part(session):
    gift = _gift(session, donor={"name": "<img src=x onerror=alert(1)>"})
    [message] = receipts.queue_for_gift(session, gift)
    assert "<img src=x" not in message.body_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in message.body_html


# ------------------------------------------------------------------------- the right figures


def test_correction_sends_a_corrected_receipt_naming_the_one_it_replaces(session):
    gift = _gift(session, amount=1_500)
    [first] = receipts.queue_for_gift(session, gift)
    _entry, corrected = gifts.correct(session, ACTOR, gift, "150.00", "Typed $15 for a $150 check")
    assert corrected.number == f"{gift.id}-2" and corrected.reason == "correction" and corrected.amount_cents == 15_000
    message = session.get(OutboxMessage, corrected.outbox_message_id)
    assert "Amount: $15.00" in first.body_text
    assert "Amount: $150.00" in message.body_text and "$15.00" not in message.body_text
    assert f"This receipt replaces receipt {gift.id} (sent on" in message.body_text
    assert f"Receipt number: {gift.id}-2" in message.body_text
    assert message.subject.endswith(f"(replaces receipt {gift.id})") and not first.subject.endswith(")")
    assert html_parts(message.body_html).rows["Amount"] == "$150.00"


def test_correcting_the_value_of_property_sends_no_new_receipt(session):
    gift = CASES["in_kind"](session)
    receipts.queue_for_gift(session, gift)
    assert gifts.correct(session, ACTOR, gift, "900.00", "Appraised value")[1] is None
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_correction_of_a_gift_never_receipted_sends_nothing(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 1_500, donor=make_donor(session, email=None))
    assert gifts.correct(session, ACTOR, gift, "150.00", "Typo")[1] is None
    assert session.scalar(select(OutboxMessage.id)) is None


def test_resend_after_a_partial_refund_states_the_amount_kept(session):
    gift = _gift(session, amount=12_500, channel=GiftChannel.ONLINE, method=GiftMethod.CARD)
    receipts.queue_for_gift(session, gift)
    ledger.refund_gift(session, gift, 5_000, reason="Donor asked for part back")
    assert gifts.resend_receipt(session, ACTOR, gift)
    last = session.scalars(select(IssuedReceipt).order_by(IssuedReceipt.id.desc())).first()
    text = session.get(OutboxMessage, last.outbox_message_id).body_text
    assert "Amount: $75.00" in text and "$125.00" not in text
    assert f"This receipt replaces receipt {gift.id}" in text and last.reason == "resend"


@pytest.mark.parametrize("undo", ["void", "full_refund"])
def test_void_or_fully_refunded_gift_cannot_be_receipted_again(session, undo):
    gift = _gift(session)
    receipts.queue_for_gift(session, gift)
    if undo == "void":
        gifts.void(session, ACTOR, gift, "Entered twice")
    else:
        ledger.refund_gift(session, gift, 12_500)
    with pytest.raises(receipts.ReceiptRefused, match="voided|refunded in full"):
        gifts.resend_receipt(session, ACTOR, gift)
    assert session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key != f"receipt:{gift.id}")) is None


def test_merged_donor_gets_a_receipt_and_staff_learn_the_old_record_had_one(session):
    gift = _gift(session, donor={"name": "R. Parks", "email": "rparks@old.example"})
    receipts.queue_for_gift(session, gift)
    keep = make_donor(session, name="Rosa Parks", email="rosa@new.example")
    moved = donors.merge(session, ACTOR, gift.donor, keep)
    change = receipts.after_donor_change(session, moved)
    [(gift_id, earlier)] = change.earlier
    assert gift_id == gift.id and earlier.to_email == "rparks@old.example" and earlier.number == str(gift.id)
    [new] = change.new_receipts
    assert new.to_email == "rosa@new.example" and new.reason == "donor_change" and new.replaces_id is None
    text = session.get(OutboxMessage, new.outbox_message_id).body_text
    assert "Dear Rosa Parks" in text and "replaces" not in text
    notice = receipts.donor_change_notice(change, current_settings())
    assert "rparks@old.example" in notice and f"receipt {gift.id}" in notice and new.number in notice


def test_a_gift_with_nothing_left_gets_no_first_receipt_and_no_error(session):
    gift = _gift(session)
    ledger.refund_gift(session, gift, 12_500)  # e.g. the refund was applied before the receipt was queued
    assert receipts.queue_for_gift(session, gift) == []


# ----------------------------------------------------------------------------- the outbox


def test_smtp_down_keeps_receipts_until_it_returns_and_sends_each_once(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        receipts.queue_for_gift(session, _gift(session))
        session.commit()
        session.close()
    assert send(smtp_app) == (0, 1)  # nothing listens on the port: a real connection refusal
    with smtp_app.app_context():
        session = new_session()
        message = session.scalar(select(OutboxMessage))
        assert message.status == MessageStatus.PENDING and message.attempts == 1
        assert "ConnectionRefusedError" in message.last_error
        assert message.next_attempt_at > utcnow()
        # Time passes: the retry is due.
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
        assert send(smtp_app) == (0, 0)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_a_sender_that_died_mid_send_hands_the_message_back(smtp_app, smtp_port):
    with smtp_app.app_context():
        session = new_session()
        receipts.queue_for_gift(session, _gift(session))
        session.execute(update(OutboxMessage).values(status=MessageStatus.SENDING,
                                                     next_attempt_at=utcnow() - timedelta(minutes=30)))
        session.commit()
        session.close()
    controller, inbox = start_smtp(smtp_port)
    try:
        assert send(smtp_app) == (1, 0)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_without_smtp_messages_are_written_to_the_outbox_folder(app, session):
    app.config["BACKGROUND_TASKS"] = False
    receipts.queue_for_gift(session, _gift(session))
    session.commit()
    assert send(app) == (1, 0)
    [eml] = (current_settings().instance_path / "outbox").glob("*.eml")
    assert "No goods or services were provided" in eml.read_text()


def test_gift_without_an_email_gets_no_receipt_to_nowhere(session):
    campaign = make_campaign(session)
    gift = give(session, campaign, 2000)
    assert receipts.queue_for_gift(session, gift) == []


def test_manage_tokens_cannot_be_forged(app):
    with app.app_context():
        settings = current_settings()
        token = receipts.manage_token(settings, 42)
        assert receipts.read_manage_token(settings, token) == receipts.ManageToken(42, expired=False)
        assert receipts.read_manage_token(settings, token[:-2] + "xx") is None


@pytest.mark.parametrize("interval, adjective", [("month", "monthly"), ("quarter", "quarterly"), ("year", "yearly")])
def test_failed_payment_and_manage_link_emails_name_the_plans_schedule(session, interval, adjective):
    gift = _monthly(session, interval=interval)
    plan = session.get(RecurringPlan, gift.recurring_plan_id)
    assert receipts.queue_payment_failed(session, plan, invoice_id=f"in_{interval}", action_required=False,
                                         fallback_email=None)
    assert receipts.queue_manage_link(session, plan, current_settings())
    failed, link = (session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).one()
                    for kind in ("payment-failed", "manage-link"))
    assert failed.subject.startswith(f"Your {adjective} gift to ") and f"stop your {adjective} gift" in failed.body_text
    assert link.subject.startswith(f"Your link to manage your {adjective} gift")
    others = {"monthly", "quarterly", "yearly"} - {adjective}
    assert not any(word in failed.body_text + link.body_text for word in others)
