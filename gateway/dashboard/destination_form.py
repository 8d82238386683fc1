"""The endpoint create form's destination: a type chosen, and an input for each field of that
type's destination object, made from its model (``Broker.config``), so a new type's form is its
registry line. What is typed goes to the API's operation as its ``destination`` object and is
judged by the same rule (``webhooks.destinations.saving``); a refusal names the field, and the
form shows it beside that input."""

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from ..webhooks.destinations.base import Broker, masked_url
from ..webhooks.destinations.registry import DESTINATIONS, HTTP
from .inputs import field

__all__ = [
    "DestinationField",
    "DestinationForm",
    "destination_forms",
    "destination_labels",
    "form_of",
    "input_key",
    "refused_input",
    "shown_again",
    "stored",
    "typed_destination",
]

# What each field of the built-in types is called on the form; a type's own field not here is
# shown by its name.
_LABELS = {
    "url": marked("Broker URL"),
    "exchange": marked("Exchange"),
    "routing_key": marked("Routing key"),
    "subject": marked("Subject"),
    "stream": marked("Stream key"),
    "max_len": marked("Most entries kept"),
    "queue_url": marked("Queue URL"),
    "region": marked("Region"),
    "access_key_id": marked("Access key ID"),
    "secret_access_key": marked("Secret access key"),
    "endpoint_url": marked("Endpoint URL"),
    "bus": marked("Event bus"),
    "source": marked("Source"),
    "topic": marked("Topic"),
    "credentials": marked("Service account key (JSON)"),
}
# Text a field may hold at most as typed: past the models' own bounds, so they are judged.
_MOST = 10_001
# Fields typed as a block of text rather than a line.
_BLOCKS = frozenset({"credentials"})


@dataclass(frozen=True, slots=True)
class DestinationField:
    name: str  # the destination object's field
    key: str  # the form input's name and id
    label: str
    required: bool
    secret: bool  # sealed and never shown again: typed anew after a refusal
    number: bool
    block: bool
    example: str  # the model's description, when it is an address's shape


@dataclass(frozen=True, slots=True)
class DestinationForm:
    type: str
    fields: tuple[DestinationField, ...]


def input_key(type_name: str, name: str) -> str:
    return f"dest-{type_name}-{name}"


def _fields(kind: Broker) -> tuple[DestinationField, ...]:
    found = []
    for name, info in kind.config.model_fields.items():
        described = info.description or ""
        found.append(
            DestinationField(
                name=name,
                key=input_key(kind.name, name),
                label=_LABELS.get(name, name),
                required=info.is_required(),
                secret=name in kind.secrets,
                number=info.annotation in (int, int | None),
                block=name in _BLOCKS,
                example=described if "://" in described or "/" in described[:12] else "",
            )
        )
    return tuple(found)


def destination_forms() -> list[DestinationForm]:
    """Every broker's type with its fields, in the registry's order; read at each call, as the
    registry is (a test registers a type of its own)."""
    return [
        DestinationForm(kind.name, _fields(kind))
        for kind in DESTINATIONS.values()
        if isinstance(kind, Broker)
    ]


def destination_labels() -> dict[str, str]:
    """What the list of refusals calls each destination input."""
    return {
        f.key: f"{form.type}: {f.label}" if f.label == f.name else f.label
        for form in destination_forms()
        for f in form.fields
    }


def typed_destination(data: FormData, type_name: str) -> dict[str, Any] | None:
    """The destination object as typed for ``type_name``, ``None`` for ``http`` or a type not
    known (which the operation refuses by its name). An optional field left empty is left out;
    a number's digits are its number, anything else is left as typed for the model to refuse."""
    kind = DESTINATIONS.get(type_name)
    if not isinstance(kind, Broker):
        return None
    fields = _fields(kind)
    if not any(f.key in data for f in fields):
        return None  # a form without the type's inputs changes no destination
    found: dict[str, Any] = {}
    for f in fields:
        value = field(data, f.key, _MOST)
        if not f.block:
            value = value.strip()
        if not value and not f.required:
            continue
        found[f.name] = int(value) if f.number and value.isdigit() else value
    return found


def shown_again(type_name: str, destination: dict[str, Any] | None) -> dict[str, Any]:
    """The destination's inputs as typed, by input key, to show with a refusal: a secret's
    value never is, nor a URL that carries a password (typed anew, as a secret is)."""
    kind = DESTINATIONS.get(type_name)
    if not isinstance(kind, Broker) or destination is None:
        return {}
    return {
        input_key(type_name, name): "" if _secret(kind, name, value) else str(value)
        for name, value in destination.items()
    }


def stored(type_name: str, destination: dict[str, Any] | None) -> dict[str, Any]:
    """A saved destination's inputs, by input key, as the edit form shows them: as reads show
    it (a URL's password as ``***``), a secret field empty; ``{}`` for ``http``."""
    kind = DESTINATIONS.get(type_name)
    if not isinstance(kind, Broker) or destination is None:
        return {}
    return {
        input_key(type_name, name): "" if name in kind.secrets or value is None else str(value)
        for name, value in destination.items()
    }


def form_of(type_name: str) -> DestinationForm | None:
    """The form of one broker's type (an edit's, whose type stays); ``None`` for ``http``."""
    return next((form for form in destination_forms() if form.type == type_name), None)


def _secret(kind: Broker, name: str, value: Any) -> bool:
    return name in kind.secrets or (isinstance(value, str) and masked_url(value) != value)


def refused_input(exc: ApiError, type_name: str) -> str | None:
    """The input a refusal of the destination is about, ``None`` when it is not one."""
    kind = DESTINATIONS.get(type_name)
    if exc.code == Code.WEBHOOK_DESTINATION_TYPE_UNKNOWN:
        return "type"
    if not isinstance(kind, Broker) or type_name == HTTP:
        return None
    if exc.code in (Code.WEBHOOK_DESTINATION_ADDRESS_REFUSED, Code.WEBHOOK_DESTINATION_UNREACHABLE):
        # Beside the broker's URL; a type whose address is made of several fields (SQS's, AWS's
        # regional one) has it said above the form.
        return input_key(type_name, "url") if "url" in kind.config.model_fields else None
    if exc.code != Code.WEBHOOK_DESTINATION_INVALID:
        return None
    said = str((exc.data or {}).get("field", ""))
    name = said.removeprefix("destination").lstrip(".").split(".")[0]
    if name in kind.config.model_fields:
        return input_key(type_name, name)
    return "type"
