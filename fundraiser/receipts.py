"""What each kind of receipt says and when one goes out, queued in the outbox with its gift.

A receipt written in the same transaction as its gift can't be lost; mail.py sends it after the
commit (never delaying the webhook's answer) and retries it when the mail server is away.

Every receipt has an HTML and a plain-text part: the wording admins chose for its kind
(receipt_wording.py), then the lines IRS Publication 1771 asks for, added here so no wording can
drop them. For a fiscally sponsored project the charity of record is the sponsor. Each receipt is
registered (IssuedReceipt) with the figure it stated: a correction, a resend or a change of donor
sends a new one stating today's figures and naming the one it replaces; a void or fully refunded
gift gets none.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import partial

from babel import Locale
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, object_session

from . import ledger, mail, receipt_wording
from .config import Settings
from .db import utcnow
from .models import (
    Campaign,
    Donor,
    Gift,
    GiftChannel,
    GiftMethod,
    IssuedReceipt,
    MessageStatus,
    OutboxMessage,
    RecurringPlan,
)
from .money import format_money
from .organisation import Organisation, current_organisation, logo_url
from .receipt_wording import PROPERTY_KINDS, ReceiptKind, Wording
from .recurring import interval_words

NO_GOODS = "No goods or services were provided in exchange for this contribution."
METHOD_LABELS = {
    GiftMethod.CARD: "card", GiftMethod.BANK: "bank transfer", GiftMethod.CHECK: "check",
    GiftMethod.CASH: "cash", GiftMethod.STOCK: "stock", GiftMethod.IN_KIND: "in-kind gift",
    GiftMethod.DAF: "donor-advised fund grant", GiftMethod.OTHER: "other",
}
# What online payment methods are called on receipts, by Stripe's payment_method_details type
# (plus the card's wallet): a bank debit or a wallet is named as such, not "card".
DETAIL_LABELS = {
    "card": "card", "card:apple_pay": "Apple Pay", "card:google_pay": "Google Pay", "card:link": "Link",
    "card:samsung_pay": "Samsung Pay", "link": "Link", "us_bank_account": "ACH debit", "ach_debit": "ACH debit",
    "sepa_debit": "SEPA Direct Debit", "bacs_debit": "Bacs Direct Debit", "acss_debit": "pre-authorized debit",
    "au_becs_debit": "BECS Direct Debit", "cashapp": "Cash App Pay", "paypal": "PayPal", "amazon_pay": "Amazon Pay",
}
# How long a manage link works: a receipt's for a month, a failed-payment notice's for a few days.
RECEIPT_LINK_DAYS = 30
NOTICE_LINK_DAYS = 5
# New manage links emailed on request, per plan per hour (the expired-link page asks for them).
MANAGE_LINKS_PER_HOUR = 3


def method_label(gift: Gift) -> str:
    """How the donor paid, as receipts and statements say it: "Apple Pay", "ACH debit", "check"."""
    return label_for(gift.method, gift.payment_method_detail)


def label_for(method: GiftMethod, detail: str | None) -> str:
    """The words for a method, named by Stripe's payment method detail where one is known."""
    if detail:
        return DETAIL_LABELS.get(detail) or DETAIL_LABELS.get(detail.split(":")[0]) or detail.replace("_", " ")
    return METHOD_LABELS[method]


@dataclass(frozen=True)
class ManageToken:
    plan_id: int
    expired: bool


def _manage_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="manage-plan:timed")


def manage_token(settings: Settings, plan_id: int, *, days: int = RECEIPT_LINK_DAYS) -> str:
    """A signed token for a plan's manage link that stops working after `days` (the link opens
    Stripe's billing portal; a forwarded or leaked email does not open it forever)."""
    return _manage_serializer(settings).dumps([plan_id, days])


def read_manage_token(settings: Settings, token: str) -> ManageToken | None:
    """The plan a manage link is for and whether it has expired; None if it is not ours."""
    try:
        value, signed_at = _manage_serializer(settings).loads(token, return_timestamp=True)
    except BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        return None
    plan_id, days = value
    return ManageToken(plan_id, utcnow() - signed_at > timedelta(days=days))


def manage_url(settings: Settings, plan_id: int, *, days: int) -> str:
    return f"{settings.base_url}/giving/manage/{manage_token(settings, plan_id, days=days)}"


# ------------------------------------------------------------------------- what a receipt says


