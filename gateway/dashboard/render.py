"""Pages: a Jinja2 template with what every page shows (the viewer, the CSRF token, where we
are, the environment switch), and the headers a page that shows a secret needs.

Templates autoescape everything; nothing a user typed reaches a page unescaped.
"""

import functools
from datetime import UTC, datetime
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from ..accounts.sessions import ENVS
from ..billing.channels import registry
from ..services import services
from ..values import languages
from ..values.clock import utcnow, when
from ..values.marking import marked
from ..values.money import quota_of
from ..webhooks.urls import masked
from .context import COOKIE, Visit, current_viewer, known_visit
from .paths import PREFIX, path_for
from .policy_form import INTERVAL_WORDS, ROLLING_WORDS

__all__ = [
    "LANGUAGE_COOKIE",
    "SECTIONS",
    "TEMPLATES",
    "WORDS",
    "nav",
    "page",
    "picked",
    "reading",
    "region",
    "set_session_cookie",
]

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (label, route): the dashboard's sections, in the nav's order; each label is translated where
# it is shown.
SECTIONS = (
    (marked("Overview"), "overview"),
    (marked("Keys"), "list_keys"),
    (marked("Apps"), "apps_page"),
    (marked("Top-ups"), "list_topups"),
    (marked("Recipients"), "recipients_page"),
    (marked("Wallet"), "wallet_page"),
    (marked("Payments"), "list_payments"),
    (marked("Webhooks"), "home"),
    (marked("Fulfilment"), "fulfilment"),
    (marked("Mail"), "mail_page"),
    (marked("Developers"), "developers"),
    (marked("Members"), "members_page"),
    (marked("Settings"), "settings_page"),
    (marked("Go live"), "go_live"),
)
# Words pages show from data, each translated where shown (``{{ _(word) }}``): the
# environments, a top-up's states as a person reads them, the roles, deliveries' states and
# triggers, and mails' states.
WORDS = (
    marked("Staging"),
    marked("Live"),
    marked("staging"),
    marked("live"),
    marked("pending"),
    marked("pending approval"),
    marked("delivered"),
    marked("failed"),
    marked("cancelled"),
    marked("denied"),
    marked("expired"),
    marked("owner"),
    marked("developer"),
    marked("viewer"),
    marked("succeeded"),
    marked("auto"),
    marked("replay"),
    marked("test"),
    marked("enabled"),
    marked("disabled"),
    marked("queued"),
    marked("sent"),
    marked("staged"),
    marked("held"),
    # A payment to a seller's states (beside pending and failed).
    marked("authorized"),
    marked("used"),
    marked("released"),
    # A policy template's changes.
    marked("created"),
    marked("updated"),
    marked("deleted"),
)

# What a ledger entry, an order and a mail are, as a person reads them (``{{ _(entry_kinds[k])
# }}``); the API names them by their identifiers, which a page keeps in ``data-`` attributes.
ENTRY_KINDS = {
    "topup_debit": marked("top-up sent"),
    "topup_credit": marked("top-up received"),
    "topup_refund": marked("top-up refunded"),
    "initial_funding": marked("staging starting balance"),
    "sandbox_fund": marked("sandbox funding"),
    "checkout": marked("checkout"),
    "redemption": marked("redeemed code"),
    "adjustment": marked("adjustment"),
    "checkin_credit": marked("check-in credit"),
    "voucher_redeemed": marked("voucher redeemed"),
    "charge_debit": marked("charge paid"),
    "charge_credit": marked("charge received"),
    "subscription_credit": marked("subscription credit"),
    "refund": marked("refund"),
    "grant": marked("credit grant"),
    "grant_expired": marked("credit expired"),
    "grant_voided": marked("credit voided"),
}
# A credit grant's category and status (``billing.wallet.grants``), as a person reads them.
GRANT_WORDS = {
    "paid": marked("bought"),
    "starting_balance": marked("staging starting balance"),
    "promotional": marked("promotional"),
    "plan": marked("plan"),
    "active": marked("active"),
    "spent": marked("spent"),
    "expired": marked("expired"),
    "voided": marked("voided"),
}
ORDER_KINDS = {
    "checkout": marked("checkout"),
    "redemption": marked("redeemed code"),
    "invoice": marked("invoice"),
    "agent": marked("agent payment"),
    "auto": marked("auto top-up"),
}
MAIL_KINDS = {
    "voucher": marked("voucher"),
    "recipient_link": marked("recipient's link"),
    "password_reset": marked("password reset"),
    "endpoint_failing": marked("endpoint failing"),
    "endpoint_disabled": marked("endpoint disabled"),
    "approval_request": marked("approval request"),
    "auto_top_up_disabled": marked("auto top-up turned off"),
    "environment_freeze": marked("environment frozen or unfrozen"),
}


