"""Typed SQLAlchemy models: campaigns, donors, gifts and their ledger, and the supporting tables."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import false

from .db import Base, UTCDateTime, utcnow


def _enum(enum_cls: type[StrEnum]) -> Enum:
    """Store a StrEnum as its plain string value (portable across SQLite and PostgreSQL)."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    CLOSED = "closed"
    ARCHIVED = "archived"


class GiftChannel(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    EVENT = "event"


class GiftMethod(StrEnum):
    CARD = "card"
    BANK = "bank"
    CHECK = "check"
    CASH = "cash"
    STOCK = "stock"
    IN_KIND = "in_kind"
    DAF = "daf"
    OTHER = "other"


class EntryKind(StrEnum):
    """What a ledger entry is; every kind but GIFT points at the gift it adjusts."""

    GIFT = "gift"
    CORRECTION = "correction"
    VOID = "void"
    REFUND = "refund"
    DISPUTE = "dispute"
    DISPUTE_WON = "dispute_won"
    # A refund that failed (or was cancelled) at the bank: the money is the gift's again.
    REFUND_REVERSED = "refund_reversed"
    REASSIGN_OUT = "reassign_out"
    REASSIGN_IN = "reassign_in"


class DonorKind(StrEnum):
    PERSON = "person"
    ORGANISATION = "organisation"


class DedicationKind(StrEnum):
    HONOUR = "honour"
    MEMORY = "memory"


class PlanStatus(StrEnum):
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    BOARD = "board"


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("goal_cents > 0", name="goal_positive"),
        CheckConstraint(
            "stretch_goal_cents IS NULL OR stretch_goal_cents > goal_cents", name="stretch_above_goal"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    story_md: Mapped[str] = mapped_column(Text, default="")
    goal_cents: Mapped[int] = mapped_column(BigInteger)
    stretch_goal_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    # Suggested amounts in cents, smallest first, e.g. [2500, 5000, 10000].
    suggested_amounts: Mapped[list[int]] = mapped_column(JSON, default=list)
    # The donate form's preselected amount (one of the suggested ones), and a short line per
    # suggested amount saying what it does, keyed by the amount in cents as text.
    default_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    impact_lines: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # The cover's stored name (images.py keeps WebP and JPEG copies at each width up to cover_width).
    cover_image: Mapped[str | None] = mapped_column(String(200))
    cover_alt: Mapped[str] = mapped_column(String(300), default="", server_default="")
    cover_width: Mapped[int | None] = mapped_column(Integer)
    cover_height: Mapped[int | None] = mapped_column(Integer)
    # The Stripe Product that monthly gifts to this campaign are priced against.
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    # One of the demo's campaigns (demo.py): removed with the rest of the demo.
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # In-kind gifts (goods, services) count toward the public goal only when staff say so.
    counts_in_kind: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    totals: Mapped[CampaignTotals] = relationship(back_populates="campaign", uselist=False)
    events: Mapped[list[CommunityEvent]] = relationship(back_populates="campaign")
    matches: Mapped[list[MatchingChallenge]] = relationship(
        back_populates="campaign", order_by="MatchingChallenge.id"
    )


class CampaignTotals(Base):
    """Cached totals of a campaign's ledger, changed in the same transaction as each entry."""

    __tablename__ = "campaign_totals"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    raised_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    gift_count: Mapped[int] = mapped_column(Integer, default=0)
    donor_count: Mapped[int] = mapped_column(Integer, default=0)
    last_gift_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on every change: the ETag of the progress API and the cheap "anything new?" check.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Whether the campaign has matching challenges (matches.save_match sets it), read under the lock
    # every money change takes anyway, so gifts to a campaign without matches cost no further query.
    has_matches: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    campaign: Mapped[Campaign] = relationship(back_populates="totals")

    @classmethod
    def empty(cls, campaign_id: int, *, has_matches: bool = False) -> CampaignTotals:
        """The totals of a campaign nothing has been recorded for yet."""
        return cls(campaign_id=campaign_id, raised_cents=0, gift_count=0, donor_count=0, version=0,
                   has_matches=has_matches)


class MatchingChallenge(Base):
    """A sponsor's promise to match gifts: a ratio, a cap, dates, and which channels count.

    Matches in one campaign stack (each gift unlocks from every running match) unless one
    `follows` another: then it takes only what its predecessor could not, once that one is full
    or over. What a match has unlocked is a cache of the ledger, like CampaignTotals: the ledger
    keeps it current in the same transaction as each money change (matches.py says how), and
    `verify-totals` checks it against a computation from scratch.
    """

    __tablename__ = "matching_challenges"
    __table_args__ = (
        CheckConstraint("cap_cents > 0", name="cap_positive"),
        CheckConstraint("ratio_percent > 0", name="ratio_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    sponsor: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    # 100 = every dollar matched 1:1, 200 = 2:1, 50 = fifty cents per dollar.
    ratio_percent: Mapped[int] = mapped_column(Integer, default=100)
    cap_cents: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counts_offline: Mapped[bool] = mapped_column(Boolean, default=False)
    counts_events: Mapped[bool] = mapped_column(Boolean, default=False)
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("matching_challenges.id"))
    unlocked_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The latest arrival (received_at) among the gifts counted in `unlocked_cents`: a new gift that
    # arrived later only adds its own share; any other change counts the campaign's gifts again.
    counted_through: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="matches")


class CampaignDonorTotal(Base):
    """Net giving of one donor to one campaign, so the distinct-donor count updates in O(1)."""

    __tablename__ = "campaign_donor_totals"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), primary_key=True)
    net_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class Donor(Base):
    __tablename__ = "donors"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DonorKind] = mapped_column(_enum(DonorKind), default=DonorKind.PERSON)
    name: Mapped[str] = mapped_column(String(200))
    # Normalised (trimmed, lower-cased); unique where present.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    anonymous_by_default: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the donor last ticked "Keep me informed" (None: never asked to hear from us).
    newsletter_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"))
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)

    household: Mapped[Household | None] = relationship()


