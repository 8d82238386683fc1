"""The recipient's page: ``/dashboard/recipient/{token}``, opened from the link their e-mail
carries (a sealed, expiring token: ``mail.links``). It shows their wallets and their top-ups
at that merchant in that environment made until the link's own, and updates live through the
dashboard's hub (its stream holds until the link expires or the merchant revokes the
recipient's links, capped per recipient as a user's are). An invalid, expired or revoked link
says so; it, or any page, offers a fresh link by e-mail (rate-limited, and the same answer
whether or not the address is known)."""

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keys import Sealer

from ..client_limits import RECIPIENT_PAGES, Refused
from ..lockout import client_address
from ..mail.links import RecipientLink, open_recipient_token, sealed_link
from ..merchants import preferences
from ..operations import perform
from ..recipients import links as recipient_links
from ..recipients import page as recipient_page
from ..recipients import revocations
from ..recipients.redeemed import CodeStates
from ..services import services
from ..store.engine import Database
from ..upstreams.allowances import Allowances
from ..values.addresses import normalize
from ..values.clock import utcnow
from ..values.codes import CATALOGUE
from ..values.envelope import error_response
from ..values.languages import DEFAULT, Catalogues, choose
from ..values.marking import marked
from ..values.outcome import ApiError
from .context import visit
from .csrf import form
from .errors import error_page
from .hub import hub_of
from .live import events_of
from .paths import path_for
from .render import page, picked, region

__all__ = ["routes"]

REGION = "recipient/_received.html"
# Shown in the page's language (``{{ _(error) }}``).
_ENTER_ADDRESS = marked("Enter a valid e-mail address.")


def _token(request: Request) -> str:
    token: str = request.path_params["token"]
    return token


@dataclass(frozen=True)
class _Page:
    """The recipient's page as a live source."""

    link: RecipientLink
    sealer: Sealer
    states: CodeStates | None = None
    catalogues: Catalogues | None = None
    header: str | None = None  # the reader's Accept-Language
    language: str = DEFAULT  # what the page it updates was read in
    allowances: Allowances | None = None  # where OpenRouter keys' spending is read

    @property
    def key(self) -> Hashable:
        # Links of one recipient show different sends (``upto``) and are revoked apart; readers
        # in two languages see two renders.
        link = self.link
        return (
            "recipient",
            link.merchant_id,
            link.env,
            link.email,
            link.issued_at,
            link.upto,
            self.language,
        )

    @property
    def merchant_id(self) -> str:
        """The merchant that sent to the recipient: its share of the streams is taken."""
        return self.link.merchant_id

    async def holds(self, db: Database) -> bool:
        return self.link.expires_at > utcnow() and await revocations.holds(db, self.link)

    async def fingerprint(self, db: Database) -> tuple[Any, ...]:
        return await recipient_page.fingerprint(db, self.link)

    async def fragments(self, db: Database) -> dict[str, str]:
        shown = await recipient_page.view(
            db,
            self.sealer,
            self.link,
            self.states,
            catalogues=self.catalogues,
            header=self.header,
            picked=self.language,  # chosen by the one rule when the reader joined
            allowances=self.allowances,
        )
        if shown is None or self.catalogues is None:  # the merchant is gone: nothing to show
            return {}
        read_in = self.catalogues.reading(shown.language)
        return {"received": region(REGION, {"view": shown}, read_in)}


def _states(request: Request) -> CodeStates | None:
    """Where the page reads whether a New API code was redeemed (cached, bounded)."""
    svc = services(request)
    if svc.upstreams is None:
        return None
    return CodeStates(svc.redis, svc.upstreams, svc.sealer)


def _address(given: str) -> str | None:
    if len(given) > 254:
        return None
    try:
        return normalize(given.strip())
    except (PydanticCustomError, ValueError):
        return None


async def _throttled(request: Request) -> Response | None:
    """The page's refusal (429) when this address viewed past its limit; ``None`` to go on."""
    try:
        await RECIPIENT_PAGES.count(services(request), request)
    except Refused as refused:
        said = marked("Too many views from this address; try again in a minute.")
        return error_page(request, 429, said, refused.headers())
    return None


