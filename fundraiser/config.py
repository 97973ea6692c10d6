"""Settings from the environment (and `.env`), read and validated once when the app is created."""

from __future__ import annotations

import math
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names the setting and how to fix it."""


# The demo organisation's identity: the defaults of the ORG_* variables (organisation.py). The
# sponsor is real (our first user's); the rest is sample data that production must replace.
DEMO_ORG = {
    "ORG_NAME": "Together, We Can End Restraint and Seclusion",
    "ORG_LEGAL_NAME": "End Restraint and Seclusion Maryland",
    "ORG_SPONSOR_NAME": "Players Philanthropy Fund, Inc.",
    "ORG_SPONSOR_EIN": "27-6601178",
    "ORG_TAX_ID": "",
    "ORG_MAILING_ADDRESS": "PO Box 1234 | Baltimore, MD 21203",
    "ORG_CONTACT_EMAIL": "hello@example.org",
    "ORG_CONTACT_PHONE": "(410) 555-0134",
}
# Values that are the demo's own, not merely a default a real organisation may share.
DEMO_ONLY = ("ORG_NAME", "ORG_LEGAL_NAME", "ORG_MAILING_ADDRESS", "ORG_CONTACT_EMAIL", "ORG_CONTACT_PHONE")


CAPTCHA_PROVIDERS = {
    # provider: (script to load, siteverify URL, origins its script and frames come from)
    "turnstile": (
        "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit",
        "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        ("https://challenges.cloudflare.com",),
    ),
    "hcaptcha": (
        "https://js.hcaptcha.com/1/api.js?render=explicit",
        "https://api.hcaptcha.com/siteverify",
        ("https://hcaptcha.com", "https://*.hcaptcha.com"),
    ),
}


@dataclass(frozen=True)
class DonateGuard:
    """Limits on starting donations without signing in (card testers' favourite target)."""

    # Donation starts per window: from one address, to one campaign, and in all.
    per_address: int = 10
    per_campaign: int = 300
    total: int = 1000
    window_seconds: int = 3600
    # Failed (declined) attempts from an address or an email before it must wait; the wait
    # starts at backoff_seconds and doubles with each further decline, up to a day.
    declines_before_backoff: int = 3
    backoff_seconds: int = 900
    decline_window_seconds: int = 86_400
    # Optional human check (Cloudflare Turnstile or hCaptcha), asked for only once an address has
    # started `captcha_after_starts` donations in the window or had a decline.
    captcha_provider: str = ""
    captcha_site_key: str = ""
    captcha_secret: str = ""
    captcha_verify_url: str = ""
    captcha_after_starts: int = 3

    @property
    def captcha_enabled(self) -> bool:
        return bool(self.captcha_provider)

    @property
    def captcha_script_url(self) -> str:
        return CAPTCHA_PROVIDERS[self.captcha_provider][0] if self.captcha_enabled else ""

    @property
    def captcha_origins(self) -> tuple[str, ...]:
        return CAPTCHA_PROVIDERS[self.captcha_provider][2] if self.captcha_enabled else ()


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, typed."""

    env: str
    database_url: str
    database_url_is_default: bool
    secret_key: str
    secret_key_is_generated: bool
    instance_path: Path
    timezone: str
    locale: str
    base_url: str
    auto_seed_demo: bool
    donation_min_cents: int
    donation_max_cents: int
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    proxy_count: int
    # Online giving (Stripe). Empty keys mean online giving is not set up yet.
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    stripe_checkout_only: bool = False
    # Processing fee a donor may choose to cover: percent in basis points (220 = 2.2%) plus fixed cents.
    fee_percent_bps: int = 220
    fee_fixed_cents: int = 30
    # Email. No SMTP_HOST: messages are written to the instance folder's outbox/ instead.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "starttls"
    mail_from: str = ""
    # Live progress: how often each process checks for gifts recorded elsewhere, and how long one
    # stream connection lasts before the browser reconnects (frees threads, survives deploys).
    live_poll_seconds: float = 0.5
    live_stream_seconds: int = 300
    # Open streams one process holds at most (keep it below gunicorn's --threads, so threads are
    # always left for pages and the Stripe webhook), and per client address (429 past it: polls).
    live_streams_max: int = 500
    live_streams_per_address: int = 20
    # Origins (scheme://host[:port]) whose pages may frame the widget at /embed/campaigns/<slug>.
    embed_allowed_origins: tuple[str, ...] = ()
    # Donor wall: "show" (names and comments appear at once, staff hide what they must) or
    # "approve" (they appear once staff have approved them).
    wall_moderation: str = "show"
    donate_guard: DonateGuard = field(default_factory=DonateGuard)
    # What a donor's card statement shows after the account's prefix ("PREFIX* SUFFIX").
    statement_descriptor_suffix: str = ""
    # Nightly backups the app takes by itself (housekeeping.py): how many to keep (0: none taken)
    # and the local hour after which each night's is due.
    backup_keep: int = 7
    backup_hour: int = 2
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_publishable_key)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _secret_key(env: Mapping[str, str], instance_path: Path) -> tuple[str, bool]:
    """Use SECRET_KEY if set; otherwise generate one once and keep it in the instance folder."""
    if env.get("SECRET_KEY"):
        return env["SECRET_KEY"], False
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip(), True
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Create with owner-only permissions: the key signs every session cookie.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key, True


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (got {raw!r}).")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds (got {raw!r}).") from None
    if not 0.05 <= value <= 60:
        raise ConfigError(f"{name} must be between 0.05 and 60 seconds (got {raw!r}).")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    """"https://example.org, https://www.example.org" -> a tuple of exact origins, checked."""
    origins = []
    for item in raw.replace(",", " ").split():
        parsed = urlsplit(item)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/") \
                or parsed.query or parsed.fragment or "*" in parsed.netloc:
            raise ConfigError(
                f"EMBED_ALLOWED_ORIGINS must list origins like https://www.example.org, separated by commas "
                f"(got {item!r})."
            )
        origins.append(f"{parsed.scheme}://{parsed.netloc.lower()}")
    return tuple(origins)


def _percent_bps(raw: str) -> int:
    """"2.2" (percent) -> 220 basis points, exactly."""
    try:
        value = Decimal(raw.strip().rstrip("%"))
    except InvalidOperation:
        raise ConfigError(f"FEE_PERCENT must be a percentage like 2.2 (got {raw!r}).") from None
    bps = value * 100
    if not 0 <= bps < 10_000 or bps != bps.to_integral_value():
        raise ConfigError(f"FEE_PERCENT must be between 0 and 100 with at most two decimals (got {raw!r}).")
    return int(bps)


def _donate_guard(env: Mapping[str, str]) -> DonateGuard:
    """DONATE_LIMIT_* and CAPTCHA_* settings, checked."""
    limits = {}
    for name, attr in (
        ("DONATE_LIMIT_PER_ADDRESS", "per_address"), ("DONATE_LIMIT_PER_CAMPAIGN", "per_campaign"),
        ("DONATE_LIMIT_TOTAL", "total"), ("DONATE_LIMIT_WINDOW_SECONDS", "window_seconds"),
        ("DONATE_DECLINES_BEFORE_BACKOFF", "declines_before_backoff"),
        ("DONATE_BACKOFF_SECONDS", "backoff_seconds"), ("CAPTCHA_AFTER_STARTS", "captcha_after_starts"),
    ):
        limits[attr] = _int(env, name, getattr(DonateGuard, attr))
        if limits[attr] < 1:
            raise ConfigError(f"{name} must be at least 1 (got {limits[attr]}).")
    provider = env.get("CAPTCHA_PROVIDER", "").strip().lower()
    site_key, secret = env.get("CAPTCHA_SITE_KEY", "").strip(), env.get("CAPTCHA_SECRET_KEY", "").strip()
    if provider and provider not in CAPTCHA_PROVIDERS:
        raise ConfigError("CAPTCHA_PROVIDER must be turnstile, hcaptcha, or empty (no check).")
    if provider and not (site_key and secret):
        raise ConfigError("CAPTCHA_PROVIDER needs CAPTCHA_SITE_KEY and CAPTCHA_SECRET_KEY (from the provider's dashboard).")
    verify_url = env.get("CAPTCHA_VERIFY_URL", "").strip() or (CAPTCHA_PROVIDERS[provider][1] if provider else "")
    if verify_url and urlsplit(verify_url).scheme not in ("http", "https"):
        raise ConfigError(f"CAPTCHA_VERIFY_URL must be an http(s) URL (got {verify_url!r}).")
    return DonateGuard(
        **limits, captcha_provider=provider, captcha_site_key=site_key, captcha_secret=secret,
        captcha_verify_url=verify_url,
    )


# Stripe refuses these in statement descriptors.
_DESCRIPTOR_BANNED = re.compile(r"[<>\\'\"*]")


def descriptor_suffix(raw: str, limit: int = 22) -> str:
    """A statement descriptor suffix Stripe accepts: Latin letters, digits and plain punctuation,
    no < > \\ ' " *, at least one letter, at most 22 characters (Stripe shortens the whole
    "PREFIX* SUFFIX" to 22 itself). Empty when nothing usable is left."""
    ascii_only = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    text = " ".join(_DESCRIPTOR_BANNED.sub("", ascii_only).split()).upper()
    if len(text) > limit:
        text = text[:limit + 1].rsplit(" ", 1)[0] if " " in text[:limit + 1] else text[:limit]
    text = text.rstrip(" ,.-&")
    return text if re.search("[A-Z]", text) else ""


def _statement_suffix(env: Mapping[str, str]) -> str:
    """STATEMENT_DESCRIPTOR_SUFFIX, or else from the organisation's short name (ORG_SHORT_NAME, else ORG_NAME)."""
    raw = env.get("STATEMENT_DESCRIPTOR_SUFFIX", "").strip()
    if raw:
        suffix = descriptor_suffix(raw)
        if suffix != " ".join(raw.upper().split()):
            raise ConfigError(
                "STATEMENT_DESCRIPTOR_SUFFIX may have at most 22 Latin letters, digits, spaces and simple "
                f"punctuation (no < > \\ ' \" *), with at least one letter (got {raw!r})."
            )
        return suffix
    # Derived: 10 characters at most, so that with the account's prefix (up to 10, plus "* ")
    # nothing is cut off on the statement.
    return descriptor_suffix(env.get("ORG_SHORT_NAME") or env.get("ORG_NAME", DEMO_ORG["ORG_NAME"]), 10)