class CommunityEvent(Base):
    """A fundraiser hosted by friends of the organisation (e.g. a company's cookie walk)."""

    __tablename__ = "community_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    host_name: Mapped[str] = mapped_column(String(200))
    # The organisation (or person) credited with the proceeds.
    host_donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"))
    event_date: Mapped[date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200), default="")
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="events")
    host_donor: Mapped[Donor | None] = relationship()


class RecurringPlan(Base):
    """A monthly gift (a Stripe Subscription); each paid instalment is its own Gift."""

    __tablename__ = "recurring_plans"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(10), default="month")
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus), default=PlanStatus.INCOMPLETE)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Last Stripe event time applied, so an older event never overwrites a newer status.
    stripe_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last instalment failed (the donor was emailed a link to update their card).
    last_payment_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    donor: Mapped[Donor | None] = relationship()
    campaign: Mapped[Campaign | None] = relationship()


class Gift(Base):
    """One gift as received. Its amount never changes: adjustments are LedgerEntry rows."""

    __tablename__ = "gifts"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("fee_cents IS NULL OR fee_cents >= 0", name="fee_not_negative"),
        CheckConstraint(
            "goods_value_cents IS NULL OR goods_value_cents >= 0", name="goods_value_not_negative"
        ),
        Index("ix_gifts_campaign_received", "campaign_id", "received_at"),
        Index("ix_gifts_donor_received", "donor_id", "received_at"),
        Index("ix_gifts_is_sample", "is_sample"),
        # The board's top gifts of a year: the few gifts at or above a size, without reading the year's gifts.
        Index("ix_gifts_amount", "amount_cents"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Campaign it was first given to (None: unattributed, waiting for staff).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("community_events.id"))
    recurring_plan_id: Mapped[int | None] = mapped_column(ForeignKey("recurring_plans.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[GiftChannel] = mapped_column(_enum(GiftChannel))
    method: Mapped[GiftMethod] = mapped_column(_enum(GiftMethod))
    # What a person reads: a check number, a Stripe object id.
    reference: Mapped[str | None] = mapped_column(String(255))
    # What makes a second arrival of the same gift a no-op ("stripe:pi_...", "import:...").
    source_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    fee_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The fee is in the currency Stripe settled the gift in, which need not be the gift's (a EUR
    # gift settled in USD); with it, what reached the balance and the rate Stripe converted at.
    fee_currency: Mapped[str | None] = mapped_column(String(3))
    settled_net_cents: Mapped[int | None] = mapped_column(BigInteger)
    exchange_rate: Mapped[str | None] = mapped_column(String(40))
    stripe_balance_transaction_id: Mapped[str | None] = mapped_column(String(255), index=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    show_amount: Mapped[bool] = mapped_column(Boolean, default=False)
    dedication_kind: Mapped[DedicationKind | None] = mapped_column(_enum(DedicationKind))
    dedication_name: Mapped[str | None] = mapped_column(String(200))
    dedication_notify_email: Mapped[str | None] = mapped_column(String(254))
    public_comment: Mapped[str | None] = mapped_column(String(1000))
    comment_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # Donor-wall moderation: staff can hide the name at once; "reviewed" lets a gift show when
    # the organisation approves names and comments before they appear.
    name_hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    wall_reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    private_note: Mapped[str | None] = mapped_column(Text)
    # Staff hid the dedication ("In memory of ...") from the public wall.
    dedication_hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The numbered bank deposit this check or cash went to the bank in (deposits.py).
    deposit_batch_id: Mapped[int | None] = mapped_column(ForeignKey("deposit_batches.id"), index=True)
    # In-kind description; goods_value is the fair value of anything the donor received back.
    description: Mapped[str | None] = mapped_column(String(500))
    goods_value_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Event proceeds are the host's own gift (receipted to the host) only when staff say so;
    # otherwise the host passed on money collected from others and gets an acknowledgment.
    proceeds_are_hosts_gift: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    # Stripe ids that later events (refunds, disputes, fees) use to find this gift.
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # How an online gift was paid, as Stripe names it: "card", "card:apple_pay", "us_bank_account"...
    payment_method_detail: Mapped[str | None] = mapped_column(String(60))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign | None] = relationship()
    donor: Mapped[Donor | None] = relationship()
    event: Mapped[CommunityEvent | None] = relationship()
    recurring_plan: Mapped[RecurringPlan | None] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(
        back_populates="gift", order_by="LedgerEntry.id"
    )

    @property
    def fee_in_gift_currency(self) -> bool:
        """A fee that can be set against the gift's own amount (totals and rollups count only these)."""
        return self.fee_cents is not None and (self.fee_currency is None or self.fee_currency == self.currency)

    @property
    def net_cents(self) -> int | None:
        return self.amount_cents - self.fee_cents if self.fee_in_gift_currency else None


class DepositStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DepositBatch(Base):
    """A numbered bank deposit: checks and cash gathered as they arrive, closed when they add up
    to the deposit slip. Each gift keeps its own received date (a check received on 30 December
    counts in that year, even when it is deposited in January)."""

    __tablename__ = "deposit_batches"
    __table_args__ = (
        CheckConstraint("slip_total_cents IS NULL OR slip_total_cents >= 0", name="slip_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    status: Mapped[DepositStatus] = mapped_column(_enum(DepositStatus), default=DepositStatus.OPEN)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    slip_total_cents: Mapped[int | None] = mapped_column(BigInteger)
    memo: Mapped[str] = mapped_column(String(500), default="")
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])


class LedgerEntry(Base):
    """One signed movement of money for a campaign. Append-only: the source of every total."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_campaign_occurred", "campaign_id", "occurred_at"),
        Index("ix_ledger_entries_gift", "gift_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    reference: Mapped[str | None] = mapped_column(String(255))
    # Idempotency for adjustments that arrive from outside (Stripe refund and dispute ids).
    source_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    gift: Mapped[Gift] = relationship(back_populates="entries")


class StripeEvent(Base):
    """Every Stripe webhook event, stored once when it arrives and applied to the ledger after.

    `processed_at` is empty until the event has been applied; a failure to apply it (a bug, the
    database going away) postpones it with back-off instead of losing it.
    """

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_pending", "processed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    # Set while the event waits for the payment it adjusts (a refund that arrived first).
    waiting_for: Mapped[str | None] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The API version Stripe rendered the event in, and the connected account it came from (if any).
    api_version: Mapped[str | None] = mapped_column(String(40))
    account: Mapped[str | None] = mapped_column(String(255))
    # Why a stored event was never applied (live event on test keys, another account); doctor reports it.
    not_applied_reason: Mapped[str | None] = mapped_column(String(200))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised by signing out, a password change or reset: sessions and set-password links carry
    # the value they were made with, so raising it ends them all.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditLog(Base):
    """Who changed what, when, with the before and after; the app never edits these rows."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(50))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User | None] = relationship()


class LoginThrottle(Base):
    """Sign-in attempts of one account or one network address, counted in one row so parallel
    attempts can't slip past the limit (throttle.py claims an attempt with a single UPDATE)."""

    __tablename__ = "login_throttles"

    # "account:<email>" or "address:<ip>"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CreditKind(StrEnum):
    """Why a gift credits someone besides its giver of record. EVENT_GUEST: a person behind an
    event host's gift; the others are soft credits to another donor, for reporting only."""

    EVENT_GUEST = "event_guest"
    DAF_ADVISOR = "daf_advisor"
    SPOUSE = "spouse"
    EMPLOYER_MATCH = "employer_match"
    EVENT_HOST = "event_host"
    OTHER = "other"


class GiftCredit(Base):
    """A person a gift is credited to besides its giver: a buyer at a host's cookie walk, or a
    soft credit (a fund's advisor, a spouse, the employee behind a company match). It never moves
    money; removing a soft credit keeps the row with who removed it and when."""

    __tablename__ = "gift_credits"
    __table_args__ = (
        CheckConstraint("amount_cents IS NULL OR amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[CreditKind] = mapped_column(_enum(CreditKind), default=CreditKind.EVENT_GUEST, server_default="event_guest")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    donor: Mapped[Donor | None] = relationship()
    gift: Mapped[Gift] = relationship()


# --- online giving ---


class DonationFrequency(StrEnum):
    ONCE = "once"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class AttemptStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    # The donor changed their details before paying; a newer attempt took over (its Stripe
    # PaymentIntent or Subscription was cancelled).
    REPLACED = "replaced"


class DonationAttempt(Base):
    """A donor's submitted form before Stripe confirms payment: keys idempotency and the thank-you page."""

    __tablename__ = "donation_attempts"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    frequency: Mapped[DonationFrequency] = mapped_column(_enum(DonationFrequency))
    # What is charged (base amount plus any covered fee), and the covered part of it.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    fee_covered_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    donor_name: Mapped[str] = mapped_column(String(200))
    # Indexed: the card-testing guard counts an email's declines before each start.
    donor_email: Mapped[str] = mapped_column(String(254), index=True)
    # The donor's choices, exactly as submitted (also sent to Stripe as metadata).
    choices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus), default=AttemptStatus.STARTED)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # Why the payment did not go through (Stripe's decline or error code), and when.
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where the donate request came from (after PROXY_COUNT proxies), an IPv6 address by its /64
    # (networks.network_of): declines back off per address.
    ip_address: Mapped[str | None] = mapped_column(String(45), index=True)

    campaign: Mapped[Campaign] = relationship()


class DonateCounter(Base):
    """Donation starts in the current window per address, per campaign and in total (donate_guard.py).

    One row per key, bumped with a single upsert, so every worker process sees the same count.
    """

    __tablename__ = "donate_counters"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(Integer)


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """An email waiting to go out (receipts, dedication notices), written with the gift it is about."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int | None] = mapped_column(ForeignKey("gifts.id"))
    kind: Mapped[str] = mapped_column(String(40))
    # "receipt:<gift id>" for the first receipt; re-sends get their own key.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    # When set, sent as the HTML alternative of body_text (mail.py); the text part stays the fallback.
    body_html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(_enum(MessageStatus), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)



class OrgSetting(Base):
    """One organisation setting changed by an admin on the Settings page (organisation.py);
    settings without a row take their value from the environment."""

    __tablename__ = "org_settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- year-end statements ---


class StatementChannel(StrEnum):
    EMAIL = "email"
    PRINT = "print"


class YearEndRun(Base):
    """One run of the year-end statements (staff page or CLI), with what it did."""

    __tablename__ = "year_end_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    resend: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    emailed_count: Mapped[int] = mapped_column(Integer, default=0)
    printed_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)


class YearStatement(Base):
    """A donor's statement for a year as sent (by email) or printed for the post.

    Unique per year, donor and round: round 1 is the first statement; only a run asked to resend
    adds round 2, 3..., so two runs (or two workers) can never send the same year twice by accident.
    """

    __tablename__ = "year_statements"
    __table_args__ = (UniqueConstraint("year", "donor_id", "round", name="uq_year_statements_year_donor_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("year_end_runs.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[StatementChannel] = mapped_column(_enum(StatementChannel))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    donor: Mapped[Donor] = relationship()
# --- disputes, balance and payouts (H2) ---


class StripeDispute(Base):
    """A card dispute or inquiry on an online gift as Stripe last described it. Money moves only
    through ledger entries (withdrawals and reinstatements); this row says where the case stands."""

    __tablename__ = "stripe_disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    # Stripe's own words: warning_needs_response, needs_response, won, lost, ...
    status: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(60), default="")
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # An inquiry (a "warning_*" status) asks questions and takes no money unless it escalates.
    is_inquiry: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Time of the last Stripe event applied, so an older event never overwrites a newer status.
    stripe_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CostKind(StrEnum):
    DISPUTE_FEE = "dispute_fee"


class GiftCost(Base):
    """What a gift cost beyond its processing fee (a dispute fee, or that fee given back, negative).

    A cost, not a reduction of what was raised: totals never see it. In the currency Stripe
    charged it in; one row per balance transaction, so a second arrival is a no-op.
    """

    __tablename__ = "gift_costs"
    __table_args__ = (CheckConstraint("amount_cents <> 0", name="amount_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    # The withdrawal or reinstatement the cost came with.
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    kind: Mapped[CostKind] = mapped_column(_enum(CostKind))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(String(200), default="")
    stripe_balance_transaction_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payout(Base):
    """A deposit Stripe sent to the bank; its lines are the balance transactions it paid out."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_payout_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Stripe's words: pending, in_transit, paid, failed, canceled.
    status: Mapped[str] = mapped_column(String(24))
    arrival_date: Mapped[date] = mapped_column(Date)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    # Stripe lists an automatic payout's transactions once this is "completed".
    reconciliation_status: Mapped[str | None] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(String(200), default="")
    stripe_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once every line has been fetched from Stripe; until then the fetch is retried.
    lines_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetch_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[PayoutLine]] = relationship(back_populates="payout", order_by="PayoutLine.id")


class PayoutLine(Base):
    """One balance transaction of a payout, linked to our gift and ledger entry where it is ours.

    Lines we cannot match (Stripe's own fees and adjustments) are kept too, so the lines always
    add up to what reached the bank. Amounts in the payout's currency: gross - fee = net.
    """

    __tablename__ = "payout_lines"
    __table_args__ = (
        UniqueConstraint("payout_id", "stripe_balance_transaction_id", name="uq_payout_lines_payout_txn"),
        Index("ix_payout_lines_gift", "gift_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id"), index=True)
    stripe_balance_transaction_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(40))
    reporting_category: Mapped[str] = mapped_column(String(40), default="")
    gross_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    net_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    exchange_rate: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(500), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    gift_id: Mapped[int | None] = mapped_column(ForeignKey("gifts.id"))
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))

    payout: Mapped[Payout] = relationship(back_populates="lines")
    gift: Mapped[Gift | None] = relationship()
