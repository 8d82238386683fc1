"""Wire models of the staging mailbox."""

import re
from typing import Literal

from pydantic import Field

from ..values.model import Model

__all__ = ["MAIL_ID", "EmailData", "MailStatus"]

MAIL_ID = re.compile(r"mail_[0-9a-z]{24}")

# A mail's states as replies name them (``mail.rows``: QUEUED, SENT, FAILED, STAGED, HELD).
MailStatus = Literal["queued", "sent", "failed", "staged", "held"]


class EmailData(Model):
    id: str
    kind: Literal["voucher", "recipient_link", "password_reset", "approval_request"]
    status: MailStatus = Field(
        description="staged: staging mail, kept here and never sent; held: over a cap on "
        "voucher mails an hour, or the caps could not be counted, never sent (last_error "
        "says which)"
    )
    to: str
    subject: str | None = Field(description="null when what the mail was about is gone")
    text: str | None
    html: str | None
    link: str | None = Field(
        description="the link the mail carries (the recipient's page); an approval request's "
        "is never shown here, as it decides as the approver it was sent to"
    )
    transaction_id: str | None = Field(description="the top-up a voucher mail is about")
    redeemed_at: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="a voucher mail's: present once its voucher was redeemed, when",
    )
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None
