"""Households in the staff console: the list and mailing CSV, one household with its combined giving,
and adding or taking donors out (from the donor page or the household's)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from .. import audit, donors, exports, households
from ..db import get_session
from ..models import Donor, Household
from .donor_views import render_donor_page
from .views import actor, bp, csv_response, get_or_404, today


@bp.get("/households")
def household_list():
    session = get_session()
    return render_template("staff/households.html", rows=households.all_households(session), values={}, errors={})


@bp.get("/households.csv")
def household_export():
    """The mailing list: one row per household, then every donor in none."""
    rows = list(households.mailing_rows(get_session()))
    return csv_response(f"mailing-{today().isoformat()}.csv", exports.to_csv(households.MAILING_HEADER, rows))


@bp.post("/households")
def household_create():
    """A new household, from the list page, or from a donor's page with that donor as its first member."""
    session = get_session()
    first = session.get(Donor, request.form.get("donor_id", type=int) or 0)
    values, errors = households.parse_form(request.form)
    if errors:
        if first is not None:
            return render_donor_page(first, household_error=" ".join(errors.values()), household_values=values, status=400)
        return render_template("staff/households.html", rows=households.all_households(session), values=values, errors=errors), 400
    try:
        household = households.create(session, actor(), values, first)
    except ValueError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("staff.household_list"))
    session.commit()
    flash(f"Created the household {household.name}.", "success")
    if first is not None:
        return redirect(url_for("staff.donor_detail", donor_id=first.id, _anchor="household"))
    return redirect(url_for("staff.household_detail", household_id=household.id))


@bp.get("/households/<int:household_id>")
def household_detail(household_id: int):
    return render_household(get_or_404(Household, household_id, "household"))


def render_household(household, values=None, errors=None, status=200):
    session = get_session()
    values = values or {name: getattr(household, name) or "" for name in households.HOUSEHOLD_FIELDS}
    return render_template(
        "staff/household.html", household=household, giving=households.giving(session, household),
        values=values, errors=errors or {}, history=audit.history(session, "household", household.id),
    ), status


@bp.post("/households/<int:household_id>/edit")
def household_edit(household_id: int):
    session = get_session()
    household = get_or_404(Household, household_id, "household")
    values, errors = households.parse_form(request.form)
    if errors:
        return render_household(household, values, errors, status=400)
    households.update(session, actor(), household, values)
    session.commit()
    flash(f"Saved {household.name}.", "success")
    return redirect(url_for("staff.household_detail", household_id=household.id))


@bp.post("/households/<int:household_id>/members")
def household_add_member(household_id: int):
    session = get_session()
    household = get_or_404(Household, household_id, "household")
    donor = donors.picked(session, request.form)
    try:
        if donor is None:
            raise ValueError("Please search for the donor and pick them from the list.")
        households.add_member(session, actor(), household, donor)
    except ValueError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(f"{donor.name} is now in {household.name}.", "success")
    return redirect(url_for("staff.household_detail", household_id=household.id))


@bp.post("/donors/<int:donor_id>/household/remove")
def household_remove_member(donor_id: int):
    session = get_session()
    donor = get_or_404(Donor, donor_id, "donor")
    household_id = donor.household_id
    try:
        households.remove_member(session, actor(), donor)
    except ValueError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(f"{donor.name} is no longer in a household; their gifts stay theirs.", "success")
    if request.form.get("back") == "household" and household_id is not None:
        return redirect(url_for("staff.household_detail", household_id=household_id))
    return redirect(url_for("staff.donor_detail", donor_id=donor.id, _anchor="household"))


@bp.post("/donors/<int:donor_id>/household")
def household_join(donor_id: int):
    """Add this donor to the household chosen on their page."""
    session = get_session()
    donor = get_or_404(Donor, donor_id, "donor")
    household = session.get(Household, request.form.get("household_id", type=int) or 0)
    try:
        if household is None:
            raise ValueError("Please choose a household.")
        households.add_member(session, actor(), household, donor)
    except ValueError as exc:
        session.rollback()
        return render_donor_page(donor, household_error=str(exc), status=400)
    session.commit()
    flash(f"{donor.name} is now in {household.name}.", "success")
    return redirect(url_for("staff.donor_detail", donor_id=donor.id, _anchor="household"))