@dataclass(frozen=True)
class ReceiptFacts:
    """Everything a receipt states about one gift, with its figures as they stand now."""

    kind: ReceiptKind
    donor_name: str
    # What is left of the gift after corrections, refunds and voids (never stated for property).
    amount_cents: int
    currency: str
    received_at: datetime
    campaign: str | None
    method: GiftMethod
    method_detail: str | None = None
    description: str | None = None
    goods_value_cents: int | None = None
    plan_id: int | None = None
    plan_amount_cents: int | None = None
    plan_interval: str = "month"
    instalment: int | None = None
    dedication_kind: str | None = None
    dedication_name: str | None = None
    event_name: str | None = None
    host_name: str | None = None


@dataclass(frozen=True)
class Earlier:
    """A receipt sent before for the same gift (legacy ones, sent before the register, have no id)."""

    number: str
    issued_at: datetime
    to_email: str
    donor_id: int | None
    id: int | None


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str


def kind_of(gift: Gift) -> ReceiptKind:
    """Which wording a gift's receipt uses; the legally required lines follow from the gift itself."""
    if gift.event_id is not None and not gift.proceeds_are_hosts_gift:
        return ReceiptKind.EVENT_PROCEEDS
    if gift.method == GiftMethod.IN_KIND:
        return ReceiptKind.IN_KIND
    if gift.method == GiftMethod.STOCK:
        return ReceiptKind.NONCASH
    if gift.goods_value_cents:
        return ReceiptKind.QUID_PRO_QUO
    if gift.method == GiftMethod.DAF:
        return ReceiptKind.DAF
    if gift.recurring_plan_id is not None:
        return ReceiptKind.MONTHLY
    if gift.channel == GiftChannel.ONLINE:
        return ReceiptKind.ONE_TIME
    return ReceiptKind.OFFLINE


def facts_for(session: Session, gift: Gift, donor_name: str, net_cents: int) -> ReceiptFacts:
    """The facts of a gift's receipt with what is left of it now, `net_cents` (ledger.gift_net):
    a resend states today's figures."""
    campaign_id = ledger.current_campaign_id(session, gift)
    campaign = session.get(Campaign, campaign_id) if campaign_id else None
    plan = session.get(RecurringPlan, gift.recurring_plan_id) if gift.recurring_plan_id else None
    instalment = None
    if plan is not None:
        instalment = session.scalar(
            select(func.count()).where(
                Gift.recurring_plan_id == plan.id,
                or_(Gift.received_at < gift.received_at, and_(Gift.received_at == gift.received_at, Gift.id <= gift.id)),
            )
        )
    return _facts(gift, campaign, plan, instalment, donor_name, net_cents)


def _facts(gift: Gift, campaign: Campaign | None, plan: RecurringPlan | None, instalment: int | None,
           donor_name: str, net_cents: int) -> ReceiptFacts:
    event = gift.event
    return ReceiptFacts(
        kind=kind_of(gift), donor_name=donor_name, amount_cents=net_cents,
        currency=gift.currency, received_at=gift.received_at, campaign=campaign.title if campaign else None,
        method=gift.method, method_detail=gift.payment_method_detail, description=gift.description, goods_value_cents=gift.goods_value_cents or None,
        plan_id=plan.id if plan else None, plan_amount_cents=plan.amount_cents if plan else None,
        plan_interval=plan.interval if plan else "month",
        instalment=instalment, dedication_kind=gift.dedication_kind, dedication_name=gift.dedication_name,
        event_name=event.name if event else None, host_name=event.host_name if event else None,
    )


