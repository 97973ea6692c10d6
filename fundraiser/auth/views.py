"""Sign-in and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length

from ..db import get_session
from ..models import Role
from .access import current_user, sign_in, sign_out
from .users import authenticate

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


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
    endpoint = "board.index" if role == Role.BOARD else "staff.index"
    try:
        return url_for(endpoint)
    except BuildError:  # that audience's pages are not registered in this app
        return url_for("public.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        session = get_session()
        user = authenticate(session, form.email.data, form.password.data)
        if user is not None:
            session.commit()
            sign_in(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
        error = "That email and password don't match an active account."
    elif current_user() is not None and request.method == "GET":
        return redirect(home_for(current_user().role))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("public.index"))
