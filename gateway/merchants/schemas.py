"""Wire models of a merchant's keys: what making and changing a key takes, what a key reads as.

The policy field is ``gateway.policies.Policy`` itself, so the OpenAPI document shows the one
model every check reads. A PATCH takes ``PolicyPatch``: the same fields, each optional, built from
``Policy`` so the two cannot drift; what a PATCH leaves is checked again as a whole ``Policy``.
"""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

from ..key_requests import RequestCounts
from ..policies.model import Policy
from ..policies.usage import WindowUsage
from ..values.model import Model

__all__ = [
    "KeyActivity",
    "KeyCreate",
    "KeyCreated",
    "KeyData",
    "KeyUpdate",
    "KeysQuery",
    "Name",
    "PolicyPatch",
    "WirePolicy",
    "WirePolicyPatch",
    "named",
    "not_null",
]


def _as_json(model: type[BaseModel]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        """``Policy`` is strict, and strict Python validation takes tuples, never lists: a decoded
        request is read again as the JSON it came as, where arrays are arrays and instants are
        RFC 3339 text, with every error kept under its place in the body."""
        if not isinstance(value, dict):
            return value  # a model instance passes; anything else fails as "not an object"
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            raise ValueError("must be a JSON object") from None
        return model.model_validate_json(text)

    return parse


# A policy as a request carries it (a JSON object), validated by ``Policy`` itself.
WirePolicy = Annotated[Policy, BeforeValidator(_as_json(Policy))]


def _partial(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """``model``'s fields, each optional with its own type and bounds: what a PATCH leaves out
    (not in ``model_fields_set``) stays as stored. A field that cannot be null still refuses
    null (its default is never validated, so leaving it out is no null)."""
    fields: dict[str, Any] = {
        field: (info.annotation, FieldInfo.merge_field_infos(info, default=None))
        for field, info in model.model_fields.items()
    }
    return create_model(
        name, __config__=ConfigDict(extra="forbid", strict=True), __doc__=doc, **fields
    )


if TYPE_CHECKING:
    PolicyPatch = BaseModel
else:
    PolicyPatch = _partial(
        Policy,
        "PolicyPatch",
        "Fields of a policy to change: each one present replaces the stored one, null clears a "
        "field that may be null (a limit, an allow-list, the expiry); the rest are kept.",
    )


# A policy PATCH as a request carries it (a JSON object).
WirePolicyPatch = Annotated[PolicyPatch, BeforeValidator(_as_json(PolicyPatch))]


def not_null(value: Any) -> Any:
    """For PATCH fields that cannot be empty: left out means unchanged, an explicit null is no
    value at all (422)."""
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def named(value: str | None) -> str | None:
    """A key's name, without the spaces around it; all spaces is no name."""
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value.strip() if value is not None else None


Name = Annotated[str, Field(min_length=1, max_length=100, description="A label for people.")]


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class KeyCreate(_Strict):
    name: Name | None = None
    policy: WirePolicy = Field(
        default_factory=Policy,
        description="Left out: the default policy (scopes topup:send and topup:read, no limit). "
        "Scopes left out of a policy are those two as well.",
    )

    _name = field_validator("name")(named)


class KeyUpdate(_Strict):
    name: Name | None = Field(default=None, description="null clears it.")
    policy: Annotated[PolicyPatch, BeforeValidator(_as_json(PolicyPatch))] | None = Field(
        default=None,
        description="Fields present replace the stored ones; null clears a nullable one. The "
        "result must be a valid policy as a whole.",
    )

    _name = field_validator("name")(named)
    _policy = field_validator("policy", mode="before")(not_null)


class KeysQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class KeyActivity(Model):
    windows: list[WindowUsage] = Field(
        description="One per spend limit: the current window's spend and what remains."
    )
    requests: RequestCounts = Field(
        description="Requests the key made in the current UTC day, week (from Monday), month, "
        "and in all; at most a second behind."
    )
    soft_limit_reached: bool


class KeyData(Model):
    id: str
    name: str | None
    env: str
    display_prefix: str = Field(description="Enough of the key to tell keys apart; never all.")
    policy: Policy = Field(description="What the key may do; a legacy key's reads unrestricted.")
    legacy: bool = Field(
        description="Made before policies: no stored policy, so every scope and no limit, as "
        "the policy shown says. A PATCH stores a policy and ends it."
    )
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    usage: KeyActivity | None = Field(
        default=None,
        description="Spend and remaining per window of the key's limits, and its requests; "
        "in GET /keys and GET /keys/{id}.",
    )


class KeyCreated(KeyData):
    key: str = Field(description="The whole key: shown in this reply only, stored only hashed.")
