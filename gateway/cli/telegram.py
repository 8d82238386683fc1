"""``aitopup telegram``: the Telegram bot of approvals."""

import argparse
import asyncio
import sys

from ..telegram import api as telegram_api
from ..values.public_base import public_base
from ..values.settings import load_settings

__all__ = ["set_webhook"]


def set_webhook(args: argparse.Namespace) -> int:
    """Point Telegram at this gateway's webhook, with the secret each update must carry."""
    settings = load_settings()
    base = public_base(settings)
    try:
        asyncio.run(telegram_api.set_webhook(settings, base))
    except telegram_api.BotApiError as exc:
        print(f"setWebhook failed: {exc}", file=sys.stderr)
        return 1
    print(f"Telegram posts the bot's updates to {telegram_api.webhook_url(base)}")
    return 0