def compose(
    facts: ReceiptFacts, wording: Wording, *, number: str, replaces: Earlier | None, org: Organisation,
    settings: Settings,
) -> Composed:
    """Subject, plain text and HTML of one receipt: the admin's wording, then the lines the law
    asks for (IRS Publication 1771), which are added here whatever the wording says."""
    money = partial(format_money, currency=facts.currency, locale=Locale.parse(settings.locale))
    day = facts.received_at.astimezone(settings.tz).strftime("%B %-d, %Y")
    is_property = facts.kind in PROPERTY_KINDS
    description = facts.description or ("in-kind gift" if facts.kind == ReceiptKind.IN_KIND else "property")
    frequency, how_often = interval_words(facts.plan_interval) if facts.plan_id is not None else ("", "")
    values = {
        "donor_name": facts.donor_name,
        "amount": "" if is_property else money(facts.amount_cents),
        "date": day,
        "campaign": facts.campaign or "our general work",
        "charity_name": org.charity_name,
        "org_name": org.name,
        "description": description,
        "method": label_for(facts.method, facts.method_detail),
        "receipt_number": number,
        "event_name": facts.event_name or "",
        "host_name": facts.host_name or "",
        "frequency": frequency,
        "how_often": how_often,
    }
    message_html, message_text = receipt_wording.render_body(wording.body_md, values)

    noun = "acknowledgment" if facts.kind == ReceiptKind.EVENT_PROCEEDS else "receipt"
    rows: list[tuple[str, str]] = [(f"{noun.capitalize()} number", number)]
    if facts.kind == ReceiptKind.EVENT_PROCEEDS:
        rows += [("Received from", facts.host_name or facts.donor_name), ("Event", facts.event_name or ""),
                 ("Proceeds received", money(facts.amount_cents))]
    else:
        rows.append(("Donor", facts.donor_name))
        if is_property:
            rows.append(("Gift of property" if facts.kind == ReceiptKind.NONCASH else "In-kind gift", description))
        else:
            rows.append(("Amount", money(facts.amount_cents)))
    rows += [("Date received", day), ("For", values["campaign"]), ("Method", label_for(facts.method, facts.method_detail))]
    if facts.instalment is not None and facts.plan_amount_cents is not None:
        adjective = interval_words(facts.plan_interval)[0]
        rows.append((f"{adjective.capitalize()} gift", f"payment {facts.instalment} of your {adjective} gift of {money(facts.plan_amount_cents)}"))
    goods = facts.goods_value_cents or 0
    if goods and facts.kind != ReceiptKind.EVENT_PROCEEDS:
        what = _goods_described(facts)
        rows.append(("Goods or services you received (good-faith estimate)",
                     f"{what}, {money(goods)}" if what else money(goods)))
        if not is_property:
            rows.append(("Deductible amount", money(max(facts.amount_cents - goods, 0))))

    statements: list[str] = []
    if replaces is not None:
        earlier = replaces.issued_at.astimezone(settings.tz).strftime("%B %-d, %Y")
        statements.append(
            f"This {noun} replaces {noun} {replaces.number} (sent on {earlier}). Its figures are the gift's "
            "figures as they stand today; please keep this one for your records instead of the earlier one."
        )
    statements += _legal_statements(facts, money, org, description)
    if facts.dedication_kind and facts.dedication_name:
        honour = "in honor of" if facts.dedication_kind == "honour" else "in memory of"
        statements.append(f"Your gift was made {honour} {facts.dedication_name}.")
    if facts.plan_id is not None and facts.plan_amount_cents is not None:
        statements += _plan_lines(settings, facts.plan_id, money(facts.plan_amount_cents), facts.plan_interval)
    statements += [
        _charity_statement(org, facts),
        f"{org.charity_name}, Tax ID (EIN): {org.charity_ein}" if org.charity_ein else f"Charity of record: {org.charity_name}",
    ]

    contact = [org.name, *org.address_lines, *[v for v in (org.contact_email, org.contact_phone, org.website) if v]]
    subject = receipt_wording.fill_subject(wording.subject, values)
    if replaces is not None:  # the inbox says so before the donor opens it (300: the outbox's column)
        suffix = f" (replaces {noun} {replaces.number})"
        subject = subject[:300 - len(suffix)] + suffix
    text = "\n".join([
        message_text, "",
        *[f"{label}: {value}" for label, value in rows], "",
        *[line for statement in statements for line in (statement, "")],
        "--", *contact,
    ]) + "\n"
    page = current_app.jinja_env.get_template("receipts/receipt.html").render(
        subject=subject, message=Markup(message_html), rows=rows, statements=statements, org=org,
        contact=contact, logo_url=logo_url(settings, org) or None,
    )
    return Composed(subject, text, page)


