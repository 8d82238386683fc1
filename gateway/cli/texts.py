"""What the commands print alike: a merchant named, a body's refusals."""

import json

from pydantic import ValidationError

from ..merchants import service as merchants

__all__ = ["named", "problems"]


def named(merchant: merchants.MerchantInfo) -> str:
    return f"merchant {merchant.id} ({json.dumps(merchant.name)})"


def problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    )
