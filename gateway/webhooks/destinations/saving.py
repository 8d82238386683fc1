"""An endpoint's destination as saved: its type known, its object fitting the type's model, its
broker's address judged as a webhook URL's host is (no private address unless
``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` allows it, in staging alone), and a test of the broker
itself passed (``clients.probe``); then sealed whole, as the endpoint's secret is, and kept as
reads show it, its secrets masked."""

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from keys import Sealer, SealError

from ...values.code_names import Code
from ...values.outcome import ApiError
from ..urls import UrlRefused, resolve_checked
from .base import MASK, Broker, DestinationError, address_of, masked_url
from .clients import probe
from .registry import HTTP, broker, type_names

__all__ = [
    "PROBE_SECONDS",
    "columns_of",
    "context",
    "edited",
    "http_columns",
    "judged",
    "opened",
    "recheck",
    "shown",
]

PROBE_SECONDS = 5.0


def context(endpoint_id: str) -> str:
    """What a destination is sealed to: its endpoint, apart from the endpoint's secret."""
    return f"{endpoint_id}:dest"


def _config(name: str, body: dict[str, Any] | None) -> BaseModel:
    kind = broker(name)
    if kind is None:
        raise ApiError(
            Code.WEBHOOK_DESTINATION_TYPE_UNKNOWN,
            f"Destination type unknown: {name[:40]!r}; one of {', '.join(type_names())}",
            data={"types": type_names()},
        )
    if body is None:
        raise ApiError(
            Code.WEBHOOK_DESTINATION_INVALID,
            f"Destination invalid: a {name} endpoint needs its destination object",
            data={"field": "destination"},
        )
    try:
        config = kind.config.model_validate(body)
        address_of(kind.address(config), kind.schemes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "destination"
        raise ApiError(
            Code.WEBHOOK_DESTINATION_INVALID,
            f"Destination invalid: {field}: {first['msg']}",
            data={"field": f"destination.{field}"},
        ) from None
    except ValueError as exc:
        raise ApiError(
            Code.WEBHOOK_DESTINATION_INVALID,
            f"Destination invalid: {exc}",
            data={"field": "destination.url"},
        ) from None
    return config


async def judged(
    sealer: Sealer,
    endpoint_id: str,
    name: str,
    body: dict[str, Any] | None,
    *,
    allow_loopback: bool,
) -> dict[str, Any]:
    """The endpoint's columns for a destination of type ``name`` (not ``http``): judged, tested
    and sealed, or refused with the error envelope's code."""
    config = _config(name, body)
    kind = broker(name)
    assert kind is not None  # _config refused any other
    try:
        await probe(kind, config, allow_loopback=allow_loopback, seconds=PROBE_SECONDS)
    except DestinationError as exc:
        said = str(exc)
        if said.startswith("blocked: "):
            raise ApiError(
                Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
                f"Destination address refused: {said.removeprefix('blocked: ')}",
                data=exc.data,
            ) from None
        raise ApiError(
            Code.WEBHOOK_DESTINATION_UNREACHABLE,
            f"Destination did not take the test publish: {said}",
            data={"reason": said},
        ) from None
    return columns_of(sealer, endpoint_id, name, config)


def columns_of(sealer: Sealer, endpoint_id: str, name: str, config: BaseModel) -> dict[str, Any]:
    kind = broker(name)
    assert kind is not None
    shown_ = kind.shown(config)
    return {
        "destination_type": name,
        "destination_sealed": sealer.seal(config.model_dump_json(), context=context(endpoint_id)),
        "destination_shown": json.dumps(shown_, separators=(",", ":")),
        "url": masked_url(kind.address(config))[:2048],
    }


def http_columns(url: str) -> dict[str, Any]:
    return {
        "destination_type": HTTP,
        "destination_sealed": None,
        "destination_shown": None,
        "url": url,
    }


async def recheck(name: str, column: str | None, *, allow_loopback: bool) -> None:
    """Before a test or a replay makes work: the broker's host, as saved, still resolves only to
    addresses allowed (a name may have turned private since). Read from the destination as
    shown, whose masking leaves the host and port as they are."""
    kind = broker(name)
    if kind is None or column is None:
        return  # a type no longer known: the worker says so on the attempt
    try:
        shown = json.loads(column)
        for name in kind.secrets:  # masked there (a mask is no key file), never the address
            if not kind.config.model_fields[name].is_required():
                shown.pop(name, None)
        saved = kind.config.model_validate(shown, strict=False)
        _, host, port = address_of(kind.address(saved), kind.schemes)
        await resolve_checked(host, port, allow_loopback=allow_loopback)
    except UrlRefused as exc:
        raise ApiError(
            Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED,
            f"Destination address refused: {exc}",
            data=exc.data(),
        ) from None
    except ValueError:
        return  # saved before its type's rules changed: the worker's own check still holds


def shown(column: str | None) -> dict[str, Any] | None:
    return None if column is None else json.loads(column)


def _place(kind: Broker, body: dict[str, Any]) -> tuple[str, str, int | None, str] | None:
    """Where a destination object's secrets go: its address's scheme, host, port and user;
    ``None`` when it has no address that reads as one."""
    try:
        parts = urlsplit(kind.address(kind.config.model_construct(**body)))
        return (
            parts.scheme.lower(),
            (parts.hostname or "").rstrip("."),
            parts.port,
            parts.username or "",
        )
    except (AttributeError, TypeError, ValueError):
        return None


def _kept_url(value: str, saved: Any) -> str | None:
    """``value`` with the saved URL's password (as it was written) in place of its mask;
    ``None`` when the saved URL has none."""
    if not isinstance(saved, str):
        return None
    _, colon, password = urlsplit(saved).netloc.rpartition("@")[0].partition(":")
    if not colon:
        return None
    parts = urlsplit(value)
    auth, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{auth.partition(':')[0]}:{password}@{host}"))


def _refused(name: str, what: str) -> ApiError:
    return ApiError(
        Code.WEBHOOK_DESTINATION_INVALID,
        f"Destination invalid: {name}: {what} is masked; type it anew, as the destination's"
        " address changed",
        data={"field": f"destination.{name}"},
    )


def edited(
    sealer: Sealer, endpoint_id: str, name: str, sealed: str, body: dict[str, Any] | None
) -> dict[str, Any] | None:
    """An edit's destination object of the saved type, its secrets as reads show them (a
    secret field left out, empty or ``***``, a URL's password ``***``) taken from the saved
    destination, while its address stays where the secrets were given for (the same scheme,
    host, port and user); a masked one with the address moved is refused, to be typed anew.
    ``None``: the destination is the saved one, and nothing is to be judged again."""
    kind = broker(name)
    if kind is None or body is None:
        return body
    try:
        saved = opened(sealer, endpoint_id, name, sealed)
    except (DestinationError, SealError):
        return body  # saved before its type's rules changed: judged whole as given
    before = json.loads(saved.model_dump_json())
    place = _place(kind, body)
    same = place is not None and place == _place(kind, before)
    merged = dict(body)
    for field in kind.secrets:
        if merged.get(field, "") not in ("", MASK):
            continue
        if same and before.get(field):
            merged[field] = before[field]
        elif field in merged:
            raise _refused(field, "the secret")
    for field, value in body.items():
        if not isinstance(value, str) or field in kind.secrets:
            continue
        try:
            masked = urlsplit(value).password == MASK
        except ValueError:
            continue
        if masked:
            kept = _kept_url(value, before.get(field)) if same else None
            if kept is None:
                raise _refused(field, "the password")
            merged[field] = kept
    try:
        if kind.config.model_validate(merged) == saved:
            return None
    except ValidationError:
        pass  # judged, and refused by field, as a create is
    return merged


def opened(sealer: Sealer, endpoint_id: str, name: str, sealed: str) -> BaseModel:
    """A sealed destination as its type's model, for the worker's publish."""
    kind = broker(name)
    if kind is None:
        raise DestinationError(f"destination type {name!r} is not known to this worker")
    raw = sealer.open(sealed, context=context(endpoint_id))
    try:
        return kind.config.model_validate_json(raw)
    except ValidationError as exc:  # its text quotes the input: the URL with its password
        first = exc.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "destination"
        raise DestinationError(
            f"destination no longer fits its type: {field}: {first['msg']}", final=True
        ) from None