def _legal_statements(facts: ReceiptFacts, money, org: Organisation, description: str) -> list[str]:
    """What IRS Publication 1771 asks a written acknowledgment to say beyond the figures."""
    goods = facts.goods_value_cents or 0
    if facts.kind == ReceiptKind.EVENT_PROCEEDS:
        host = facts.host_name or facts.donor_name
        lines = [(
            f"{host} collected these proceeds from other people (what they paid at {facts.event_name}) and "
            f"passed them on. They are not {host}'s own contribution, so this letter acknowledges proceeds "
            f"received; it is not a receipt for a charitable deduction by {host}."
        )]
        if goods:
            lines.append(
                f"The people who paid received goods or services with an estimated value of {money(goods)} in return."
            )
        return lines
    lines = []
    if facts.method == GiftMethod.DAF:
        lines.append(
            "This grant came from a donor-advised fund. The fund's sponsoring organization has already "
            "received the tax deduction, so please do not claim this gift as a charitable deduction on "
            "your own return."
        )
    if facts.kind in PROPERTY_KINDS:
        lines.append(
            f"We gratefully acknowledge your gift: {description}. We do not state a value for gifts of "
            "property; the donor is responsible for determining it."
        )
        if facts.kind == ReceiptKind.IN_KIND:
            lines.append("The value of services (time or labor) given is not deductible.")
    if goods:
        # Required for a payment over $75 (a quid pro quo contribution); stated for every gift
        # that brought the donor something, whatever its size.
        deductible = (
            f"the excess of your contribution over that value: {money(max(facts.amount_cents - goods, 0))}"
            if facts.kind not in PROPERTY_KINDS else "the excess of your contribution's value over that amount"
        )
        what = _goods_described(facts)
        lines.append(
            f"In exchange for your contribution you received goods or services{f' ({what})' if what else ''} "
            f"with an estimated fair market value of {money(goods)} (our good-faith estimate). The amount of "
            f"your contribution that is deductible for federal income tax purposes is limited to {deductible}."
        )
    else:
        lines.append(NO_GOODS)
    return lines


def _goods_described(facts: ReceiptFacts) -> str | None:
    """What the donor received, as staff described it (Publication 1771 asks for a description as
    well as the value); a gift of property's description is of the property, not of what came back."""
    return facts.description if facts.kind not in PROPERTY_KINDS and facts.description else None


def _charity_statement(org: Organisation, facts: ReceiptFacts) -> str:
    """Who received the money; the sponsor statement's "tax-deductible" would be wrong where the
    sender claims no deduction (a DAF grant, proceeds passed on by a host)."""
    if facts.method != GiftMethod.DAF and facts.kind != ReceiptKind.EVENT_PROCEEDS:
        return org.sponsor_statement
    ein = f" (EIN {org.charity_ein})" if org.charity_ein else ""
    if org.is_sponsored:
        return (
            f"{org.legal_name} is a fiscally sponsored project of {org.sponsor_name}{ein}, a 501(c)(3) public "
            f"charity, which received these funds for the benefit of {org.legal_name}."
        )
    return f"{org.legal_name}{ein} is a 501(c)(3) public charity."


def _plan_lines(settings: Settings, plan_id: int, plan_amount: str, interval: str) -> list[str]:
    """How the donor manages a recurring gift (the link's form belongs to the manage-link code)."""
    link = manage_url(settings, plan_id, days=RECEIPT_LINK_DAYS)
    adjective, how_often = interval_words(interval)
    return [
        (f"This is a {adjective} gift of {plan_amount}, charged {how_often} on the same day until you cancel. "
         "You'll get a receipt for every payment."),
        (f"To update your card, change your amount or cancel, visit (link valid for {RECEIPT_LINK_DAYS} days; "
         f"after that it offers to email you a new one): {link}"),
    ]


def dedication_text(gift: Gift, settings: Settings, *, donor_name: str, show_donor: bool) -> tuple[str, str]:
    """The notice to the person a dedication names: who gave (unless anonymous), never the amount."""
    org = current_organisation()
    honour = "in honor of" if gift.dedication_kind == "honour" else "in memory of"
    giver = donor_name if show_donor else "Someone who cares"
    body = (
        f"{giver} made a gift to {org.name} {honour} {gift.dedication_name}.\n\n"
        "The amount is private. We wanted you to know.\n\n"
        f"{org.legal_name}\n"
    )
    return f"A gift {honour} {gift.dedication_name}", body


# ------------------------------------------------------------------------ when a receipt goes out


class Reason(StrEnum):
    FIRST = "first"
    CORRECTION = "correction"
    RESEND = "resend"
    DONOR_CHANGE = "donor_change"


class ReceiptRefused(ValueError):
    """A receipt that must not go out (a void or fully refunded gift); the message says why."""


