"""The Settings page (the organisation's identity), the Mail page, the demo-identity banner and doctor."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from fundraiser import organisation
from fundraiser.audit import Actor
from fundraiser.db import utcnow
from fundraiser.models import AuditLog, MessageStatus, OrgSetting, OutboxMessage
from fundraiser.settings import current_settings
from tests.factories import give, make_campaign
from tests.functional.staff_helpers import sign_in_as

IDENTITY = {
    "name": "Friends of the Towson Library",
    "legal_name": "Friends of the Towson Library, Inc.",
    "sponsor_name": "Maryland Nonprofit Partners",
    "sponsor_ein": "52-1234567",
    "tax_id": "",
    "mailing_address": "1 Main Street\r\nTowson, MD 21204",
    "contact_email": "hello@towsonfriends.example",
    "contact_phone": "(410) 555-0199",
    "website": "https://towsonfriends.example",
    "privacy_policy": "We never sell your data.\n\n<script>alert(1)</script>**Really.**",
    "refund_policy": "",
}


def image_bytes(fmt: str, size=(1200, 400), color=(10, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body built in memory (the test client spools big uploads to a file it never closes)."""
    boundary = "----settings-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def audit_rows(session, action="organisation.update"):
    return session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def test_admin_saves_the_identity_and_every_document_uses_it(app, session):
    admin = sign_in_as(app, session, "admin")
    page = admin.get("/staff/settings").get_data(as_text=True)
    assert "Still the demo organisation's" in page and "ORG_NAME (Public name)" in page
    response = admin.post("/staff/settings", data=IDENTITY, follow_redirects=True)
    assert response.status_code == 200
    assert "Saved: Public name, Legal name, Fiscal sponsor&#39;s legal name" in response.get_data(as_text=True)
    org = organisation.load_organisation(session, current_settings())
    assert org.name == "Friends of the Towson Library" and org.mailing_address == "1 Main Street\nTowson, MD 21204"
    assert org.charity_name == "Maryland Nonprofit Partners" and org.charity_ein == "52-1234567"
    assert org.demo_fields() == []
    [entry] = audit_rows(session)
    # Only what changed is recorded (the empty tax id and refund policy were empty before too).
    assert "tax_id" not in entry.after and "refund_policy" not in entry.after
    assert entry.before["name"] == "Together, We Can End Restraint and Seclusion"
    assert entry.after["sponsor_ein"] == "52-1234567"

    again = admin.post("/staff/settings", data=IDENTITY, follow_redirects=True)
    assert "Nothing changed." in again.get_data(as_text=True)
    assert len(audit_rows(session)) == 1  # nothing written the second time

    public = app.test_client().get("/").get_data(as_text=True)
    assert "Friends of the Towson Library, Inc." in public and "Maryland Nonprofit Partners" in public
    privacy = app.test_client().get("/privacy").get_data(as_text=True)
    assert "<strong>Really.</strong>" in privacy and "<script>" not in privacy
    assert app.test_client().get("/refund-policy").status_code == 404