async def _language(request: Request, link: RecipientLink | None) -> str | None:
    """The language of a page about ``link`` (its merchant's for recipients); ``None``: none
    named, the reader's own."""
    if link is None:
        return None
    return await _recipients_language(request, link.merchant_id)


async def _recipients_language(request: Request, merchant_id: str) -> str:
    """The language the reader picked, else the merchant's for its recipients, else the
    browser's (the one rule)."""
    svc = services(request)
    setting = await perform(svc.waker, preferences.recipients_language(svc.db, merchant_id))
    header = request.headers.get("accept-language")
    return choose(picked=picked(request), merchant=setting.data, header=header)


async def recipient(request: Request) -> Response:
    await visit(request)
    throttled = await _throttled(request)
    if throttled is not None:
        return throttled
    svc = services(request)
    token = _token(request)
    link = open_recipient_token(svc.sealer, token, utcnow())
    if link is None or not await revocations.holds(svc.db, link):
        named = sealed_link(svc.sealer, token)
        return page(
            request,
            "recipient/invalid.html",
            {"token": token, "known": named is not None},
            status=404,
            no_store=True,
            language=await _language(request, named),
        )
    shown = await recipient_page.view(
        svc.db,
        svc.sealer,
        link,
        _states(request),
        catalogues=svc.languages,
        header=request.headers.get("accept-language"),
        picked=picked(request),
        allowances=svc.allowances,
    )
    if shown is None:
        raise HTTPException(404)
    return page(
        request,
        "recipient/page.html",
        {
            "view": shown,
            "token": token,
            "live_url": path_for("live", token=token),
            "expires": link.expires_at,
        },
        no_store=True,
        language=shown.language,
    )


async def fresh_link(request: Request) -> Response:
    data = await form(request)
    svc = services(request)
    token = _token(request)
    # An expired link still names its merchant: the form works from it too.
    link = sealed_link(svc.sealer, token)
    if link is None:
        raise HTTPException(404)
    given = data.get("email")
    email = _address(given) if isinstance(given, str) else None
    if email is None:
        return page(
            request,
            "recipient/invalid.html",
            {"token": token, "known": True, "error": _ENTER_ADDRESS},
            status=422,
            no_store=True,
            language=await _language(request, link),
        )
    try:
        await perform(
            svc.waker,
            recipient_links.request_link(
                svc.db,
                svc.redis,
                svc.sealer,
                svc.settings,
                merchant_id=link.merchant_id,
                env=link.env,
                email=email,
                client=client_address(request),
            ),
        )
    except ApiError as refused:
        status = CATALOGUE[refused.code].http_status
        return error_page(request, status, refused.message, refused.headers)
    language = await _language(request, link)
    return page(
        request, "recipient/requested.html", {"token": token}, status=202, language=language
    )


async def live(request: Request) -> Response:
    throttled = await _throttled(request)
    if throttled is not None:
        return throttled
    svc = services(request)
    link = open_recipient_token(svc.sealer, _token(request), utcnow())
    if link is None or not await revocations.holds(svc.db, link):
        raise HTTPException(404)
    hub = hub_of(request)
    header = request.headers.get("accept-language")
    # The language the page was read in: the reader's pick, else the merchant's for its
    # recipients, else the browser's.
    language = await _recipients_language(request, link.merchant_id)
    source = _Page(
        link, svc.sealer, _states(request), svc.languages, header, language, svc.allowances
    )
    try:
        joined = hub.join(f"recipient:{hash(source.key)}", "", None, source)
    except ApiError as refused:
        return error_response(refused)
    return events_of(hub, joined)


routes: list[BaseRoute] = [
    Route("/recipient/{token}", recipient, methods=["GET"]),
    Route("/recipient/{token}/link", fresh_link, methods=["POST"]),
    Route("/recipient/{token}/live", live, methods=["GET"]),
]