def why_not_receiptable(session: Session, gift: Gift, net_cents: int | None = None) -> str | None:
    """Why this gift can't be receipted (again), or None when it can (`net_cents`: gift_net, if known)."""
    if ledger.is_voided(session, gift):
        return f"Gift {gift.id} was voided, so no receipt can be sent for it."
    if (ledger.gift_net(session, gift) if net_cents is None else net_cents) <= 0:
        return f"Nothing is left of gift {gift.id} (it was refunded in full), so no receipt can be sent for it."
    return None


def earlier_receipts(session: Session, gift: Gift) -> list[Earlier]:
    """Receipts already sent for a gift, oldest first (including one sent before the register)."""
    issued = [
        Earlier(r.number, r.issued_at, r.to_email, r.donor_id, r.id)
        for r in session.scalars(select(IssuedReceipt).where(IssuedReceipt.gift_id == gift.id).order_by(IssuedReceipt.id))
    ]
    if not any(e.number == str(gift.id) for e in issued):
        legacy = session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"receipt:{gift.id}"))
        if legacy is not None:
            issued.insert(0, Earlier(str(gift.id), legacy.created_at, legacy.to_email, None, None))
    return issued


def letter_references(session: Session, stated: Mapping[int, int | None]) -> dict[int, str]:
    """What a printed acknowledgment of each gift ({gift id: the amount it states, None for
    property}) calls itself: the number of the last receipt sent when that receipt stated the same
    figure, and otherwise the gift's number (none was sent, or the figures changed since, as after
    a partial refund, which sends none), so that no receipt number ever stands for two amounts."""
    last: dict[int, IssuedReceipt] = {}
    if stated:
        for issued in session.scalars(select(IssuedReceipt).where(IssuedReceipt.gift_id.in_(list(stated)))
                                      .order_by(IssuedReceipt.id)):
            last[issued.gift_id] = issued
    references = {}
    for gift_id, amount in stated.items():
        sent = last.get(gift_id)
        if sent is not None and (sent.amount_cents is None or sent.amount_cents == amount):
            references[gift_id] = f"Receipt number {sent.number}"
        else:
            references[gift_id] = f"Gift number {gift_id}"
    return references


def queue_for_gift(session: Session, gift: Gift, *, reason: Reason = Reason.FIRST) -> list[OutboxMessage]:
    """Put the gift's receipt (and, the first time, any dedication notice) in the outbox, in the
    caller's transaction. The first receipt goes once however often this is called; a correction,
    resend or new donor gets a receipt of its own that states the gift's figures as they are now.
    A void or fully refunded gift gets none: asked for again, ReceiptRefused says why."""
    from .settings import current_settings

    settings = current_settings()
    donor = gift.donor
    if donor is None or not donor.email:
        return []
    net_cents = ledger.gift_net(session, gift)
    if reason == Reason.FIRST:
        # Queued with the gift (the webhook's hot path): its dedupe key says whether it went, and a
        # gift with nothing left (refunded before its payment was recorded) gets none, quietly:
        # a webhook must not fail, and be retried forever, over that.
        key = f"receipt:{gift.id}"
        if net_cents <= 0 or session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
            return []
        earlier = []
    else:
        # Two staff pressing "resend" at once must not both take the next number.
        session.execute(select(Gift.id).where(Gift.id == gift.id).with_for_update())
        refused = why_not_receiptable(session, gift, net_cents)
        if refused:
            raise ReceiptRefused(refused)
        earlier = earlier_receipts(session, gift)
    to_same_donor = [e for e in earlier if e.donor_id == donor.id or (e.donor_id is None and e.to_email == donor.email)]
    replaces = to_same_donor[-1] if to_same_donor and reason != Reason.DONOR_CHANGE else None
    number = str(gift.id) if not earlier else f"{gift.id}-{len(earlier) + 1}"
    facts = facts_for(session, gift, donor.name, net_cents)
    composed = compose(
        facts, receipt_wording.load(session, facts.kind), number=number, replaces=replaces,
        org=current_organisation(), settings=settings,
    )
    key = f"receipt:{gift.id}" if number == str(gift.id) else f"receipt:{number}"
    message = OutboxMessage(
        gift_id=gift.id, kind="receipt", dedupe_key=key, to_email=donor.email, subject=composed.subject,
        body_text=composed.text, body_html=composed.html,
    )
    messages = [message]
    if reason == Reason.FIRST and gift.dedication_notify_email and gift.dedication_name:
        subject, body = dedication_text(gift, settings, donor_name=donor.name, show_donor=not gift.is_anonymous)
        messages.append(
            OutboxMessage(gift_id=gift.id, kind="dedication", dedupe_key=f"dedication:{gift.id}",
                          to_email=gift.dedication_notify_email, subject=subject, body_text=body)
        )
    session.add_all(messages)
    session.add(IssuedReceipt(
        gift_id=gift.id, number=number, kind=facts.kind.value, reason=reason.value, donor_id=donor.id,
        to_email=donor.email, amount_cents=None if facts.kind in PROPERTY_KINDS else facts.amount_cents,
        currency=gift.currency, replaces_id=replaces.id if replaces else None, outbox_message=message,
        issued_at=utcnow(),
    ))
    session.flush()
    return messages


