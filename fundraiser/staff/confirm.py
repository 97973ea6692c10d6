"""A confirmation step for actions that are hard to take back (void a gift, close a campaign,
deactivate an account): without `confirm=yes` the action answers with a page that asks first, so
it works without JavaScript; staff.js asks with a dialog instead and sends `confirm=yes` itself."""

from __future__ import annotations

from flask import render_template, request


def confirmed() -> bool:
    """Whether the person already said yes (the confirmation page, or the script's dialog)."""
    return request.form.get("confirm") == "yes"


def ask(title: str, message: str, yes_label: str, cancel_url: str, items: list[str] | None = None):
    """The page that asks before acting: the same form again, with confirm=yes, or a way back;
    `items` lists what the action will touch (e.g. the proceeds an event's new campaign moves)."""
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "confirm")]
    return render_template(
        "staff/confirm.html", title=title, message=message, yes_label=yes_label, cancel_url=cancel_url,
        action=request.path, fields=fields, items=items or [],
    )
