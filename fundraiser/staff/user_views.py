"""Staff accounts, for admins: invite, change role, deactivate, reset a password, unlock sign-in."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from ..auth import throttle, users
from ..auth.access import roles_required
from ..db import get_session
from ..donations import FormErrors
from ..models import (
    Role,
    User,
)
from ..organisation import current_organisation
from ..settings import current_settings
from . import confirm, forms
from .views import actor, bp, get_or_404


@bp.get("/users")
@roles_required(Role.ADMIN)
def user_list():
    return render_users({}, FormErrors())


def render_users(values, errors, status=200, link=None):
    session = get_session()
    people = session.query(User).order_by(User.is_active.desc(), User.email).all()
    return render_template(
        "staff/users.html", people=people, values=values, errors=errors.errors,
        role_choices=forms.ROLE_CHOICES, link=link, blocked=throttle.blocked_accounts(session),
    ), status


def _password_link(user: User) -> str:
    token = users.set_password_token(current_settings().secret_key, user)
    return current_settings().base_url + url_for("auth.choose", token=token)


@bp.post("/users")
@roles_required(Role.ADMIN)
def user_invite():
    session = get_session()
    values, errors = forms.parse_invite(request.form)
    if not errors.errors:
        try:
            user = users.invite_user(session, actor(), values["email"], values["role"], values["name"])
        except users.AccountError as exc:
            errors.add("email", str(exc))
        else:
            link = _password_link(user)
            users.queue_password_email(session, user, link, current_organisation().name, invitation=True)
            session.commit()
            flash(f"Invited {user.email} as {user.role}. The invitation is on its way by email.", "success")
            return render_users({}, FormErrors(), link=(user.email, link))
    return render_users(values, errors, status=400)


@bp.post("/users/<int:user_id>")
@roles_required(Role.ADMIN)
def user_change(user_id: int):
    """One account change at a time: role, deactivate, reactivate, unlock sign-in or reset password."""
    session = get_session()
    user = get_or_404(User, user_id, "account")
    change = request.form.get("change")
    if change == "deactivate" and not confirm.confirmed():
        return confirm.ask(
            f"Deactivate {user.email}?", f"{user.email} will be signed out everywhere and can't sign in until an "
            "admin reactivates the account.", "Yes, deactivate", url_for("staff.user_list"),
        )
    link = None
    try:
        if change == "role":
            role = request.form.get("role", "")
            if role not in Role._value2member_map_:
                raise users.AccountError("Please choose a role.")
            users.change_role(session, actor(), user, role)
            message = f"{user.email} is now {user.role}."
        elif change in ("deactivate", "reactivate"):
            users.set_active(session, actor(), user, change == "reactivate")
            message = f"{user.email} is {'active again' if user.is_active else 'deactivated and signed out everywhere'}."
        elif change == "unlock":
            throttle.unlock_account(session, actor(), user)
            message = f"{user.email} can sign in again now."
        elif change == "reset":
            users.reset_password(session, actor(), user)
            link = (user.email, _password_link(user))
            users.queue_password_email(session, user, link[1], current_organisation().name, invitation=False)
            message = f"{user.email}'s password was reset; they were signed out and emailed a link to choose a new one."
        else:
            abort(400, description="Unknown change.")
    except users.AccountError as exc:
        session.rollback()
        flash(str(exc), "error")
        return render_users({}, FormErrors(), status=400)
    session.commit()
    flash(message, "success")
    if link:
        return render_users({}, FormErrors(), link=link)
    return redirect(url_for("staff.user_list"))