def _check_stripe(settings: Settings) -> None:
    if settings.stripe_secret_key and not settings.stripe_secret_key.startswith(("sk_", "rk_")):
        raise ConfigError("STRIPE_SECRET_KEY should start with sk_ (or rk_ for a restricted key).")
    if settings.stripe_publishable_key and not settings.stripe_publishable_key.startswith("pk_"):
        raise ConfigError("STRIPE_PUBLISHABLE_KEY should start with pk_.")
    if settings.stripe_webhook_secret and not settings.stripe_webhook_secret.startswith("whsec_"):
        raise ConfigError("STRIPE_WEBHOOK_SECRET should start with whsec_ (from the webhook endpoint's page).")
    if bool(settings.stripe_secret_key) != bool(settings.stripe_publishable_key):
        raise ConfigError("Set both STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY, or neither.")
    if settings.stripe_secret_key and settings.is_production and not settings.stripe_webhook_secret:
        raise ConfigError("STRIPE_WEBHOOK_SECRET is required in production: without it no gift is ever recorded.")


def load_settings(env: Mapping[str, str], instance_path: Path) -> Settings:
    """Build Settings from an environment mapping, raising ConfigError on anything unusable."""
    app_env = env.get("FUNDRAISER_ENV", "development").strip().lower()
    if app_env not in ("development", "production", "testing"):
        raise ConfigError(
            f"FUNDRAISER_ENV must be development, production or testing (got {app_env!r})."
        )
    db_url = env.get("DATABASE_URL", "").strip()
    db_default = not db_url
    if db_default:
        instance_path.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{instance_path / 'fundraiser.sqlite3'}"
    elif db_url.startswith(("postgres://", "postgresql://")):
        # Use psycopg 3 for any plain PostgreSQL URL.
        db_url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    secret_key, generated = _secret_key(env, instance_path)
    tz_name = env.get("ORG_TIMEZONE", "America/New_York")
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"ORG_TIMEZONE {tz_name!r} is not a known time zone, e.g. America/New_York.") from None
    settings = Settings(
        env=app_env,
        database_url=db_url,
        database_url_is_default=db_default,
        secret_key=secret_key,
        secret_key_is_generated=generated,
        instance_path=instance_path,
        timezone=tz_name,
        locale=env.get("ORG_LOCALE", "en_US"),
        base_url=env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        auto_seed_demo=_bool(env, "AUTO_SEED_DEMO", db_default),
        donation_min_cents=_int(env, "DONATION_MIN_CENTS", 500),
        donation_max_cents=_int(env, "DONATION_MAX_CENTS", 2_500_000),
        proxy_count=_int(env, "PROXY_COUNT", 0),
        stripe_secret_key=env.get("STRIPE_SECRET_KEY", "").strip(),
        stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY", "").strip(),
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", "").strip(),
        stripe_api_base=env.get("STRIPE_API_BASE", "").strip().rstrip("/"),
        stripe_checkout_only=_bool(env, "STRIPE_CHECKOUT_ONLY", False),
        fee_percent_bps=_percent_bps(env.get("FEE_PERCENT", "2.2")),
        fee_fixed_cents=_int(env, "FEE_FIXED_CENTS", 30),
        smtp_host=env.get("SMTP_HOST", "").strip(),
        smtp_port=_int(env, "SMTP_PORT", 587),
        smtp_username=env.get("SMTP_USERNAME", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_security=env.get("SMTP_SECURITY", "starttls").strip().lower(),
        mail_from=env.get("MAIL_FROM", "").strip(),
        live_poll_seconds=_seconds(env, "LIVE_POLL_SECONDS", 0.5),
        live_stream_seconds=_int(env, "LIVE_STREAM_SECONDS", 300),
        live_streams_max=_int(env, "LIVE_STREAMS_MAX", 500),
        live_streams_per_address=_int(env, "LIVE_STREAMS_PER_ADDRESS", 20),
        embed_allowed_origins=_origins(env.get("EMBED_ALLOWED_ORIGINS", "")),
        wall_moderation=env.get("DONOR_WALL_MODERATION", "show").strip().lower(),
        donate_guard=_donate_guard(env),
        statement_descriptor_suffix=_statement_suffix(env),
        backup_keep=_int(env, "BACKUP_KEEP", 7),
        backup_hour=_int(env, "BACKUP_HOUR", 2),
        extra=dict(env),
    )
    _check_stripe(settings)
    if settings.wall_moderation not in ("show", "approve"):
        raise ConfigError("DONOR_WALL_MODERATION must be show (moderate afterwards) or approve (approve before showing).")
    if settings.smtp_security not in ("starttls", "ssl", "none"):
        raise ConfigError("SMTP_SECURITY must be starttls, ssl or none.")
    if not 5 <= settings.live_stream_seconds <= 3600:
        raise ConfigError("LIVE_STREAM_SECONDS must be between 5 and 3600.")
    if not 1 <= settings.live_streams_per_address <= settings.live_streams_max:
        raise ConfigError("LIVE_STREAMS_PER_ADDRESS must be at least 1 and not above LIVE_STREAMS_MAX.")
    if not 0 <= settings.proxy_count <= 5:
        raise ConfigError("PROXY_COUNT must be between 0 and 5 (the number of reverse proxies in front of the app).")
    if settings.donation_min_cents <= 0 or settings.donation_max_cents < settings.donation_min_cents:
        raise ConfigError("DONATION_MIN_CENTS must be positive and not above DONATION_MAX_CENTS.")
    if not 0 <= settings.backup_keep <= 365:
        raise ConfigError("BACKUP_KEEP must be how many nightly backups to keep, 0 (none taken) to 365.")
    if not 0 <= settings.backup_hour <= 23:
        raise ConfigError("BACKUP_HOUR must be the hour of the night's backup, 0 to 23 (local time).")
    if not 1 <= _int(env, "ORG_FISCAL_YEAR_START", 1) <= 12:
        raise ConfigError("ORG_FISCAL_YEAR_START must be the month the fiscal year starts in, 1 (January) to 12.")
    if settings.is_production:
        check_production(settings)
    return settings


# A SECRET_KEY signs every session: below these it can be guessed (e.g. "x" * 40, "abab…").
MIN_SECRET_DISTINCT_CHARACTERS = 10
MIN_SECRET_BITS = 100


def secret_key_weakness(key: str) -> str | None:
    """Why a secret key is too guessable, or None. The estimate is the key's length times the
    entropy of its own character distribution: a random hex key of 32 characters has ~120
    bits, token_urlsafe(48) ~350, 40 repeated characters none."""
    distinct = len(set(key))
    if distinct < MIN_SECRET_DISTINCT_CHARACTERS:
        return f"it uses only {distinct} different character{'' if distinct == 1 else 's'}"
    for period in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i % period] for i in range(len(key))):
            return f"it repeats the same {period} characters"
    counts = [key.count(c) for c in set(key)]
    bits = -sum(n * math.log2(n / len(key)) for n in counts)
    if bits < MIN_SECRET_BITS:
        return f"it holds about {bits:.0f} bits of randomness (at least {MIN_SECRET_BITS} needed)"
    return None


