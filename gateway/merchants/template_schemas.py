"""Wire models of policy templates: what making, changing and previewing one takes, and what a
template, its references, a preview and its record of changes read as."""

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from ..policies.model import Policy
from ..values.model import Model
from .schemas import Name, WirePolicy, WirePolicyPatch, named, not_null

__all__ = [
    "FieldChange",
    "PreviewItem",
    "ReferenceData",
    "TemplateChangeData",
    "TemplateCreate",
    "TemplateData",
    "TemplatePreview",
    "TemplateUpdate",
    "TemplatesQuery",
]


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class TemplateCreate(_Strict):
    name: Name
    policy: WirePolicy = Field(
        default_factory=Policy,
        description="The most a key or consent naming this template may do; its own policy "
        "can only narrow it. Cannot name a template itself.",
    )

    _name = field_validator("name")(named)


class TemplateUpdate(_Strict):
    name: Name | None = None
    policy: WirePolicyPatch | None = Field(
        default=None,
        description="Fields present replace the stored ones; null clears a nullable one. The "
        "result must be a valid policy as a whole. Applies to every key and consent naming "
        "the template from their next request.",
    )

    _name = field_validator("name")(not_null)
    _named = field_validator("name")(named)
    _policy = field_validator("policy", mode="before")(not_null)


class TemplatesQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class TemplateData(Model):
    id: str
    name: str
    env: str
    policy: Policy
    keys: int = Field(description="Keys (not revoked) that name this template.")
    consents: int = Field(description="Consents to apps (not revoked) that name this template.")
    created_at: str
    updated_at: str


class ReferenceData(Model):
    """A key or consent (not revoked) naming a template."""

    id: str
    kind: Literal["key", "consent"]
    name: str | None = Field(description="The key's name, or the app's for a consent.")
    display_prefix: str | None = Field(description="A key's; null for a consent.")
    app_id: str | None


class FieldChange(Model):
    field: str
    before: Any
    after: Any
    effect: Literal["tighter", "looser", "changed"] = Field(
        description="tighter: the key may do less; looser: more; changed: a warning line moved."
    )


class PreviewItem(ReferenceData):
    changes: list[FieldChange] = Field(
        description="How the key's effective policy would move, field by field."
    )


class TemplatePreview(Model):
    template_id: str
    policy: Policy = Field(description="The template's policy as the change would leave it.")
    changed: list[PreviewItem] = Field(
        description="Keys and consents whose effective policy would change; nothing is saved."
    )
    unchanged: int = Field(description="Keys and consents naming it that would not change.")


class TemplateChangeData(Model):
    action: Literal["created", "updated", "deleted"]
    actor: str = Field(description="key:<id>, user:<id> or operator.")
    name_before: str | None
    name_after: str | None
    policy_before: Policy | None
    policy_after: Policy | None
    created_at: str
