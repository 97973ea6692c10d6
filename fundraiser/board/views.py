"""Board pages: the dashboard across campaigns, one campaign's page, chart CSVs and the printed report."""

from __future__ import annotations

from pathlib import Path

import plotly
from flask import Blueprint, Response, abort, render_template, request, send_from_directory

from .. import analytics, security
from ..auth.access import VIEW_ROLES, roles_required
from ..campaigns import progress as progress_from_totals
from ..db import get_session, utcnow
from ..settings import current_settings
from .charts import build_charts, to_csv
from .forms import parse_selection

bp = Blueprint("board", __name__, url_prefix="/board")

PLOTLY_DIR = Path(plotly.__file__).resolve().parent / "package_data"
# What each campaign's printed page shows besides its headline figures.
REPORT_CHARTS = ("progress", "monthly", "channels")


@bp.context_processor
def _filter_links() -> dict:
    """The current filters, for links to CSVs, campaign pages and the report."""
    keep = ("channel", "from", "to", "currency")
    return {
        "csv_args": {k: request.args.getlist(k) for k in request.args},
        "filter_args": {k: request.args[k] for k in keep if request.args.get(k)},
        "tz_name": current_settings().timezone,
    }


def allow_plotly() -> None:
    """Plotly.js writes its own <style> rules and inline style attributes while drawing."""
    security.allow("style-src", "'unsafe-inline'")


def _page(slugs: list[str] | None = None, campaign=None):
    """Selection, figures and charts for the request's filters, plus any filter errors."""
    session = get_session()
    settings = current_settings()
    campaigns = analytics.board_campaigns(session) if campaign is None else [campaign]
    selection, errors = parse_selection(request.args, campaigns, slugs=slugs)
    today = utcnow().astimezone(settings.tz).date()
    board = analytics.dashboard(session, selection, today)
    return campaigns, board, build_charts(board, settings.locale), errors


def _render(template: str, **context):
    allow_plotly()
    page = render_template(template, **context)
    return page, 400 if context.get("errors") else 200


@bp.get("")
@roles_required(*VIEW_ROLES)
def overview():
    campaigns, board, charts, errors = _page(slugs=request.args.getlist("campaign"))
    rows = [(c, progress_from_totals(c, c.totals)) for c in board.selection.campaigns]
    return _render("board/overview.html", campaigns=campaigns, board=board, charts=charts, errors=errors,
                   rows=rows)


def _campaign_or_404(slug: str):
    campaign = analytics.board_campaign(get_session(), slug)
    if campaign is None:
        abort(404, description="There is no campaign with that address on the board.")
    return campaign


@bp.get("/campaigns/<slug>")
@roles_required(*VIEW_ROLES)
def campaign(slug: str):
    campaign = _campaign_or_404(slug)
    _campaigns, board, charts, errors = _page(campaign=campaign)
    return _render("board/campaign.html", campaign=campaign, board=board, charts=charts, errors=errors)


def _csv(charts, chart_id: str, name: str) -> Response:
    chart = next((c for c in charts if c.id == chart_id), None)
    if chart is None:
        abort(404, description="There is no chart with that name.")
    # The byte-order mark tells Excel the file is UTF-8 (names like "Zoë" otherwise garble).
    response = Response("\ufeff" + to_csv(chart), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{chart_id}.csv"'
    return response


@bp.get("/charts/<chart_id>.csv")
@roles_required(*VIEW_ROLES)
def overview_csv(chart_id: str):
    _campaigns, _board, charts, _errors = _page(slugs=request.args.getlist("campaign"))
    return _csv(charts, chart_id, "board")


@bp.get("/campaigns/<slug>/charts/<chart_id>.csv")
@roles_required(*VIEW_ROLES)
def campaign_csv(slug: str, chart_id: str):
    campaign = _campaign_or_404(slug)
    _campaigns, _board, charts, _errors = _page(campaign=campaign)
    return _csv(charts, chart_id, campaign.slug)


@bp.get("/report")
@roles_required(*VIEW_ROLES)
def report():
    """One printed page per campaign: headline figures, the progress chart and the money tables."""
    session = get_session()
    settings = current_settings()
    campaigns = analytics.board_campaigns(session)
    overall, errors = parse_selection(request.args, campaigns, slugs=request.args.getlist("campaign"))
    today = utcnow().astimezone(settings.tz).date()
    pages = [
        (board.selection.campaigns[0], board,
         {c.id: c for c in build_charts(board, settings.locale, only=REPORT_CHARTS)})
        for board in analytics.report(session, overall, today)
    ]
    return _render("board/report.html", pages=pages, selection=overall, errors=errors, today=today)


@bp.get("/plotly.min.js")
def plotly_js():
    """The plotly.js that ships with the plotly package: no CDN, works offline."""
    return send_from_directory(PLOTLY_DIR, "plotly.min.js", mimetype="text/javascript", max_age=86400)