def check_production(settings: Settings) -> None:
    """Refuse to run in production with settings that would leak data or money."""
    if _bool(settings.extra, "FLASK_DEBUG", False):
        raise ConfigError(
            "FLASK_DEBUG must be off in production: the debugger shows code and settings on error pages "
            "and lets visitors run commands. Remove FLASK_DEBUG (or set it to 0) and don't start with --debug."
        )
    if settings.secret_key_is_generated:
        raise ConfigError(
            "SECRET_KEY must be set explicitly in production (e.g. `python -c \"import secrets; "
            "print(secrets.token_urlsafe(48))\"`), so every worker and restart shares it."
        )
    if len(settings.secret_key) < 32:
        raise ConfigError("SECRET_KEY is too short for production: use at least 32 random characters.")
    weakness = secret_key_weakness(settings.secret_key)
    if weakness:
        raise ConfigError(
            f"SECRET_KEY is too easy to guess for production ({weakness}): generate one with "
            "`python -c \"import secrets; print(secrets.token_urlsafe(48))\"`."
        )
    if not settings.base_url.startswith("https://"):
        raise ConfigError("BASE_URL must start with https:// in production (it is used in receipts and Stripe redirects).")
    if settings.auto_seed_demo:
        raise ConfigError("AUTO_SEED_DEMO must be off in production: demo gifts would mix with real ones.")
