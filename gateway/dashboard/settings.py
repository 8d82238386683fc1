"""Settings: the merchant's display name (shown in the dashboard and in e-mails), the
low-balance threshold of each environment, below which ``balance.low`` is sent, and the daily
limit a consent to an unverified app gets unless the person widens it. Owners change
them; everyone reads them. The change is ``merchants.preferences.update_settings``, the one the
admin API's merchant PATCH uses too; its model validates both doors' input.

The billing profile (what receipts say the merchant is) is its own form on the same page,
saved by ``billing.receipts.profile.save_profile`` and validated by the API's own model.
"""

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keys import ENVS

from ..billing.receipts import profile
from ..billing.receipts.schemas import BillingProfileReply, BillingProfileRequest
from ..merchants import preferences, voucher_redemption
from ..operations import perform
from ..services import services
from ..values import languages
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import field
from .paths import path_for
from .policy_form import dollars, parse_cents
from .render import page

__all__ = ["routes"]


async def _page(
    request: Request,
    viewer: Viewer,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    *,
    billing: dict[str, str] | None = None,
    billing_errors: dict[str, str] | None = None,
    vouchers: dict[str, str] | None = None,
    voucher_errors: dict[str, str] | None = None,
    language_errors: dict[str, str] | None = None,
) -> Response:
    svc = services(request)
    read_language = preferences.recipients_language(svc.db, viewer.merchant_id)
    recipients_language = (await perform(svc.waker, read_language)).data
    if vouchers is None:
        read_where = voucher_redemption.get_setting(svc.db, viewer.merchant_id, viewer.env)
        where = (await perform(svc.waker, read_where)).one(voucher_redemption.VoucherRedemptionSet)
        vouchers = {
            "redeem_url": where.redeem_url or "",
            "redeem_instructions": where.redeem_instructions or "",
        }
    read = preferences.get_settings(svc.db, viewer.merchant_id)
    found = (await perform(svc.waker, read)).one(preferences.MerchantSettings)
    if billing is None:
        now = (await perform(svc.waker, profile.get_profile(svc.db, viewer.merchant_id))).one(
            BillingProfileReply
        )
        billing = {name: getattr(now, name) or "" for name in PROFILE_FIELDS}
    if values is None:
        values = {"display_name": found.display_name or ""}
        values |= {
            f"threshold_{env}": dollars(found.low_balance_threshold_cents[env]) or "0"
            for env in ENVS
        }
        own = found.unverified_app_daily_cents
        values["unverified_app_daily"] = dollars(
            svc.settings.unverified_app_daily_cents if own is None else own
        )
    return page(
        request,
        "settings/index.html",
        {
            "found": found,
            "values": values,
            "errors": errors or {},
            "envs": ENVS,
            "saved": request.query_params.get("saved") == "1",
            "billing": billing,
            "billing_errors": billing_errors or {},
            "billing_fields": PROFILE_FIELDS,
            "billing_saved": request.query_params.get("saved") == "billing",
            "vouchers": vouchers,
            "voucher_errors": voucher_errors or {},
            "vouchers_saved": request.query_params.get("saved") == "vouchers",
            "recipients_language": recipients_language or "",
            "language_names": languages.NAMES,
            "language_errors": language_errors or {},
            "language_saved": request.query_params.get("saved") == "language",
        },
        status=status,
    )


async def settings_page(request: Request) -> Response:
    return await _page(request, await require_viewer(request))