def test_update_organisation_writes_nothing_when_nothing_changed(app, session):
    settings = current_settings()
    org = organisation.update_organisation(session, settings, {"name": organisation.load_organisation(session, settings).name}, Actor(None))
    assert session.scalar(select(func.count()).select_from(OrgSetting)) == 0
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
    assert org.name == "Together, We Can End Restraint and Seclusion"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("sponsor_ein", "27-660117", "The sponsor&#39;s EIN must be nine digits written like 12-3456789."),
    ("sponsor_ein", "", "Please enter the fiscal sponsor&#39;s EIN"),
    ("contact_email", "hello at example", "Please enter a contact email address like info@example.org"),
    ("website", "javascript:alert(1)", "starting with https://"),
    ("name", "", "Please enter the name donors know you by."),
    ("mailing_address", "  ", "Please enter a mailing address"),
])
def test_an_invalid_field_is_named_and_nothing_is_saved(app, session, field, value, message):
    admin = sign_in_as(app, session, "admin")
    response = admin.post("/staff/settings", data={**IDENTITY, field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved." in html and message in html
    assert f'id="{field}-error"' in html
    assert 'value="Friends of the Towson Library, Inc."' in html  # what was typed stays in the form
    assert session.scalar(select(func.count()).select_from(OrgSetting)) == 0
    assert organisation.load_organisation(session, current_settings()).name == "Together, We Can End Restraint and Seclusion"


def test_an_ein_typed_without_the_dash_is_written_with_it(app, session):
    admin = sign_in_as(app, session, "admin")
    admin.post("/staff/settings", data={**IDENTITY, "sponsor_ein": "521234567"})
    assert organisation.load_organisation(session, current_settings()).sponsor_ein == "52-1234567"


def test_a_logo_is_checked_reencoded_stored_and_served(app, session):
    admin = sign_in_as(app, session, "admin")
    response = admin.post("/staff/settings", data={**IDENTITY, "logo": (io.BytesIO(image_bytes("JPEG")), "logo.jpg")},
                          content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200 and "Logo" in response.get_data(as_text=True)
    org = organisation.load_organisation(session, current_settings())
    assert org.logo_file.startswith("branding/logo-") and org.logo_file.endswith(".png")
    stored = current_settings().instance_path / org.logo_file
    with Image.open(stored) as image:
        assert image.format == "PNG" and image.size == (600, 200)  # re-encoded, at most 600 wide
    url = organisation.logo_url(current_settings(), org)  # what HTML mail links to
    assert url.startswith("http://127.0.0.1:5000/media/branding/logo-")
    served = app.test_client().get(url.removeprefix("http://127.0.0.1:5000"))
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data == stored.read_bytes()
    served.close()

    removed = admin.post("/staff/settings", data={**IDENTITY, "remove_logo": "yes"}, follow_redirects=True)
    assert "Saved: Logo" in removed.get_data(as_text=True)
    assert organisation.load_organisation(session, current_settings()).logo_file == ""


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.png", "isn&#39;t a readable PNG, JPEG or WebP"),
    (image_bytes("GIF"), "logo.gif", "must be a PNG, JPEG or WebP"),
    (b"\x89PNG\r\n\x1a\n" + b"0" * (organisation.LOGO_MAX_BYTES + 10), "big.png", "a logo can be at most 2 MB"),
])
def test_a_bad_logo_is_refused_with_the_reason_and_nothing_saved(app, session, data, name, message):
    admin = sign_in_as(app, session, "admin")
    body, content_type = multipart(IDENTITY, "logo", name, data)
    response = admin.post("/staff/settings", data=body, content_type=content_type)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(OrgSetting)) == 0
    assert not (current_settings().instance_path / organisation.LOGO_FOLDER).exists()


@pytest.mark.parametrize("role", ["staff", "board"])
def test_only_admins_open_the_settings_page(app, session, role):
    client = sign_in_as(app, session, role)
    assert client.get("/staff/settings").status_code == 403
    assert client.post("/staff/settings", data=IDENTITY).status_code == 403
    assert session.scalar(select(func.count()).select_from(OrgSetting)) == 0


def test_the_console_warns_about_the_demo_identity_once_real_gifts_exist(app, session):
    admin = sign_in_as(app, session, "admin")
    campaign = make_campaign(session)
    give(session, campaign, 2500, is_sample=True)
    session.commit()
    assert "demo organisation's identity" not in admin.get("/staff/").get_data(as_text=True)  # still only a demo
    give(session, campaign, 5000)
    session.commit()
    page = admin.get("/staff/").get_data(as_text=True)
    assert "Receipts and letters would go out under the demo organisation's identity" in page
    assert 'href="/staff/settings">Fix it on the Settings page' in page
    admin.post("/staff/settings", data=IDENTITY)
    assert "demo organisation's identity" not in admin.get("/staff/").get_data(as_text=True)