class ReceiptWording(Base):
    """An admin's wording of one kind of receipt (receipt_wording.py); kinds without a row use
    the default wording. The legally required lines are added by code, never stored here."""

    __tablename__ = "receipt_wordings"

    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_md: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class IssuedReceipt(Base):
    """Each receipt (or acknowledgment) sent for a gift, with the figure it stated, so a later
    one can say which it replaces and staff can see who was told what."""

    __tablename__ = "issued_receipts"
    __table_args__ = (Index("ix_issued_receipts_gift", "gift_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"))
    # What the donor reads: the gift id for its first receipt, "<gift id>-<n>" for later ones.
    number: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    # Why it was issued: "first", "correction", "resend", "donor_change".
    reason: Mapped[str] = mapped_column(String(20))
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donors.id"))
    to_email: Mapped[str] = mapped_column(String(254))
    # The amount it stated (None for property, whose value we never state).
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("issued_receipts.id"))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_messages.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    outbox_message: Mapped[OutboxMessage | None] = relationship()


# --- board rollups: caches of the ledger, kept by ledger.py in the same transaction ---

# Scope keys of the rollups that also keep sums across campaigns or channels.
ALL_CAMPAIGNS = 0
ALL_CHANNELS = "all"
# The month of gift-size rows that sum every month (so unfiltered pages read a few hundred rows).
ALL_MONTHS = date(1, 1, 1)


