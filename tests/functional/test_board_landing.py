"""Board members land on the board; a staff page tells them whose page it is, not a donor's message."""

from tests.functional.staff_helpers import PASSWORD, sign_in_as


def test_board_member_lands_on_the_board_after_signing_in(app, session):
    from fundraiser.auth.users import create_user

    create_user(session, "board@example.org", "board", PASSWORD)
    session.commit()
    client = app.test_client()
    reply = client.post("/login", data={"email": "board@example.org", "password": PASSWORD})
    assert reply.headers["Location"] == "/board"


def test_board_member_following_a_staff_link_lands_on_the_board(app, session):
    from fundraiser.auth.users import create_user

    create_user(session, "board@example.org", "board", PASSWORD)
    session.commit()
    reply = app.test_client().post("/login?next=/staff/gifts", data={"email": "board@example.org", "password": PASSWORD})
    assert reply.headers["Location"] == "/board"


def test_staff_page_refuses_a_board_member_in_words_for_staff(app, session):
    board = sign_in_as(app, session, "board")
    reply = board.get("/staff/gifts")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 403
    assert "signed in as board@example.org, a board member" in html and "This page is for staff" in html
    assert 'href="/board"' in html and "ask an admin" in html
    assert "nothing was charged" not in html


def test_staff_console_links_to_the_board(app, session):
    staff = sign_in_as(app, session, "staff")
    assert 'href="/board"' in staff.get("/staff/").get_data(as_text=True)
