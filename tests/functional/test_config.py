"""Settings: defaults for a newcomer, refusals for an unsafe production set-up."""

import pytest

from fundraiser.config import ConfigError, load_settings
from fundraiser.organisation import from_settings

GOOD_KEY = "kR7vQ2xLp9ZtW4mN8cYb3HsJ6fDg1AeU"  # a random 32-character key


def test_defaults_use_embedded_sqlite_and_a_kept_secret(tmp_path):
    settings = load_settings({}, tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'fundraiser.sqlite3'}"
    assert settings.database_url_is_default and settings.auto_seed_demo
    again = load_settings({}, tmp_path)
    assert settings.secret_key == again.secret_key and len(settings.secret_key) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    org = from_settings(settings)
    assert (org.charity_name, org.charity_ein) == ("Players Philanthropy Fund, Inc.", "27-6601178")
    assert "fiscally sponsored project of Players Philanthropy Fund" in org.sponsor_statement
    assert org.address_lines == ["PO Box 1234", "Baltimore, MD 21203"]
    assert org.demo_fields() == ["ORG_NAME", "ORG_LEGAL_NAME", "ORG_MAILING_ADDRESS", "ORG_CONTACT_EMAIL",
                                 "ORG_CONTACT_PHONE"]


def test_database_url_set_means_no_auto_seed_and_psycopg(tmp_path):
    settings = load_settings({"DATABASE_URL": "postgresql://u@h/db"}, tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert not settings.auto_seed_demo


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too short"),
        ({"SECRET_KEY": "x" * 40}, r"SECRET_KEY is too easy to guess for production \(it uses only 1 different character\)"),
        ({"SECRET_KEY": "abcab" * 8}, r"SECRET_KEY is too easy to guess .*only 3 different characters"),
        ({"SECRET_KEY": "abcdefghijkl" * 4}, r"SECRET_KEY is too easy to guess .*repeats the same 12 characters"),
        ({"SECRET_KEY": GOOD_KEY, "FLASK_DEBUG": "1"}, "FLASK_DEBUG must be off in production"),
        ({"SECRET_KEY": GOOD_KEY, "BASE_URL": "http://example.org"}, "BASE_URL must start with https"),
        ({"SECRET_KEY": GOOD_KEY, "BASE_URL": "https://e.org"}, "AUTO_SEED_DEMO must be off"),
    ],
)
def test_production_refuses_unsafe_settings_and_names_them(tmp_path, env, setting):
    with pytest.raises(ConfigError, match=setting):
        load_settings({"FUNDRAISER_ENV": "production", **env}, tmp_path)


def test_production_with_safe_settings_starts(tmp_path):
    settings = load_settings(
        {"FUNDRAISER_ENV": "production", "SECRET_KEY": GOOD_KEY, "BASE_URL": "https://give.example.org",
         "DATABASE_URL": "postgresql://u@h/db"},
        tmp_path,
    )
    assert settings.is_production


def test_production_starts_with_a_random_hex_key_and_debug_off(tmp_path):
    import secrets

    settings = load_settings(
        {"FUNDRAISER_ENV": "production", "SECRET_KEY": secrets.token_hex(16), "FLASK_DEBUG": "0",
         "BASE_URL": "https://give.example.org", "DATABASE_URL": "postgresql://u@h/db"},
        tmp_path,
    )
    assert settings.is_production


def test_flask_debug_from_the_command_line_is_refused_in_production(tmp_path, monkeypatch):
    """`flask run --debug` sets FLASK_DEBUG=1 before the app is built."""
    from fundraiser import create_app

    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="FLASK_DEBUG must be off"):
        create_app({"FUNDRAISER_ENV": "production", "SECRET_KEY": GOOD_KEY, "BASE_URL": "https://give.example.org",
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "FUNDRAISER_INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FUNDRAISER_ENV": "staging"}, "FUNDRAISER_ENV must be"),
        ({"ORG_TIMEZONE": "Mars/Olympus"}, "not a known time zone"),
        ({"DONATION_MIN_CENTS": "five"}, "DONATION_MIN_CENTS must be a whole number"),
        ({"AUTO_SEED_DEMO": "maybe"}, "AUTO_SEED_DEMO must be true or false"),
    ],
)
def test_bad_values_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env, tmp_path)