class DailyRollup(Base):
    """What a campaign raised each local day (organisation time zone): the progress chart."""

    __tablename__ = "rollup_daily"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    raised_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class MonthlyRollup(Base):
    """Money per campaign, local month, channel and method, so board charts never scan the ledger."""

    __tablename__ = "rollup_monthly"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the local month
    channel: Mapped[GiftChannel] = mapped_column(_enum(GiftChannel), primary_key=True)
    method: Mapped[GiftMethod] = mapped_column(_enum(GiftMethod), primary_key=True)
    # Sum of every entry that month: gifts less refunds, voids, disputes, moves.
    raised_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Processing fees of gifts credited here, in the month the gift arrived in the campaign.
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # The part of raised_cents that came from monthly plans.
    recurring_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)
    # Withdrawn by disputes less what won disputes restored.
    dispute_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    dispute_count: Mapped[int] = mapped_column(Integer, default=0)


class GiftSizeRollup(Base):
    """Standing gifts by what is left of each, per scope, arrival month and amount: exact medians.

    Kept per campaign and channel, and also summed across campaigns (campaign_id ALL_CAMPAIGNS),
    channels (channel ALL_CHANNELS) and months (month ALL_MONTHS), so a page reads hundreds of rows.
    """

    __tablename__ = "rollup_gift_sizes"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gift_count: Mapped[int] = mapped_column(Integer, default=0)
    # Gifts with no donor record: each counts as one supporter, like campaign_totals.donor_count.
    donorless_count: Mapped[int] = mapped_column(Integer, default=0)