def channel_title(channel: str | None) -> str:
    """A payment channel as its pages name it (``Stripe``, ``Sandbox``), to translate where
    shown; a channel no longer registered by its identifier."""
    found = registry.get(channel) if channel else None
    return found.title if found is not None else (channel or "")


@functools.cache
def nav() -> tuple[tuple[str, str], ...]:
    """(label, path) of each section: the overview's without its trailing slash, so that it
    is the prefix of every other."""
    return tuple((label, path_for(name).rstrip("/") or "/") for label, name in SECTIONS)


def _language(context: Context) -> str:
    found = context.get("language")
    return found if isinstance(found, str) else languages.DEFAULT


@pass_context
def _money(context: Context, cents: int | None) -> str:
    return languages.money_in(cents, _language(context))


# What ``when`` writes for no time at all, in the reader's words.
_NEVER = marked("never")


def _translated(context: Context, message: str) -> str:
    found = context.get("translations")
    return found.gettext(message) if isinstance(found, NullTranslations) else message


def _now(context: Context) -> datetime:
    """Now as the page's environment reads it: a page that shows the staging test clock counts
    "in 1 d" and "5 min ago" from that clock's time (``now``), never from the wall's."""
    found = context.get("now")
    return found if isinstance(found, datetime) else utcnow()


@pass_context
def _when(context: Context, moment: datetime | str | None) -> str:
    language = _language(context)
    if language == languages.DEFAULT:
        return when(moment, _now(context))
    if moment is None or moment == "":
        return _translated(context, _NEVER)
    if isinstance(moment, str):
        try:
            found = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:  # not a time we wrote: shown as it is, as in English
            return moment
    else:
        found = moment
    aware = found if found.tzinfo is not None else found.replace(tzinfo=UTC)
    return languages.moment_in(aware.astimezone(UTC), _now(context), language)


# New API's unit beside the money, named as what it is (``values.money.quota_of`` counts it).
_QUOTA = marked("%(quota)s New API quota")


@pass_context
def _quota(context: Context, quota: int | None) -> str:
    if quota is None:
        return ""
    return _translated(context, _QUOTA) % {"quota": f"{quota:,}"}


@pass_context
def _window(context: Context, window: Any) -> str:
    """A spend window (a limit, a window's usage) as the pages name it: its interval's word,
    or a rolling one's hours."""
    hours = getattr(window, "hours", None)
    if hours is not None:
        return _translated(context, ROLLING_WORDS) % {"hours": hours}
    return _translated(context, INTERVAL_WORDS.get(window.interval, window.interval))


def _identifiers(items: Any) -> Markup:
    """Names the API reads (a key's scopes), each as code: the same in every language, never
    joined by one language's comma."""
    return Markup(" ").join(Markup("<code>{}</code>").format(item) for item in items)


languages.install(TEMPLATES.env)
TEMPLATES.env.filters["identifiers"] = _identifiers
TEMPLATES.env.filters["money"] = _money
TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["quota"] = _quota
TEMPLATES.env.filters["window"] = _window
TEMPLATES.env.globals["quota_of"] = quota_of
# A webhook URL as every page shows it: its query values (a receiver's token) not in clear. Only
# the edit form, for those who may edit it, holds it whole.
TEMPLATES.env.filters["masked"] = masked
TEMPLATES.env.globals["path_for"] = path_for
TEMPLATES.env.globals["channel_title"] = channel_title
TEMPLATES.env.globals["entry_kinds"] = ENTRY_KINDS
TEMPLATES.env.globals["grant_words"] = GRANT_WORDS
TEMPLATES.env.globals["order_kinds"] = ORDER_KINDS
TEMPLATES.env.globals["mail_kinds"] = MAIL_KINDS


# Pages reached from a section's page but not under its path (each links back to it): the
# route of the page, the section it belongs to. Any other page under no section (the account)
# marks none: never the overview, which it is not.
_BELONGS = (
    ("list_budgets", "list_keys"),
    ("freeze_page", "list_keys"),
    ("telegram_page", "list_topups"),
)


