"""Board pages: the dashboard across campaigns, one campaign's page, chart CSVs and the printed report."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from .. import analytics, fiscal, matches, security
from ..auth.access import VIEW_ROLES, roles_required
from ..campaigns import campaign_rows
from ..db import get_session, utcnow
from ..organisation import current_organisation
from ..settings import current_settings
from .charts import METHOD_LABELS, build_charts, to_csv
from .forms import parse_selection

bp = Blueprint("board", __name__, url_prefix="/board")

# plotly.js's basic bundle (scatter, bar, pie: what the charts draw), vendored in static/vendor/plotly.
PLOTLY_FILE = Path("vendor") / "plotly" / "plotly-basic.min.js"
A_YEAR = 365 * 24 * 3600
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
        "plotly_url": url_for_plotly(),
    }


@cache
def _digest(path: Path) -> str:
    """The file's content hash, read once per process: it names the URL browsers cache for a year."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@cache
def _file_bytes(path: Path) -> bytes:
    """plotly.js (or its gzipped copy), read once per process: about 1.2 MB, or 0.4 MB gzipped."""
    return path.read_bytes()


def _plotly_path() -> Path:
    return Path(current_app.static_folder) / PLOTLY_FILE


def url_for_plotly() -> str:
    """The fingerprinted plotly.js address: a new file gets a new URL, so it can be cached as immutable."""
    return url_for("board.plotly_js", digest=_digest(_plotly_path()))


def allow_plotly() -> None:
    """Plotly.js writes its own <style> rules and inline style attributes while drawing."""
    security.allow("style-src", "'unsafe-inline'")


def _page(slugs: list[str] | None = None, campaign=None):
    """Selection, figures and charts for the request's filters, plus any filter errors."""
    session = get_session()
    settings = current_settings()
    campaigns = analytics.board_campaigns(session) if campaign is None else [campaign]
    selection, errors = parse_selection(request.args, campaigns, slugs=slugs)
    now = utcnow()
    board = analytics.dashboard(session, selection, now.astimezone(settings.tz).date(), now)
    return campaigns, board, build_charts(board, settings.locale), errors


def _render(template: str, **context):
    allow_plotly()
    page = render_template(template, **context)
    return page, 400 if context.get("errors") else 200


@bp.get("")
@roles_required(*VIEW_ROLES)
def overview():
    campaigns, board, charts, errors = _page(slugs=request.args.getlist("campaign"))
    rows = campaign_rows(board.selection.campaigns)
    return _render("board/overview.html", campaigns=campaigns, board=board, charts=charts, errors=errors,
                   rows=rows, fiscal=_fiscal(board.selection, board.today), list_rows=fiscal.LIST_ROWS,
                   method_labels=METHOD_LABELS)


def _fiscal(selection: analytics.Selection, today) -> fiscal.FiscalFigures:
    return fiscal.fiscal_figures(get_session(), selection, today, current_organisation().fiscal_year_start_month)


@bp.get("/donors/<list_name>.csv")
@roles_required(*VIEW_ROLES)
def donor_list_csv(list_name: str):
    """Every donor of one fiscal-year list (lapsed, long-lapsed, upgraded, downgraded) as CSV."""
    if list_name not in fiscal.DONOR_LISTS:
        abort(404, description="There is no donor list with that name.")
    session = get_session()
    selection, _errors = parse_selection(request.args, analytics.board_campaigns(session),
                                         slugs=request.args.getlist("campaign"))
    figures = _fiscal(selection, utcnow().astimezone(current_settings().tz).date())
    response = Response("\ufeff" + fiscal.donor_list_csv(session, figures, list_name), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{list_name}-donors-{figures.year.start:%Y-%m}.csv"'
    return response


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
    session = get_session()
    return _render("board/campaign.html", campaign=campaign, board=board, charts=charts, errors=errors,
                   adjustments=analytics.adjustments(session, [campaign.id]),
                   match_statuses=matches.campaign_matches(session, campaign))


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
    """An organisation-wide summary page, then one printed page per campaign with its charts."""
    session = get_session()
    settings = current_settings()
    campaigns = analytics.board_campaigns(session)
    overall, errors = parse_selection(request.args, campaigns, slugs=request.args.getlist("campaign"))
    now = utcnow()
    today = now.astimezone(settings.tz).date()
    printed = analytics.report(session, overall, today, now)
    pages = [
        (board.selection.campaigns[0], board,
         {c.id: c for c in build_charts(board, settings.locale, only=REPORT_CHARTS)})
        for board in printed.pages
    ]
    rows = campaign_rows(overall.campaigns)
    match_statuses = {c.id: matches.campaign_matches(session, c) for c, _board, _charts in pages}
    return _render("board/report.html", pages=pages, selection=overall, errors=errors, today=today,
                   summary=printed.summary, rows=rows, match_statuses=match_statuses)


@bp.get("/plotly-<digest>.min.js")
def plotly_js(digest: str):
    """The vendored plotly.js, cached for a year under its hash, gzipped when the browser accepts it."""
    path = _plotly_path()
    if digest != _digest(path):
        # An old page asking for a replaced file gets today's, without caching the detour.
        response = redirect(url_for_plotly())
        response.headers["Cache-Control"] = "no-cache"
        return response
    gzipped = path.with_name(path.name + ".gz")
    use_gzip = request.accept_encodings["gzip"] > 0 and gzipped.exists()
    # From memory, not an open file: a browser that prefetches it and moves on leaves no file behind.
    response = Response(_file_bytes(gzipped if use_gzip else path), mimetype="text/javascript")
    response.set_etag(f"{digest}-gz" if use_gzip else digest)
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.make_conditional(request)
    response.headers["Cache-Control"] = f"public, max-age={A_YEAR}, immutable"
    return response