def queue_first_receipts(session: Session, gifts: Sequence[Gift]) -> None:
    """`queue_for_gift` for gifts of one-time payments just recorded together (a webhook backlog):
    nothing refunded or receipted yet, so no look-ups a gift; each wording is loaded once."""
    from .settings import current_settings

    settings, org = current_settings(), current_organisation()
    donors = {d.id: d for d in session.scalars(select(Donor).where(Donor.id.in_({g.donor_id for g in gifts if g.donor_id})))}
    # The gifts' campaigns were loaded to record them: session.get finds them without a query.
    campaigns = {c: session.get(Campaign, c) for c in {g.campaign_id for g in gifts if g.campaign_id}}
    wordings: dict[ReceiptKind, Wording] = {}
    messages: list[dict] = []
    issued: list[dict] = []
    now = utcnow()
    for gift in gifts:
        donor = donors.get(gift.donor_id)
        if donor is None or not donor.email:
            continue
        facts = _facts(gift, campaigns.get(gift.campaign_id), None, None, donor.name, gift.amount_cents)
        if facts.kind not in wordings:
            wordings[facts.kind] = receipt_wording.load(session, facts.kind)
        composed = compose(facts, wordings[facts.kind], number=str(gift.id), replaces=None, org=org, settings=settings)
        messages.append(dict(
            gift_id=gift.id, kind="receipt", dedupe_key=f"receipt:{gift.id}", to_email=donor.email,
            subject=composed.subject, body_text=composed.text, body_html=composed.html,
        ))
        issued.append(dict(
            gift_id=gift.id, number=str(gift.id), kind=facts.kind.value, reason=Reason.FIRST.value, donor_id=donor.id,
            to_email=donor.email, amount_cents=facts.amount_cents, currency=gift.currency, replaces_id=None,
            issued_at=now,
        ))
        if gift.dedication_notify_email and gift.dedication_name:
            subject, body = dedication_text(gift, settings, donor_name=donor.name, show_donor=not gift.is_anonymous)
            messages.append(dict(gift_id=gift.id, kind="dedication", dedupe_key=f"dedication:{gift.id}",
                                 to_email=gift.dedication_notify_email, subject=subject, body_text=body, body_html=None))
    if not messages:
        return
    # Core inserts (two statements a batch; ids matched by key, in any order): the ORM writes
    # these one row at a time on SQLite.
    table = OutboxMessage.__table__
    connection = session.connection()
    ids = {row.dedupe_key: row.id for row in connection.execute(
        table.insert().returning(table.c.id, table.c.dedupe_key), messages)}
    for row in issued:
        row["outbox_message_id"] = ids[f"receipt:{row['gift_id']}"]
    connection.execute(IssuedReceipt.__table__.insert(), issued)
    mail.mark_queued(session)


def after_correction(session: Session, gift: Gift) -> IssuedReceipt | None:
    """A corrected amount sends a corrected receipt, when the donor had one, naming the one it replaces
    (not for property: its receipt states no value, so a corrected value changes nothing on it)."""
    if kind_of(gift) in PROPERTY_KINDS or not earlier_receipts(session, gift):
        return None
    return _issued(session, queue_for_gift(session, gift, reason=Reason.CORRECTION))


@dataclass(frozen=True)
class DonorChange:
    """What staff are told after gifts changed donor: receipts the earlier donor had, and the new ones."""

    earlier: list[tuple[int, Earlier]]
    new_receipts: list[IssuedReceipt]