@functools.cache
def _belongs() -> tuple[tuple[str, str], ...]:
    return tuple((path_for(page), path_for(section)) for page, section in _BELONGS)


def _section(path: str) -> str:
    """The nav entry the path is under: the longest matching one; for a page under none, the
    section it belongs to (``_BELONGS``), or none."""
    sections = nav()
    overview = best = sections[0][1]
    for _, each in sections:
        if (path == each or path.startswith(each + "/")) and len(each) > len(best):
            best = each
    if best != overview or path.rstrip("/") == overview.rstrip("/"):
        return best
    for page, section in _belongs():
        if path == page or path.startswith(page + "/"):
            return section
    return ""


# The language a signed-out reader picked with the switcher (``?lang=``), kept for the pages
# after; only ever one of ``languages.LANGUAGES`` is read from it or written to it.
LANGUAGE_COOKIE = "aitopup_lang"
_LANGUAGE_PARAM = "lang"
_A_YEAR = 365 * 24 * 3600


def _asked(request: Request) -> str | None:
    return languages.known(request.query_params.get(_LANGUAGE_PARAM))


def picked(request: Request) -> str | None:
    """The language the reader picked: this page's ``?lang=``, else the one kept from before."""
    return _asked(request) or languages.known(request.cookies.get(LANGUAGE_COOKIE))


def reading(request: Request, language: str | None = None) -> languages.Reading:
    """What ``request``'s reader reads pages in: ``language`` if chosen already, else by the one
    rule (their own setting, else the language they picked, else their browser's
    ``Accept-Language``)."""
    viewer = current_viewer(request)
    chosen = languages.known(language) or languages.choose(
        person=viewer.language if viewer is not None else None,
        picked=picked(request),
        header=request.headers.get("accept-language"),
    )
    return services(request).languages.reading(chosen)


def _switcher(request: Request) -> list[tuple[str, str, str, str]]:
    """Each language as the switcher links to it: (language, its own name, ``<html lang>``
    tag, this page's address with ``?lang=`` set to it, every other parameter kept)."""
    here = request.url
    offered = []
    for each in languages.LANGUAGES:
        url = here.include_query_params(**{_LANGUAGE_PARAM: each})
        offered.append(
            (each, languages.NAMES[each], languages.html_lang(each), f"{url.path}?{url.query}")
        )
    return offered


def region(template: str, data: dict[str, Any], read_in: languages.Reading) -> str:
    """A part of a page on its own (a live stream's update), in the reader's language."""
    return TEMPLATES.get_template(template).render({**data, **read_in.context()})


def set_session_cookie(request: Request, response: Any, session_id: str) -> None:
    """HttpOnly, SameSite=Lax, for the dashboard's paths only; Secure whenever the request came
    over https (as uvicorn reports it, behind the proxy too: ``AITOPUP_FORWARDED_ALLOW_IPS``)."""
    response.set_cookie(
        COOKIE,
        session_id,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    no_store: bool = False,
    language: str | None = None,
) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``viewer``, ``csrf_token``, ``path``,
    ``section``, ``nav``, ``env``, ``envs`` and what the reader reads it in (``reading``:
    ``language`` when it was chosen already, as a recipient's page is);
    ``no_store`` for every page showing a secret."""
    the_visit: Visit = known_visit(request)
    viewer = current_viewer(request)
    path = request.url.path
    read_in = reading(request, language)
    full = {
        **context,
        "viewer": viewer,
        "csrf_token": the_visit.csrf_token,
        "path": path,
        "here": path + ("?" + request.url.query if request.url.query else ""),
        "section": _section(path),
        "nav": nav(),
        "env": viewer.env if viewer is not None else None,
        "envs": ENVS,
        # Signed out, a reader picks the language on the page; signed in, their setting does.
        "switcher": _switcher(request) if viewer is None else [],
        **read_in.context(),
    }
    headers = {"Cache-Control": "no-store"} if no_store else {"Cache-Control": "private, no-cache"}
    # The page differs by the browser's languages, and by the language picked (a cookie), when
    # no setting chose for it.
    headers["Vary"] = "Accept-Language, Cookie"
    response = TEMPLATES.TemplateResponse(
        request, template, full, status_code=status, headers=headers
    )
    if the_visit.set_cookie:
        set_session_cookie(request, response, the_visit.session_id)
    asked = _asked(request)
    if asked is not None and viewer is None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            asked,
            max_age=_A_YEAR,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
