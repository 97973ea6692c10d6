"""Year-end giving statements for every donor, in one step (staff page or `flask year-end`).

Every donor with a standing gift received in the year (organisation time zone; online, offline
and event gifts alike, in-kind only included) gets a statement: by email when we have their
address, otherwise on a printed page for the post (one PDF, a page per donor, laid out for a #10
window envelope). Each statement sent is recorded per year and donor, so a second run skips
everyone already served unless asked to resend.

The email carries the whole statement in its body (an emailed acknowledgment is enough for the
IRS), plus a signed link to the same statement as a PDF, valid for LINK_DAYS. The outbox has no
attachments, and adding them would put megabytes of PDF in every queued row; the link renders
the PDF on demand instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import letters, statements
from .config import Settings
from .db import utcnow
from .models import Donor, OutboxMessage, StatementChannel, YearEndRun, YearStatement
from .organisation import Organisation
from .statements import Statement

# Long enough for tax season and an October extension.
LINK_DAYS = 400
FIRST_YEAR = 2000


class YearEndError(ValueError):
    """The run can't go ahead; the message says why."""


class LinkInvalid(ValueError):
    """A statement link that was never ours, or has expired (`expired`)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("This link has expired." if expired else "This link is not valid.")
        self.expired = expired


def check_year(year: int, tz: ZoneInfo) -> None:
    """Statements cover years from 2000 to the current one."""
    this_year = utcnow().astimezone(tz).year
    if not FIRST_YEAR <= year <= this_year:
        raise YearEndError(f"Please choose a year from {FIRST_YEAR} to {this_year}.")


@dataclass(frozen=True)
class YearEndPlan:
    """Who a run would send to, and how, before anything is sent."""

    year: int
    resend: bool
    to_email: list[Statement]
    to_print: list[Statement]
    already_sent: list[Statement]

    @property
    def without_address(self) -> list[Donor]:
        """Donors who would get a printed page but have no mailing address to send it to."""
        return [s.donor for s in self.to_print if not letters.has_mailing_address(s.donor)]

    @property
    def non_cash_only(self) -> int:
        """Statements that list only gifts of stock or property (described, never valued)."""
        return sum(1 for s in self.to_email + self.to_print if all(line.is_non_cash for line in s.lines))


def plan(session: Session, year: int, tz: ZoneInfo, *, resend: bool, issued_on: date) -> YearEndPlan:
    """Every donor with a standing gift in the year, sorted into email, print and already sent."""
    check_year(year, tz)
    found = statements.period_statements(session, date(year, 1, 1), date(year, 12, 31), tz, issued_on=issued_on)
    done = set(session.scalars(select(YearStatement.donor_id).where(YearStatement.year == year)))
    to_email, to_print, already = [], [], []
    for statement in found:
        if statement.donor.id in done and not resend:
            already.append(statement)
        elif statement.donor.email:
            to_email.append(statement)
        else:
            to_print.append(statement)
    return YearEndPlan(year, resend, to_email, to_print, already)


def statement_token(settings: Settings, record_id: int) -> str:
    """The signed, expiring part of a donor's link to their statement PDF."""
    return URLSafeTimedSerializer(settings.secret_key, salt="year-statement").dumps(record_id)


def record_for_token(settings: Settings, token: str) -> int:
    """The statement record a link names; LinkInvalid when forged or past LINK_DAYS."""
    try:
        value = URLSafeTimedSerializer(settings.secret_key, salt="year-statement").loads(token, max_age=LINK_DAYS * 86400)
    except SignatureExpired:
        raise LinkInvalid(expired=True) from None
    except BadSignature:
        raise LinkInvalid(expired=False) from None
    if not isinstance(value, int):
        raise LinkInvalid(expired=False)
    return value


