"""`aitopup telegram set-webhook` run as a real process against the Bot API's stand-in: Telegram
is pointed at the gateway's webhook with the secret; a refusal says so without the token."""

from pathlib import Path

import pytest

from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.stand_ins import served
from tests.fixtures.telegram import BOT_TOKEN, WEBHOOK_SECRET, BotApi


async def test_set_webhook_points_telegram_at_the_gateway(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with served(BotApi()) as telegram:
        monkeypatch.setenv("AITOPUP_TELEGRAM_API_BASE_URL", telegram.url)
        monkeypatch.setenv("AITOPUP_PUBLIC_BASE_URL", "https://pay.example")
        monkeypatch.setenv("AITOPUP_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        code, _, err = await aitopup(settings, tmp_path, "telegram", "set-webhook")
        assert code == 1 and "AITOPUP_TELEGRAM_WEBHOOK_SECRET is not set" in err
        monkeypatch.setenv("AITOPUP_TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
        code, out, err = await aitopup(settings, tmp_path, "telegram", "set-webhook")
        assert code == 0, err
        assert "https://pay.example/api/public/v1/telegram/webhook" in out
        monkeypatch.setenv("AITOPUP_TELEGRAM_BOT_TOKEN", "1:revoked-token")
        code, out, err = await aitopup(settings, tmp_path, "telegram", "set-webhook")
        assert code == 1 and "setWebhook" in err and "revoked-token" not in out + err
    [call] = telegram.of("setWebhook")
    assert call["url"] == "https://pay.example/api/public/v1/telegram/webhook"
    assert call["secret_token"] == WEBHOOK_SECRET
