"""Reading the policy template a key or consent names, for the writes of keys and consents.

A template belongs to one merchant and environment: a key names only one of its own, so no key
learns that another merchant's or environment's template exists (an unknown and a foreign one
both read as not found). What a key's policy gives is judged with its template
(``policies.templates.effective``), so a key's maker is held to what the key may really do.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy import null
from sqlalchemy.ext.asyncio import AsyncConnection

from ..policies.model import Policy, load
from ..policies.templates import effective
from ..store.models import PolicyTemplate, table_of
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = ["bounded", "columns", "template_policy"]

_PT = table_of(PolicyTemplate)


async def template_policy(
    conn: AsyncConnection, merchant_id: str, env: str, template_id: str
) -> Policy:
    """The policy of the merchant's template ``template_id`` in ``env``, or 2380."""
    found = (
        await conn.execute(
            sa.select(_PT.c.policy).where(
                _PT.c.id == template_id, _PT.c.merchant_id == merchant_id, _PT.c.env == env
            )
        )
    ).first()
    if found is None:
        raise ApiError(Code.POLICY_TEMPLATE_NOT_FOUND, data={"template": template_id})
    return load(found.policy)


async def bounded(conn: AsyncConnection, merchant_id: str, env: str, policy: Policy) -> Policy:
    """What a key or consent with ``policy`` may do: under its template, if it names one."""
    if policy.template is None:
        return policy
    return effective(policy, await template_policy(conn, merchant_id, env, policy.template))


def columns(policy: Policy | None) -> dict[str, Any]:
    """The ``api_keys`` columns of ``policy``: the JSON, and the template it names beside it.
    Every write of a key's policy goes through here, so the two never disagree."""
    if policy is None:  # SQL NULL, not JSON null: a key without a policy is one made before them
        return {"policy": null(), "template_id": None}
    return {"policy": policy.stored(), "template_id": policy.template}
