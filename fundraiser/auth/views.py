"""Sign-in and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length

from ..db import get_session
from ..models import Role
from ..organisation import current_organisation
from ..settings import current_settings
from . import throttle
from .access import current_user, sign_in, sign_out
from .users import (
    AccountError,
    HashingBusy,
    authenticate,
    choose_password,
    find_account,
    hash_chosen_password,
    normalise_email,
    user_for_token,
)

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ChoosePasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField("The same password again", validators=[DataRequired(), Length(max=1000)])


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a signed-in user to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(role: Role) -> str:
    """Where each role lands after signing in."""
    endpoint = "board.overview" if role == Role.BOARD else "staff.index"
    try:
        return url_for(endpoint)
    except BuildError:  # that audience's pages are not registered in this app
        return url_for("public.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        session = get_session()
        email = normalise_email(form.email.data)
        address = request.remote_addr or "unknown"
        throttle.forget_old(session)
        session.commit()
        # Counted (and committed) before the password is hashed: parallel guesses can't slip past.
        wait = throttle.claim_attempt(session, email, address)
        if wait:
            session.rollback()
            minutes = -(-wait // 60)
            error = (
                "Too many failed sign-ins. Please wait "
                f"{minutes} minute{'' if minutes == 1 else 's'} and try again."
            )
            page = render_template("auth/login.html", form=form, error=error)
            return page, 429, {"Retry-After": str(wait)}
        account = find_account(session, email)
        session.commit()  # the password is hashed outside any transaction (users.authenticate)
        try:
            user = authenticate(account, form.password.data)
        except HashingBusy as exc:
            session.rollback()
            page = render_template("auth/login.html", form=form, error=str(exc))
            return page, 503, {"Retry-After": str(exc.retry_after_seconds)}
        if user is not None:
            throttle.forgive(session, email, address)
            session.commit()
            sign_in(user)
            target = _safe_next(request.args.get("next"))
            if user.role == Role.BOARD and target and target.startswith("/staff"):
                target = None  # a board member following an old staff link lands on the board instead
            return redirect(target or home_for(user.role))
        error = "That email and password don't match an active account."
        status = 401
    elif current_user() is not None and request.method == "GET":
        return redirect(home_for(current_user().role))
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/account/password/<token>", methods=["GET", "POST"])
def choose(token: str):
    """Where an invitation or password-reset link lands: the person picks their password."""
    session = get_session()
    user = user_for_token(session, current_settings().secret_key, token)
    if user is None:
        abort(404, description="This link has expired or was already used. Ask an administrator for a new one.")
    form = ChoosePasswordForm()
    error = None
    if form.validate_on_submit():
        email, org_name = user.email, current_organisation().name
        session.rollback()  # the password is hashed outside any transaction (users.hash_chosen_password)
        try:
            password_hash = hash_chosen_password(form.password.data, form.confirm.data, email, org_name)
        except AccountError as exc:
            error = str(exc)
        except HashingBusy as exc:
            page = render_template("auth/choose_password.html", form=form, error=str(exc), user=user)
            return page, 503, {"Retry-After": str(exc.retry_after_seconds)}
        else:
            # Looked up again: the same link sent twice at once sets the password only once.
            user = user_for_token(session, current_settings().secret_key, token)
            if user is None:
                abort(404, description="This link has expired or was already used. Ask an administrator for a new one.")
            choose_password(session, user, password_hash)
            session.commit()
            sign_in(user)
            return redirect(home_for(user.role))
    return render_template("auth/choose_password.html", form=form, error=error, user=user), 400 if error else 200


@bp.post("/logout")
def logout():
    sign_out()
    get_session().commit()
    return redirect(url_for("public.index"))
