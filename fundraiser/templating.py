"""Jinja filters and globals: money, dates in the organisation's time zone, org settings."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date, format_datetime
from flask import Flask, url_for
from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError

from . import images
from .auth.access import current_user
from .campaigns import MILESTONES
from .db import get_session
from .gifts import METHOD_NAMES
from .models import Campaign, Gift, GiftMethod
from .money import format_headline, format_money
from .organisation import current_organisation
from .settings import current_settings


def money(cents: int | None, currency: str = "USD", whole: bool = False) -> str:
    if cents is None:
        return ""
    return format_money(cents, currency, current_settings().locale, whole=whole)


def money_headline(cents: int | None, currency: str = "USD") -> str:
    """Whole units for headlines (money.format_headline); the `money` filter for exact figures."""
    if cents is None:
        return ""
    return format_headline(cents, currency, current_settings().locale)


def local_date(value: datetime | date | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    settings = current_settings()
    if isinstance(value, datetime):
        value = value.astimezone(settings.tz).date()
    return format_date(value, format=fmt, locale=settings.locale)


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    settings = current_settings()
    return format_datetime(value, format=fmt, tzinfo=settings.tz, locale=settings.locale)


def _globals() -> dict:
    return {
        "org": current_organisation(),
        "has_sample_data": has_sample_data,
        "current_user": current_user,
    }


def cover_sources(campaign: Campaign) -> images.CoverSources | None:
    """The campaign's cover as `<picture>` sources served from /media/covers/ (macros.cover_picture)."""
    return images.cover_sources(
        campaign.cover_image, campaign.cover_width, campaign.cover_height, campaign.cover_alt,
        lambda name: url_for("public.cover_image", name=name),
    )


def has_sample_data() -> bool:
    """Whether demo gifts are in the database (pages then say so); an indexed EXISTS."""
    try:
        return bool(get_session().scalar(select(exists().where(Gift.is_sample.is_(True)))))
    except SQLAlchemyError:
        # Error pages render this too; a database outage must not break them.
        get_session().rollback()
        return False


def method_name(method: GiftMethod | str) -> str:
    """A payment method as staff read it ("In-kind (goods or services)", not "in_kind")."""
    return METHOD_NAMES.get(GiftMethod(method), str(method))


def init_app(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(money_headline, "money_headline")
    app.add_template_filter(local_date, "local_date")
    app.add_template_filter(local_datetime, "local_datetime")
    app.add_template_filter(method_name, "method_name")
    app.context_processor(_globals)
    # An environment global, not a context one: macros imported without context use it.
    app.jinja_env.globals["milestones"] = MILESTONES
    app.jinja_env.globals["cover_sources"] = cover_sources
