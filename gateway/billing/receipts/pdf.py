"""A receipt as a PDF, drawn by fpdf2 from the same ``ReceiptData`` the HTML page shows.

The text is set in DejaVu Sans, shipped beside this module (``fonts/``, with its licence): a
legal name or an address in any European script comes out as typed, where the PDF core fonts
know only Latin-1. The document is built in memory, one page, a few kilobytes.
"""

from dataclasses import dataclass
from datetime import datetime
from importlib.resources import as_file, files
from typing import TYPE_CHECKING

from ..schemas import ReceiptData
from .schemas import BillingProfileData

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = ["ReceiptFile", "render_pdf"]

_FONT = "DejaVu"
_FONT_FILE = files(__package__).joinpath("fonts", "DejaVuSans.ttf")


@dataclass(frozen=True, slots=True)
class ReceiptFile:
    """A receipt's PDF and what a door's reply says of it: shown in the browser, saved under
    its receipt number."""

    name: str
    content: bytes
    media_type: str = "application/pdf"

    def headers(self) -> dict[str, str]:
        return {"Content-Disposition": f'inline; filename="{self.name}"'}


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d} {currency}"


def _address(profile: BillingProfileData) -> list[str]:
    place = " ".join(p for p in (profile.postal_code, profile.city) if p)
    lines = [profile.legal_name, profile.address_line1, profile.address_line2, place]
    lines.append(profile.country)
    if profile.tax_id:
        lines.append(f"Tax id: {profile.tax_id}")
    return [line for line in lines if line]


def _line_item(pdf: "FPDF", label: str, amount: str) -> None:
    pdf.cell(130, 8, label, border="B")
    pdf.cell(50, 8, amount, border="B", align="R", new_x="LMARGIN", new_y="NEXT")


def render_pdf(receipt: ReceiptData, issuer: str) -> bytes:
    """The receipt as a one-page PDF; ``issuer``: who sells the credit (the gateway's name)."""
    from fpdf import FPDF  # imported by the first receipt drawn, not by every process

    pdf = FPDF(format="A4")
    pdf.set_title(f"Receipt {receipt.receipt_number}")
    pdf.set_author(issuer)
    # Dated when paid: the same receipt renders the same bytes.
    pdf.set_creation_date(datetime.fromisoformat(receipt.paid_at))
    with as_file(_FONT_FILE) as font:
        pdf.add_font(_FONT, fname=font)
    pdf.add_page()
    pdf.set_font(_FONT, size=20)
    pdf.cell(0, 12, f"Receipt {receipt.receipt_number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10)
    facts = [
        f"Issued by {issuer}",
        f"Paid {receipt.paid_at}",
        receipt.paid_for(),
        f"Paid through {receipt.provider}"
        + (f", reference {receipt.payment_reference}" if receipt.payment_reference else ""),
    ]
    for fact in facts:
        pdf.cell(0, 6, fact, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(_FONT, size=12)
    pdf.cell(0, 8, "Billed to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10)
    billed = (_address(receipt.billed_to) if receipt.billed_to else [receipt.merchant_name]) + [
        f"Account {receipt.merchant_id}"
    ]
    for line in billed:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    currency = receipt.currency
    _line_item(pdf, receipt.item, _money(receipt.price_cents, currency))
    if receipt.tier_discount_cents:
        label = f"Volume discount ({receipt.tier_percent}%)"
        _line_item(pdf, label, _money(-receipt.tier_discount_cents, currency))
    if receipt.coupon_discount_cents:
        label = f"Coupon {receipt.coupon or ''}".strip()
        _line_item(pdf, label, _money(-receipt.coupon_discount_cents, currency))
    pdf.set_font(_FONT, size=12)
    _line_item(pdf, "Paid", _money(receipt.amount_paid_cents, currency))
    pdf.set_font(_FONT, size=10)
    _line_item(pdf, "Credited to the wallet", _money(receipt.credit_cents, "USD"))
    return bytes(pdf.output())