def test_doctor_refuses_the_demo_identity_in_production(make_app):
    app = make_app(FUNDRAISER_ENV="production", BASE_URL="https://give.example.org", AUTO_SEED_DEMO="false")
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FIX  organisation: Still the demo organisation's identity: ORG_NAME (Public name)" in result.output
    assert "Settings page" in result.output


def test_doctor_accepts_an_identity_set_in_the_environment(make_app):
    app = make_app(ORG_NAME="Friends", ORG_LEGAL_NAME="Friends, Inc.", ORG_MAILING_ADDRESS="1 Main St | Towson, MD",
                   ORG_CONTACT_EMAIL="hi@friends.example", ORG_CONTACT_PHONE="(410) 555-0100")
    output = app.test_cli_runner().invoke(args=["doctor"]).output
    assert "ok   organisation: Friends, Inc.; charity of record Players Philanthropy Fund, Inc. (EIN 27-6601178)." in output


# ------------------------------------------------------------------------------ the Mail page


def _messages(session, count: int, status=MessageStatus.SENT, **fields) -> list[OutboxMessage]:
    rows = [
        OutboxMessage(kind="receipt", dedupe_key=f"t:{status}:{n}:{utcnow().timestamp()}", to_email=f"d{n}@example.org",
                      subject=f"Your receipt {n}", body_text="Thanks", status=status, **fields)
        for n in range(count)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def test_mail_page_lists_messages_by_status_a_page_at_a_time(app, session):
    staff = sign_in_as(app, session, "staff")
    _messages(session, 101)
    [failed] = _messages(session, 1, status=MessageStatus.FAILED, attempts=1, last_error="Recipient refused (550 No such user)")
    page = staff.get("/staff/mail").get_data(as_text=True)
    assert "Sent (101)" in page and "Failed (1)" in page and "Waiting (0)" in page
    assert "550 No such user" in page and "Older messages" in page
    failed_only = staff.get("/staff/mail?status=failed").get_data(as_text=True)
    assert failed.to_email in failed_only and "d5@example.org" not in failed_only
    oldest = staff.get(f"/staff/mail?before={failed.id - 100}").get_data(as_text=True)
    assert "d0@example.org" in oldest and "Older messages" not in oldest
    assert staff.get("/staff/mail?status=lost").status_code == 404


def test_retry_puts_failed_mail_back_and_is_audited(app, session):
    staff = sign_in_as(app, session, "staff")
    one, two, three = _messages(session, 3, status=MessageStatus.FAILED, attempts=1, last_error="550 refused")
    response = staff.post("/staff/mail/retry", data={"message_id": one.id}, follow_redirects=True)
    assert "1 message will be sent again in a moment." in response.get_data(as_text=True)
    session.expire_all()
    assert [m.status for m in (session.get(OutboxMessage, one.id), session.get(OutboxMessage, two.id))] == [
        MessageStatus.PENDING, MessageStatus.FAILED]
    response = staff.post("/staff/mail/retry", data={"all": "failed"}, follow_redirects=True)
    assert "2 messages will be sent again" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == MessageStatus.PENDING)) == 3
    entries = audit_rows(session, "mail.retry")
    assert [e.after["messages"] for e in entries] == [[one.id], [two.id, three.id]]
    again = staff.post("/staff/mail/retry", data={"message_id": one.id}, follow_redirects=True)
    assert "nothing to retry" in again.get_data(as_text=True)


def test_board_members_cannot_see_or_retry_mail(app, session):
    board = sign_in_as(app, session, "board")
    [message] = _messages(session, 1, status=MessageStatus.FAILED)
    assert board.get("/staff/mail").status_code == 403
    assert board.post("/staff/mail/retry", data={"message_id": message.id}).status_code == 403
    session.expire_all()
    assert session.get(OutboxMessage, message.id).status == MessageStatus.FAILED