def run(
    session: Session, settings: Settings, org: Organisation, year: int, *, resend: bool, user_id: int | None,
) -> YearEndRun:
    """Queue an email statement for each donor with an email and record a printed one for the rest;
    flushes only. YearEndError if another run recorded the same statements first."""
    now = utcnow()
    tz = settings.tz
    found = plan(session, year, tz, resend=resend, issued_on=now.astimezone(tz).date())
    if not found.to_email and not found.to_print:
        raise YearEndError(
            f"Nothing to send for {year}: " + ("every donor already got their statement." if found.already_sent else "no gifts that year.")
        )
    record = YearEndRun(
        year=year, resend=resend, started_at=now, user_id=user_id, emailed_count=len(found.to_email),
        printed_count=len(found.to_print), skipped_count=len(found.already_sent),
    )
    session.add(record)
    session.flush()
    rounds = dict(session.execute(
        select(YearStatement.donor_id, func.max(YearStatement.round)).where(YearStatement.year == year).group_by(YearStatement.donor_id)
    ).all())
    sent: list[tuple[Statement, YearStatement]] = []
    for statement, channel in [(s, StatementChannel.EMAIL) for s in found.to_email] + [(s, StatementChannel.PRINT) for s in found.to_print]:
        row = YearStatement(run_id=record.id, year=year, donor_id=statement.donor.id, round=rounds.get(statement.donor.id, 0) + 1,
                            channel=channel, sent_at=now)
        session.add(row)
        sent.append((statement, row))
    try:
        # The unique (year, donor, round) is what stops a second, simultaneous run.
        session.flush()
    except IntegrityError:
        raise YearEndError(
            f"Another year-end run for {year} recorded these statements a moment ago; nothing was sent twice. "
            "Reload the page to see it."
        ) from None
    for statement, row in sent:
        if row.channel != StatementChannel.EMAIL:
            continue
        link = f"{settings.base_url}/statements/{statement_token(settings, row.id)}.pdf"
        message = OutboxMessage(
            kind="statement", dedupe_key=f"statement:{year}:{row.donor_id}:{row.round}", to_email=statement.donor.email,
            subject=f"Your {year} giving statement from {org.name}",
            body_text=statements.statement_text(statement, settings, org, pdf_link=link),
        )
        session.add(message)
        session.flush()
        row.outbox_message_id = message.id
    session.flush()
    return record


def recorded_statement(session: Session, row: YearStatement, tz: ZoneInfo) -> Statement:
    """A recorded statement as it stands now (later corrections included), dated when it was issued."""
    return statements.year_statement(session, row.donor, row.year, tz, issued_on=row.sent_at.astimezone(tz).date())


def printed(session: Session, run_record: YearEndRun, tz: ZoneInfo) -> list[Statement]:
    """The statements a run left for the post, by donor name, as they stand now (one query for the gifts)."""
    donor_ids = list(session.scalars(
        select(YearStatement.donor_id).where(YearStatement.run_id == run_record.id, YearStatement.channel == StatementChannel.PRINT)
    ))
    if not donor_ids:
        return []
    year = run_record.year
    return statements.period_statements(
        session, date(year, 1, 1), date(year, 12, 31), tz, issued_on=run_record.started_at.astimezone(tz).date(), donor_ids=donor_ids,
    )


def print_pdf(session: Session, settings: Settings, org: Organisation, run_record: YearEndRun) -> bytes:
    """One PDF with a page (or more) per donor to post, ready to fold into window envelopes."""
    return letters.documents_pdf(printed(session, run_record, settings.tz), settings, org)


def run_statements(session: Session, run_record: YearEndRun) -> list[YearStatement]:
    """What a run recorded, emails first, for its page."""
    return list(session.scalars(
        select(YearStatement).where(YearStatement.run_id == run_record.id).order_by(YearStatement.channel, YearStatement.id)
    ))


def runs(session: Session, limit: int = 20) -> list[YearEndRun]:
    """The latest runs, newest first."""
    return list(session.scalars(select(YearEndRun).order_by(YearEndRun.id.desc()).limit(limit)))
