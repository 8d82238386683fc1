"""Operators' invitations (``aitopup users invite``, ``POST /api/admin/v1/merchants/{id}/users``):
a user added to a merchant, and for a new user a one-time link to set a password. The merchant
is named by its id, at every door. A user who already has an account is only invited: they join
when they accept it, signed in to the dashboard, through the invitation's own link
(``users.accept_invitation``), which whoever invited sends to the invited address: holding an
account of that address proves nothing, since sign-up checks no address.

Each link carries a random token (32 bytes) whose SHA-256 alone is stored; it works once, for
``users.INVITE_TTL``, and asking again replaces it. No password is ever made up and printed.
"""

from pydantic import ConfigDict, Field

from ..store.engine import Database
from ..values.clock import rfc3339_or_none
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import Outcome
from . import users

__all__ = [
    "InviteData",
    "InviteRequest",
    "accept_url",
    "invite",
    "invite_by_id",
    "set_password_url",
]


class InviteRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=254, description="The user's e-mail address.")


class InviteData(Model):
    user_id: str
    email: str
    merchant_id: str
    set_password_url: str | None = Field(
        description="A one-time link to set a password, shown in this reply only; null when "
        "the user already has a password (they were only added to the merchant)."
    )
    accept_url: str | None = Field(
        default=None,
        description="When the user already has an account (pending): a one-time link to accept "
        "the invitation, signed in with the invited address; shown in this reply only. Send it "
        "to that address: only whoever reads it may join.",
    )
    expires_at: str | None
    pending: bool = Field(
        description="True when the user already has an account: they join the merchant only "
        "once they accept the invitation through its link, signed in to the dashboard."
    )
    role: str = Field(
        description="What they join as (owner, developer or viewer); a member already, or one "
        "invited already, keeps the role given then."
    )


def set_password_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/dashboard/set-password?token={token}"


def accept_url(base_url: str, merchant_id: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/dashboard/invitations/{merchant_id}/accept?token={token}"


def _data(invitation: users.Invitation, base_url: str) -> InviteData:
    return InviteData(
        user_id=invitation.user_id,
        email=invitation.email,
        merchant_id=invitation.merchant_id,
        set_password_url=(
            set_password_url(base_url, invitation.token) if invitation.token else None
        ),
        accept_url=(
            accept_url(base_url, invitation.merchant_id, invitation.accept_token)
            if invitation.accept_token
            else None
        ),
        expires_at=rfc3339_or_none(invitation.expires_at),
        pending=invitation.pending,
        role=invitation.role,
    )


async def invite_by_id(
    db: Database, merchant_id: str, body: InviteRequest, base_url: str
) -> Outcome:
    """For the admin API: an operator's invitation makes an owner."""
    return await invite(db, merchant_id, body.email, base_url)


async def invite(
    db: Database, merchant_id: str, email: str, base_url: str, *, role: str = "owner"
) -> Outcome:
    """Invite ``email`` to the merchant as ``role`` (the CLI, the dashboard's Members page):
    ``CREATED`` with ``InviteData``, its link built on ``base_url``. Refusals are
    ``users.AccountError`` (``MERCHANT_NOT_FOUND``, or ``VALIDATION_FAILED`` naming the
    field)."""
    invitation = await users.invite(db, merchant_id=merchant_id, email=email, role=role)
    return Outcome(Code.CREATED, _data(invitation, base_url))
