"""Wire models of a merchant's recipients."""

from pydantic import ConfigDict, Field

from ..mail.schemas import MailStatus
from ..values.model import Model

__all__ = ["EmailState", "LinksRevokedData", "RecipientData", "RecipientsQuery"]


class RecipientsQuery(Model):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(
        default=None, max_length=254, description="next_cursor of the previous page"
    )


class EmailState(Model):
    """The latest voucher e-mail to the recipient."""

    id: str
    status: MailStatus
    attempts: int
    last_error: str | None
    transaction_id: str | None
    created_at: str
    sent_at: str | None


class RecipientData(Model):
    id: str = Field(description="the recipient's address: recipients are known by it")
    email: str
    balances: dict[str, int] = Field(description="cents by platform, at this merchant")
    balance_cents: int
    topups_count: int
    last_topup_id: str
    last_topup_at: str
    email_state: EmailState | None = Field(description="the latest voucher e-mail, if any")


class LinksRevokedData(Model):
    """Every link to the recipient's page made until ``revoked_at`` no longer opens it."""

    email: str
    revoked_at: str = Field(description="RFC 3339: links made until then stop working")