async def save(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    values = {"display_name": field(data, "display_name", 300).strip()}
    errors: dict[str, str] = {}
    thresholds: dict[str, int] = {}
    for env in ENVS:
        name = f"threshold_{env}"
        values[name] = field(data, name, 40).strip()
        cents = parse_cents(values[name], name, errors)
        if cents is None and name not in errors:
            errors[name] = marked(
                "Enter an amount in dollars, such as 10 or 12.50 (0 turns it off)."
            )
        elif cents is not None:
            thresholds[env] = cents
    values["unverified_app_daily"] = field(data, "unverified_app_daily", 40).strip()
    daily = parse_cents(values["unverified_app_daily"], "unverified_app_daily", errors)
    # Left empty, it stays as it is: it is never unlimited.
    try:
        change = preferences.SettingsUpdate.model_validate(
            {
                "display_name": values["display_name"],
                "low_balance_threshold_cents": thresholds,
                "unverified_app_daily_cents": daily,
            }
        )
    except ValidationError as refused:
        for error in refused.errors(include_url=False, include_input=False):
            loc = error["loc"]
            if loc[0] == "unverified_app_daily_cents":
                # Never unlimited: the default of a consent nobody vouches for is an amount.
                errors.setdefault("unverified_app_daily", "Enter at least $0.01.")
                continue
            key = "display_name" if loc[0] == "display_name" else f"threshold_{loc[1]}"
            if key.startswith("threshold_"):
                message = "At most $1,000,000.00."
            elif error["type"] == "value_error":  # the rule of names says what to change
                message = str(error["ctx"]["error"])
            else:
                message = f"At most {preferences.DISPLAY_NAME_MAX} characters."
            errors.setdefault(key, message)
    if errors:
        return await _page(request, viewer, values, errors, 422)
    svc = services(request)
    await perform(svc.waker, preferences.save_settings(svc.db, viewer.merchant_id, change))
    return RedirectResponse(path_for("settings_page") + "?saved=1", status_code=303)


async def save_billing_profile(request: Request) -> Response:
    """The billing profile, whole: every field as the API's PUT takes it, refused field by
    field with what was typed kept."""
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {name: field(data, name, PROFILE_FIELDS[name][1]).strip() for name in PROFILE_FIELDS}
    try:
        body = BillingProfileRequest.model_validate(
            {name: value or None for name, value in typed.items()}
        )
    except ValidationError as refused:
        errors: dict[str, str] = {}
        for error in refused.errors(include_url=False, include_input=False):
            name = str(error["loc"][0])
            label = PROFILE_FIELDS[name][0]
            if error["type"] == "value_error":
                errors.setdefault(name, f"{label}: {error['ctx']['error']}.")
            elif error["type"] in ("missing", "string_type", "string_too_short"):
                errors.setdefault(name, f"{label} is required.")
            else:
                errors.setdefault(name, f"{label}: at most {PROFILE_FIELDS[name][1]} characters.")
        return await _page(request, viewer, status=422, billing=typed, billing_errors=errors)
    svc = services(request)
    await perform(svc.waker, profile.save_profile(svc.db, viewer.merchant_id, body))
    return RedirectResponse(path_for("settings_page") + "?saved=billing", status_code=303)


async def save_voucher_redemption(request: Request) -> Response:
    """Where this environment's users redeem vouchers (``merchants.voucher_redemption``):
    refused field by field, with what was typed kept."""
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {
        "redeem_url": field(data, "redeem_url", 2048).strip(),
        "redeem_instructions": field(data, "redeem_instructions", 300).strip(),
    }
    errors: dict[str, str] = {}
    try:
        body = voucher_redemption.VoucherRedemptionSet.model_validate(
            {name: value or None for name, value in typed.items()}
        )
        svc = services(request)
        save = voucher_redemption.save(svc.db, svc.settings, viewer.merchant_id, viewer.env, body)
        await perform(svc.waker, save)
    except ValidationError as refused:
        for error in refused.errors(include_url=False, include_input=False):
            name = str(error["loc"][0])
            if name == "redeem_instructions" and error["type"] == "string_pattern_mismatch":
                errors.setdefault(name, "One line of plain text: no < or >, no line break.")
            else:
                errors.setdefault(
                    name, f"At most {2048 if name == 'redeem_url' else 300} characters."
                )
    except ApiError as refused:
        errors["redeem_url"] = refused.message or "This address cannot be used."
    if errors:
        return await _page(request, viewer, status=422, vouchers=typed, voucher_errors=errors)
    return RedirectResponse(path_for("settings_page") + "?saved=vouchers", status_code=303)


async def save_recipients_language(request: Request) -> Response:
    """The language of the merchant's recipients' page and e-mails (empty: each browser's)."""
    viewer = await require_viewer(request)
    data = await form(request)
    given = field(data, "language", 16).strip()
    svc = services(request)
    try:
        setting = preferences.set_recipients_language(svc.db, viewer.merchant_id, given)
        await perform(svc.waker, setting)
    except ApiError as refused:
        if refused.code != Code.LANGUAGE_UNKNOWN:
            raise
        errors = {"recipients_language": refused.message}
        return await _page(request, viewer, status=422, language_errors=errors)
    return RedirectResponse(path_for("settings_page") + "?saved=language", status_code=303)


# The profile's fields as the form shows them: label and most characters kept of what is typed.
PROFILE_FIELDS = {
    "legal_name": (marked("Legal name"), 200),
    "address_line1": (marked("Address"), 200),
    "address_line2": (marked("Address, second line"), 200),
    "city": (marked("City"), 100),
    "postal_code": (marked("Postal code"), 20),
    "country": (marked("Country"), 2),
    "tax_id": (marked("Tax id"), 50),
}

routes: list[BaseRoute] = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", save, methods=["POST"], name="save_settings"),
    Route("/settings/billing-profile", save_billing_profile, methods=["POST"]),
    Route("/settings/vouchers", save_voucher_redemption, methods=["POST"]),
    Route("/settings/language", save_recipients_language, methods=["POST"]),
]