def after_donor_change(session: Session, gift_ids: list[int]) -> DonorChange:
    """The donor now credited gets a receipt for each gift whose receipt went to someone else
    (not again to the same address, and not for a void or refunded gift)."""
    earlier: list[tuple[int, Earlier]] = []
    new: list[IssuedReceipt] = []
    gifts = session.scalars(select(Gift).where(Gift.id.in_(gift_ids)).order_by(Gift.id)) if gift_ids else []
    for gift in gifts:
        session.expire(gift, ["donor"])  # donor_id was just changed under the loaded relationship
        donor = gift.donor
        sent = [e for e in earlier_receipts(session, gift) if donor is None or e.donor_id != donor.id]
        if not sent:
            continue
        earlier.append((gift.id, sent[-1]))
        if donor is None or not donor.email or any(e.to_email == donor.email for e in sent):
            continue
        if why_not_receiptable(session, gift) is None:
            issued = _issued(session, queue_for_gift(session, gift, reason=Reason.DONOR_CHANGE))
            if issued is not None:
                new.append(issued)
    return DonorChange(earlier, new)


def donor_change_notice(change: DonorChange, settings: Settings) -> str | None:
    """What staff read after a change of donor: who already had a receipt, and what went out now."""
    if not change.earlier:
        return None
    parts = []
    for gift_id, earlier in change.earlier[:5]:
        day = earlier.issued_at.astimezone(settings.tz).strftime("%B %-d, %Y")
        parts.append(f"gift {gift_id} (receipt {earlier.number}, sent to {earlier.to_email} on {day})")
    more = f" and {len(change.earlier) - 5} more" if len(change.earlier) > 5 else ""
    sent = (
        f" New receipts went to the donor now credited: {', '.join(r.number for r in change.new_receipts)}."
        if change.new_receipts else " No new receipt was needed (same address, no address, or nothing left of the gift)."
    )
    return f"The earlier donor already had a receipt for {', '.join(parts)}{more}.{sent}"


def _issued(session: Session, messages: list[OutboxMessage]) -> IssuedReceipt | None:
    if not messages:
        return None
    return session.scalar(select(IssuedReceipt).where(IssuedReceipt.outbox_message_id == messages[0].id))


def sample_facts(kind: ReceiptKind, settings: Settings) -> ReceiptFacts:
    """A made-up gift of each kind, for the wording preview on the staff Receipts page."""
    base = {
        "kind": kind, "donor_name": "Jordan Rivera", "amount_cents": 12_500, "currency": "USD",
        "received_at": datetime.combine(utcnow().astimezone(settings.tz).date(), time(12), tzinfo=settings.tz),
        "campaign": "Spring Appeal", "method": GiftMethod.CHECK,
    }
    extra: dict = {
        ReceiptKind.ONE_TIME: {"method": GiftMethod.CARD},
        ReceiptKind.MONTHLY: {"method": GiftMethod.CARD, "amount_cents": 2_500, "plan_id": 0,
                              "plan_amount_cents": 2_500, "instalment": 3},
        ReceiptKind.OFFLINE: {},
        ReceiptKind.DAF: {"method": GiftMethod.DAF, "donor_name": "Example Giving Fund"},
        ReceiptKind.NONCASH: {"method": GiftMethod.STOCK, "description": "10 shares of Example Corp (EXMP)"},
        ReceiptKind.IN_KIND: {"method": GiftMethod.IN_KIND, "description": "40 copies of a parenting book"},
        ReceiptKind.QUID_PRO_QUO: {"method": GiftMethod.CASH, "amount_cents": 10_000, "goods_value_cents": 3_000},
        ReceiptKind.EVENT_PROCEEDS: {"method": GiftMethod.CHECK, "donor_name": "Example Company",
                                     "event_name": "Holiday Cookie Walk", "host_name": "Example Company",
                                     "amount_cents": 48_000},
    }[kind]
    return ReceiptFacts(**{**base, **extra})


def preview(kind: ReceiptKind, wording: Wording, settings: Settings) -> Composed:
    """The receipt a sample gift of this kind would get with this wording (nothing is saved or sent)."""
    return compose(sample_facts(kind, settings), wording, number="1234", replaces=None,
                   org=current_organisation(), settings=settings)