class DonorMonthRollup(Base):
    """Standing gifts of one donor per campaign, arrival month and channel: decides the donor bitmaps.

    raised_cents is what is left of those gifts (every entry counted in the gift's arrival month),
    so a donor's fiscal-year total for upgrades and downgrades is a sum of these rows."""

    __tablename__ = "rollup_donor_months"
    __table_args__ = (Index("ix_rollup_donor_months_donor", "donor_id", "month"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[GiftChannel] = mapped_column(_enum(GiftChannel), primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), primary_key=True)
    gift_count: Mapped[int] = mapped_column(Integer, default=0)
    raised_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class DonorBitmap(Base):
    """Which donors had a standing gift, per scope and month: bit n is donor id n (little-endian).

    Distinct donors over any months, new donors and retention are ORs, ANDs and bit counts of a few
    dozen of these, instead of a scan of every donor's months. Scopes as in GiftSizeRollup.
    """

    __tablename__ = "rollup_donor_bitmaps"

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    bits: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class EventRollup(Base):
    """What each community event's gifts left with a campaign."""

    __tablename__ = "rollup_events"

    event_id: Mapped[int] = mapped_column(ForeignKey("community_events.id"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    raised_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    gift_count: Mapped[int] = mapped_column(Integer, default=0)


class ImportJob(Base):
    """A CSV import running in the background: its progress (updated each batch) and its outcome."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The upload it imports (the file waits under the instance folder by this name).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="running")  # running, done, failed
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    done_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "ALL_CAMPAIGNS",
    "ALL_CHANNELS",
    "ALL_MONTHS",
    "AttemptStatus",
    "AuditLog",
    "Campaign",
    "CampaignDonorTotal",
    "CampaignStatus",
    "CampaignTotals",
    "CommunityEvent",
    "CostKind",
    "DailyRollup",
    "DedicationKind",
    "DepositBatch",
    "DepositStatus",
    "DonateCounter",
    "DonationAttempt",
    "DonationFrequency",
    "Donor",
    "DonorBitmap",
    "DonorKind",
    "DonorMonthRollup",
    "EntryKind",
    "EventRollup",
    "Gift",
    "GiftChannel",
    "GiftCost",
    "GiftCredit",
    "GiftMethod",
    "GiftSizeRollup",
    "ImportJob",
    "IssuedReceipt",
    "LedgerEntry",
    "LoginThrottle",
    "MessageStatus",
    "MonthlyRollup",
    "OrgSetting",
    "OutboxMessage",
    "Payout",
    "PayoutLine",
    "PlanStatus",
    "ReceiptWording",
    "RecurringPlan",
    "Role",
    "StatementChannel",
    "StripeDispute",
    "StripeEvent",
    "User",
    "YearEndRun",
    "YearStatement",
]


# --- households ---


class Household(Base):
    """Donors who live together, grouped for mailing and reporting; each keeps their own gifts."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # How an envelope is addressed: "The Smith Family".
    mailing_name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