def refresh_pending_receipt(gift: Gift) -> None:
    """Rewrite a gift's receipt that is still waiting to go out (e.g. once Stripe says it was
    paid with Apple Pay); a sent receipt is never changed."""
    from .settings import current_settings

    session = object_session(gift)
    if session is None or gift.id is None or gift.donor is None:
        return
    message = session.scalar(select(OutboxMessage).where(
        OutboxMessage.dedupe_key == f"receipt:{gift.id}", OutboxMessage.status == MessageStatus.PENDING
    ))
    if message is None:
        return
    issued = session.scalar(select(IssuedReceipt).where(IssuedReceipt.outbox_message_id == message.id))
    facts = facts_for(session, gift, gift.donor.name, ledger.gift_net(session, gift))
    composed = compose(
        facts, receipt_wording.load(session, facts.kind), number=issued.number if issued else str(gift.id),
        replaces=None, org=current_organisation(), settings=current_settings(),
    )
    message.subject, message.body_text, message.body_html = composed.subject, composed.text, composed.html


def payment_failed_text(plan: RecurringPlan, settings: Settings, *, donor_name: str, action_required: bool,
                        pay_url: str | None) -> tuple[str, str]:
    """The email to a recurring donor whose instalment did not go through."""
    amount = format_money(plan.amount_cents, plan.currency, settings.locale)
    link = manage_url(settings, plan.id, days=NOTICE_LINK_DAYS)
    adjective = interval_words(plan.interval)[0]
    org_name = current_organisation().name
    if action_required:
        first = (f"Your bank asked you to confirm your {adjective} gift of {amount} to {org_name}, so it "
                 "hasn't gone through yet.")
        steps = [f"To confirm it, open: {pay_url}"] if pay_url else []
        steps.append(f"To update your card instead, open this link within {NOTICE_LINK_DAYS} days: {link}")
    else:
        first = (f"Your {adjective} gift of {amount} to {org_name} didn't go through this time, so nothing was "
                 "charged. Usually the card has expired or was replaced.")
        steps = [f"To update your card, open this link within {NOTICE_LINK_DAYS} days: {link}"]
    lines = [
        f"Dear {donor_name},", "", first, "", *steps, "",
        (f"We'll try the payment again over the next few days. If you'd rather stop your {adjective} gift, the same "
         "link lets you cancel it."), "", "Thank you for your support.", "", current_organisation().legal_name,
    ]
    return f"Your {adjective} gift to {org_name} didn't go through", "\n".join(lines) + "\n"


def queue_payment_failed(session: Session, plan: RecurringPlan, *, invoice_id: str, action_required: bool,
                         fallback_email: str | None, pay_url: str | None = None) -> bool:
    """Queue the failed-instalment email, once per invoice (Stripe retries a failed invoice and
    reports each attempt); False if already queued or there is nowhere to send it."""
    from .settings import current_settings

    donor = plan.donor
    email = (donor.email if donor else None) or fallback_email
    key = f"payment-failed:{invoice_id}"
    if not email or session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)) is not None:
        return False
    subject, body = payment_failed_text(plan, current_settings(), donor_name=donor.name if donor else "friend",
                                        action_required=action_required, pay_url=pay_url)
    session.add(OutboxMessage(kind="payment-failed", dedupe_key=key, to_email=email, subject=subject, body_text=body))
    session.flush()
    return True


def queue_manage_link(session: Session, plan: RecurringPlan, settings: Settings) -> bool:
    """Email a fresh manage link to the address on the plan (never to one typed by a visitor);
    False when there is none or MANAGE_LINKS_PER_HOUR were sent in the last hour."""
    donor = plan.donor
    if donor is None or not donor.email:
        return False
    prefix = f"manage-link:{plan.id}:"
    recent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.dedupe_key.startswith(prefix, autoescape=True), OutboxMessage.created_at > utcnow() - timedelta(hours=1)
    ))
    if recent >= MANAGE_LINKS_PER_HOUR:
        return False
    link = manage_url(settings, plan.id, days=NOTICE_LINK_DAYS)
    adjective = interval_words(plan.interval)[0]
    body = "\n".join([
        f"Dear {donor.name},", "",
        (f"Here is a new link to manage your {adjective} gift of {format_money(plan.amount_cents, plan.currency, settings.locale)} "
         f"to {current_organisation().name} (update your card, change the amount, or cancel). It works for {NOTICE_LINK_DAYS} days:"),
        link, "", "If you didn't ask for this link, you can ignore this email.", "", current_organisation().legal_name,
    ]) + "\n"
    session.add(OutboxMessage(kind="manage-link", dedupe_key=f"{prefix}{uuid.uuid4().hex}", to_email=donor.email,
                              created_at=utcnow(), next_attempt_at=utcnow(),
                              subject=f"Your link to manage your {adjective} gift to {current_organisation().name}", body_text=body))
    session.flush()
    return True
